import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { RateLimitResponse_Code as Code } from "../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { RateLimitAlgorithm } from "../../src/gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { createRedis, keySlot, ManualClock, waitForRedis } from "../../src/lib/index.js";
import { RedisCounterStore } from "../../src/ratelimit/index.js";
import { haveRedis, type RedisCluster, startRedisCluster, waitFor } from "../support/index.js";
import { type Harness, startHarness, yamlConfigs } from "./harness.js";

const configs = () =>
  yamlConfigs(`
domain: load
descriptors:
  - key: fixed
    rate_limit: { unit: minute, requests_per_unit: 10 }
  - key: sliding
    rate_limit: { unit: minute, requests_per_unit: 10, algorithm: sliding_window }
  - key: bucket
    rate_limit: { unit: minute, requests_per_unit: 10, algorithm: token_bucket }
`);

/** 12:00:00 UTC: the minute window starts at 1767614400 and time stands still in it. */
const noon = Date.UTC(2026, 0, 5, 12, 0, 0);
const windowStart = noon / 1000;
/** The Redis key of descriptor fixed=value (envoyproxy/ratelimit's spelling) under `prefix`. */
const fixedKey = (prefix: string, value: string) => `${prefix}load_fixed_${value}_${windowStart}`;

describe.skipIf(!haveRedis())("rate limiting on a real 3-master Redis Cluster", () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster(3);
  });
  afterAll(async () => {
    await cluster?.close();
  });

  /** `count` descriptor values whose fixed-window keys (under `prefix`) are served by the master on `port`. */
  async function valuesOn(port: number, prefix: string, count: number, tag: string): Promise<string[]> {
    const values: string[] = [];
    for (let i = 0; values.length < count; i++) {
      const value = `${tag}-${i}`;
      if ((await cluster.ownerOf(keySlot(fixedKey(prefix, value)))) === port) values.push(value);
    }
    return values;
  }

  // Two replicas share the Cluster; 40 keys spread over the three masters; 15 concurrent calls per key against 10/min.
  for (const key of ["fixed", "sliding", "bucket"]) {
    it(`admits exactly 10 per key across slots and nodes (${key})`, async () => {
      const options = {
        clock: new ManualClock(noon),
        configs: configs(),
        redisUrl: cluster.url,
        redisKeyPrefix: `exact-${key}:`,
        redisTimeoutMs: 2_000,
      };
      const replicas = [await startHarness(options), await startHarness(options)];
      try {
        const values = Array.from({ length: 40 }, (_, i) => `v${i}`);
        const calls = values.flatMap((value) =>
          Array.from({ length: 15 }, (_, j) => (replicas[j % 2] as Harness).call("load", [[[key, value]]])),
        );
        const answers = await Promise.all(calls);
        for (const [i, value] of values.entries()) {
          const admitted = answers.slice(i * 15, (i + 1) * 15).filter((a) => a.overallCode === Code.OK).length;
          expect(admitted, `admitted for ${key}=${value}`).toBe(10);
        }
        for (const { port } of cluster.nodes) {
          expect(Number(await cluster.cli(port, "DBSIZE")), `keys on :${port}`).toBeGreaterThan(0);
        }
      } finally {
        await Promise.all(replicas.map((h) => h.close()));
      }
    });
  }

  it("sends one pipeline per node for a batch, each node's fixed windows in one script call", async () => {
    const client = createRedis({ url: cluster.url, keyPrefix: "pipe:", commandTimeoutMs: 2_000 });
    await waitForRedis(client, 10_000);
    const store = new RedisCounterStore(client);
    try {
      // Ten counters on each master.
      const values: string[] = [];
      for (const { port } of cluster.nodes) values.push(...(await valuesOn(port, "pipe:", 10, `p${port}`)));
      const groups = values.map((value) => ({
        counterKey: `load_fixed_${value}_`,
        keyFormat: "envoyproxy" as const,
        algorithm: RateLimitAlgorithm.FIXED_WINDOW,
        limit: 100,
        windowSeconds: 60,
        hits: [1, 2],
      }));
      // Once first, so that every connection has loaded the script (a first call sends EVAL, then EVALSHA).
      await store.apply(groups, noon);
      for (const { port } of cluster.nodes) await cluster.cli(port, "CONFIG", "RESETSTAT");
      const pipelines = vi.spyOn(client, "pipeline");
      const results = await store.apply(groups, noon);
      expect(results).toHaveLength(30);
      for (const result of results)
        expect(result).toEqual([
          expect.objectContaining({ remaining: 96 }),
          expect.objectContaining({ remaining: 94 }),
        ]);
      expect(pipelines.mock.calls.length).toBeLessThanOrEqual(3);
      for (const { port } of cluster.nodes) {
        const stats = await cluster.cli(port, "INFO", "commandstats");
        const scriptCalls = [...stats.matchAll(/cmdstat_eval(?:sha)?:calls=(\d+)/g)].reduce(
          (a, m) => a + Number(m[1]),
          0,
        );
        const incrby = Number(/cmdstat_incrby:calls=(\d+)/.exec(stats)?.[1] ?? 0);
        expect(scriptCalls, `script calls on :${port}`).toBe(1);
        expect(incrby, `counters on :${port}`).toBe(10);
      }
    } finally {
      await store.close();
    }
  });

  it("follows MOVED after a slot is resharded, and ASK while it migrates, counting exactly", async () => {
    const prefix = "moved:";
    const h = await startHarness({
      clock: new ManualClock(noon),
      configs: configs(),
      redisUrl: cluster.url,
      redisKeyPrefix: prefix,
      redisTimeoutMs: 2_000,
    });
    try {
      const [from, to] = cluster.nodes.map((n) => n.port) as [number, number];
      const values = await valuesOn(from, prefix, 6, "m");
      const hitAll = () => Promise.all(values.map((v) => h.call("load", [[["fixed", v]]])));
      await hitAll();
      await hitAll();
      // One slot moves, with its counter, to another master; the client's slot map still says `from`.
      const moved = values[2] as string;
      const slot = keySlot(fixedKey(prefix, moved));
      await cluster.moveSlot(slot, to);
      const third = await hitAll();
      expect(third.map((a) => a.statuses[0]?.limitRemaining)).toEqual(values.map(() => 7));
      expect(await cluster.cli(to, "GET", fixedKey(prefix, moved))).toBe("3");
      // Once more with the slot map up to date.
      const fourth = await hitAll();
      expect(fourth.map((a) => a.statuses[0]?.limitRemaining)).toEqual(values.map(() => 6));

      // A slot half-way through a move: a new key in it is not on `from`, which answers ASK.
      const [fresh] = await valuesOn(from, prefix, 1, "ask");
      const askSlot = keySlot(fixedKey(prefix, fresh as string));
      const [fromId, toId] = [await cluster.cli(from, "CLUSTER", "MYID"), await cluster.cli(to, "CLUSTER", "MYID")];
      await cluster.cli(to, "CLUSTER", "SETSLOT", String(askSlot), "IMPORTING", fromId);
      await cluster.cli(from, "CLUSTER", "SETSLOT", String(askSlot), "MIGRATING", toId);
      const asked = await Promise.all([
        h.call("load", [[["fixed", fresh as string]]]),
        h.call("load", [[["fixed", values[0] as string]]]),
      ]);
      expect(asked.map((a) => a.statuses[0]?.limitRemaining)).toEqual([9, 5]);
      expect(await cluster.cli(to, "CLUSTER", "COUNTKEYSINSLOT", String(askSlot))).toBe("1");
      await cluster.moveSlot(askSlot, to);
      expect((await h.call("load", [[["fixed", fresh as string]]])).statuses[0]?.limitRemaining).toBe(8);
    } finally {
      await h.close();
    }
  });

  it("answers by the failure mode while a master is down, within the bound, and counts again once it is back", async () => {
    const prefix = "down:";
    // Hash-tagged keys (`{load_fixed_<value>_}fw60_<window>`): their slot does not depend on the real clock's window.
    const base = {
      configs: configs(),
      redisUrl: cluster.url,
      redisKeyPrefix: prefix,
      redisKeyFormat: "gantry" as const,
      redisTimeoutMs: 200,
    };
    const modes = {
      error: await startHarness({ ...base, redisFailureMode: "error" }),
      allow: await startHarness({ ...base, redisFailureMode: "allow" }),
      deny: await startHarness({ ...base, redisFailureMode: "deny" }),
    };
    const down = cluster.nodes[2]?.port as number;
    let i = 0;
    while ((await cluster.ownerOf(keySlot(`{load_fixed_d${i}_}`))) !== down) i++;
    const call = (h: Harness) => h.call("load", [[["fixed", `d${i}`]]]);
    try {
      for (const h of Object.values(modes))
        await waitFor(async () => (await call(h)).overallCode === Code.OK, { what: "the Cluster to answer" });
      await cluster.stopNode(down);
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        await expect(call(modes.error)).rejects.toMatchObject({ code: 14 });
        expect((await call(modes.allow)).overallCode).toBe(Code.OK);
        const denied = await call(modes.deny);
        expect(denied.overallCode).toBe(Code.OVER_LIMIT);
        expect(denied.statuses[0]?.currentLimit?.requestsPerUnit).toBe(10);
        // Three calls, each bounded by the 200 ms Redis timeout; the rest is a busy machine, far from a hang.
        expect(performance.now() - started).toBeLessThan(2_000);
      }
      expect(await modes.deny.metric("gantry_ratelimit_redis_errors_total")).toBeGreaterThanOrEqual(3);
      await cluster.startNode(down);
      await cluster.untilOk();
      for (const h of Object.values(modes)) {
        await waitFor(async () => (await call(h).catch(() => undefined))?.overallCode === Code.OK, {
          timeoutMs: 20_000,
          what: "the service to count on the Cluster again",
        });
      }
      expect(Number(await cluster.cli(down, "DBSIZE"))).toBeGreaterThan(0);
    } finally {
      await Promise.all(Object.values(modes).map((h) => h.close()));
    }
  });
});
