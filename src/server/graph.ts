// The dashboard's graph, whole, from the last published translation (pure): gateways → route
// tables → destinations → workload clusters, with policies as overlays on the route tables whose
// routes they apply to. One call instead of a Describe per gateway ([ui](../../docs/ui.md#pages)).
import { namespacedName, parseRefKey, type ResourceRef, refKey } from "../resources/index.js";
import { type ProxyGroup, routeDestinations } from "../translate/index.js";
import { servedRoute, sites } from "./describe.js";

export type GraphNodeKind = "gateway" | "routetable" | "destination" | "cluster" | "policy";

export interface GraphNode {
  id: string;
  kind: GraphNodeKind;
  label: string;
  resourceKind: string;
  namespace: string;
  name: string;
  overlay: string;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  overlay: boolean;
  envoyClusters: string[];
  authConfigId: string;
  rateLimitDomain: string;
}

export interface GraphRoute {
  routeTable: string;
  name: string;
  match: string;
  action: string;
  gateway: string;
  listener: string;
  hosts: string[];
  destinations: string[];
  policies: { node: string; effect: string }[];
}

export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  routes: GraphRoute[];
}

/** The overlay style of each policy kind. */
const overlays: Record<string, string> = {
  ExtAuthPolicy: "auth",
  RateLimitPolicy: "rate limit",
  AccessPolicy: "access",
  CORSPolicy: "access",
  HeaderPolicy: "access",
  FaultInjectionPolicy: "fault",
  RetryTimeoutPolicy: "resilience",
};

/** A resource's node id, as the page names it: `RouteTable shop/store`. */
export function graphNodeId(ref: ResourceRef): string {
  return `${ref.kind} ${namespacedName(ref)}`;
}

const byId = <T extends { id: string }>(a: T, b: T) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * The graph of the published proxy groups. `workloadClusters` gives each Destination's
 * `metadata.clusters` by its key (`Destination/namespace/name`).
 */
export function buildGraph(
  groups: readonly ProxyGroup[],
  workloadClusters: ReadonlyMap<string, readonly string[]>,
): Graph {
  const nodes = new Map<string, GraphNode>();
  const edges = new Map<string, GraphEdge>();
  const routes = new Map<string, GraphRoute>();
  const resourceNode = (ref: ResourceRef, kind: GraphNodeKind): string => {
    const id = graphNodeId(ref);
    if (!nodes.has(id)) {
      nodes.set(id, {
        id,
        kind,
        label: kind === "policy" ? `${ref.kind} ${ref.name}` : namespacedName(ref),
        resourceKind: ref.kind,
        namespace: ref.namespace,
        name: ref.name,
        overlay: kind === "policy" ? (overlays[ref.kind] ?? "other") : "",
      });
    }
    return id;
  };
  const edge = (source: string, target: string, extra: Partial<GraphEdge> = {}): GraphEdge => {
    const id = `${source}→${target}`;
    let found = edges.get(id);
    if (!found) {
      found = {
        id,
        source,
        target,
        overlay: false,
        envoyClusters: [],
        authConfigId: "",
        rateLimitDomain: "",
        ...extra,
      };
      edges.set(id, found);
    }
    return found;
  };
  for (const site of sites(groups)) {
    const served = servedRoute(site);
    const gateway = resourceNode(served.gateway, "gateway");
    const table = resourceNode(served.routeTable, "routetable");
    edge(gateway, table);
    const action = site.route.action;
    const destinations: string[] = [];
    for (const key of routeDestinations(site.route)) {
      const ref = parseRefKey(key);
      const destination = resourceNode(ref, "destination");
      destinations.push(destination);
      const traffic = edge(table, destination);
      // Envoy counts upstream requests per cluster; a destination's clusters are `namespace/name:…`.
      const prefix = `${namespacedName(ref)}:`;
      if (action.type === "forward") {
        for (const { cluster } of action.destinations) {
          if (cluster.startsWith(prefix) && !traffic.envoyClusters.includes(cluster))
            traffic.envoyClusters.push(cluster);
        }
      }
      for (const cluster of workloadClusters.get(refKey(ref)) ?? []) {
        const id = `cluster ${cluster}`;
        if (!nodes.has(id)) {
          nodes.set(id, {
            id,
            kind: "cluster",
            label: cluster,
            resourceKind: "",
            namespace: "",
            name: cluster,
            overlay: "",
          });
        }
        edge(destination, id);
      }
    }
    const policies = served.policies.map(({ policy, effect }) => {
      const node = resourceNode(policy, "policy");
      const extAuth = site.route.policies.extAuth;
      edge(node, table, {
        overlay: true,
        ...(policy.kind === "ExtAuthPolicy" && extAuth && "configId" in extAuth
          ? { authConfigId: extAuth.configId }
          : {}),
        ...(policy.kind === "RateLimitPolicy" && site.route.policies.rateLimit
          ? { rateLimitDomain: site.route.policies.rateLimit.domain }
          : {}),
      });
      return { node, effect };
    });
    // A route served on several listeners or gateways is listed once per route table.
    const routeKey = `${table}\u0000${served.name}`;
    if (!routes.has(routeKey)) {
      routes.set(routeKey, {
        routeTable: table,
        name: served.name,
        match: served.match,
        action: served.action,
        gateway,
        listener: served.listener,
        hosts: served.hosts,
        destinations,
        policies,
      });
    }
  }
  for (const e of edges.values()) e.envoyClusters.sort();
  return {
    nodes: [...nodes.values()].sort(byId),
    edges: [...edges.values()].sort(byId),
    routes: [...routes.values()].sort(
      (a, b) => byId({ id: a.routeTable }, { id: b.routeTable }) || byId({ id: a.name }, { id: b.name }),
    ),
  };
}
