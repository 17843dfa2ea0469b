import { afterEach, describe, expect, it, vi } from "vitest";
import { ManualClock, maxNodeTimerMs, systemClock } from "../../src/lib/clock.js";

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

describe("timers on a manual clock", () => {
  it("fires one-shot timers in due order, each at its due time", () => {
    const clock = new ManualClock(0);
    const fired: Array<[string, number]> = [];
    clock.setTimeout(() => fired.push(["b", clock.now()]), 20);
    clock.setTimeout(() => fired.push(["a", clock.now()]), 10);
    clock.setTimeout(() => fired.push(["c", clock.now()]), 30);
    clock.advance(25);
    expect(fired).toEqual([
      ["a", 10],
      ["b", 20],
    ]);
    expect(clock.now()).toBe(25);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(5);
    expect(fired.at(-1)).toEqual(["c", 30]);
    expect(clock.pendingTimers).toBe(0);
  });

  it("repeats intervals until cancelled, and cancelled timers never fire", () => {
    const clock = new ManualClock(0);
    const ticks: number[] = [];
    const interval = clock.setInterval(() => ticks.push(clock.now()), 10);
    const never = clock.setTimeout(() => ticks.push(-1), 15);
    never.cancel();
    clock.advance(35);
    expect(ticks).toEqual([10, 20, 30]);
    interval.cancel();
    interval.cancel();
    clock.advance(100);
    expect(ticks).toEqual([10, 20, 30]);
  });

  it("fires timers scheduled by a timer within the same step", () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(clock.now());
      clock.setTimeout(() => fired.push(clock.now()), 5);
    }, 10);
    clock.advance(20);
    expect(fired).toEqual([10, 15]);
    expect(clock.now()).toBe(20);
  });

  it("a zero-delay timer fires on the next advance, even of zero", () => {
    const clock = new ManualClock(0);
    let fired = false;
    clock.setTimeout(() => {
      fired = true;
    }, 0);
    expect(fired).toBe(false);
    clock.advance(0);
    expect(fired).toBe(true);
  });
});

describe("timers on the system clock", () => {
  it("call back later and can be cancelled", async () => {
    let cancelledFired = false;
    systemClock
      .setTimeout(() => {
        cancelledFired = true;
      }, 1)
      .cancel();
    await new Promise<void>((resolve) => systemClock.setTimeout(resolve, 5).unref());
    expect(cancelledFired).toBe(false);
  });
});

describe("system clock timers longer than Node's (2^31-1 ms, about 24.8 days)", () => {
  // Vitest's fake timers behave as Node's: a longer delay fires after 1 ms.
  afterEach(() => {
    vi.useRealTimers();
  });
  const twoThirdsOfAYear = (365 * 24 * 3600 * 1000 * 2) / 3;

  it("a timeout fires once, when due, not at once", () => {
    vi.useFakeTimers();
    let fired = 0;
    systemClock.setTimeout(() => fired++, twoThirdsOfAYear).unref();
    vi.advanceTimersByTime(1_000);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(twoThirdsOfAYear - 1_001);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(fired).toBe(1);
    vi.advanceTimersByTime(twoThirdsOfAYear * 2);
    expect(fired).toBe(1);
  });

  it("a long timeout can be cancelled in any of its steps", () => {
    vi.useFakeTimers();
    let fired = 0;
    const timer = systemClock.setTimeout(() => fired++, maxNodeTimerMs * 3);
    vi.advanceTimersByTime(maxNodeTimerMs + 5);
    timer.cancel();
    vi.advanceTimersByTime(maxNodeTimerMs * 3);
    expect(fired).toBe(0);
  });

  it("an interval fires once per period", () => {
    vi.useFakeTimers();
    let fired = 0;
    const timer = systemClock.setInterval(() => fired++, twoThirdsOfAYear);
    vi.advanceTimersByTime(twoThirdsOfAYear - 1);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(fired).toBe(1);
    vi.advanceTimersByTime(twoThirdsOfAYear);
    expect(fired).toBe(2);
    timer.cancel();
    vi.advanceTimersByTime(twoThirdsOfAYear * 3);
    expect(fired).toBe(2);
  });
});
