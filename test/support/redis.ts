import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort, freePortPair } from "./ports.js";
import { type ManagedProcess, startProcess } from "./process.js";
import { findTool, needTool } from "./tools.js";
import { waitFor } from "./wait.js";

const run = promisify(execFile);
const installHint = "install it with `apt-get install redis-server` (npm test does this when run as root)";

/** Whether redis-server is here; under CI=true a missing one fails the run instead. */
export function haveRedis(): boolean {
  return needTool("redis-server", installHint) !== undefined && findTool("redis-cli") !== undefined;
}

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run(findTool("redis-cli") ?? "redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args], {
    timeout: 5_000,
  });
  return stdout.trim();
}

export interface RedisServer {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /** Runs a redis-cli command against this server. */
  cli(...args: string[]): Promise<string>;
  /** Stops the server (for failure tests); `start()` brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Freezes the process (SIGSTOP): connections stay open, nothing answers. A hung Redis. */
  pause(): void;
  /** Thaws it (SIGCONT): it answers what was sent meanwhile. */
  resume(): void;
  /** Stops it for good and removes its files. */
  close(): Promise<void>;
}

function serverArgs(port: number, dir: string, extra: string[] = []): string[] {
  return ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no", ...extra];
}

/**
 * Starts a throw-away redis-server on a free loopback port and waits until it answers PING. With
 * `running: false` it only reserves the port: `start()` starts it later (a Redis that comes up late).
 */
export async function startRedis(options: { running?: boolean } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "gantry-redis-"));
  const command = findTool("redis-server") ?? "redis-server";
  let proc: ManagedProcess | undefined;
  const start = async () => {
    proc = await startProcess({
      name: `redis-server :${port}`,
      command,
      args: serverArgs(port, dir),
      ready: async () => (await cli(port, "PING")) === "PONG",
    });
  };
  if (options.running !== false) await start();
  const signal = (name: NodeJS.Signals) => {
    if (!proc || proc.exited) throw new Error(`redis-server :${port} is not running`);
    proc.child.kill(name);
  };
  return {
    host: "127.0.0.1",
    port,
    url: `redis://127.0.0.1:${port}`,
    cli: (...args) => cli(port, ...args),
    start,
    stop: async () => {
      if (proc && !proc.exited) proc.child.kill("SIGCONT");
      await proc?.stop();
    },
    pause: () => signal("SIGSTOP"),
    resume: () => signal("SIGCONT"),
    close: async () => {
      if (proc && !proc.exited) proc.child.kill("SIGCONT");
      await proc?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RedisCluster {
  readonly nodes: Array<{ host: string; port: number }>;
  /** `redis+cluster://` URL naming every master as a seed. */
  readonly url: string;
  close(): Promise<void>;
}

/** Starts a Redis Cluster of `masters` nodes (no replicas) on loopback and waits for cluster_state:ok. */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), "gantry-redis-cluster-"));
  const command = findTool("redis-server") ?? "redis-server";
  const procs: ManagedProcess[] = [];
  const ports: number[] = [];
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePortPair(10_000);
      ports.push(port);
      procs.push(
        await startProcess({
          name: `redis-server cluster node :${port}`,
          command,
          args: serverArgs(port, dir, [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            join(dir, `nodes-${port}.conf`),
            "--cluster-node-timeout",
            "2000",
          ]),
          ready: async () => (await cli(port, "PING")) === "PONG",
        }),
      );
    }
    await run(
      findTool("redis-cli") ?? "redis-cli",
      ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"],
      { timeout: 30_000 },
    );
    for (const port of ports) {
      await waitFor(async () => (await cli(port, "CLUSTER", "INFO")).includes("cluster_state:ok"), {
        timeoutMs: 20_000,
        what: `cluster node :${port} to report cluster_state:ok`,
      });
    }
  } catch (err) {
    await Promise.all(procs.map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    nodes: ports.map((port) => ({ host: "127.0.0.1", port })),
    url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(",")}`,
    close: async () => {
      await Promise.all(procs.map((p) => p.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
