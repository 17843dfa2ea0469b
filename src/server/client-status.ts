// Which xDS resources a Gantry resource produced, and where each connected client stands on them:
// the part of `describe` read from the ACK ledger. Pure: the server passes in the publication, the
// ledger's rows and the connected clients.
import type { JsonObject } from "@bufbuild/protobuf";
import { TypeUrl, type XdsResource } from "../envoy/index.js";
import type { Kind } from "../resources/index.js";
import type { ProxyGroup } from "../translate/index.js";
import type { ClientResourceStatus } from "../xds/index.js";
import { type NodeRole, roleOf, selects } from "./publish.js";

/** One xDS resource made from the described resource. */
export interface ProducedResource {
  typeUrl: string;
  name: string;
  /** As published (the first gateway's, if gateways hold different versions under one name). */
  version: string;
  /** The gateways (`namespace/name`) whose configuration holds it; none for ext-auth and rate-limit configs. */
  gateways: string[];
}

/** A produced resource with every connected client that subscribes to it. */
export interface EnvoyResourceStatus extends ProducedResource {
  clients: ClientResourceStatus[];
}

/** A client connected to this replica: its node and its open streams' kinds. */
export interface ConnectedClient {
  nodeId: string;
  metadata: JsonObject;
  streams: readonly string[];
  /** Its most recent NACK on any stream and type, as "Type: error", kept after later ACKs; "" if none. */
  lastNackError: string;
}

/** A client that gets configuration made from the described resource, over all its streams. */
export interface ServingProxy {
  nodeId: string;
  role: NodeRole;
  /** Its open streams' kinds, comma-separated. */
  stream: string;
  /** Proxies: the gateways (`namespace/name`) that bring them the resource. */
  gateways: string[];
  acked: boolean;
  pendingTypes: string[];
  lastNackError: string;
}

/** What a Gantry resource produced, by what it is. */
export interface ProducedBy {
  kind: Kind;
  /** `namespace/name`. */
  nsName: string;
  /** The route configurations holding routes made from it (route tables, policies, auth configs). */
  routeConfigurations: ReadonlySet<string>;
  /** Its AuthConfig or RateLimitConfig, when it is served to ext-auth or rate-limit servers. */
  serviceConfigs: readonly XdsResource[];
}

function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function produces(by: ProducedBy, group: ProxyGroup, resource: XdsResource): boolean {
  switch (by.kind) {
    case "Gateway":
      return group.name === by.nsName;
    case "Secret":
      return resource.typeUrl === TypeUrl.secret && resource.name === by.nsName;
    case "Destination":
      // Clusters (and their endpoints) are named `namespace/name:port`, with a subset after.
      return (
        (resource.typeUrl === TypeUrl.cluster || resource.typeUrl === TypeUrl.endpoint) &&
        resource.name.startsWith(`${by.nsName}:`)
      );
    default:
      return resource.typeUrl === TypeUrl.route && by.routeConfigurations.has(resource.name);
  }
}

/** The xDS resources the described resource went into, by type URL then name. */
export function producedResources(by: ProducedBy, groups: readonly ProxyGroup[]): ProducedResource[] {
  const produced = new Map<string, ProducedResource>();
  for (const group of groups) {
    for (const resource of group.resources) {
      if (!produces(by, group, resource)) continue;
      const key = `${resource.typeUrl}\u0000${resource.name}`;
      const seen = produced.get(key);
      if (seen) seen.gateways.push(group.name);
      else produced.set(key, { ...nameOf(resource), gateways: [group.name] });
    }
  }
  for (const config of by.serviceConfigs) {
    produced.set(`${config.typeUrl}\u0000${config.name}`, { ...nameOf(config), gateways: [] });
  }
  return [...produced.values()]
    .map((p) => ({ ...p, gateways: [...new Set(p.gateways)].sort(byText) }))
    .sort((a, b) => byText(a.typeUrl, b.typeUrl) || byText(a.name, b.name));
}

function nameOf(resource: XdsResource): Omit<ProducedResource, "gateways"> {
  return { typeUrl: resource.typeUrl, name: resource.name, version: resource.version };
}

/** Each produced resource with the ledger's rows for it (by node id). */
export function envoyResourceStatuses(
  produced: readonly ProducedResource[],
  acks: readonly ClientResourceStatus[],
): EnvoyResourceStatus[] {
  const rows = new Map<string, ClientResourceStatus[]>();
  for (const row of acks) {
    const key = `${row.typeUrl}\u0000${row.name}`;
    const list = rows.get(key);
    if (list) list.push(row);
    else rows.set(key, [row]);
  }
  return produced.map((p) => ({ ...p, clients: rows.get(`${p.typeUrl}\u0000${p.name}`) ?? [] }));
}

/** `type.googleapis.com/envoy.config.cluster.v3.Cluster` → `Cluster`. */
export function shortType(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf(".") + 1);
}

/**
 * The clients that subscribe to at least one resource made from the described one, each over all
 * its streams: in sync only when it ACKed the current version of every one of them it asked for.
 */
export function servingClients(
  statuses: readonly EnvoyResourceStatus[],
  clients: readonly ConnectedClient[],
  gateways: readonly ProxyGroup[],
): ServingProxy[] {
  const rowsByNode = new Map<string, ClientResourceStatus[]>();
  for (const status of statuses) {
    for (const row of status.clients) {
      const list = rowsByNode.get(row.nodeId);
      if (list) list.push(row);
      else rowsByNode.set(row.nodeId, [row]);
    }
  }
  const served: ServingProxy[] = [];
  for (const client of clients) {
    const rows = rowsByNode.get(client.nodeId);
    if (!rows) continue;
    const node = { id: client.nodeId, metadata: client.metadata };
    const role = roleOf(node);
    const behind = rows.filter((r) => r.state !== "in-sync");
    served.push({
      nodeId: client.nodeId,
      role,
      stream: [...client.streams].sort(byText).join(","),
      gateways:
        role === "proxy"
          ? gateways
              .filter((g) => selects(g.proxies, node))
              .map((g) => g.name)
              .sort(byText)
          : [],
      acked: behind.length === 0,
      pendingTypes: [...new Set(behind.map((r) => r.typeUrl))].sort(byText),
      lastNackError: client.lastNackError,
    });
  }
  return served.sort((a, b) => byText(a.nodeId, b.nodeId));
}
