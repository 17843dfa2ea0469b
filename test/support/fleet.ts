// A multi-cluster fleet of real processes on loopback, for the tests that need one: `gantry server`
// replicas on one redis-server (relay port open), workload clusters registered with `gantry cluster
// add` tokens, and a `gantry agent` per cluster (bin/gantry.js, built dist/), each on free ports with
// its metrics port to watch it by. Also the VirtualDestination over every cluster's `svc` that the
// failover tests route through, and the wait they share.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { buildGrpcBootstrap, type GrpcBootstrap, type GrpcBootstrapOptions } from "../../src/server/bootstrap-grpc.js";
import { RedisStore, type ResourceDocument } from "../../src/store/index.js";
import { runGantry } from "./cli.js";
import { freePorts } from "./ports.js";
import { type ManagedProcess, startProcess } from "./process.js";
import { type RedisServer, startRedis } from "./redis.js";
import { waitFor } from "./wait.js";

const bin = new URL("../../bin/gantry.js", import.meta.url).pathname;

/** The sum of a metric's samples (those with `label`, e.g. `result="unchanged"`, when given). */
export async function metric(port: number, name: string, label = ""): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split("\n")
    .filter((line) => (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && line.includes(label))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

export async function readyz(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/readyz`)).text();
}

export function yamlDocuments(text: string): ResourceDocument[] {
  return parseAllDocuments(text).map((d) => d.toJSON() as ResourceDocument);
}

export interface Replica {
  readonly name: string;
  readonly relayPort: number;
  readonly metricsPort: number;
  readonly apiPort: number;
  readonly apiUrl: string;
  process: ManagedProcess;
}

type ReplicaPorts = Pick<Replica, "relayPort" | "metricsPort" | "apiPort">;

/** A `gantry server` on `redisUrl` with its relay port open; `ports` to start it again where it was. */
export async function startReplica(
  name: string,
  redisUrl: string,
  ports?: ReplicaPorts,
  extraArgs: readonly string[] = [],
): Promise<Replica> {
  const [relay, metrics, api, xdsPort] = await freePorts(4);
  const relayPort = ports?.relayPort ?? (relay as number);
  const metricsPort = ports?.metricsPort ?? (metrics as number);
  const apiPort = ports?.apiPort ?? (api as number);
  const process = await startProcess({
    name: `gantry server ${name}`,
    command: globalThis.process.execPath,
    args: [
      ...[bin, "server", "--host", "127.0.0.1", "--redis-url", redisUrl, "--insecure-api", "--server-name", name],
      ...["--xds-port", String(xdsPort), "--api-port", String(apiPort)],
      ...["--metrics-port", String(metricsPort), "--relay-port", String(relayPort), "--log-level", "warn"],
      ...extraArgs,
    ],
    ready: async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).ok,
    readyTimeoutMs: 60_000,
  });
  return { name, relayPort, metricsPort, apiPort, apiUrl: `http://127.0.0.1:${apiPort}`, process };
}

export interface AgentProcess {
  readonly cluster: string;
  readonly xdsPort: number;
  readonly metricsPort: number;
  readonly dataDir: string;
  readonly discoveryDir: string;
  process: ManagedProcess;
}

/**
 * Registers `cluster` at a replica (`gantry cluster add`) and writes its token to
 * `<root>/<cluster>/token`, beside an empty discovery folder, for `startAgent`.
 */
export async function registerCluster(root: string, cluster: string, apiPort: number): Promise<void> {
  await mkdir(join(root, cluster, "discovery"), { recursive: true });
  const added = await runGantry(["cluster", "add", cluster, "--server", `http://127.0.0.1:${apiPort}`], {
    timeoutMs: 100_000,
  });
  if (added.code !== 0) throw new Error(`gantry cluster add ${cluster}: ${added.stderr}`);
  await writeFile(join(root, cluster, "token"), added.stdout.trim(), { mode: 0o600 });
}

/** `cluster`'s agent, with its data and discovery folders under `<root>/<cluster>`; `ports` to restart it in place. */
export async function startAgent(options: {
  root: string;
  cluster: string;
  relays: readonly Replica[];
  ports?: { xdsPort: number; metricsPort: number };
  extraArgs?: readonly string[];
}): Promise<AgentProcess> {
  const { root, cluster } = options;
  const [xds, metrics] = await freePorts(2);
  const xdsPort = options.ports?.xdsPort ?? (xds as number);
  const metricsPort = options.ports?.metricsPort ?? (metrics as number);
  const dataDir = join(root, cluster, "data");
  const discoveryDir = join(root, cluster, "discovery");
  const process = await startProcess({
    name: `gantry agent ${cluster}`,
    command: globalThis.process.execPath,
    args: [
      ...[bin, "agent", "--cluster", cluster, "--host", "127.0.0.1"],
      ...["--relay", options.relays.map((r) => `127.0.0.1:${r.relayPort}`).join(",")],
      ...["--data-dir", dataDir, "--discovery-dir", discoveryDir, "--token-file", join(root, cluster, "token")],
      ...["--xds-port", String(xdsPort), "--metrics-port", String(metricsPort), "--log-level", "info"],
      ...(options.extraArgs ?? []),
    ],
    // Up once it serves /readyz at all: ready (output) or not yet.
    ready: async () => (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).ok,
    readyTimeoutMs: 60_000,
  });
  return { cluster, xdsPort, metricsPort, dataDir, discoveryDir, process };
}

export interface FleetOptions<C extends string> {
  /** The temporary folder's name prefix. */
  name: string;
  clusters: readonly C[];
  /** The server replicas, by name (one or more). */
  replicas: readonly string[];
  /** Applied to the store before the first replica starts. */
  world: readonly ResourceDocument[];
  /** More `gantry server` flags. */
  serverArgs?: readonly string[];
  /** More `gantry agent` flags for `cluster`, whose files are under `dir`. */
  agentArgs?: (cluster: C, dir: string) => readonly string[];
}

export interface Fleet<C extends string> {
  /** The temporary folder: `<root>/<cluster>/{token,data,discovery}`, and whatever a test adds. */
  readonly root: string;
  readonly redis: RedisServer;
  /** The management Redis, as the servers read it: a test applies its resources here. */
  readonly store: RedisStore;
  readonly replicas: Replica[];
  readonly agents: Map<C, AgentProcess>;
  agent(cluster: C): AgentProcess;
  /** `<root>/<cluster>`. */
  dir(cluster: C): string;
  /** Starts (or restarts, on its ports) `cluster`'s agent. */
  startAgent(cluster: C, ports?: { xdsPort: number; metricsPort: number }): Promise<AgentProcess>;
  /** A gRPC xDS bootstrap for a workload of `cluster`, attached to its agent. */
  bootstrap(cluster: C, options: Omit<GrpcBootstrapOptions, "xdsHost" | "xdsPort" | "cluster">): GrpcBootstrap;
  /** Stops every agent and replica, then Redis, and removes the folder. */
  stop(): Promise<void>;
}

/**
 * Redis, the store holding `world`, the replicas, and every cluster registered (its token written);
 * the agents are not started: write their discovery first (`<root>/<cluster>/discovery`), then
 * `startAgent` each.
 */
export async function startFleet<C extends string>(options: FleetOptions<C>): Promise<Fleet<C>> {
  const root = await mkdtemp(join(tmpdir(), `gantry-${options.name}-`));
  const redis = await startRedis();
  const store = new RedisStore({ url: redis.url });
  const replicas: Replica[] = [];
  const agents = new Map<C, AgentProcess>();
  const fleet: Fleet<C> = {
    root,
    redis,
    store,
    replicas,
    agents,
    agent(cluster) {
      const found = agents.get(cluster);
      if (!found) throw new Error(`no agent in ${cluster}`);
      return found;
    },
    dir: (cluster) => join(root, cluster),
    async startAgent(cluster, ports) {
      const agent = await startAgent({
        root,
        cluster,
        relays: replicas,
        ...(ports ? { ports } : {}),
        extraArgs: options.agentArgs?.(cluster, join(root, cluster)) ?? [],
      });
      agents.set(cluster, agent);
      return agent;
    },
    bootstrap: (cluster, bootstrapOptions) =>
      buildGrpcBootstrap({ ...bootstrapOptions, cluster, xdsHost: "127.0.0.1", xdsPort: fleet.agent(cluster).xdsPort }),
    async stop() {
      for (const agent of agents.values()) await agent.process.stop().catch(() => {});
      for (const replica of replicas) await replica.process.stop().catch(() => {});
      await store.close().catch(() => {});
      await redis.close();
      await rm(root, { recursive: true, force: true });
    },
  };
  try {
    await store.ready();
    await store.apply([...options.world]);
    for (const name of options.replicas) {
      replicas.push(await startReplica(name, redis.url, undefined, options.serverArgs));
    }
    for (const cluster of options.clusters) await registerCluster(root, cluster, replicas[0]?.apiPort ?? 0);
  } catch (err) {
    await fleet.stop();
    throw err;
  }
  return fleet;
}

/**
 * At namespace `mc`: one proxyless gateway in `clusters` (selecting `app: mc`), routing `hosts` to
 * the VirtualDestination `svc` over every Destination labelled `app: svc` (the members).
 */
export function virtualDestinationWorld(clusters: readonly string[], hosts = ["svc.global"]): ResourceDocument[] {
  return yamlDocuments(`apiVersion: gantry/v1
kind: Gateway
metadata: { name: mesh, namespace: mc, clusters: [${clusters.join(", ")}] }
spec:
  kind: GRPC_PROXYLESS
  proxies: { labels: { app: mc } }
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: svc, namespace: mc }
spec:
  hosts: [${hosts.join(", ")}]
  gateways: [{ name: mesh }]
  http: [{ name: all, forwardTo: { destinations: [{ virtualDestination: { name: svc } }] } }]
---
apiVersion: gantry/v1
kind: VirtualDestination
metadata: { name: svc, namespace: mc }
spec:
  hosts: [svc.global]
  ports: [{ number: 50051, protocol: GRPC }]
  destinationSelector: { labels: { app: svc } }
`);
}

/** What a batch of calls reports: gRPC status codes and which backends answered, each with a count. */
interface Batch {
  codes: Record<string, number>;
  backends: Record<string, number>;
}

/**
 * Waits until a batch of 10 calls all succeed on backends `owner` says are `to`'s (by default a
 * backend named `to`); returns the milliseconds it took. Bounded at 60 s: gRPC reconnects with
 * backoff (1 s, ×1.6).
 */
export async function untilServedBy(
  run: () => Promise<Batch>,
  to: string,
  what: string,
  owner: (backend: string) => string = (backend) => backend,
): Promise<number> {
  const started = performance.now();
  await waitFor(
    async () => {
      const results = await run();
      const served = Object.entries(results.backends)
        .filter(([backend]) => owner(backend) === to)
        .reduce((sum, [, count]) => sum + count, 0);
      return results.codes["0"] === 10 && served === 10;
    },
    { timeoutMs: 60_000, intervalMs: 100, what },
  );
  return Math.round(performance.now() - started);
}
