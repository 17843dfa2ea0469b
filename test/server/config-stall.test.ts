// The management server's config work never holds the event loop (issue #17, problem 4): config
// folder files are read, limited and parsed in a worker thread (an apply's documents are checked
// there too: test/server/parse-once.test.ts shows none is parsed on this thread).
// The server runs in this process on real files; its stalls are this thread's.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { allowedStall, machineNoise, measureStall, type StallReport } from "../support/event-loop.js";
import { waitFor } from "../support/index.js";

const maxStallMs = 20;

function expectNoStall(stall: StallReport, noiseMs: number): void {
  const worst = Math.max(stall.histogramMaxMs, stall.driftMaxMs);
  const allowed = allowedStall(maxStallMs, noiseMs, 250);
  if (process.env["GANTRY_REPORT_STALLS"])
    console.info(`${expect.getState().currentTestName}: ${worst.toFixed(1)} ms (${allowed.why})`);
  expect(worst, `stall ${worst.toFixed(1)} ms (${allowed.why})`).toBeLessThan(allowed.ms);
}

const destination = (name: string): string =>
  `apiVersion: gantry/v1\nkind: Destination\nmetadata:\n  name: ${name}\nspec:\n  ports: [{ number: 80 }]\n  endpoints: [{ address: 10.0.0.1 }]\n`;

describe("gantry server: config loads off the event loop", () => {
  const store = new MemoryStore();
  let server: ManagementServer;
  let dir: string;
  const logLines: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "gantry-server-stall-"));
    writeFileSync(join(dir, "small.yaml"), destination("small"));
    const out = new PassThrough();
    out.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (line) logLines.push(line);
    });
    server = await startManagementServer({
      store,
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      apiToken: undefined,
      insecureApi: true,
      configDir: dir,
      logger: createLogger({ service: "test", destination: out }),
      registry: createRegistry("server", { processMetrics: false }),
      debounce: { quietMs: 10, maxDelayMs: 100 },
    });
  });

  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Writes a file aside (the test's own write is not measured); renaming it in place is the change. */
  function prepare(name: string, text: string): () => void {
    const scratch = join(dir, `.${name}.tmp`);
    writeFileSync(scratch, text);
    return () => renameSync(scratch, join(dir, name));
  }

  const refused = (file: string, flag: string) =>
    waitFor(() => logLines.some((l) => l.includes(file) && l.includes(flag)), {
      timeoutMs: 60_000,
      what: `the refusal of ${file}`,
    });

  it("refuses a 20 MB document unread, naming the file, without a stall; what was loaded stays", async () => {
    const noise = await machineNoise();
    const change = prepare(
      "huge.yaml",
      destination("huge").replace("ports:", `notes: "${"x".repeat(20 << 20)}"\n  ports:`),
    );
    const { stall } = await measureStall(async () => {
      change();
      await refused("huge.yaml", "--config-max-file-bytes");
    });
    expectNoStall(stall, noise);
    expect((await store.list()).map((r) => r.key.name)).toEqual(["small"]);
    rmSync(join(dir, "huge.yaml"));
  }, 90_000);

  it("refuses a file of 350,000 documents unparsed, naming it, without a stall or a crash", async () => {
    const noise = await machineNoise();
    // 3 MB: under the size limit, so the document count is what refuses it.
    const change = prepare("many.yaml", "a: 1\n---\n".repeat(350_000));
    const { stall } = await measureStall(async () => {
      change();
      await refused("many.yaml", "--config-max-documents");
    });
    expectNoStall(stall, noise);
    expect((await store.list()).map((r) => r.key.name)).toEqual(["small"]);
    rmSync(join(dir, "many.yaml"));
  }, 90_000);
});
