import { describe, expect, it } from "vitest";
import { freePort, runGantry } from "../support/index.js";
import { isListening } from "../support/ports.js";

// The server-wide bounds of the data-plane ports are flags, checked before any port opens.

describe("bounds flags are checked before any port opens", () => {
  it("gantry server refuses an xDS connection cap of 0, a stream total that is not a number, and bad byte-budget flags", async () => {
    const xdsPort = await freePort();
    const base = ["server", "--host", "127.0.0.1", "--insecure-api", "--xds-port", String(xdsPort)];
    const zero = await runGantry([...base, "--xds-max-connections", "0"], { timeoutMs: 30_000 });
    expect(zero.killed).toBe(false);
    expect(zero.code).not.toBe(0);
    expect(zero.stderr).toContain("--xds-max-connections");
    expect(zero.stderr).toContain('"0" is not a positive integer');
    const word = await runGantry([...base, "--xds-max-total-streams", "lots"], { timeoutMs: 30_000 });
    expect(word.code).not.toBe(0);
    expect(word.stderr).toContain('"lots" is not a positive integer');
    const budget = await runGantry([...base, "--xds-max-buffered-bytes", "64MB"], { timeoutMs: 30_000 });
    expect(budget.code).not.toBe(0);
    expect(budget.stderr).toContain("--xds-max-buffered-bytes");
    expect(budget.stderr).toContain('"64MB" is not a positive byte count');
    const stall = await runGantry([...base, "--xds-write-stall-ms", "0"], { timeoutMs: 30_000 });
    expect(stall.code).not.toBe(0);
    expect(stall.stderr).toContain("--xds-write-stall-ms");
    expect(await isListening(xdsPort)).toBe(false);
  }, 120_000);

  it("gantry extauth refuses a byte budget below --max-request-bytes, and a byte count it cannot read", async () => {
    const grpcPort = await freePort();
    const base = ["extauth", "--host", "127.0.0.1", "--grpc-port", String(grpcPort), "--metrics-port", "0"];
    const small = await runGantry([...base, "--max-request-bytes", "8Mi", "--grpc-max-buffered-bytes", "4Mi"], {
      timeoutMs: 30_000,
    });
    expect(small.code).toBe(1);
    expect(small.stderr).toContain(
      "--grpc-max-buffered-bytes (4194304) must be larger than --max-request-bytes (8388608 bytes)",
    );
    const bad = await runGantry([...base, "--max-request-bytes", "4MB"], { timeoutMs: 30_000 });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('"4MB" is not a positive byte count (such as 1048576, 64Ki, 256Mi or 1Gi)');
    expect(await isListening(grpcPort)).toBe(false);
  }, 120_000);
});
