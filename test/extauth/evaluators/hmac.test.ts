import { createHmac } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Evaluator, Verdict } from "../../../src/extauth/evaluator.js";
import { createHmacEvaluator, memoryReplayGuard, parseSignatureHeader } from "../../../src/extauth/evaluators/hmac.js";
import { HmacAuthSchema } from "../../../src/gen/gantry/extauth/v1/hmac_pb.js";
import { createRedis, ManualClock, type RedisClient, waitForRedis } from "../../../src/lib/index.js";
import { haveRedis, type RedisServer, startRedis } from "../../support/index.js";
import { context, quietLogger } from "../helpers.js";

const secret = "0123456789abcdef-shared";
const now = Date.UTC(2026, 0, 1, 12, 0, 0);

/** Signs a request the way a client of hmacAuth does. */
function signed(
  options: {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    sign?: string[];
    algorithm?: string;
    key?: string;
    keyId?: string;
  } = {},
) {
  const method = options.method ?? "POST";
  const path = options.path ?? "/orders?id=7";
  const headers: Record<string, string> = { date: new Date(now).toUTCString(), ...options.headers };
  const names = options.sign ?? ["@request-target", "date"];
  const text = names
    .map((n) => (n === "@request-target" ? `${n}: ${method.toLowerCase()} ${path}` : `${n}: ${headers[n]}`))
    .join("\n");
  const algorithm = options.algorithm ?? "hmac-sha256";
  const signature = createHmac(algorithm.replace("hmac-", ""), options.key ?? secret)
    .update(text)
    .digest("base64");
  headers["authorization"] =
    `hmac keyId="${options.keyId ?? "client1"}", algorithm="${algorithm}", headers="${names.join(" ")}", signature="${signature}"`;
  return { method, path, headers };
}

function build(clock: ManualClock, redis: RedisClient | undefined, extra: Record<string, unknown> = {}): Evaluator {
  return createHmacEvaluator(
    create(HmacAuthSchema, { sharedSecrets: { client1: secret }, clockSkew: { seconds: 60n }, ...extra }),
    { clock, logger: quietLogger, redis, baseDir: "." },
    "configs[0].hmacAuth",
  );
}

const verdict = async (e: Evaluator, request: ReturnType<typeof signed>): Promise<Verdict> =>
  e.evaluate(context(request));

describe("hmacAuth", () => {
  it("parses the signature parameters", () => {
    expect(
      parseSignatureHeader('hmac keyId="a", algorithm="hmac-sha512", headers="Date @request-target", signature="c2ln"'),
    ).toEqual({
      keyId: "a",
      algorithm: "hmac-sha512",
      headers: ["date", "@request-target"],
      signature: "c2ln",
    });
    expect(parseSignatureHeader('hmac keyId="a", signature="x"')).toBeUndefined();
    expect(parseSignatureHeader('hmac keyId="a" garbage')).toBeUndefined();
    expect(parseSignatureHeader("Basic abc")).toBeUndefined();
  });

  it("allows a correctly signed request once, and refuses tampering, other keys and stale dates", async () => {
    const clock = new ManualClock(now);
    const e = build(clock, undefined);
    const request = signed({ headers: { "x-tenant": "t1" }, sign: ["@request-target", "date", "x-tenant"] });
    expect(await verdict(e, request)).toEqual({ kind: "allow", dynamicMetadata: { hmac_key_id: "client1" } });
    expect(await verdict(e, request)).toMatchObject({ kind: "deny", reason: "HMAC signature replayed" });

    const tampered = signed({ headers: { "x-tenant": "t1" }, sign: ["@request-target", "date", "x-tenant"] });
    tampered.headers["x-tenant"] = "t2";
    expect(await verdict(e, tampered)).toMatchObject({ kind: "deny", status: 401, reason: "HMAC signature mismatch" });
    expect(await verdict(e, { ...signed({ path: "/a" }), path: "/b" })).toMatchObject({
      reason: "HMAC signature mismatch",
    });
    expect(await verdict(e, signed({ path: "/c", key: "another-secret-0123456" }))).toMatchObject({
      reason: "HMAC signature mismatch",
    });
    expect(await verdict(e, signed({ path: "/d", keyId: "client2" }))).toMatchObject({ reason: "unknown HMAC key id" });
    expect(await verdict(e, signed({ path: "/e", sign: ["date"] }))).toMatchObject({
      reason: 'the signature must cover "@request-target"',
    });
    expect(await verdict(e, signed({ path: "/f", algorithm: "hmac-sha1" }))).toMatchObject({
      reason: 'HMAC algorithm "hmac-sha1" not accepted',
    });
    expect(await verdict(e, signed({ path: "/g", algorithm: "hmac-sha512" }))).toMatchObject({ kind: "allow" });
    expect(await verdict(e, { method: "GET", path: "/", headers: {} })).toMatchObject({
      reason: "missing or malformed HMAC signature",
    });

    const old = signed({ path: "/h" });
    clock.advance(61_000);
    expect(await verdict(e, old)).toMatchObject({ reason: "date is outside the allowed clock skew" });
  });

  it("challenges with the headers this config requires signed", async () => {
    const evaluator = build(new ManualClock(now), undefined, {
      requiredHeaders: ["@request-target", "date", "content-type"],
    });
    expect(await verdict(evaluator, { method: "GET", path: "/", headers: {} })).toMatchObject({
      kind: "deny",
      status: 401,
      headers: [{ name: "www-authenticate", value: 'hmac headers="@request-target date content-type"' }],
    });
    const partly = signed({ headers: { "content-type": "text/plain" } });
    expect(await verdict(evaluator, partly)).toMatchObject({
      reason: 'the signature must cover "content-type"',
      headers: [{ name: "www-authenticate", value: 'hmac headers="@request-target date content-type"' }],
    });
  });

  it("in memory, never forgets a signature within its window to make room: a full guard refuses new ones", () => {
    const clock = new ManualClock(now);
    const guard = memoryReplayGuard(clock, 3);
    expect(["a", "b", "c"].map((s) => guard.firstSeen(s, 1_000))).toEqual([true, true, true]);
    expect(() => guard.firstSeen("d", 1_000)).toThrow(/3 signatures seen within the replay window/);
    // The ones held are still refused as replays, full or not.
    expect(guard.firstSeen("a", 1_000)).toBe(false);
    clock.advance(999);
    expect(guard.firstSeen("c", 1_000)).toBe(false);
    clock.advance(1);
    // Their window over, room is made and a new signature is taken.
    expect(guard.firstSeen("d", 1_000)).toBe(true);
    expect(guard.firstSeen("d", 1_000)).toBe(false);
  });

  it("accepts x-date for clients that cannot set date", async () => {
    const e = build(new ManualClock(now), undefined, { requiredHeaders: ["@request-target"] });
    const request = signed({ headers: { "x-date": new Date(now).toUTCString() }, sign: ["@request-target", "x-date"] });
    delete request.headers["date"];
    expect(await verdict(e, request)).toMatchObject({ kind: "allow" });
  });

  it("names bad settings", () => {
    const bad = (settings: Record<string, unknown>) => () =>
      createHmacEvaluator(
        create(HmacAuthSchema, settings),
        { clock: new ManualClock(), logger: quietLogger, redis: undefined, baseDir: "." },
        "configs[2].hmacAuth",
      );
    expect(bad({})).toThrow("configs[2].hmacAuth.sharedSecrets: at least one key is needed");
    expect(bad({ sharedSecrets: { k: "short" } })).toThrow(
      "configs[2].hmacAuth.sharedSecrets.k: a secret needs at least 16 characters",
    );
    expect(bad({ sharedSecrets: { k: secret }, algorithms: ["md5"] })).toThrow("configs[2].hmacAuth.algorithms[0]");
  });
});

describe.skipIf(!haveRedis())("hmacAuth replay protection in Redis", () => {
  let server: RedisServer;
  let redis: RedisClient;
  beforeAll(async () => {
    server = await startRedis();
    redis = createRedis({ url: server.url, commandTimeoutMs: 100 });
    await waitForRedis(redis);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.close();
  });

  it("shares seen signatures between replicas, and fails closed when Redis is down", async () => {
    const clock = new ManualClock(now);
    const replicaA = build(clock, redis);
    const replicaB = build(clock, redis);
    const request = signed({ path: "/pay" });
    expect(await verdict(replicaA, request)).toMatchObject({ kind: "allow" });
    expect(await verdict(replicaB, request)).toMatchObject({ kind: "deny", reason: "HMAC signature replayed" });
    const ttl = Number(
      await server.cli("PTTL", (await server.cli("KEYS", "{gantry-hmac}:seen:*")).split("\n")[0] as string),
    );
    expect(ttl).toBeGreaterThan(100_000);
    expect(ttl).toBeLessThanOrEqual(120_000);

    await server.stop();
    try {
      expect(await verdict(replicaA, signed({ path: "/pay2" }))).toMatchObject({
        kind: "error",
        reason: expect.stringMatching(/^replay check failed/),
      });
    } finally {
      await server.start();
    }
  });
});
