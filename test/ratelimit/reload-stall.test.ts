// Config reloads never hold the event loop (issue #17, problem 4): reading, parsing, checking and
// compiling run in a worker thread, and the rule book comes back in slices. The server runs in this
// process on real files, so its stalls are this thread's, measured while it reloads.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/lib/index.js";
import { allowedStall, machineNoise, measureStall, type StallReport } from "../support/event-loop.js";
import { waitFor } from "../support/index.js";
import { type Harness, startHarness } from "./harness.js";

/** The bound the issue sets: no reload holds the event loop longer. */
const maxStallMs = 20;
/** On an overloaded machine (see allowedStall), scheduling alone holds the loop this long. */
const overloadedStallMs = 250;

/**
 * The stall, within the bound plus what the machine itself held the loop for just before; on an
 * overloaded machine, within 250 ms (parsing on the event loop took 1.8–2.7 s).
 */
function expectNoStall(stall: StallReport, noiseMs: number, overloadedMs = overloadedStallMs): void {
  const worst = Math.max(stall.histogramMaxMs, stall.driftMaxMs);
  const allowed = allowedStall(maxStallMs, noiseMs, overloadedMs);
  if (process.env["GANTRY_REPORT_STALLS"])
    console.info(`${expect.getState().currentTestName}: ${worst.toFixed(1)} ms (${allowed.why})`);
  expect(worst, `stall ${worst.toFixed(1)} ms (${allowed.why})`).toBeLessThan(allowed.ms);
}

function descriptors(domain: string, count: number): string {
  const lines = [`domain: ${domain}`, "descriptors:"];
  for (let i = 0; i < count; i++)
    lines.push(`  - key: k${i}`, `    value: v${i}`, "    rate_limit: { unit: second, requests_per_unit: 10 }");
  return `${lines.join("\n")}\n`;
}

describe("rate-limit config reloads off the event loop", () => {
  let dir: string;
  let harness: Harness | undefined;
  let logLines: string[];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "gantry-rl-stall-"));
    logLines = [];
    writeFileSync(join(dir, "small.yaml"), descriptors("small", 1));
    const destination = new PassThrough();
    destination.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (line) logLines.push(line);
    });
    harness = await startHarness({
      configDir: dir,
      reloadDebounceMs: 20,
      logger: createLogger({ service: "ratelimit-test", destination }),
    });
    // The worker thread is up (it loaded the first config): what follows measures reloads alone.
    expect(harness.server.domains()).toEqual(["small"]);
  });
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /** Writes a file aside (outside the measurement: the test's own write would count); renaming it in place is the change. */
  function prepare(name: string, text: string): () => void {
    const scratch = join(dir, `.${name}.tmp`);
    writeFileSync(scratch, text);
    return () => renameSync(scratch, join(dir, name));
  }

  /** Calls ShouldRateLimit back to back while `until` is pending; every one must be answered. */
  async function callWhile(h: Harness, until: Promise<unknown>): Promise<number> {
    let done = false;
    void until.finally(() => {
      done = true;
    });
    let answered = 0;
    while (!done) {
      const response = await h.call("small", [[["k0", "v0"]]]);
      expect(response.statuses).toHaveLength(1);
      answered += 1;
    }
    return answered;
  }

  // The caller's own calls make garbage, and collecting it holds the loop on a busy machine: the
  // machine's noise here is the same caller, as long, without a reload. Building the rule book from
  // an object per descriptor held the loop 70–250 ms on top of that; packed, it is one value.
  it("reloads a 20,000-descriptor config while a caller is answered throughout, no stall over 20 ms, and serves it", async () => {
    const h = harness as Harness;
    const change = prepare("big.yaml", descriptors("big", 20_000));
    const started = performance.now();
    const { result: answered, stall } = await measureStall(async () => {
      change();
      const loaded = waitFor(() => h.server.domains().includes("big"), {
        timeoutMs: 110_000,
        what: "the big config",
      });
      return callWhile(h, loaded);
    });
    const reloadMs = performance.now() - started;
    const quiet = new Promise((resolve) => setTimeout(resolve, Math.min(reloadMs, 10_000)));
    const { stall: noise } = await measureStall(() => callWhile(h, quiet));
    const noiseMs = Math.max(noise.histogramMaxMs, noise.driftMaxMs);
    expectNoStall(stall, noiseMs, Math.max(overloadedStallMs, noiseMs + maxStallMs));
    expect(answered).toBeGreaterThan(0);
    const response = await h.call("big", [[["k19999", "v19999"]]]);
    expect(response.statuses[0]?.currentLimit?.requestsPerUnit).toBe(10);
  }, 120_000);

  it("refuses a 20 MB file unread, naming it, without a stall, and keeps serving", async () => {
    const h = harness as Harness;
    const noise = await machineNoise();
    const change = prepare(
      "huge.yaml",
      `domain: huge\ndescriptors:\n  - key: k\n    value: "${"x".repeat(20 << 20)}"\n`,
    );
    const { stall } = await measureStall(async () => {
      change();
      await waitFor(() => logLines.some((l) => l.includes("huge.yaml") && l.includes("--config-max-file-bytes")), {
        timeoutMs: 30_000,
        what: "the refusal naming the file",
      });
    });
    expectNoStall(stall, noise);
    expect(h.server.domains()).toEqual(["small"]);
    expect((await h.call("small", [[["k0", "v0"]]])).statuses).toHaveLength(1);
  });

  it("refuses a file of 350,000 documents, naming it, without a stall or a crash", async () => {
    const h = harness as Harness;
    const noise = await machineNoise();
    const change = prepare("many.yaml", "domain: many\n---\n".repeat(350_000));
    const { stall } = await measureStall(async () => {
      change();
      await waitFor(() => logLines.some((l) => l.includes("many.yaml") && l.includes("--config-max-documents")), {
        timeoutMs: 30_000,
        what: "the refusal naming the file",
      });
    });
    expectNoStall(stall, noise);
    expect(h.server.domains()).toEqual(["small"]);
  });
});
