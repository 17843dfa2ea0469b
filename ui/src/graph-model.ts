// The graph's model, from the API's one `Graph` answer (pure): gateways → route tables →
// destinations → workload clusters, with policies as overlays on the route tables they apply to.
// The server draws it from its last published translation; the page only shapes it for cytoscape.
import type { Ref } from "./api";

export type NodeKind = "gateway" | "routetable" | "destination" | "cluster" | "policy";

export interface GraphNode {
  id: string;
  kind: NodeKind;
  label: string;
  /** The resource behind it (clusters have none). */
  ref?: Ref;
  /** Policies: auth, rate limit, access, fault, resilience, other (the overlay's style). */
  overlay?: string;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  /** Policies attach to route tables: drawn as overlays, not as traffic. */
  overlay: boolean;
}

export interface GraphRoute {
  name: string;
  match?: string;
  action?: string;
  policies: Array<{ policy: Ref; effect?: string }>;
}

export interface GraphModel {
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** Routes by route table node id, for the side panel. */
  routes: Map<string, GraphRoute[]>;
}

/** `Graph`'s answer as proto3 JSON (empty fields left out). */
export interface GraphResponse {
  publishedRevision?: string;
  nodes?: Array<{
    id: string;
    kind: NodeKind;
    label?: string;
    resourceKind?: string;
    namespace?: string;
    name?: string;
    overlay?: string;
  }>;
  edges?: Array<{ id: string; source: string; target: string; overlay?: boolean }>;
  routes?: Array<{
    routeTable: string;
    name: string;
    match?: string;
    action?: string;
    policies?: Array<{ node: string; effect?: string }>;
  }>;
}

/** `GraphRates`' answer: requests/s and error ratio per edge id. */
export interface GraphRatesResponse {
  windowSeconds?: number;
  edges?: Array<{ edge: string; requestsPerSecond?: number; errorRatio?: number }>;
}

export function graphModel(response: GraphResponse): GraphModel {
  const nodes: GraphNode[] = (response.nodes ?? []).map((n) => ({
    id: n.id,
    kind: n.kind,
    label: n.label ?? n.id,
    ...(n.resourceKind ? { ref: { kind: n.resourceKind, namespace: n.namespace ?? "", name: n.name ?? "" } } : {}),
    ...(n.overlay ? { overlay: n.overlay } : {}),
  }));
  const refs = new Map(nodes.flatMap((n) => (n.ref ? [[n.id, n.ref] as const] : [])));
  const routes = new Map<string, GraphRoute[]>();
  for (const route of response.routes ?? []) {
    const list = routes.get(route.routeTable) ?? [];
    list.push({
      name: route.name,
      ...(route.match ? { match: route.match } : {}),
      ...(route.action ? { action: route.action } : {}),
      policies: (route.policies ?? []).flatMap((p) => {
        const policy = refs.get(p.node);
        return policy ? [{ policy, ...(p.effect ? { effect: p.effect } : {}) }] : [];
      }),
    });
    routes.set(route.routeTable, list);
  }
  const edges = (response.edges ?? []).map((e) => ({
    id: e.id,
    source: e.source,
    target: e.target,
    overlay: e.overlay === true,
  }));
  return { nodes, edges, routes };
}

/** An edge's label: `12.5 rps · 2.0% err`. */
export function rateLabel(rate: { requestsPerSecond?: number; errorRatio?: number }): string {
  const rps = rate.requestsPerSecond ?? 0;
  const shown = rps >= 100 ? rps.toFixed(0) : rps >= 10 ? rps.toFixed(1) : rps.toFixed(2);
  return `${shown} rps · ${((rate.errorRatio ?? 0) * 100).toFixed(1)}% err`;
}
