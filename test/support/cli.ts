import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { freePorts } from "./ports.js";

const run = promisify(execFile);
const bin = new URL("../../bin/gantry.js", import.meta.url).pathname;

export interface CliResult {
  /** The exit code; null when the command was killed (by the timeout: it did not stop by itself). */
  code: number | null;
  /** True when the timeout killed it. */
  killed: boolean;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built `gantry` command (bin/gantry.js over dist/) as a user would, and returns how it
 * ended instead of throwing. `env` is laid over this process's environment; a value of undefined
 * removes a variable.
 */
export async function runGantry(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], {
      timeout: options.timeoutMs ?? 20_000,
      env: { ...process.env, ...options.env },
    });
    return { code: 0, killed: false, stdout, stderr };
  } catch (err) {
    const e = err as { code: number | null; killed: boolean; stdout: string; stderr: string };
    return { code: e.code, killed: e.killed, stdout: e.stdout, stderr: e.stderr };
  }
}

/** `gantry server`'s three ports, each free, and the flags that give them. */
export interface ServerPorts {
  readonly xds: number;
  readonly api: number;
  readonly metrics: number;
  readonly flags: string[];
}

export async function serverPorts(): Promise<ServerPorts> {
  const [xds, api, metrics] = await freePorts(3);
  return {
    xds,
    api,
    metrics,
    flags: ["--xds-port", String(xds), "--api-port", String(api), "--metrics-port", String(metrics)],
  };
}

/** `gantry server`'s three port flags (xDS, API, metrics), each on its own free port. */
export async function serverPortFlags(): Promise<string[]> {
  return (await serverPorts()).flags;
}

/** A service fed by a server's xDS (`gantry extauth`, `gantry ratelimit`): its two ports, each free, and its flags. */
export interface FedServicePorts {
  readonly grpc: number;
  readonly metrics: number;
  readonly flags: string[];
}

/**
 * The flags of `gantry extauth` or `gantry ratelimit` following the server whose xDS port is
 * `xdsPort` on loopback. Drawn once the server listens, so they cannot name one of its ports.
 */
export async function fedServicePorts(xdsPort: number): Promise<FedServicePorts> {
  const [grpc, metrics] = await freePorts(2);
  return {
    grpc,
    metrics,
    flags: [
      ...["--xds-server", `127.0.0.1:${xdsPort}`],
      ...["--grpc-port", String(grpc), "--metrics-port", String(metrics)],
    ],
  };
}
