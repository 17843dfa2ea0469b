import { cpus, loadavg } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";

/** How long the event loop was held, at most, while something ran. */
export interface StallReport {
  /** perf_hooks' event-loop delay histogram, its maximum. */
  readonly histogramMaxMs: number;
  /** A timer due every 2 ms: the most it ran late. */
  readonly driftMaxMs: number;
}

/**
 * Measures the longest stall of this thread's event loop while `run` runs, two ways: perf_hooks'
 * delay histogram (1 ms resolution) and a timer-drift probe. Servers started in this process share
 * the loop, so their stalls show here.
 */
export async function measureStall<T>(run: () => Promise<T>): Promise<{ result: T; stall: StallReport }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  let driftMaxMs = 0;
  let due = performance.now() + 2;
  const probe = setInterval(() => {
    const now = performance.now();
    driftMaxMs = Math.max(driftMaxMs, now - due);
    due = now + 2;
  }, 2);
  histogram.enable();
  try {
    const result = await run();
    return { result, stall: { histogramMaxMs: histogram.max / 1e6, driftMaxMs } };
  } finally {
    histogram.disable();
    clearInterval(probe);
  }
}

/**
 * The event loop's lateness with nothing of ours running, over `ms`: on a shared, busy machine the
 * operating system alone holds a thread for tens of milliseconds. A stall test allows this on top
 * of its bound, so that it fails on what the code does, not on the machine's load.
 */
export async function machineNoise(ms = 1_000): Promise<number> {
  const { stall } = await measureStall(() => new Promise((resolve) => setTimeout(resolve, ms)));
  return Math.max(stall.histogramMaxMs, stall.driftMaxMs);
}

/**
 * The stall a test may allow: `boundMs` plus the machine's own noise; on a machine whose load
 * average is over twice its cores (a shared CI box, or several test suites at once), garbage
 * collection and scheduling alone take longer than the bound, and `overloadedMs` is used instead,
 * still far below a parse on the event loop. Says which in `why`.
 */
export function allowedStall(boundMs: number, noiseMs: number, overloadedMs: number): { ms: number; why: string } {
  const load = loadavg()[0] ?? 0;
  const cores = cpus().length;
  if (load > 2 * cores) return { ms: overloadedMs, why: `load average ${load.toFixed(1)} on ${cores} cores` };
  return { ms: boundMs + noiseMs, why: `bound ${boundMs} ms + machine noise ${noiseMs.toFixed(1)} ms` };
}
