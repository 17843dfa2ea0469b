// The graph's model, from the API's answers (pure): gateways → route tables → destinations →
// workload clusters, with policies as overlays on the route tables they apply to.
import { type Description, type Ref, type Resource, refText, type ServedRoute } from "./api";

export type NodeKind = "gateway" | "routetable" | "destination" | "cluster" | "policy";

export interface GraphNode {
  id: string;
  kind: NodeKind;
  label: string;
  /** The resource behind it (clusters have none). */
  ref?: Ref;
  /** Policies: auth, rate limit, access, fault, other (the overlay's style). */
  overlay?: string;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  /** Policies attach to route tables: drawn as overlays, not as traffic. */
  overlay: boolean;
}

export interface GraphModel {
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** Routes by route table node id, for the side panel. */
  routes: Map<string, ServedRoute[]>;
}

const overlayOf: Record<string, string> = {
  ExtAuthPolicy: "auth",
  AuthConfig: "auth",
  RateLimitPolicy: "rate limit",
  CORSPolicy: "access",
  HeaderPolicy: "access",
  FaultInjectionPolicy: "fault",
  RetryTimeoutPolicy: "resilience",
};

export function nodeId(ref: Ref): string {
  return refText(ref);
}

export function graphModel(gateways: Description[], resources: Resource[]): GraphModel {
  const nodes = new Map<string, GraphNode>();
  const edges = new Map<string, GraphEdge>();
  const routes = new Map<string, ServedRoute[]>();
  const addNode = (node: GraphNode) => {
    if (!nodes.has(node.id)) nodes.set(node.id, node);
  };
  const addEdge = (source: string, target: string, overlay = false) => {
    const id = `${source}→${target}`;
    if (!edges.has(id)) edges.set(id, { id, source, target, overlay });
  };
  const clustersOf = new Map(
    resources
      .filter((r) => r.ref.kind === "Destination")
      .map((r) => [nodeId(r.ref), r.document.metadata?.clusters ?? []] as const),
  );
  for (const described of gateways) {
    const gateway = described.resource.ref;
    const gatewayId = nodeId(gateway);
    addNode({
      id: gatewayId,
      kind: "gateway",
      label: `${gateway.namespace || "default"}/${gateway.name}`,
      ref: gateway,
    });
    for (const route of described.routes ?? []) {
      const table = route.routeTable;
      if (!table) continue;
      const tableId = nodeId(table);
      addNode({ id: tableId, kind: "routetable", label: `${table.namespace || "default"}/${table.name}`, ref: table });
      addEdge(gatewayId, tableId);
      const list = routes.get(tableId) ?? [];
      if (!list.some((r) => r.name === route.name)) list.push(route);
      routes.set(tableId, list);
      for (const destination of route.destinations ?? []) {
        const destinationId = nodeId(destination);
        addNode({
          id: destinationId,
          kind: "destination",
          label: `${destination.namespace || "default"}/${destination.name}`,
          ref: destination,
        });
        addEdge(tableId, destinationId);
        for (const cluster of clustersOf.get(destinationId) ?? []) {
          const clusterId = `cluster ${cluster}`;
          addNode({ id: clusterId, kind: "cluster", label: cluster });
          addEdge(destinationId, clusterId);
        }
      }
      for (const attached of route.policies ?? []) {
        const policyId = nodeId(attached.policy);
        addNode({
          id: policyId,
          kind: "policy",
          label: `${attached.policy.kind} ${attached.policy.name}`,
          ref: attached.policy,
          overlay: overlayOf[attached.policy.kind] ?? "other",
        });
        addEdge(policyId, tableId, true);
      }
    }
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()], routes };
}
