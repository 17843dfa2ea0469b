// What the ext-auth benchmarks share: finding tools, free ports, the machine's description,
// starting a target server in its own process, and driving load at it from another (bench/loadgen).
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { accessSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { availableParallelism, cpus, totalmem } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");

/** An executable in .cache/bin (the project's Go tools) or on PATH, or undefined. */
export function findTool(name) {
  for (const dir of [
    join(root, ".cache", "bin"),
    ...(process.env.PATH ?? "").split(delimiter),
    "/usr/sbin",
    "/usr/bin",
  ]) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

export function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

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
  const deadline = Date.now() + 30_000;
  for (;;) {
    const port = await ready(output);
    if (port) {
      return {
        name,
        port,
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

let loadgenPath;

/** bench/loadgen, built from its source into .cache/bin once per run (Go caches the build). */
function loadgen() {
  if (!loadgenPath) {
    const bin = join(root, ".cache", "bin");
    mkdirSync(bin, { recursive: true });
    loadgenPath = join(bin, "loadgen");
    execFileSync("go", ["build", "-o", loadgenPath, "."], { cwd: join(root, "bench", "loadgen"), stdio: "inherit" });
  }
  return loadgenPath;
}

/**
 * Drives Check load at `port` from a separate process (bench/loadgen), with the requests in
 * `requestsFile` (a JSON list of base64 CheckRequests); `load` = { connections, streamsPerConnection,
 * warmupMs, durationMs }. Every answer's gRPC status is checked: `failures` counts those not OK.
 */
export function runLoad(port, requestsFile, load) {
  const bodies = `${requestsFile}.bin`;
  if (!existsSync(bodies)) {
    const framed = JSON.parse(readFileSync(requestsFile, "utf8")).map((b64) => {
      const bytes = Buffer.from(b64, "base64");
      const out = Buffer.alloc(5 + bytes.length);
      out.writeUInt32BE(bytes.length, 1);
      out.set(bytes, 5);
      return out;
    });
    writeFileSync(bodies, Buffer.concat(framed));
  }
  const out = execFileSync(
    loadgen(),
    [
      "-addr",
      `127.0.0.1:${port}`,
      "-path",
      "/envoy.service.auth.v3.Authorization/Check",
      "-bodies",
      bodies,
      "-concurrency",
      String(load.connections * load.streamsPerConnection),
      "-connections",
      String(load.connections),
      "-warmup",
      `${load.warmupMs}ms`,
      "-duration",
      `${load.durationMs}ms`,
    ],
    { encoding: "utf8", timeout: load.warmupMs + load.durationMs + 30_000 },
  );
  const report = JSON.parse(out);
  const notOk = Object.entries(report.statuses)
    .filter(([status]) => status !== "0")
    .reduce((sum, [, count]) => sum + count, 0);
  return {
    completed: report.calls,
    failures: report.errors + notOk,
    rps: report.rps,
    p50: report.p50_ms,
    p99: report.p99_ms,
  };
}
