import type { JsonObject } from "@bufbuild/protobuf";
import { typeUrlOf, type XdsResource } from "../envoy/index.js";
import type { Node } from "../gen/envoy/config/core/v3/base_pb.js";
import { AuthConfigSchema } from "../gen/gantry/extauth/v1/auth_config_pb.js";
import { RateLimitConfigSchema } from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import type { Logger } from "../lib/logger.js";
import type { ProxyGroup } from "../translate/index.js";
import type { ProxySelection } from "../translate/model.js";
import { consistencyProblems, Snapshot, type SnapshotCache } from "../xds/index.js";

// Spelled by the Envoy-resource core, as every type URL: the services' configs travel over xDS too.
export const authConfigTypeUrl = typeUrlOf(AuthConfigSchema.typeName);
export const rateLimitConfigTypeUrl = typeUrlOf(RateLimitConfigSchema.typeName);

/** What the publisher reads of a proxy group: an agent rebuilds this much from the relay, not a whole ProxyGroup. */
export interface PublishedGroup {
  readonly name: string;
  readonly proxies: ProxySelection;
  readonly resources: readonly XdsResource[];
  /** Resources that differ for callers in a cluster (a VirtualDestination's endpoints), by that cluster. */
  readonly byCallerCluster?: ReadonlyMap<string, readonly XdsResource[]> | undefined;
}

/** What one translation publishes: per-gateway Envoy resources, and the configs of Gantry's own services. */
export interface Publication<G extends PublishedGroup = ProxyGroup> {
  groups: readonly G[];
  authConfigs: readonly XdsResource[];
  rateLimitConfigs: readonly XdsResource[];
}

/** A node's role, from its metadata `role` (Gantry's bootstraps and services set it). */
export type NodeRole = "extauth" | "ratelimit" | "proxy";

/** What selection and roles read of a node. */
export type NodeIdentity = Pick<Node, "id" | "metadata">;

export function roleOf(node: NodeIdentity): NodeRole {
  const role = node.metadata?.["role"];
  return role === "extauth" || role === "ratelimit" ? role : "proxy";
}

function nodeLabels(node: NodeIdentity): Record<string, unknown> {
  const metadata: JsonObject = node.metadata ?? {};
  const labels = metadata["labels"];
  return labels && typeof labels === "object" && !Array.isArray(labels) ? labels : metadata;
}

/** What placement reads of a node. */
export type NodePlacement = Partial<Pick<Node, "cluster" | "metadata">>;

/**
 * The workload cluster a node runs in: its metadata `cluster` (what `gantry bootstrap --cluster`
 * writes), else the xDS node's own `cluster` field; "" when neither is set.
 */
export function clusterOf(node: NodePlacement): string {
  const fromMetadata = node.metadata?.["cluster"];
  if (typeof fromMetadata === "string" && fromMetadata !== "") return fromMetadata;
  return node.cluster ?? "";
}

/**
 * Whether a gateway's proxy selection takes this node: the gateway is placed in the node's cluster
 * (or in every cluster), and the node's id is listed, or every selector label is among the node's
 * labels (metadata `labels`, or top-level metadata for clients that cannot nest, such as
 * grpc-js-xds bootstraps). An empty selection takes no node.
 */
export function selects(selection: ProxySelection, node: NodeIdentity & NodePlacement): boolean {
  const placement = selection.clusters ?? [];
  if (placement.length > 0 && !placement.includes(clusterOf(node))) return false;
  if (selection.nodeIds.includes(node.id)) return true;
  const wanted = Object.entries(selection.labels);
  if (wanted.length === 0) return false;
  const labels = nodeLabels(node);
  return wanted.every(([k, v]) => labels[k] === v);
}

/**
 * Keeps every connected node's snapshot equal to what it should see: a proxy gets the union of
 * the gateways that select it, an ext-auth server the AuthConfigs, a rate-limit server the
 * RateLimitConfigs. Nodes with the same selection share one snapshot object, so publishing to
 * thousands of proxies costs one merge per distinct selection; the cache sends only what changed.
 */
export class Publisher<G extends PublishedGroup = ProxyGroup> {
  readonly #cache: SnapshotCache;
  readonly #logger: Logger;
  /** Connected nodes by stream group: the node id, or the node id and a credential (xds/stream.ts). */
  readonly #nodes = new Map<string, { node: Node; streams: number }>();
  /** Resources for one group only, over the merged ones (a workload's SDS secrets), by group. */
  readonly #own = new Map<string, readonly XdsResource[]>();
  #publication: Publication<G> = { groups: [], authConfigs: [], rateLimitConfigs: [] };
  /**
   * False until the first translation is published. Until then a node gets no snapshot at all, so
   * its streams wait instead of being told, from an empty publication, that its listeners, clusters
   * or configs are gone (the restart gap: a restarted server must not answer before it knows).
   */
  #published = false;
  /** Merged snapshots by selection, with what makes each inconsistent (checked once per merge). */
  #merged = new Map<string, { snapshot: Snapshot; problems: string[] }>();

  constructor(cache: SnapshotCache, logger: Logger) {
    this.#cache = cache;
    this.#logger = logger;
  }

  update(publication: Publication<G>): void {
    this.#publication = publication;
    this.#published = true;
    this.#merged = new Map();
    for (const [group, { node }] of this.#nodes) this.#publish(node, group);
  }

  /** A stream opened; `group` is the stream's (StreamInfo.group), by default the node id. */
  nodeConnected(node: Node, group = node.id): void {
    const entry = this.#nodes.get(group);
    if (entry) entry.streams += 1;
    else this.#nodes.set(group, { node, streams: 1 });
    this.#publish(node, group);
  }

  nodeDisconnected(node: Node, group = node.id): void {
    const entry = this.#nodes.get(group);
    if (!entry) return;
    entry.streams -= 1;
    if (entry.streams > 0) return;
    this.#nodes.delete(group);
    this.#own.delete(group);
    this.#cache.clearSnapshot(group);
  }

  /**
   * Resources only `group`'s streams get, beside (and over, name for name) what the gateways give
   * them; `undefined` removes them. Republished at once.
   */
  setOwnResources(group: string, resources: readonly XdsResource[] | undefined): void {
    if (resources) this.#own.set(group, resources);
    else this.#own.delete(group);
    const entry = this.#nodes.get(group);
    if (entry) this.#publish(entry.node, group);
  }

  /** What was last published. */
  get publication(): Publication<G> {
    return this.#publication;
  }

  /** The gateways a node gets, by name (for `describe` and the API). */
  gatewaysOf(node: Node): string[] {
    return this.#publication.groups.filter((g) => selects(g.proxies, node)).map((g) => g.name);
  }

  #publish(node: Node, group: string): void {
    if (!this.#published) return;
    const role = roleOf(node);
    const key = role === "proxy" ? this.#proxyKey(node) : `role:${role}`;
    let merged = this.#merged.get(key);
    if (!merged) {
      const snapshot = Snapshot.of(this.#resourcesFor(node, role));
      // Consistency is the publisher's job: the cache serves whatever it is given.
      merged = { snapshot, problems: consistencyProblems(snapshot) };
      this.#merged.set(key, merged);
    }
    if (merged.problems.length > 0) {
      // The node keeps what it has. Translation validated every resource (statuses say why one was
      // refused), so only an inconsistent merge of gateways can land here.
      this.#logger.error(
        { node: node.id, problems: merged.problems },
        "snapshot refused; the proxy keeps its last configuration",
      );
      return;
    }
    const own = this.#own.get(group);
    if (!own) {
      this.#cache.setSnapshot(group, merged.snapshot);
      return;
    }
    const mine = new Set(own.map((r) => `${r.typeUrl}|${r.name}`));
    const shared = merged.snapshot.all().filter((r) => !mine.has(`${r.typeUrl}|${r.name}`));
    this.#cache.setSnapshot(group, Snapshot.of([...shared, ...own]));
  }

  /**
   * Proxies share a merged snapshot when the same gateways select them and, if one of those has
   * resources particular to callers in the node's cluster, when they are in the same cluster.
   */
  #proxyKey(node: Node): string {
    const groups = this.#publication.groups.filter((g) => selects(g.proxies, node));
    const cluster = clusterOf(node);
    const particular = groups.some((g) => g.byCallerCluster?.has(cluster));
    return `gateways:${groups.map((g) => g.name).join("\n")}${particular ? `\ncluster:${cluster}` : ""}`;
  }

  #resourcesFor(node: Node, role: NodeRole): XdsResource[] {
    if (role === "extauth") return [...this.#publication.authConfigs];
    if (role === "ratelimit") return [...this.#publication.rateLimitConfigs];
    const byName = new Map<string, XdsResource>();
    const cluster = clusterOf(node);
    for (const group of this.#publication.groups) {
      if (!selects(group.proxies, node)) continue;
      const particular = new Map<string, XdsResource>();
      for (const resource of group.byCallerCluster?.get(cluster) ?? []) {
        particular.set(`${resource.typeUrl}|${resource.name}`, resource);
      }
      for (const general of group.resources) {
        const resource = particular.get(`${general.typeUrl}|${general.name}`) ?? general;
        const id = `${resource.typeUrl}|${resource.name}`;
        const existing = byName.get(id);
        if (!existing) byName.set(id, resource);
        else if (existing.version !== resource.version) {
          this.#logger.warn(
            { node: node.id, resource: resource.name, typeUrl: resource.typeUrl, gateway: group.name },
            "two gateways selecting this proxy define one resource differently; the first gateway's wins",
          );
        }
      }
    }
    return [...byName.values()];
  }
}
