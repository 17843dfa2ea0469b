import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { UInt64ValueSchema } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RateLimitDescriptorSchema } from "../../../src/gen/envoy/extensions/common/ratelimit/v3/ratelimit_pb.js";
import { type RateLimitRequest, RateLimitRequestSchema } from "../../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { haveRedis, type RedisServer, startRedis } from "../../support/redis.js";
import { needTool } from "../../support/tools.js";
import { waitFor } from "../../support/wait.js";
import { type CompatCase, cases, type DescriptorInput, type Entries, type Step } from "./cases.js";
import { type Observed, type RlsPeer, startAnchor, startGantry, writeConfigs } from "./peers.js";

const anchorCommand = needTool(
  "service_cmd",
  "build envoyproxy/ratelimit with `node scripts/test-prereqs.mjs` (npm test does this)",
);

const domainOf = (index: number) => `compat-${index}`;

/** A per-descriptor hits_addend (Envoy's field 3, a UInt64Value) as the raw field our older protos lack. */
function withHitsAddend(input: DescriptorInput) {
  const descriptor = create(RateLimitDescriptorSchema, {
    entries: input.entries.map(([key, value]) => ({ key, value })),
    ...(input.limit ? { limit: input.limit } : {}),
  });
  if (input.hitsAddend !== undefined) {
    const value = toBinary(UInt64ValueSchema, create(UInt64ValueSchema, { value: BigInt(input.hitsAddend) }));
    descriptor.$unknown = [
      { no: 3, wireType: WireType.LengthDelimited, data: new BinaryWriter().bytes(value).finish() },
    ];
  }
  return descriptor;
}

export function requestOf(step: Step, domain: string): RateLimitRequest {
  return create(RateLimitRequestSchema, {
    domain: step.domain ?? domain,
    hitsAddend: step.hitsAddend ?? 0,
    descriptors: step.descriptors.map((d) =>
      withHitsAddend(Array.isArray(d) ? { entries: d as Entries } : (d as DescriptorInput)),
    ),
  });
}

/** The two answers, with Gantry's reset times taken as the anchor's when they are within 1 s of each other. */
export function alignResets(anchor: Observed, gantry: Observed): Observed {
  if (!("statuses" in anchor) || !("statuses" in gantry)) return gantry;
  const close = (a: number | undefined, b: number | undefined) =>
    a !== undefined && b !== undefined && Math.abs(a - b) <= 1 ? a : b;
  return {
    ...gantry,
    statuses: gantry.statuses.map((s, i) => {
      const reset = close(anchor.statuses[i]?.durationUntilReset, s.durationUntilReset);
      return reset === undefined ? s : { ...s, durationUntilReset: reset };
    }),
    headers: gantry.headers.map(([k, v], i) => {
      const theirs = anchor.headers[i];
      if (!theirs || theirs[0] !== k || !/reset/i.test(k)) return [k, v] as const;
      return [k, String(close(Number(theirs[1]), Number(v)))] as const;
    }),
  };
}

/** Waits, if need be, so that a case's few milliseconds of calls do not straddle a second or minute boundary. */
async function awayFromWindowEdges(): Promise<void> {
  for (;;) {
    const now = Date.now();
    const wait = now % 60_000 > 59_000 ? 60_000 - (now % 60_000) : now % 1000 > 600 ? 1000 - (now % 1000) : 0;
    if (wait === 0) return;
    await new Promise((resolve) => setTimeout(resolve, wait + 5));
  }
}

describe.skipIf(!anchorCommand || !haveRedis())("envoyproxy/ratelimit and gantry ratelimit answer alike", () => {
  let redis: RedisServer;
  let root: string;
  let anchor: RlsPeer;
  let gantry: RlsPeer;
  /** A second Gantry on the anchor's counters: one fleet half migrated. */
  let mixed: RlsPeer;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "gantry-compat-rl-"));
    const files: Record<string, string> = {};
    cases.forEach((c, i) => {
      if (c.config) files[`${domainOf(i)}.yaml`] = c.config.replaceAll("DOMAIN", domainOf(i));
    });
    files["fleet.yaml"] =
      "domain: fleet\ndescriptors:\n  - key: user\n    rate_limit: { unit: minute, requests_per_unit: 10 }\n";
    writeConfigs(root, files);
    redis = await startRedis();
    anchor = await startAnchor(anchorCommand as string, { root, redisPort: redis.port, keyPrefix: "anchor:" });
    gantry = await startGantry({ root, redisPort: redis.port, keyPrefix: "gantry:" });
    mixed = await startGantry({ root, redisPort: redis.port, keyPrefix: "anchor:" });
  }, 60_000);

  afterAll(async () => {
    await Promise.all([anchor?.stop(), gantry?.stop(), mixed?.stop()]);
    await redis?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("has at least 60 cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
  });

  it.each(cases.map((c, i) => [c.name, c, i] as const))("%s", async (_name, c: CompatCase, index) => {
    await awayFromWindowEdges();
    const domain = domainOf(index);
    const answers: string[] = [];
    for (const [s, step] of c.steps.entries()) {
      for (let n = 0; n < (step.times ?? 1); n++) {
        const request = requestOf(step, domain);
        const theirs = await anchor.call(request);
        const ours = await gantry.call(request);
        expect(alignResets(theirs, ours), `step ${s}, call ${n + 1}`).toEqual(theirs);
        answers.push(JSON.stringify(theirs));
      }
    }
    expect(answers.length).toBeGreaterThan(0);
  });

  it("answers gRPC health for the service name `ratelimit` as the anchor does", async () => {
    expect(await gantry.health("ratelimit")).toBe(await anchor.health("ratelimit"));
    expect(await gantry.health("")).toBe(await anchor.health(""));
  });

  it("a mixed fleet (the anchor and Gantry on one Redis) enforces one shared limit exactly", async () => {
    await awayFromWindowEdges();
    const request = requestOf({ descriptors: [[["user", "shared"]]] }, "fleet");
    const remaining: number[] = [];
    const codes: string[] = [];
    for (let i = 0; i < 14; i++) {
      const answer = await (i % 2 === 0 ? anchor : mixed).call(request);
      if (!("statuses" in answer)) throw new Error(`call ${i}: ${JSON.stringify(answer)}`);
      codes.push(answer.overallCode);
      remaining.push(answer.statuses[0]?.limitRemaining ?? -1);
    }
    expect(codes).toEqual([...Array(10).fill("OK"), ...Array(4).fill("OVER_LIMIT")]);
    expect(remaining).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 0, 0, 0]);
  });
});

describe.skipIf(!anchorCommand || !haveRedis())("config files: bad at start, bad and good reloads", () => {
  let redis: RedisServer;
  let root: string;
  const peers: RlsPeer[] = [];
  const limitFile = (n: number) =>
    `domain: files\ndescriptors:\n  - key: k\n    rate_limit: { unit: hour, requests_per_unit: ${n} }\n`;
  const call = (peer: RlsPeer) => peer.call(requestOf({ descriptors: [[["k", "v"]]] }, "files"));
  const limitOf = async (peer: RlsPeer) => {
    const answer = await call(peer);
    return "statuses" in answer ? answer.statuses[0]?.currentLimit?.requestsPerUnit : answer.grpcError;
  };
  /** Started without a config, a server is up once it answers at all (even with an error). */
  const answers = async (peer: RlsPeer) => (await call(peer)) !== undefined;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "gantry-compat-rl-files-"));
    writeConfigs(root, { "files.yaml": "domain: files\ndescriptors:\n  - key: k\n    bogus: 1\n" });
    redis = await startRedis();
    peers.push(
      await startAnchor(anchorCommand as string, { root, redisPort: redis.port, keyPrefix: "a:", ready: answers }),
    );
    peers.push(await startGantry({ root, redisPort: redis.port, keyPrefix: "g:", ready: answers }));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await redis?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("a bad file at start: both serve without a config, answering the same error, and stay healthy", async () => {
    const [anchor, gantry] = peers as [RlsPeer, RlsPeer];
    expect(await call(gantry)).toEqual(await call(anchor));
    expect(await call(anchor)).toEqual({ grpcError: "UNKNOWN" });
    expect(await gantry.health("")).toBe(await anchor.health(""));
  });

  it("a good file later is loaded by both; a bad one after it keeps the last good config in both", async () => {
    const [anchor, gantry] = peers as [RlsPeer, RlsPeer];
    writeConfigs(root, { "files.yaml": limitFile(3) });
    for (const peer of peers)
      await waitFor(async () => (await limitOf(peer)) === 3, { what: `${peer.name} to load the good file` });
    writeConfigs(root, {
      "files.yaml": "domain: files\ndescriptors:\n  - key: k\n    rate_limit: { unit: fortnight }\n",
    });
    // Each logs every rejected load (the first was the bad file at start).
    const rejections = (peer: RlsPeer) =>
      peer.process
        .output()
        .split("\n")
        .filter((l) => /Error loading new configuration|config rejected/.test(l)).length;
    for (const peer of peers)
      await waitFor(() => rejections(peer) >= 2, { what: `${peer.name} to reject the bad file` });
    expect(await limitOf(gantry)).toBe(await limitOf(anchor));
    expect(await limitOf(anchor)).toBe(3);
  });
});
