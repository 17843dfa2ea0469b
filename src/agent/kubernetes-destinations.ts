// A workload cluster's Services, EndpointSlices and Pods as Gantry Destinations, the set the agent
// sends up. Pure: the same objects give the same documents, in the same order.
//
// - A Service becomes the Destination of its namespace and name; its TCP ports become the ports
//   (protocol from appProtocol, else the port name's prefix), the EndpointSlices labelled with its
//   name give the endpoints. An ExternalName Service becomes a DNS Destination.
// - An endpoint's conditions give its health: ready → HEALTHY; terminating → DRAINING; otherwise
//   UNHEALTHY. Neither of the last two is sent new requests, by Envoy or by a gRPC client.
// - An endpoint's labels are its Pod's labels, plus `gantry.io/service-account`: the workload.
// - A Destination custom resource applied in the cluster is taken as it is, and replaces the
//   Service-made Destination of the same namespace and name.
// Anything that does not make a valid Destination is left out and named in `problems`.
import { parseDocument, resourceKey } from "../resources/index.js";
import { resourceToDocument } from "../server/index.js";
import { type DiscoveredDocument, type DiscoveredSet, discoveredDocument } from "../server/relay/index.js";
import type {
  DestinationResourceView,
  EndpointSliceView,
  EndpointView,
  PodView,
  ServicePortView,
  ServiceView,
} from "./kubernetes-objects.js";

/** What the agent's reflectors hold, each by `namespace/name`. */
export interface WorkloadClusterObjects {
  services: ReadonlyMap<string, ServiceView>;
  endpointSlices: ReadonlyMap<string, EndpointSliceView>;
  pods: ReadonlyMap<string, PodView>;
  destinations: ReadonlyMap<string, DestinationResourceView>;
}

export interface DiscoveredDestinations {
  set: DiscoveredSet;
  /** One line per object left out, naming it and why. */
  problems: string[];
}

/** The endpoint label that carries the workload's service account. */
export const serviceAccountLabel = "gantry.io/service-account";

type Health = "HEALTHY" | "DRAINING" | "UNHEALTHY";
const healthRank: Record<Health, number> = { HEALTHY: 0, DRAINING: 1, UNHEALTHY: 2 };

function healthOf(endpoint: EndpointView): Health {
  if (endpoint.ready) return "HEALTHY";
  return endpoint.terminating ? "DRAINING" : "UNHEALTHY";
}

/** Kubernetes' appProtocol values first (`kubernetes.io/h2c`), then Istio-style port-name prefixes. */
function protocolOf(port: ServicePortView): "HTTP1" | "HTTP2" | "GRPC" {
  const app = port.appProtocol.toLowerCase();
  const name = port.name.toLowerCase().split("-")[0] ?? "";
  for (const hint of [app, name]) {
    if (hint === "grpc" || hint === "grpc-web") return "GRPC";
    if (hint === "kubernetes.io/h2c" || hint === "http2" || hint === "h2c") return "HTTP2";
    if (hint) break;
  }
  return "HTTP1";
}

interface PortPlan {
  port: ServicePortView;
  /** The container port every endpoint listens on, when all slices agree. */
  targetPort: number | undefined;
}

/** The container port a slice gives a Service port (by name, as the EndpointSlice controller names them). */
function slicePort(slice: EndpointSliceView, port: ServicePortView): number | undefined {
  return slice.ports.find((p) => p.name === port.name && p.protocol === "TCP" && p.port > 0)?.port;
}

/**
 * The Service's TCP ports with the container port each maps to. A named targetPort can resolve to
 * different numbers in different Pods (during a rollout that renames a port): a one-port Service
 * then sets the port on each endpoint (`perEndpoint`); a Service of several ports cannot, and uses
 * the lowest, named in `problems`.
 */
function planPorts(
  service: ServiceView,
  slices: readonly EndpointSliceView[],
  problems: string[],
  where: string,
): { plans: PortPlan[]; perEndpoint: ServicePortView | undefined } {
  const tcp = service.ports.filter((p) => p.protocol === "TCP" && p.port > 0);
  let perEndpoint: ServicePortView | undefined;
  const plans = tcp.map((port) => {
    const found = new Set<number>();
    for (const slice of slices) {
      const number = slicePort(slice, port);
      if (number !== undefined && slice.endpoints.length > 0) found.add(number);
    }
    const sorted = [...found].sort((a, b) => a - b);
    const fromService = typeof port.targetPort === "number" ? port.targetPort : undefined;
    if (sorted.length > 1 && tcp.length === 1) {
      perEndpoint = port;
      return { port, targetPort: fromService };
    }
    if (sorted.length > 1) {
      problems.push(
        `${where}: port ${port.port} (${port.name || "unnamed"}) maps to container ports ${sorted.join(", ")} in different EndpointSlices; using ${sorted[0]}`,
      );
    }
    return { port, targetPort: sorted[0] ?? fromService };
  });
  return { plans, perEndpoint };
}

function endpointsOf(
  slices: readonly EndpointSliceView[],
  pods: ReadonlyMap<string, PodView>,
  perEndpoint: ServicePortView | undefined,
): Record<string, unknown>[] {
  const best = new Map<string, { endpoint: EndpointView; health: Health; port: number | undefined }>();
  for (const slice of slices) {
    if (slice.addressType !== "IPv4" && slice.addressType !== "IPv6") continue;
    const port = perEndpoint ? slicePort(slice, perEndpoint) : undefined;
    for (const endpoint of slice.endpoints) {
      const health = healthOf(endpoint);
      const key = `${endpoint.address} ${port ?? ""}`;
      const seen = best.get(key);
      // The same endpoint in two slices (while the controller moves it): the healthier one counts.
      if (!seen || healthRank[health] < healthRank[seen.health]) best.set(key, { endpoint, health, port });
    }
  }
  return [...best.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, { endpoint, health, port }]) => {
      const pod = endpoint.pod ? pods.get(endpoint.pod) : undefined;
      const labels = pod ? { ...pod.labels, [serviceAccountLabel]: pod.serviceAccount } : {};
      return {
        address: endpoint.address,
        ...(port !== undefined ? { port } : {}),
        health,
        ...(Object.keys(labels).length > 0 ? { labels } : {}),
        ...(endpoint.zone ? { locality: { zone: endpoint.zone } } : {}),
      };
    });
}

/** The Destination document a Service makes, or undefined when it has no TCP port to route to. */
function serviceDocument(
  service: ServiceView,
  slices: readonly EndpointSliceView[],
  pods: ReadonlyMap<string, PodView>,
  clusterDomain: string,
  problems: string[],
): unknown {
  const where = `Service ${service.namespace}/${service.name}`;
  const { plans, perEndpoint } = planPorts(service, slices, problems, where);
  if (plans.length === 0) return undefined;
  const spec: Record<string, unknown> = {
    hosts: [`${service.name}.${service.namespace}.svc.${clusterDomain}`],
    ports: plans.map(({ port, targetPort }) => ({
      number: port.port,
      ...(port.name ? { name: port.name } : {}),
      protocol: protocolOf(port),
      ...(targetPort !== undefined && targetPort !== port.port ? { targetPort } : {}),
    })),
  };
  if (service.type === "ExternalName") spec["dns"] = service.externalName;
  else spec["endpoints"] = endpointsOf(slices, pods, perEndpoint);
  return {
    apiVersion: "gantry/v1",
    kind: "Destination",
    metadata: {
      name: service.name,
      namespace: service.namespace,
      ...(Object.keys(service.labels).length > 0 ? { labels: service.labels } : {}),
    },
    spec,
  };
}

function add(set: Map<string, DiscoveredDocument>, problems: string[], value: unknown, where: string): void {
  const parsed = parseDocument(value, where);
  if ("errors" in parsed) {
    problems.push(...parsed.errors);
    return;
  }
  const key = resourceKey(parsed);
  set.set(key, discoveredDocument(key, resourceToDocument(parsed)));
}

export function discoverDestinations(
  objects: WorkloadClusterObjects,
  options: { clusterDomain: string },
): DiscoveredDestinations {
  const problems: string[] = [];
  const set = new Map<string, DiscoveredDocument>();
  const slicesByService = new Map<string, EndpointSliceView[]>();
  for (const key of [...objects.endpointSlices.keys()].sort()) {
    const slice = objects.endpointSlices.get(key) as EndpointSliceView;
    if (!slice.service) continue;
    const service = `${slice.namespace}/${slice.service}`;
    slicesByService.set(service, [...(slicesByService.get(service) ?? []), slice]);
  }
  for (const key of [...objects.services.keys()].sort()) {
    const service = objects.services.get(key) as ServiceView;
    const document = serviceDocument(
      service,
      slicesByService.get(key) ?? [],
      objects.pods,
      options.clusterDomain,
      problems,
    );
    if (document !== undefined) add(set, problems, document, `Service ${key}`);
  }
  for (const key of [...objects.destinations.keys()].sort()) {
    const resource = objects.destinations.get(key) as DestinationResourceView;
    const document = {
      apiVersion: "gantry/v1",
      kind: "Destination",
      metadata: {
        name: resource.name,
        namespace: resource.namespace,
        ...(Object.keys(resource.labels).length > 0 ? { labels: resource.labels } : {}),
      },
      spec: resource.spec,
    };
    add(set, problems, document, `Destination ${key} (custom resource)`);
  }
  return { set, problems };
}
