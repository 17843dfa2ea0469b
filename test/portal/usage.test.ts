import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedis, ManualClock, type RedisClient } from "../../src/lib/index.js";
import { parseKeyCounters, UsageRecorder } from "../../src/portal/index.js";
import { haveRedis, type RedisServer, startRedis } from "../support/redis.js";

const exposition = (hits: number, over: number, key = "0a1b") => `# HELP gantry_ratelimit_rule_total_hits hits
# TYPE gantry_ratelimit_rule_total_hits counter
gantry_ratelimit_rule_total_hits{rule="gantry-portal.portal_product_ns/pets.portal_plan_ns/free.api_key_${key}"} ${hits}
gantry_ratelimit_rule_total_hits{rule="gantry-portal.portal_product_ns/pets.portal_plan_ns/free.api_key_${key}/limit1"} ${hits}
gantry_ratelimit_rule_over_limit{rule="gantry-portal.portal_product_ns/pets.portal_plan_ns/free.api_key_${key}"} ${over}
gantry_ratelimit_rule_total_hits{rule="shop.route_account.user"} 99
`;

describe("usage from the rate-limit server's per-key counters", () => {
  it("reads each key's requests (its first limit) and rejections", () => {
    expect(parseKeyCounters(exposition(12, 3))).toEqual([
      { product: "ns/pets", plan: "ns/free", key: "0a1b", requests: 12, rejected: 3 },
    ]);
  });
});

describe.skipIf(!haveRedis())("usage history in the ext-auth Redis", () => {
  let server: RedisServer;
  let redis: RedisClient;
  const clock = new ManualClock(1_000);
  /** A portal replica's recorder: every replica shares the Redis. */
  const replica = (keep = 2) =>
    new UsageRecorder({ metricsUrl: "http://unused", redis, intervalMs: 1_000, keep, timers: clock });

  beforeAll(async () => {
    server = await startRedis();
    redis = createRedis({ url: server.url });
  });

  afterAll(async () => {
    redis?.disconnect();
    await server?.close();
  });

  it("records increases per interval, keeps the last `keep`, and counts from zero after the counters went down", async () => {
    const recorder = replica();
    await recorder.record(parseKeyCounters(exposition(5, 0, "0b1")), 1_000);
    await recorder.record(parseKeyCounters(exposition(9, 1, "0b1")), 2_000);
    await recorder.record(parseKeyCounters(exposition(2, 0, "0b1")), 3_000);
    expect(await recorder.usage("0b1")).toEqual({
      points: [
        { at: 2_000, requests: 4, rejected: 1 },
        { at: 3_000, requests: 2, rejected: 0 },
      ],
      requests: 2,
      rejected: 0,
    });
  });

  it("records one point per interval whichever replica samples first, and every replica reads the same history", async () => {
    const [a, b] = [replica(10), replica(10)];
    expect(await a.record(parseKeyCounters(exposition(3, 0, "0b2")), 10_100)).toBe(1);
    // The same interval, sampled a little later by the other replica: not counted twice.
    expect(await b.record(parseKeyCounters(exposition(4, 0, "0b2")), 10_900)).toBe(0);
    expect(await b.record(parseKeyCounters(exposition(7, 2, "0b2")), 11_200)).toBe(1);
    const expected = {
      points: [
        { at: 10_000, requests: 3, rejected: 0 },
        { at: 11_000, requests: 4, rejected: 2 },
      ],
      requests: 7,
      rejected: 2,
    };
    expect(await a.usage("0b2")).toEqual(expected);
    expect(await b.usage("0b2")).toEqual(expected);
  });

  it("bounds the history: namespaced keys that expire once a key is no longer sampled", async () => {
    await replica(3).record(parseKeyCounters(exposition(1, 0, "0b3")), 20_000);
    expect(await redis.pttl("{gantry-portal}:usage:0b3")).toBeGreaterThan(0);
    expect(await redis.pttl("{gantry-portal}:usage:0b3")).toBeLessThanOrEqual(2 * 3 * 1_000);
    expect(await redis.pttl("{gantry-portal}:usage-last:0b3")).toBeGreaterThan(0);
    expect(await replica(3).usage("never-seen")).toEqual({ points: [], requests: 0, rejected: 0 });
  });
});
