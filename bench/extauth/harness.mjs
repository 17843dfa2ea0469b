// What the ext-auth benchmarks share: finding tools, free ports, the machine's description,
// starting a target server in its own process, and driving load at it from another (bench/loadgen).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, totalmem } from "node:os";
import { grpcFrames, runLoadgen } from "../common.mjs";

export { findTool, freePort } from "../common.mjs";

export function machine() {
  return {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? "unknown",
    memoryGiB: (totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
  };
}

/** The port a target prints on its "ready PORT" line, once it has. */
export const readyLine = (output) => Number(/ready (\d+)/.exec(output)?.[1]) || undefined;

/**
 * Starts a target server and waits (at most 30 s) until `ready(output)` gives its port.
 * With BENCH_PROFILE_DIR set, Node targets write a CPU profile there when they stop.
 */
export async function startProcess(name, command, args, ready) {
  const profile =
    process.env.BENCH_PROFILE_DIR && command === process.execPath
      ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_PROFILE_DIR]
      : [];
  const child = spawn(command, [...profile, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  let output = "";
  child.stdout.on("data", (chunk) => {
    output += chunk;
  });
  const deadline = Date.now() + 90_000; // a loaded machine starts N+1 Node processes slowly
  for (;;) {
    const port = await ready(output);
    if (port) {
      return {
        name,
        port,
        pid: child.pid,
        stop: async () => {
          child.kill("SIGTERM");
          await once(child, "exit");
        },
      };
    }
    if (child.exitCode !== null) throw new Error(`${name} exited: ${output}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${name} did not start: ${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Drives Check load at `port` from a separate process (bench/loadgen), with the requests in
 * `requestsFile` (a JSON list of base64 CheckRequests); `load` = { connections, streamsPerConnection,
 * warmupMs, durationMs }. Every answer's gRPC status is checked: `failures` counts those not OK.
 */
export function runLoad(port, requestsFile, load) {
  const bodies = `${requestsFile}.bin`;
  if (!existsSync(bodies)) {
    const requests = JSON.parse(readFileSync(requestsFile, "utf8")).map((b64) => Buffer.from(b64, "base64"));
    writeFileSync(bodies, grpcFrames(requests));
  }
  const report = runLoadgen({
    port,
    path: "/envoy.service.auth.v3.Authorization/Check",
    bodies,
    concurrency: load.connections * load.streamsPerConnection,
    connections: load.connections,
    warmup: `${load.warmupMs}ms`,
    duration: `${load.durationMs}ms`,
  });
  return {
    completed: report.calls,
    failures: report.failures,
    rps: report.rps,
    p50: report.p50_ms,
    p99: report.p99_ms,
  };
}
