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

/** `gantry server`'s three port flags (xDS, API, metrics), each on its own free port. */
export async function serverPortFlags(): Promise<string[]> {
  const [xds, api, metrics] = await freePorts(3);
  return ["--xds-port", String(xds), "--api-port", String(api), "--metrics-port", String(metrics)];
}
