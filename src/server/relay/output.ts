// A cluster's translated output as the relay carries it: flat entries, each keyed and versioned by
// its content hash, so two server replicas that translated the same store produce the same output
// version, and a reconnecting agent is sent only the entries that differ from what it holds. Pure.
import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { XdsResource } from "../../envoy/index.js";
import {
  type Output,
  type OutputEntry as OutputEntryMessage,
  OutputEntrySchema,
  type ProxyGroup as ProxyGroupMessage,
  ProxyGroupSchema,
} from "../../gen/gantry/relay/v1/relay_pb.js";
import type { Publication, PublishedGroup } from "../publish.js";

export interface OutputEntry {
  /** `group/<group>/<type URL>/<name>`, `extauth/<name>` or `ratelimit/<name>`. */
  readonly key: string;
  readonly resource: XdsResource;
}

export interface GroupMeta {
  readonly name: string;
  readonly kind: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly nodeIds: readonly string[];
}

export interface ClusterOutput {
  readonly version: string;
  readonly entries: ReadonlyMap<string, OutputEntry>;
  /** Sorted by name. */
  readonly groups: readonly GroupMeta[];
}

/** Thrown when a delta does not apply to what the agent holds; the agent asks again with its Hello. */
export class OutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OutputError";
  }
}

type Group = PublishedGroup & { readonly kind?: string };

function sortedByKey<T>(items: Iterable<[string, T]>): [string, T][] {
  return [...items].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The version of an output: a hash of its groups and its entries' keys and versions. */
export function outputVersion(entries: ReadonlyMap<string, OutputEntry>, groups: readonly GroupMeta[]): string {
  const hash = createHash("sha256");
  for (const group of groups) {
    hash.update(JSON.stringify([group.name, group.kind, sortedByKey(Object.entries(group.labels)), group.nodeIds]));
    hash.update("\n");
  }
  for (const [key, entry] of sortedByKey(entries))
    hash.update(key).update("\0").update(entry.resource.version).update("\n");
  return hash.digest("hex").slice(0, 16);
}

/**
 * Whether a gateway is placed in `cluster`: its placement (`placementOf`: `metadata.clusters`, or the
 * `gantry.io/cluster` selector label) is empty or names it, as the publisher reads it for nodes.
 */
export function placedIn(group: PublishedGroup, cluster: string): boolean {
  const placement = group.proxies.clusters ?? [];
  return placement.length === 0 || placement.includes(cluster);
}

/** What `cluster` gets of a publication: the gateways placed in it, and every AuthConfig and RateLimitConfig. */
export function clusterOutput(publication: Publication<Group>, cluster: string): ClusterOutput {
  const entries = new Map<string, OutputEntry>();
  const groups: GroupMeta[] = [];
  for (const group of publication.groups) {
    if (!placedIn(group, cluster)) continue;
    // Placement is decided here: the agent selects its proxies by labels and node ids only.
    groups.push({
      name: group.name,
      kind: group.kind ?? "envoy",
      labels: { ...group.proxies.labels },
      nodeIds: [...group.proxies.nodeIds],
    });
    // A VirtualDestination's endpoints as callers in this cluster see them (own cluster first).
    const particular = new Map(
      (group.byCallerCluster?.get(cluster) ?? []).map((r) => [`${r.typeUrl}/${r.name}`, r] as const),
    );
    for (const general of group.resources) {
      const resource = particular.get(`${general.typeUrl}/${general.name}`) ?? general;
      const key = `group/${group.name}/${resource.typeUrl}/${resource.name}`;
      entries.set(key, { key, resource });
    }
  }
  for (const resource of publication.authConfigs)
    entries.set(`extauth/${resource.name}`, { key: `extauth/${resource.name}`, resource });
  for (const resource of publication.rateLimitConfigs) {
    entries.set(`ratelimit/${resource.name}`, { key: `ratelimit/${resource.name}`, resource });
  }
  groups.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { version: outputVersion(entries, groups), entries, groups };
}

/** Each entry's key and version: what an agent tells a server it holds. */
export function entryVersions(output: ClusterOutput): Map<string, string> {
  return new Map([...output.entries].map(([key, entry]) => [key, entry.resource.version]));
}

function entryMessage(entry: OutputEntry): OutputEntryMessage {
  const { typeUrl, name, version, value } = entry.resource;
  return create(OutputEntrySchema, { key: entry.key, typeUrl, name, version, value });
}

function groupMessage(group: GroupMeta): ProxyGroupMessage {
  return create(ProxyGroupSchema, {
    name: group.name,
    kind: group.kind,
    labels: { ...group.labels },
    nodeIds: [...group.nodeIds],
  });
}

/**
 * The Output message that takes an agent holding `have` (entry versions of the output `haveVersion`)
 * to `next`: the entries that differ and those to remove, or everything when the agent holds nothing.
 * `undefined` when the agent already holds `next`, unless `confirm` (a new stream: the agent learns
 * that what it holds is current, and is no longer stale, from an empty delta).
 */
export function outputMessage(
  next: ClusterOutput,
  haveVersion: string,
  have: ReadonlyMap<string, string>,
  server: string,
  confirm = false,
): Omit<Output, "$typeName"> | undefined {
  if (haveVersion === next.version && !confirm) return undefined;
  const full = haveVersion === "";
  const upserted: OutputEntryMessage[] = [];
  for (const entry of next.entries.values()) {
    if (full || have.get(entry.key) !== entry.resource.version) upserted.push(entryMessage(entry));
  }
  const removed = full ? [] : [...have.keys()].filter((key) => !next.entries.has(key)).sort();
  return {
    version: next.version,
    full,
    baseVersion: haveVersion,
    upserted,
    removed,
    groups: next.groups.map(groupMessage),
    server,
  };
}

/**
 * Applies an Output message to what the agent holds. Throws OutputError when it is a delta on
 * another base, or when the result does not hash to the version the server announced.
 */
export function applyOutputMessage(current: ClusterOutput | undefined, message: Output): ClusterOutput {
  const entries = new Map<string, OutputEntry>();
  if (!message.full) {
    const base = current?.version ?? "";
    if (message.baseVersion !== base) {
      throw new OutputError(
        `output ${message.version} is a delta on ${message.baseVersion}, but the agent holds ${base || "nothing"}`,
      );
    }
    for (const [key, entry] of current?.entries ?? []) entries.set(key, entry);
    for (const key of message.removed) entries.delete(key);
  }
  for (const entry of message.upserted) {
    if (entry.key === "" || entry.typeUrl === "" || entry.name === "") {
      throw new OutputError(`output ${message.version}: entry "${entry.key}" lacks a key, type URL or name`);
    }
    const resource: XdsResource = {
      typeUrl: entry.typeUrl,
      name: entry.name,
      value: entry.value,
      version: entry.version,
    };
    entries.set(entry.key, { key: entry.key, resource });
  }
  const groups = message.groups.map(
    (g): GroupMeta => ({ name: g.name, kind: g.kind, labels: { ...g.labels }, nodeIds: [...g.nodeIds] }),
  );
  const version = outputVersion(entries, groups);
  if (version !== message.version) {
    throw new OutputError(`output ${message.version}: the entries hash to ${version}; asking for it whole`);
  }
  return { version, entries, groups };
}

/** The publication an agent's proxies, ext-auth and rate-limit servers are served from. */
export function publicationOf(output: ClusterOutput): Publication<PublishedGroup> {
  const byGroup = new Map<string, XdsResource[]>(output.groups.map((g) => [g.name, []]));
  const authConfigs: XdsResource[] = [];
  const rateLimitConfigs: XdsResource[] = [];
  for (const [key, entry] of sortedByKey(output.entries)) {
    if (key.startsWith("extauth/")) authConfigs.push(entry.resource);
    else if (key.startsWith("ratelimit/")) rateLimitConfigs.push(entry.resource);
    else {
      const { typeUrl, name } = entry.resource;
      const group = key.slice("group/".length, key.length - typeUrl.length - name.length - 2);
      byGroup.get(group)?.push(entry.resource);
    }
  }
  return {
    groups: output.groups.map((g) => ({
      name: g.name,
      proxies: { labels: g.labels, nodeIds: g.nodeIds },
      resources: byGroup.get(g.name) ?? [],
    })),
    authConfigs,
    rateLimitConfigs,
  };
}
