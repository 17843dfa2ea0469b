import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { haveRedis, type RedisServer, startRedis } from "../../support/redis.js";
import { needTool } from "../../support/tools.js";
import { waitFor } from "../../support/wait.js";
import { type CompatCase, cases } from "./cases.js";
import { awayFromWindowEdges, compareCase, domainOf, requestOf } from "./compare.js";
import { type RlsPeer, startAnchor, startGantry, writeConfigs } from "./peers.js";

const anchorCommand = needTool(
  "service_cmd",
  "build envoyproxy/ratelimit with `node scripts/test-prereqs.mjs` (npm test does this)",
);

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
    await compareCase(anchor, gantry, c, domainOf(index));
  });

  it("answers gRPC health for the service name `ratelimit` as the anchor does", async () => {
    expect(await gantry.health("ratelimit")).toBe(await anchor.health("ratelimit"));
    expect(await gantry.health("")).toBe(await anchor.health(""));
  });

  it("a request over 4 MiB is RESOURCE_EXHAUSTED in both (gRPC-Go's default bound)", async () => {
    const request = requestOf({ descriptors: [[["user", "x".repeat(5 * 1024 * 1024)]]] }, "fleet");
    const theirs = await anchor.failure(request);
    expect(theirs?.code).toBe("RESOURCE_EXHAUSTED");
    expect((await gantry.failure(request))?.code).toBe(theirs?.code);
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

  it("without a config, both refuse a call with the same code and message", async () => {
    const [anchor, gantry] = peers as [RlsPeer, RlsPeer];
    const request = requestOf({ descriptors: [[["k", "v"]]] }, "files");
    const theirs = await anchor.failure(request);
    expect(theirs?.code).toBe("UNKNOWN");
    expect(await gantry.failure(request)).toEqual(theirs);
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
