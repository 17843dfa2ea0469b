import type { JsonObject } from "@bufbuild/protobuf";
import { type Timestamp, timestampMs } from "@bufbuild/protobuf/wkt";
import { type Command, Option } from "commander";
import { stringify } from "yaml";
import { checkClusterName } from "../../cluster/index.js";
import type { Cluster } from "../../gen/gantry/api/v1/management_pb.js";
import { connect, explain, type ServerFlags, serverOptions } from "../api-client.js";
import { parsePositiveInt } from "../options.js";
import { formatTable } from "../table.js";

// `gantry cluster add|remove`, and the cluster views of `gantry get clusters` and `describe cluster`.

type Output = "table" | "text" | "yaml" | "json";

const iso = (t: Timestamp | undefined) => (t ? new Date(timestampMs(t)).toISOString() : "");

export function clusterJson(cluster: Cluster): JsonObject {
  const json: JsonObject = {
    name: cluster.name,
    state: cluster.state,
    identity: cluster.identity,
    created: iso(cluster.created),
    tokenExpires: iso(cluster.tokenExpires),
    tokenUsed: iso(cluster.tokenUsed),
    certificateSerial: cluster.certificateSerial,
    certificateExpires: iso(cluster.certificateExpires),
    revoked: iso(cluster.revoked),
    connected: cluster.connected,
    lastSeen: iso(cluster.lastSeen),
    server: cluster.server,
    agentVersion: cluster.agentVersion,
    snapshotVersion: cluster.snapshotVersion,
    resources: cluster.resources,
    proxies: cluster.proxies,
    stale: cluster.stale,
    staleSince: iso(cluster.staleSince),
  };
  // Unset fields are left out rather than shown empty.
  return Object.fromEntries(Object.entries(json).filter(([, v]) => v !== ""));
}

function row(c: Cluster): string[] {
  return [
    c.name,
    c.state,
    c.connected ? "yes" : "no",
    iso(c.lastSeen) || "-",
    c.agentVersion || "-",
    c.snapshotVersion || "-",
    String(c.resources),
    String(c.proxies),
    iso(c.certificateExpires) || "-",
    c.stale ? `since ${iso(c.staleSince)}` : "no",
  ];
}

const headers = [
  "NAME",
  "STATE",
  "CONNECTED",
  "LAST SEEN",
  "AGENT",
  "SNAPSHOT",
  "RESOURCES",
  "PROXIES",
  "CERT EXPIRES",
  "STALE",
];

function print(output: Output, value: unknown, text: () => string): void {
  if (output === "json") process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else if (output === "yaml") process.stdout.write(stringify(value));
  else process.stdout.write(text());
}

/** `gantry get clusters [NAME]`. */
export async function getClusters(flags: ServerFlags & { output: Output }, name: string | undefined): Promise<void> {
  const client = connect(flags);
  const fail = (err: unknown) => {
    throw explain(err, flags.server);
  };
  if (name) {
    const { cluster } = await client.getCluster({ name }).catch(fail);
    if (!cluster) throw new Error(`cluster ${name} is not registered`);
    print(flags.output, clusterJson(cluster), () => formatTable(headers, [row(cluster)]));
    return;
  }
  const { clusters } = await client.listClusters({}).catch(fail);
  print(flags.output, clusters.map(clusterJson), () => formatTable(headers, clusters.map(row)));
}

/** `gantry describe cluster NAME`: every field, one per line. */
export async function describeCluster(flags: ServerFlags & { output: Output }, name: string): Promise<void> {
  const { cluster } = await connect(flags)
    .getCluster({ name })
    .catch((err: unknown) => {
      throw explain(err, flags.server);
    });
  if (!cluster) throw new Error(`cluster ${name} is not registered`);
  const json = clusterJson(cluster);
  print(flags.output, json, () => {
    const width = Math.max(...Object.keys(json).map((k) => k.length)) + 2;
    return `${Object.entries(json)
      .map(([k, v]) => `${`${k}:`.padEnd(width)}${String(v)}`)
      .join("\n")}\n`;
  });
}

export function registerCluster(program: Command): void {
  const cluster = program
    .command("cluster")
    .description("register (add) and revoke (remove) workload clusters whose agents connect to the relay");
  const add = cluster
    .command("add")
    .description("register a cluster and print its single-use registration token (give it to the agent's --token-file)")
    .argument("<name>", "the cluster's name (a DNS label)")
    .addOption(
      new Option("--ttl-seconds <n>", "how long the token may be used (default: the server's, one hour)").argParser(
        parsePositiveInt,
      ),
    );
  for (const option of serverOptions()) add.addOption(option);
  add.action(async (name: string, flags: ServerFlags & { ttlSeconds?: number }) => {
    // Checked here too, so that a name no agent could take never needs a server to be refused.
    checkClusterName(name, "name");
    const { token, cluster: added } = await connect(flags)
      .addCluster({ name, tokenTtlSeconds: BigInt(flags.ttlSeconds ?? 0) })
      .catch((err: unknown) => {
        throw explain(err, flags.server);
      });
    // The token alone on stdout, so that `gantry cluster add east > token` gives the agent its file.
    process.stdout.write(`${token}\n`);
    process.stderr.write(
      `cluster ${name} registered; the token is single-use and expires at ${iso(added?.tokenExpires)}\n`,
    );
  });
  const remove = cluster
    .command("remove")
    .description("revoke a cluster: its agent's certificates and any unused token are refused from now on")
    .argument("<name>", "the cluster's name");
  for (const option of serverOptions()) remove.addOption(option);
  remove.action(async (name: string, flags: ServerFlags) => {
    await connect(flags)
      .removeCluster({ name })
      .catch((err: unknown) => {
        throw explain(err, flags.server);
      });
    process.stdout.write(`cluster ${name} removed\n`);
  });
}
