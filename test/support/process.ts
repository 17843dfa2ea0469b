import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { waitFor } from "./wait.js";

export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** The last lines the process wrote (stdout and stderr), for failure messages. */
  output(): string;
  /** Sends SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
  readonly exited: boolean;
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Resolves truthy once the process serves. Polled until `readyTimeoutMs`. */
  ready: () => Promise<unknown> | unknown;
  readyTimeoutMs?: number;
}

const keptLines = 200;

/** Starts a server process and waits until it is ready; on failure the error carries its output. */
export async function startProcess(options: StartOptions): Promise<ManagedProcess> {
  const child = spawn(options.command, options.args, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
    if (lines.length > keptLines) lines.splice(0, lines.length - keptLines);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let exited = false;
  let spawnError: Error | undefined;
  child.on("error", (err) => {
    spawnError = err;
  });
  const exit = once(child, "exit").then(() => {
    exited = true;
  });
  const managed: ManagedProcess = {
    name: options.name,
    child,
    output: () => lines.join("\n"),
    get exited() {
      return exited;
    },
    async stop(graceMs = 5_000) {
      if (exited || child.exitCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exit;
      clearTimeout(timer);
    },
  };
  try {
    await waitFor(
      async () => {
        if (spawnError) throw new Error(`cannot start ${options.command}: ${spawnError.message}`);
        if (exited) throw new Error(`${options.name} exited with code ${child.exitCode}`);
        return options.ready();
      },
      { timeoutMs: options.readyTimeoutMs ?? 15_000, what: `${options.name} to be ready` },
    );
  } catch (err) {
    await managed.stop(1_000);
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`${options.name} did not start: ${reason}\n--- its output ---\n${managed.output()}`);
  }
  return managed;
}
