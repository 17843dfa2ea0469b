import { describe, expect, it } from "vitest";
import { RateLimitAlgorithm } from "../../src/gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { ManualClock } from "../../src/lib/index.js";
import { fixedWindowHits, refilledTokens, slidingWindowHits, tokenBucketHits } from "../../src/ratelimit/algorithms.js";
import { HitCoalescer } from "../../src/ratelimit/coalescer.js";
import { MemoryCounterStore } from "../../src/ratelimit/memory-store.js";
import { waitFor } from "../support/wait.js";

/** Lets pending promise callbacks and the coalescer's end-of-turn send run. */
const turn = () => new Promise((resolve) => setImmediate(resolve));

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
      coalescer.hit({
        counterKey,
        keyFormat: "gantry",
        algorithm: RateLimitAlgorithm.FIXED_WINDOW,
        limit: 3,
        windowSeconds: 60,
        hits,
      });
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

  it("fails every waiter of a batch exactly when the bound passes without an answer", async () => {
    const clock = new ManualClock();
    const never = { apply: () => new Promise<never>(() => {}), close: async () => {} };
    const coalescer = new HitCoalescer({ store: never, clock, timeoutMs: 20 });
    const hit = () =>
      coalescer.hit({
        counterKey: "k",
        keyFormat: "gantry",
        algorithm: RateLimitAlgorithm.FIXED_WINDOW,
        limit: 1,
        windowSeconds: 1,
        hits: 1,
      });
    const outcomes = [hit(), hit()].map((p) =>
      p.then(
        () => "answered",
        (err: Error) => err.message,
      ),
    );
    const settled: string[] = [];
    for (const o of outcomes) void o.then((m) => settled.push(m));
    clock.advance(19);
    await turn();
    expect(settled).toEqual([]);
    clock.advance(1);
    expect(await Promise.all(outcomes)).toEqual([
      "counter store did not answer within 20 ms",
      "counter store did not answer within 20 ms",
    ]);
  });

  it("gathers hits into the next batch while the in-flight limit is reached, and sends it when one returns", async () => {
    const store = new MemoryCounterStore();
    const calls: { sizes: number[]; release: () => void }[] = [];
    const gated = {
      apply: (batch: Parameters<MemoryCounterStore["apply"]>[0], nowMs: number) =>
        new Promise<Awaited<ReturnType<MemoryCounterStore["apply"]>>>((resolve, reject) => {
          calls.push({
            sizes: batch.map((g) => g.hits.length),
            release: () => store.apply(batch, nowMs).then(resolve, reject),
          });
        }),
      close: () => store.close(),
    };
    const coalescer = new HitCoalescer({
      store: gated,
      clock: new ManualClock(),
      timeoutMs: 10_000,
      maxBatchesInFlight: 1,
    });
    const hit = () =>
      coalescer.hit({
        counterKey: "k",
        keyFormat: "gantry",
        algorithm: RateLimitAlgorithm.FIXED_WINDOW,
        limit: 100,
        windowSeconds: 60,
        hits: 1,
      });
    const first = hit();
    await waitFor(() => calls.length === 1, { what: "the first batch to go out" });
    // Three more hits over several turns: none may go out while the first batch is in flight.
    const second = hit();
    await new Promise((resolve) => setImmediate(resolve));
    const third = Promise.all([hit(), hit()]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls.length).toBe(1);
    calls[0]?.release();
    expect((await first).used).toBe(1);
    await waitFor(() => calls.length === 2, { what: "the gathered batch to go out" });
    expect(calls[1]?.sizes).toEqual([3]);
    calls[1]?.release();
    expect((await second).used).toBe(2);
    expect((await third).map((o) => o.used)).toEqual([3, 4]);
  });

  it("fails a hit at the bound from its arrival even when it waited behind a batch that hung", async () => {
    const clock = new ManualClock(0);
    let applied = 0;
    const hung = {
      apply: () => {
        applied++;
        return new Promise<never>(() => {});
      },
      close: async () => {},
    };
    const coalescer = new HitCoalescer({ store: hung, clock, timeoutMs: 300, maxBatchesInFlight: 1 });
    const hit = () =>
      coalescer
        .hit({
          counterKey: "k",
          keyFormat: "gantry",
          algorithm: RateLimitAlgorithm.FIXED_WINDOW,
          limit: 1,
          windowSeconds: 1,
          hits: 1,
        })
        .then(
          () => "answered",
          (err: Error) => `${err.message} (at ${clock.now()})`,
        );
    const settled: string[] = [];
    void hit().then((m) => settled.push(`first: ${m}`));
    await waitFor(() => applied === 1, { what: "the first batch to go out" });
    clock.advance(200);
    void hit().then((m) => settled.push(`second: ${m}`));
    await turn();
    // The first batch fails at 300 ms, which frees the slot: the second hit's batch goes out then.
    clock.advance(100);
    await waitFor(() => settled.length === 1, { what: "the first hit to fail" });
    expect(applied).toBe(2);
    expect(settled).toEqual(["first: counter store did not answer within 300 ms (at 300)"]);
    // Its bound runs from its arrival (200 ms), not from when its batch was sent (300 ms).
    clock.advance(199);
    await turn();
    expect(settled).toHaveLength(1);
    clock.advance(1);
    await waitFor(() => settled.length === 2, { what: "the second hit to fail" });
    expect(settled[1]).toBe("second: counter store did not answer within 300 ms (at 500)");
  });

  it("fails only the counters whose group the store failed (a Cluster node down), and counts the error once", async () => {
    const memory = new MemoryCounterStore();
    const store = {
      apply: async (groups: Parameters<MemoryCounterStore["apply"]>[0], nowMs: number) => {
        const results = await memory.apply(groups, nowMs);
        return groups.map((g, i) => (g.counterKey === "down" ? new Error("node down") : (results[i] ?? [])));
      },
      close: () => memory.close(),
    };
    const errors: unknown[] = [];
    const coalescer = new HitCoalescer({
      store,
      clock: new ManualClock(),
      timeoutMs: 10_000,
      onError: (err) => errors.push(err),
    });
    const hit = (counterKey: string) =>
      coalescer
        .hit({
          counterKey,
          keyFormat: "gantry",
          algorithm: RateLimitAlgorithm.FIXED_WINDOW,
          limit: 10,
          windowSeconds: 60,
          hits: 1,
        })
        .then(
          (outcome) => `remaining ${outcome.remaining}`,
          (err: Error) => `${err.name}: ${(err.cause as Error).message}`,
        );
    expect(await Promise.all([hit("up"), hit("down"), hit("up"), hit("down")])).toEqual([
      "remaining 9",
      "CounterStoreError: node down",
      "remaining 8",
      "CounterStoreError: node down",
    ]);
    expect(errors).toEqual([new Error("node down")]);
  });
});
