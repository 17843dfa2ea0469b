import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/lib/clock.js";
import { clientKey, FailedAuthLimiter } from "../../src/server/api/failed-auth.js";

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

  it("counts an IPv6 client per /64: another address of the same /64 shares its budget", () => {
    const clock = new ManualClock();
    const limiter = new FailedAuthLimiter({ perMinute: 3, clock });
    // One host may take any address of its /64: a new address per guess must not get a new budget.
    for (let i = 1; i <= 3; i++) limiter.recordFailure(`2001:db8:0:7::${i.toString(16)}`);
    expect(limiter.retryAfterMs("2001:db8:0:7:ffff:1:2:3")).toBe(20_000);
    expect(limiter.retryAfterMs("2001:0db8:0000:0007:0000:0000:0000:0009")).toBe(20_000);
    expect(limiter.retryAfterMs("2001:db8:0:8::1")).toBe(0);
    expect(limiter.size).toBe(1);
    // IPv4 stays per address, and a dual-stack socket's mapped address is that IPv4 address.
    for (let i = 0; i < 3; i++) limiter.recordFailure("::ffff:10.0.0.1");
    expect(limiter.retryAfterMs("10.0.0.1")).toBe(20_000);
    expect(limiter.retryAfterMs("10.0.0.2")).toBe(0);
  });
});

describe("clientKey", () => {
  it("is an IPv4 address as is, and an IPv6 address's /64 however it is written", () => {
    expect(clientKey("192.0.2.7")).toBe("192.0.2.7");
    expect(clientKey("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(clientKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(clientKey("2001:db8:0:0:8000::1%eth0")).toBe("2001:db8:0:0::/64");
    expect(clientKey("fe80::1:2:3:4")).toBe("fe80:0:0:0::/64");
    expect(clientKey("::1")).toBe("0:0:0:0::/64");
    expect(clientKey("64:ff9b::192.0.2.7")).toBe("64:ff9b:0:0::/64");
    expect(clientKey("unknown")).toBe("unknown");
  });
});
