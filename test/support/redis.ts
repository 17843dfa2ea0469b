import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort, freePortPair, portForLater } from "./ports.js";
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
 * `running: false` it only reserves the port (`portForLater`: nothing listens, connections are refused,
 * and no freePort returns it): `start()` starts it later (a Redis that comes up late).
 */
export async function startRedis(options: { running?: boolean } = {}): Promise<RedisServer> {
  const port = options.running === false ? await portForLater() : await freePort();
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
  /** Runs a redis-cli command against the node on `port`. */
  cli(port: number, ...args: string[]): Promise<string>;
  /** The port of the master serving `slot`. */
  ownerOf(slot: number): Promise<number>;
  /**
   * Moves `slot` (and its keys) to the master on `toPort` as `redis-cli --cluster reshard` does:
   * IMPORTING/MIGRATING, MIGRATE of the keys, then SETSLOT NODE on every master.
   */
  moveSlot(slot: number, toPort: number): Promise<void>;
  /** Stops the node on `port` (for failure tests); `startNode` brings it back with its cluster identity. */
  stopNode(port: number): Promise<void>;
  startNode(port: number): Promise<void>;
  /** Resolves when every running master reports cluster_state:ok. */
  untilOk(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts a Redis Cluster of `masters` nodes (no replicas) on loopback and waits for cluster_state:ok. */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), "gantry-redis-cluster-"));
  const command = findTool("redis-server") ?? "redis-server";
  const procs = new Map<number, ManagedProcess>();
  const ports: number[] = [];
  const startNode = async (port: number) => {
    procs.set(
      port,
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
  };
  const untilOk = async (timeoutMs = 20_000) => {
    for (const [port, proc] of procs) {
      if (proc.exited) continue;
      await waitFor(async () => (await cli(port, "CLUSTER", "INFO")).includes("cluster_state:ok"), {
        timeoutMs,
        what: `cluster node :${port} to report cluster_state:ok`,
      });
    }
  };
  const stopAll = () => Promise.all([...procs.values()].map((p) => p.stop()));
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePortPair(10_000);
      ports.push(port);
      await startNode(port);
    }
    await run(
      findTool("redis-cli") ?? "redis-cli",
      ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"],
      { timeout: 30_000 },
    );
    await untilOk();
  } catch (err) {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const nodeId = (port: number) => cli(port, "CLUSTER", "MYID");
  const ownerOf = async (slot: number) => {
    for (const line of (await cli(ports[0] as number, "CLUSTER", "NODES")).split("\n")) {
      const [, address = "", flags = "", , , , , , ...ranges] = line.split(" ");
      if (!flags.includes("master")) continue;
      for (const range of ranges) {
        const [from, to = from] = range.split("-").map(Number);
        if (from !== undefined && to !== undefined && slot >= from && slot <= to)
          return Number(address.split(":")[1]?.split("@")[0]);
      }
    }
    throw new Error(`no master serves slot ${slot}`);
  };
  return {
    nodes: ports.map((port) => ({ host: "127.0.0.1", port })),
    url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(",")}`,
    cli,
    ownerOf,
    async moveSlot(slot, toPort) {
      const fromPort = await ownerOf(slot);
      const [fromId, toId] = [await nodeId(fromPort), await nodeId(toPort)];
      await cli(toPort, "CLUSTER", "SETSLOT", String(slot), "IMPORTING", fromId);
      await cli(fromPort, "CLUSTER", "SETSLOT", String(slot), "MIGRATING", toId);
      for (;;) {
        const keys = (await cli(fromPort, "CLUSTER", "GETKEYSINSLOT", String(slot), "100")).split("\n").filter(Boolean);
        if (keys.length === 0) break;
        await cli(fromPort, "MIGRATE", "127.0.0.1", String(toPort), "", "0", "5000", "KEYS", ...keys);
      }
      for (const port of [toPort, fromPort, ...ports.filter((p) => p !== toPort && p !== fromPort)]) {
        await cli(port, "CLUSTER", "SETSLOT", String(slot), "NODE", toId);
      }
    },
    stopNode: async (port) => {
      await procs.get(port)?.stop();
    },
    startNode,
    untilOk,
    close: async () => {
      await stopAll();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
