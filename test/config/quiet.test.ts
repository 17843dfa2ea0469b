import { describe, expect, it } from "vitest";
import { QuietPeriod } from "../../src/config/quiet.js";
import { ManualClock } from "../../src/lib/clock.js";

describe("quiet period", () => {
  const setup = (maxDelayMs?: number) => {
    const clock = new ManualClock();
    const fired: number[] = [];
    const start = clock.now();
    const quiet = new QuietPeriod(() => fired.push(clock.now() - start), { quietMs: 100, maxDelayMs, timers: clock });
    return { clock, fired, quiet };
  };

  it("fires once, quietMs after the last trigger of a burst", () => {
    const { clock, fired, quiet } = setup();
    quiet.trigger();
    clock.advance(60);
    quiet.trigger();
    clock.advance(99);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([160]);
    clock.advance(1_000);
    expect(fired).toEqual([160]);
  });

  it("fires no later than maxDelayMs after a burst began, then starts a new burst", () => {
    const { clock, fired, quiet } = setup(250);
    for (let i = 0; i < 4; i++) {
      quiet.trigger();
      clock.advance(80);
    }
    expect(fired).toEqual([250]);
    quiet.trigger();
    clock.advance(100);
    expect(fired).toEqual([250, 420]);
  });

  it("fires nothing once cancelled", () => {
    const { clock, fired, quiet } = setup();
    quiet.trigger();
    quiet.cancel();
    clock.advance(1_000);
    expect(fired).toEqual([]);
    expect(clock.pendingTimers).toBe(0);
  });
});
