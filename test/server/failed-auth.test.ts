import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/lib/clock.js";
import { FailedAuthLimiter } from "../../src/server/api/failed-auth.js";

describe("FailedAuthLimiter", () => {
  it("allows a burst of failures per address, then one per refill period, per address", () => {
    const clock = new ManualClock();
    const limiter = new FailedAuthLimiter({ perMinute: 6, clock });
    for (let i = 0; i < 6; i++) {
      expect(limiter.retryAfterMs("10.0.0.1")).toBe(0);
      limiter.recordFailure("10.0.0.1");
    }
    expect(limiter.retryAfterMs("10.0.0.1")).toBe(10_000);
    expect(limiter.retryAfterMs("10.0.0.2")).toBe(0);
    clock.advance(4_000);
    expect(limiter.retryAfterMs("10.0.0.1")).toBe(6_000);
    clock.advance(6_000);
    expect(limiter.retryAfterMs("10.0.0.1")).toBe(0);
  });

  it("keeps its table bounded: full buckets are forgotten, and past the cap the stalest goes", () => {
    const clock = new ManualClock();
    const limiter = new FailedAuthLimiter({ perMinute: 2, maxClients: 100, clock });
    for (let i = 0; i < 10_000; i++) limiter.recordFailure(`10.0.${i >> 8}.${i & 255}`);
    expect(limiter.size).toBe(100);
    // The most recent failures are the ones kept.
    limiter.recordFailure("10.0.39.15");
    expect(limiter.retryAfterMs("10.0.39.15")).toBeGreaterThan(0);
    clock.advance(60_000);
    for (let i = 9_900; i < 10_000; i++) limiter.retryAfterMs(`10.0.${i >> 8}.${i & 255}`);
    expect(limiter.size).toBe(0);
  });
});
