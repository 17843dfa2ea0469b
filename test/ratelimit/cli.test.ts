import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { RateLimitResponse_Code as Code, RateLimitService } from "../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { Setting } from "../../src/lib/h2/frames.js";
import { createClient } from "../../src/lib/index.js";
import { RawH2Client } from "../lib/h2/raw-client.js";
import { runGantry } from "../support/cli.js";
import { freePort, freePorts, startProcess } from "../support/index.js";
import { isListening } from "../support/ports.js";

const bin = fileURLToPath(new URL("../../bin/gantry.js", import.meta.url));
const examples = fileURLToPath(new URL("../../examples/ratelimit", import.meta.url));

describe("gantry ratelimit (built by npm install)", () => {
  it("serves the example config from flags and GANTRY_* variables, and stops on SIGTERM", async () => {
    const [grpcPort, metricsPort] = await freePorts(2);
    const proc = await startProcess({
      name: "gantry ratelimit",
      command: process.execPath,
      args: [bin, "ratelimit", "--host", "127.0.0.1", "--grpc-port", String(grpcPort), "--config-dir", examples],
      env: {
        ...process.env,
        GANTRY_METRICS_PORT: String(metricsPort),
        GANTRY_RATELIMIT_RESPONSE_HEADERS: "true",
        GANTRY_GRPC_MAX_CONCURRENT_STREAMS: "7",
        GANTRY_LOG_LEVEL: "warn",
      },
      ready: async () => (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).ok,
      // A primary and one worker per core (--workers' default) start slowly on a loaded machine.
      readyTimeoutMs: 60_000,
    });
    const client = createClient(RateLimitService, `127.0.0.1:${grpcPort}`);
    try {
      const response = await client.shouldRateLimit({
        domain: "gateway",
        descriptors: [
          { entries: [{ key: "remote_address", value: "10.0.0.1" }] },
          { entries: [{ key: "generic_key", value: "healthz" }] },
        ],
      });
      expect(response.overallCode).toBe(Code.OK);
      expect(response.statuses.map((s) => s.limitRemaining)).toEqual([19, 4294967295]);
      expect(response.responseHeadersToAdd.map((h) => `${h.key}: ${h.value}`)).toContain("RateLimit-Limit: 20");
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metrics).toContain('gantry_ratelimit_config_loads_total{result="success",service="ratelimit"} 1');
      expect(metrics).toContain('gantry_grpc_limit_reached_total{bound="connections",service="ratelimit"} 0');
      expect(metrics).toContain('gantry_grpc_limit_in_use{bound="connections",service="ratelimit"} 1');

      // The stream limit from the environment is what the gRPC port announces.
      const raw = await RawH2Client.open(grpcPort);
      try {
        expect((await raw.settings()).get(Setting.MAX_CONCURRENT_STREAMS)).toBe(7);
      } finally {
        raw.close();
      }
    } finally {
      client.close();
      await proc.stop();
    }
    expect(proc.child.exitCode).toBe(0);
  }, 90_000);
});

describe("gantry ratelimit's bounds", () => {
  it("refuses bounds that cannot work before it opens a port", async () => {
    const grpcPort = await freePort();
    const base = ["ratelimit", "--host", "127.0.0.1", "--grpc-port", String(grpcPort), "--metrics-port", "0"];
    const small = await runGantry([...base, "--grpc-max-buffered-bytes", "1Mi"], { timeoutMs: 30_000 });
    expect(small.code).toBe(1);
    expect(small.stderr).toContain(
      "--grpc-max-buffered-bytes (1048576) must be larger than the largest request (4Mi) (4194304 bytes)",
    );
    const zero = await runGantry([...base, "--grpc-max-connections", "0"], { timeoutMs: 30_000 });
    expect(zero.code).not.toBe(0);
    expect(zero.stderr).toContain('"0" is not a positive integer');
    const words = await runGantry([...base, "--max-descriptors", "many"], { timeoutMs: 30_000 });
    expect(words.code).not.toBe(0);
    expect(words.stderr).toContain('"many" is not a positive integer');
    expect(await isListening(grpcPort)).toBe(false);
  }, 120_000);
});
