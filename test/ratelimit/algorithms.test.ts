import { describe, expect, it } from "vitest";
import { RateLimitAlgorithm } from "../../src/gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { ManualClock } from "../../src/lib/index.js";
import { fixedWindowHits, refilledTokens, slidingWindowHits, tokenBucketHits } from "../../src/ratelimit/algorithms.js";
import { HitCoalescer } from "../../src/ratelimit/coalescer.js";
import { MemoryCounterStore } from "../../src/ratelimit/memory-store.js";

describe("counting algorithms", () => {
  it("fixed window: every hit counts; over once the count passes the limit", () => {
    const nowMs = Date.UTC(2026, 0, 1, 0, 0, 42);
    const outcomes = fixedWindowHits(8, [1, 1, 0, 1], 10, 60, nowMs);
    expect(outcomes.map((o) => [o.overLimit, o.remaining, o.used])).toEqual([
      [false, 1, 9],
      [false, 0, 10],
      [false, 0, 10],
      [true, 0, 11],
    ]);
    expect(outcomes[0]?.resetSeconds).toBe(18);
  });

  it("sliding window: the previous window weighs by its overlap; rejected hits are not counted", () => {
    const start = Date.UTC(2026, 0, 1);
    // 45 s into the window: a quarter of the previous window's 8 still counts (2), plus 5 now.
    const { outcomes, added } = slidingWindowHits(8, 5, [2, 1, 1], 10, 60, start + 45_000);
    expect(outcomes.map((o) => [o.overLimit, o.remaining])).toEqual([
      [false, 1],
      [false, 0],
      [true, 0],
    ]);
    expect(added).toBe(3);
    expect(outcomes[0]?.resetSeconds).toBe(15);
  });

  it("token bucket: full at first, refills limit per unit evenly, never above capacity", () => {
    expect(refilledTokens(undefined, undefined, 0, 10, 60)).toBe(600_000);
    expect(refilledTokens(0, 0, 6_000, 10, 60)).toBe(60_000);
    expect(refilledTokens(590_000, 0, 60_000, 10, 60)).toBe(600_000);
    const { outcomes, tokens } = tokenBucketHits(60_000, [1, 1], 10, 60);
    expect(outcomes.map((o) => [o.overLimit, o.remaining, o.resetSeconds])).toEqual([
      [false, 0, 60],
      [true, 0, 6],
    ]);
    expect(tokens).toBe(0);
  });
});

describe("hit coalescing", () => {
  it("sends one turn's hits on a counter as one group and fans the outcomes back in order", async () => {
    const clock = new ManualClock();
    const store = new MemoryCounterStore();
    const groups: number[] = [];
    const counting = {
      apply: (batch: Parameters<MemoryCounterStore["apply"]>[0], nowMs: number) => {
        groups.push(batch.length);
        return store.apply(batch, nowMs);
      },
      close: () => store.close(),
    };
    const coalescer = new HitCoalescer({ store: counting, clock, timeoutMs: 1_000 });
    const hit = (counterKey: string, hits = 1) =>
      coalescer.hit({ counterKey, algorithm: RateLimitAlgorithm.FIXED_WINDOW, limit: 3, windowSeconds: 60, hits });
    const outcomes = await Promise.all([hit("a"), hit("a"), hit("b"), hit("a", 2), hit("a", 0)]);
    expect(groups).toEqual([2]);
    expect(outcomes.map((o) => [o.overLimit, o.used])).toEqual([
      [false, 1],
      [false, 2],
      [false, 1],
      [true, 4],
      [true, 4],
    ]);
  });

  it("fails every waiter of a batch when the store does not answer within the bound", async () => {
    const never = { apply: () => new Promise<never>(() => {}), close: async () => {} };
    const coalescer = new HitCoalescer({ store: never, clock: new ManualClock(), timeoutMs: 20 });
    const hit = () =>
      coalescer.hit({
        counterKey: "k",
        algorithm: RateLimitAlgorithm.FIXED_WINDOW,
        limit: 1,
        windowSeconds: 1,
        hits: 1,
      });
    await expect(Promise.all([hit(), hit()])).rejects.toThrow("did not answer within 20 ms");
  });
});
