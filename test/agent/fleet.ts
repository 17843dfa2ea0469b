// Real `gantry server` replicas and `gantry agent`s on loopback, for the multi-cluster tests: each
// a process of bin/gantry.js (built dist/), on free ports, with its metrics port to watch it by.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runGantry } from "../support/cli.js";
import { freePorts } from "../support/ports.js";
import { type ManagedProcess, startProcess } from "../support/process.js";

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

export interface Replica {
  readonly name: string;
  readonly relayPort: number;
  readonly metricsPort: number;
  readonly apiPort: number;
  process: ManagedProcess;
}

/** A `gantry server` on `redisUrl` with its relay port open; `ports` to start it again where it was. */
export async function startReplica(
  name: string,
  redisUrl: string,
  ports?: Pick<Replica, "relayPort" | "metricsPort" | "apiPort">,
): Promise<Replica> {
  const [relay, metrics, api, xdsPort] = await freePorts(4);
  const relayPort = ports?.relayPort ?? relay;
  const metricsPort = ports?.metricsPort ?? metrics;
  const apiPort = ports?.apiPort ?? api;
  const process = await startProcess({
    name: `gantry server ${name}`,
    command: globalThis.process.execPath,
    args: [
      ...[bin, "server", "--host", "127.0.0.1", "--redis-url", redisUrl, "--insecure-api", "--server-name", name],
      ...["--xds-port", String(xdsPort), "--api-port", String(apiPort)],
      ...["--metrics-port", String(metricsPort), "--relay-port", String(relayPort), "--log-level", "warn"],
    ],
    ready: async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).ok,
    readyTimeoutMs: 60_000,
  });
  return { name, relayPort, metricsPort, apiPort, process };
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
}): Promise<AgentProcess> {
  const { root, cluster } = options;
  const [xds, metrics] = await freePorts(2);
  const xdsPort = options.ports?.xdsPort ?? xds;
  const metricsPort = options.ports?.metricsPort ?? metrics;
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
    ],
    // Up once it serves /readyz at all: ready (output) or not yet.
    ready: async () => (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).ok,
    readyTimeoutMs: 60_000,
  });
  return { cluster, xdsPort, metricsPort, dataDir, discoveryDir, process };
}
