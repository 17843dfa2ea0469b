// What the benchmarks share: finding tools, free loopback ports, gRPC message framing, and driving load
// with bench/loadgen.
import { execFile, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { accessSync, constants, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { homedir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
/** The project's own tools (Go binaries) live here. */
export const localBin = join(root, ".cache", "bin");

/** An executable in .cache/bin, on PATH, in ~/go/bin or the sbin folders, or undefined. */
export function findTool(name) {
  const dirs = [
    localBin,
    ...(process.env.PATH ?? "").split(delimiter),
    join(homedir(), "go", "bin"),
    "/usr/sbin",
    "/usr/bin",
  ];
  for (const dir of dirs) {
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

/** Waits until a Gantry service's metrics port answers /healthz (polling every 50 ms, for at most 20 s). */
export async function untilHealthy(port) {
  for (let i = 0; i < 400; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing answered /healthz on port ${port}`);
}

/** Polls `check` every 50 ms until it returns true (a throw counts as not yet), for at most `timeoutMs`. */
export async function until(what, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Spawns `command` (its environment `env` over this one's) and resolves, once `ready()` is true within
 * `timeoutMs`, to { name, pid, stop() }: stop sends SIGTERM and waits for the exit. A process that
 * exits first or is not ready in time is killed, and the error carries the end of its stderr.
 */
export async function startReady(name, command, args, env, ready, timeoutMs) {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-4_000);
  });
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  try {
    // An exit ends the wait at once: thrown inside `until`'s check, it would only count as "not yet".
    await until(`${name} to be ready`, async () => exited() || (await ready()), timeoutMs);
    if (exited()) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode})`);
  } catch (err) {
    child.kill("SIGKILL");
    throw new Error(`${err.message}\n${stderr}`);
  }
  return {
    name,
    pid: child.pid,
    async stop() {
      if (exited()) return;
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}

/** Messages as gRPC length-prefixed frames, back to back: the request file bench/loadgen reads. */
export function grpcFrames(messages) {
  return Buffer.concat(
    messages.map((bytes) => {
      const out = Buffer.alloc(5 + bytes.length);
      out.writeUInt32BE(bytes.length, 1);
      out.set(bytes, 5);
      return out;
    }),
  );
}

let loadgenPath;

/** bench/loadgen, built from its source into .cache/bin once per run (Go caches the build). */
export function buildLoadgen() {
  if (!loadgenPath) {
    mkdirSync(localBin, { recursive: true });
    loadgenPath = join(localBin, "loadgen");
    execFileSync("go", ["build", "-o", loadgenPath, "."], { cwd: join(root, "bench", "loadgen"), stdio: "inherit" });
  }
  return loadgenPath;
}

function loadgenArgs({ port, path, bodies, concurrency, connections, warmup, duration }) {
  return [
    "-addr",
    `127.0.0.1:${port}`,
    "-path",
    path,
    "-bodies",
    bodies,
    "-concurrency",
    String(concurrency),
    "-connections",
    String(connections),
    "-warmup",
    warmup,
    "-duration",
    duration,
  ];
}

function loadgenReport(out) {
  const report = JSON.parse(out);
  const notOk = Object.entries(report.statuses).filter(([status]) => status !== "0");
  return {
    ...report,
    notOk: Object.fromEntries(notOk),
    failures: report.errors + notOk.reduce((a, [, n]) => a + n, 0),
  };
}

/**
 * One bench/loadgen run: `bodies` is a file of framed requests sent in turn to `path` at `port`, with
 * `concurrency` calls in flight over `connections`, for `warmup` then `duration` (Go durations: "2s",
 * "500ms"). Returns its report with `failures`: calls that failed or answered with a status other than OK.
 */
export function runLoadgen(options) {
  return loadgenReport(execFileSync(buildLoadgen(), loadgenArgs(options), { encoding: "utf8", timeout: 120_000 }));
}

/** `runLoadgen` without blocking, so that several loads (and other work) run at once. */
export async function runLoadgenAsync(options, timeoutMs = 120_000) {
  const { stdout } = await execFileAsync(buildLoadgen(), loadgenArgs(options), {
    encoding: "utf8",
    timeout: timeoutMs,
  });
  return loadgenReport(stdout);
}

const clockTicks = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

/** CPU seconds (user + system) used so far by `pid` and every process below it (a primary and its workers), from /proc. */
export function treeCpuSeconds(pid) {
  const children = new Map();
  const cpu = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const parent = Number(fields[1]);
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(Number(entry));
    cpu.set(Number(entry), (Number(fields[11]) + Number(fields[12])) / clockTicks);
  }
  let total = 0;
  const pending = [pid];
  while (pending.length > 0) {
    const next = pending.pop();
    total += cpu.get(next) ?? 0;
    pending.push(...(children.get(next) ?? []));
  }
  return total;
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** `median (min–max)` over rounds, with `digits` decimals. */
export function spread(values, digits = 0) {
  const f = (v) => v.toFixed(digits);
  if (values.length < 2) return f(values[0] ?? 0);
  return `${f(median(values))} (${f(Math.min(...values))}–${f(Math.max(...values))})`;
}
