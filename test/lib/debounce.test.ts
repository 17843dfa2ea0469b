import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/lib/clock.js";
import { Debouncer } from "../../src/lib/debounce.js";

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("Debouncer", () => {
  it("runs once after the quiet period", async () => {
    const timers = new ManualClock(0);
    const runs: number[] = [];
    const debounce = new Debouncer(async () => void runs.push(timers.now()), {
      quietMs: 100,
      maxDelayMs: 1_000,
      timers,
    });
    debounce.trigger();
    timers.advance(50);
    debounce.trigger();
    timers.advance(99);
    expect(runs).toEqual([]);
    timers.advance(1);
    await settle();
    expect(runs).toEqual([150]);
  });

  it("runs no later than the max delay under a steady stream of changes", async () => {
    const timers = new ManualClock(0);
    const runs: number[] = [];
    const debounce = new Debouncer(async () => void runs.push(timers.now()), {
      quietMs: 100,
      maxDelayMs: 1_000,
      timers,
    });
    for (let t = 0; t < 1_500; t += 50) {
      debounce.trigger();
      timers.advance(50);
      await settle();
    }
    expect(runs[0]).toBe(1_000);
  });

  it("without a max delay, waits for calm however long the burst (a config folder being written)", async () => {
    const timers = new ManualClock(0);
    const runs: number[] = [];
    const debounce = new Debouncer(async () => void runs.push(timers.now()), { quietMs: 100, timers });
    for (let t = 0; t < 50; t++) {
      debounce.trigger();
      timers.advance(80);
      await settle();
    }
    expect(runs).toEqual([]);
    timers.advance(20);
    await settle();
    expect(runs).toEqual([4_020]);
  });

  it("leaves no timer once stopped, and runs nothing more", async () => {
    const timers = new ManualClock(0);
    let runs = 0;
    const debounce = new Debouncer(async () => void runs++, { quietMs: 100, timers });
    debounce.trigger();
    debounce.stop();
    expect(timers.pendingTimers).toBe(0);
    debounce.trigger();
    timers.advance(1_000);
    await settle();
    expect(runs).toBe(0);
  });

  it("never overlaps runs: a change during a run schedules exactly one more", async () => {
    const timers = new ManualClock(0);
    let release: () => void = () => {};
    let runs = 0;
    const debounce = new Debouncer(
      () =>
        new Promise<void>((resolve) => {
          runs += 1;
          release = resolve;
        }),
      { quietMs: 10, maxDelayMs: 100, timers },
    );
    debounce.trigger();
    timers.advance(10);
    expect(runs).toBe(1);
    debounce.trigger();
    debounce.trigger();
    timers.advance(50);
    expect(runs).toBe(1);
    release();
    await settle();
    timers.advance(10);
    expect(runs).toBe(2);
    release();
    await debounce.flush();
    expect(runs).toBe(2);
  });

  it("keeps running after a failed run, and flush runs what is pending", async () => {
    const timers = new ManualClock(0);
    let runs = 0;
    const debounce = new Debouncer(
      async () => {
        runs += 1;
        if (runs === 1) throw new Error("translation failed");
      },
      { quietMs: 10, maxDelayMs: 100, timers },
    );
    debounce.trigger();
    timers.advance(10);
    await settle();
    debounce.trigger();
    await debounce.flush();
    expect(runs).toBe(2);
    debounce.stop();
    debounce.trigger();
    timers.advance(1_000);
    expect(runs).toBe(2);
  });

  it("with leading, runs a change after a calm spell at once and collapses the burst that follows", async () => {
    const timers = new ManualClock(0);
    const runs: number[] = [];
    const debounce = new Debouncer(async () => void runs.push(timers.now()), {
      quietMs: 100,
      maxDelayMs: 1_000,
      leading: true,
      timers,
    });
    debounce.trigger();
    debounce.trigger(); // the same turn: joins the run about to start
    timers.advance(0);
    await settle();
    expect(runs).toEqual([0]);
    // A burst right after: collapsed into one run after the quiet period, as without leading.
    for (let t = 0; t < 3; t++) {
      timers.advance(10);
      debounce.trigger();
    }
    timers.advance(99);
    await settle();
    expect(runs).toEqual([0]);
    timers.advance(1);
    await settle();
    expect(runs).toEqual([0, 130]);
    // Calm for longer than the quiet period: the next change runs at once again.
    timers.advance(500);
    debounce.trigger();
    timers.advance(0);
    await settle();
    expect(runs).toEqual([0, 130, 630]);
  });

  it("imminentRun waits for a leading run or one in progress, never for a burst's run", async () => {
    const timers = new ManualClock(0);
    const runs: number[] = [];
    let release: (() => void) | undefined;
    const debounce = new Debouncer(
      async () => {
        runs.push(timers.now());
        await new Promise<void>((resolve) => {
          release = resolve;
        });
      },
      { quietMs: 100, maxDelayMs: 1_000, leading: true, timers },
    );
    let waited = false;
    await debounce.imminentRun(); // nothing due: at once
    debounce.trigger();
    const leading = debounce.imminentRun().then(() => {
      waited = true;
    });
    timers.advance(0);
    await settle();
    expect(runs).toEqual([0]);
    expect(waited).toBe(false); // the run started and has not ended
    release?.();
    await leading;
    expect(waited).toBe(true);
    // Right after a run, a change is part of a burst: its run waits for calm, and imminentRun does not.
    timers.advance(10);
    debounce.trigger();
    let burstWaited = false;
    await debounce.imminentRun().then(() => {
      burstWaited = true;
    });
    expect(burstWaited).toBe(true);
    expect(runs).toEqual([0]);
    debounce.stop();
  });
});
