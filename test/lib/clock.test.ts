import { describe, expect, it } from "vitest";
import { ManualClock, systemClock } from "../../src/lib/clock.js";

describe("clocks", () => {
  it("a manual clock moves only when told", () => {
    const clock = new ManualClock(1_000);
    expect(clock.now()).toBe(1_000);
    clock.advance(500);
    expect(clock.now()).toBe(1_500);
    expect(() => clock.advance(-1)).toThrow(RangeError);
    clock.set(42);
    expect(clock.now()).toBe(42);
  });

  it("the system clock follows Date.now", () => {
    const before = Date.now();
    const now = systemClock.now();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });
});
