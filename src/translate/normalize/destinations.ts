// Destinations: their problems, and one model cluster per port and subset.
import { isIP } from "node:net";
import type { DestinationSpec, StaticEndpoint } from "../../gen/gantry/v1/destination_pb.js";
import { EndpointHealth, UpstreamProtocol } from "../../gen/gantry/v1/destination_pb.js";
import { WorkloadTls_Mode } from "../../gen/gantry/v1/mtls_pb.js";
import { discoveredNameLabel, matchesLabels, type ResourceOf, refName, resourceKey } from "../../resources/index.js";
import { durationMs } from "../durations.js";
import type { ModelCluster, ModelEndpoint, ModelSecret, ModelWorkloadTls } from "../model.js";
import type { StatusCollector } from "../status.js";
import { defaultConnectTimeoutMs, type Index } from "./common.js";

export interface ResolvedDestinations {
  /** Valid destinations by `namespace/name`. */
  byName: Map<
    string,
    {
      resource: ResourceOf<"Destination">;
      ports: number[];
      subsets: Set<string>;
      serverTls: "DISABLE" | "SIMPLE" | "MUTUAL";
    }
  >;
  clusters: Map<string, ModelCluster>;
}

/** The cluster name of a destination port, and subset. */
export function clusterName(destination: string, port: number, subset: string): string {
  return subset === "" ? `${destination}:${port}` : `${destination}:${port}/${subset}`;
}

interface DestinationModel {
  invalid: string[];
  warnings: string[];
  clusters: ModelCluster[];
  ports: number[];
  subsets: Set<string>;
  /** What its gRPC servers require of callers. */
  serverTls: "DISABLE" | "SIMPLE" | "MUTUAL";
}

/** Destination models by resource object, valid while the secrets they name are the same. */
const destinationModels = new WeakMap<ResourceOf<"Destination">, { secrets: string; model: DestinationModel }>();

export function normalizeDestinations(
  index: Index,
  secrets: Map<string, ModelSecret>,
  statuses: StatusCollector,
  trustDomain: string,
): ResolvedDestinations {
  const result: ResolvedDestinations = { byName: new Map(), clusters: new Map() };
  for (const [name, destination] of index.of("Destination")) {
    const key = resourceKey(destination);
    const tls = destination.spec.tls;
    const secretsSeen = [tls?.ca, tls?.clientCertificate]
      .map((ref) => (ref ? secrets.get(refName(ref, destination.metadata.namespace))?.type : "-"))
      .join(",")
      .concat(`|${trustDomain}`);
    let cached = destinationModels.get(destination);
    if (cached?.secrets !== secretsSeen) {
      cached = { secrets: secretsSeen, model: destinationModel(name, destination, secrets, trustDomain) };
      destinationModels.set(destination, cached);
    }
    const model = cached.model;
    for (const problem of model.invalid) statuses.invalid(key, problem);
    for (const problem of model.warnings) statuses.warn(key, problem);
    if (model.invalid.length > 0) continue;
    for (const cluster of model.clusters) result.clusters.set(cluster.name, cluster);
    result.byName.set(name, {
      resource: destination,
      ports: model.ports,
      subsets: model.subsets,
      serverTls: model.serverTls,
    });
  }
  return result;
}

function destinationModel(
  name: string,
  destination: ResourceOf<"Destination">,
  secrets: Map<string, ModelSecret>,
  trustDomain: string,
): DestinationModel {
  const spec = destination.spec;
  const { invalid, warnings } = destinationProblems(spec, destination.metadata.namespace, secrets);
  const workloadTls = workloadTlsOf(destination, trustDomain, invalid);
  const model: DestinationModel = {
    invalid,
    warnings,
    clusters: [],
    ports: spec.ports.map((p) => p.number),
    subsets: new Set(spec.subsets.map((s) => s.name)),
    serverTls: workloadTls?.mode ?? "DISABLE",
  };
  if (invalid.length > 0) return model;
  const tls = spec.tls
    ? {
        sni: spec.tls.sni,
        ...(spec.tls.ca ? { caSecret: refName(spec.tls.ca, destination.metadata.namespace) } : {}),
        ...(spec.tls.clientCertificate
          ? { clientSecret: refName(spec.tls.clientCertificate, destination.metadata.namespace) }
          : {}),
      }
    : undefined;
  const connectTimeoutMs = durationMs(spec.connectTimeout) ?? defaultConnectTimeoutMs;
  const subsets = [{ name: "", labels: {} as Record<string, string> }, ...spec.subsets];
  for (const port of spec.ports) {
    const targetPort = port.targetPort || port.number;
    for (const subset of subsets) {
      model.clusters.push({
        name: clusterName(name, port.number, subset.name),
        destination: name,
        protocol: UpstreamProtocol[port.protocol] as ModelCluster["protocol"],
        connectTimeoutMs,
        ...(tls ? { tls } : {}),
        ...(workloadTls ? { workloadTls } : {}),
        discovery:
          spec.dns !== ""
            ? { type: "dns", host: spec.dns, port: targetPort }
            : {
                type: "static",
                endpoints: spec.endpoints
                  .filter((e) => matchesLabels(subset.labels, e.labels))
                  .map((e) => modelEndpoint(e, targetPort)),
              },
      });
    }
  }
  return model;
}

const spiffeId = /^spiffe:\/\/[a-z0-9.-]+\/[!-~]+$/;
const serviceAccountName = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/**
 * The destination's workload TLS (undefined for DISABLE), with the SPIFFE IDs its servers may
 * present: those given, or its service account's. Problems go to `invalid`, naming the field.
 */
function workloadTlsOf(
  destination: ResourceOf<"Destination">,
  trustDomain: string,
  invalid: string[],
): ModelWorkloadTls | undefined {
  const wt = destination.spec.workloadTls;
  if (!wt) return undefined;
  const before = invalid.length;
  if (destination.spec.tls && wt.mode !== WorkloadTls_Mode.DISABLE) {
    invalid.push(
      "spec.workloadTls: not together with spec.tls (the user's certificates): choose Gantry's workload identities or your own",
    );
  }
  wt.serverIdentities.forEach((id, i) => {
    if (!spiffeId.test(id)) invalid.push(`spec.workloadTls.serverIdentities[${i}]: "${id}" is not a SPIFFE ID`);
  });
  if (wt.serviceAccount !== "" && !serviceAccountName.test(wt.serviceAccount)) {
    invalid.push(`spec.workloadTls.serviceAccount: "${wt.serviceAccount}" is not a service account name`);
  }
  if (invalid.length > before || wt.mode === WorkloadTls_Mode.DISABLE) return undefined;
  // A Destination an agent discovered is stored as `<name>.<cluster>`: its workloads' service
  // account is named after the name it has in its cluster, not the stored one.
  const serviceAccount =
    wt.serviceAccount || destination.metadata.labels[discoveredNameLabel] || destination.metadata.name;
  const identities =
    wt.serverIdentities.length > 0
      ? [...new Set(wt.serverIdentities)].sort()
      : [`spiffe://${trustDomain}/ns/${destination.metadata.namespace}/sa/${serviceAccount}`];
  return {
    mode: wt.mode === WorkloadTls_Mode.MUTUAL ? "MUTUAL" : "SIMPLE",
    serverIdentities: identities,
    sni: wt.sni,
  };
}

/** Endpoint weights are summed into uint32 locality weights, which clients sum in a uint32 again. */
const maxEndpointWeightSum = 0xffff_ffff;

const healthNames = {
  [EndpointHealth.HEALTHY]: "HEALTHY",
  [EndpointHealth.UNHEALTHY]: "UNHEALTHY",
  [EndpointHealth.DRAINING]: "DRAINING",
} as const;

function modelEndpoint(e: StaticEndpoint, targetPort: number): ModelEndpoint {
  const health = e.health === EndpointHealth.HEALTH_UNKNOWN ? undefined : healthNames[e.health];
  return {
    address: e.address,
    port: e.port || targetPort,
    weight: e.weight || 1,
    locality: {
      region: e.locality?.region ?? "",
      zone: e.locality?.zone ?? "",
      subZone: e.locality?.subZone ?? "",
    },
    ...(health ? { health } : {}),
  };
}

function destinationProblems(
  spec: DestinationSpec,
  namespace: string,
  secrets: Map<string, ModelSecret>,
): { invalid: string[]; warnings: string[] } {
  const invalid: string[] = [];
  const warnings: string[] = [];
  if (spec.ports.length === 0) invalid.push("spec.ports: at least one port is required");
  const seenPorts = new Set<number>();
  spec.ports.forEach((port, i) => {
    if (port.number < 1 || port.number > 65535) invalid.push(`spec.ports[${i}].number: must be 1..65535`);
    if (port.targetPort > 65535) invalid.push(`spec.ports[${i}].targetPort: must be 1..65535`);
    if (seenPorts.has(port.number)) invalid.push(`spec.ports[${i}].number: port ${port.number} is listed twice`);
    seenPorts.add(port.number);
  });
  if (spec.dns !== "" && spec.endpoints.length > 0) invalid.push("spec: set endpoints or dns, not both");
  if (spec.dns === "" && spec.endpoints.length === 0)
    warnings.push("spec: no endpoints and no dns; requests will fail");
  if (spec.dns !== "" && spec.subsets.length > 0) invalid.push("spec.subsets: subsets need static endpoints");
  spec.endpoints.forEach((endpoint, i) => {
    if (isIP(endpoint.address) === 0)
      invalid.push(`spec.endpoints[${i}].address: "${endpoint.address}" is not an IP address`);
    if (endpoint.port > 65535) invalid.push(`spec.endpoints[${i}].port: must be 1..65535`);
  });
  // Each locality's weight is the sum of its endpoints' (a uint32 too), and clients refuse a sum of
  // locality weights past it: the whole sum must fit, an absent weight counting as 1.
  const weights = spec.endpoints.reduce((sum, e) => sum + (e.weight || 1), 0);
  if (weights > maxEndpointWeightSum) {
    invalid.push(
      `spec.endpoints: the weights add up to ${weights}, above ${maxEndpointWeightSum} (2^32-1), the most Envoy and gRPC clients accept`,
    );
  }
  const subsetNames = new Set<string>();
  spec.subsets.forEach((subset, i) => {
    if (subset.name === "") invalid.push(`spec.subsets[${i}].name: required`);
    if (subsetNames.has(subset.name)) invalid.push(`spec.subsets[${i}].name: "${subset.name}" is listed twice`);
    subsetNames.add(subset.name);
    if (!spec.endpoints.some((e) => matchesLabels(subset.labels, e.labels))) {
      warnings.push(`spec.subsets[${i}]: "${subset.name}" selects no endpoints`);
    }
  });
  const checkSecret = (field: string, ref: { name: string; namespace: string } | undefined, type: "tls" | "ca") => {
    if (!ref) return;
    const secret = secrets.get(refName(ref, namespace));
    if (!secret) invalid.push(`${field}: Secret ${refName(ref, namespace)} not found or invalid`);
    else if (secret.type !== type) invalid.push(`${field}: Secret ${refName(ref, namespace)} is not a ${type} secret`);
  };
  checkSecret("spec.tls.ca", spec.tls?.ca, "ca");
  checkSecret("spec.tls.clientCertificate", spec.tls?.clientCertificate, "tls");
  return { invalid, warnings };
}
