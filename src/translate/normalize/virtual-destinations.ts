// VirtualDestinations: one global service over Destinations in several workload clusters, one model
// cluster per port whose endpoints are kept by member cluster, so that each caller's EDS can put its
// own cluster first (envoy/endpoint.ts). FailoverPolicies give the order and the thresholds.
import { UpstreamProtocol } from "../../gen/gantry/v1/destination_pb.js";
import type { OutlierDetection } from "../../gen/gantry/v1/multicluster_pb.js";
import {
  clusterNameRule,
  isClusterName,
  kindKey,
  matchesSelector,
  placementOf,
  type ResourceOf,
  refName,
  resourceKey,
} from "../../resources/index.js";
import { durationMs } from "../durations.js";
import type { ModelCluster, ModelEndpoint, ModelOutlierDetection, ModelWorkloadTls } from "../model.js";
import type { StatusCollector } from "../status.js";
import { defaultConnectTimeoutMs, type Index } from "./common.js";
import { clusterName, type ResolvedDestinations } from "./destinations.js";
import { eastWestSni } from "./east-west.js";

export interface ResolvedVirtualDestinations {
  /**
   * Valid VirtualDestinations by `namespace/name`, with their port numbers and their members
   * (`namespace/name` of each Destination they route to, whose AccessPolicies routes to them carry).
   */
  byName: Map<string, { ports: number[]; members: string[] }>;
  clusters: Map<string, ModelCluster>;
}

/** The cluster name of a VirtualDestination port; `virtual:` keeps it apart from Destinations'. */
export function virtualClusterName(virtualDestination: string, port: number): string {
  return `virtual:${virtualDestination}:${port}`;
}

/** Envoy's own defaults, except that every endpoint of a cluster may be ejected: that is what fails a cluster over. */
const defaultOutlierDetection: ModelOutlierDetection = {
  consecutiveErrors: 5,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionPercent: 100,
};

export function normalizeVirtualDestinations(
  index: Index,
  destinations: ResolvedDestinations,
  statuses: StatusCollector,
): ResolvedVirtualDestinations {
  const result: ResolvedVirtualDestinations = { byName: new Map(), clusters: new Map() };
  const policies = new Map<string, ResourceOf<"FailoverPolicy">>();
  for (const [name, policy] of index.of("FailoverPolicy")) {
    const problems = failoverPolicyProblems(policy);
    for (const problem of problems) statuses.invalid(resourceKey(policy), problem);
    if (problems.length === 0) policies.set(name, policy);
  }
  const usedPolicies = new Set<string>();
  for (const [name, vd] of index.of("VirtualDestination")) {
    const key = resourceKey(vd);
    const namespace = vd.metadata.namespace;
    const spec = vd.spec;
    const invalid: string[] = [];
    if (spec.ports.length === 0) invalid.push("spec.ports: at least one port is required");
    const seenPorts = new Set<number>();
    spec.ports.forEach((port, i) => {
      if (port.number < 1 || port.number > 65535) invalid.push(`spec.ports[${i}].number: must be 1..65535`);
      if (port.targetPort !== 0)
        invalid.push(`spec.ports[${i}].targetPort: not used; each member Destination has its own`);
      if (seenPorts.has(port.number)) invalid.push(`spec.ports[${i}].number: port ${port.number} is listed twice`);
      seenPorts.add(port.number);
    });
    const selector = spec.destinationSelector;
    if (selector && Object.keys(selector.labels).length === 0) {
      invalid.push("spec.destinationSelector.labels: required (an empty selector would take every Destination)");
    }
    if (spec.destinations.length === 0 && !selector) {
      invalid.push("spec: name member Destinations in destinations or destinationSelector");
    }
    let policy: ResourceOf<"FailoverPolicy"> | undefined;
    if (spec.failoverPolicy) {
      const policyName = refName(spec.failoverPolicy, namespace);
      policy = policies.get(policyName);
      usedPolicies.add(policyName);
      if (!policy) invalid.push(`spec.failoverPolicy: FailoverPolicy ${policyName} not found or invalid`);
    }
    for (const problem of invalid) statuses.invalid(key, problem);
    if (invalid.length > 0) continue;

    // Members: by name first (in the order written), then by labels (in name order), each once.
    const members = new Map<string, string>();
    spec.destinations.forEach((ref, i) => {
      const member = refName(ref, namespace);
      if (!destinations.byName.has(member)) {
        statuses.warn(key, `spec.destinations[${i}]: Destination ${member} not found or invalid; left out`);
      } else members.set(member, `spec.destinations[${i}]`);
    });
    if (selector) {
      const scope = { labels: selector.labels, namespace: selector.namespace || namespace };
      for (const [member, { resource }] of destinations.byName) {
        if (!members.has(member) && matchesSelector(scope, resource.metadata)) {
          members.set(member, "spec.destinationSelector");
        }
      }
    }
    const candidates: Member[] = [];
    for (const [member, field] of members) {
      const resource = destinations.byName.get(member)?.resource;
      if (!resource) continue;
      const cluster = placementOf(resource)[0];
      if (cluster === undefined) {
        statuses.warn(key, `${field}: Destination ${member} is placed in no cluster (metadata.clusters); left out`);
      } else if (resource.spec.dns !== "") {
        statuses.warn(
          key,
          `${field}: Destination ${member} resolves by DNS; only static endpoints fail over; left out`,
        );
      } else candidates.push({ name: member, field, cluster, resource });
    }
    const { placed, workloadTls } = membersTls(candidates, destinations, key, statuses);
    if (placed.length === 0) statuses.warn(key, "no member Destination in any cluster; requests will fail");

    const memberClusters = [...new Set(placed.map((p) => p.cluster))].sort();
    const listed = (policy?.spec.clusterOrder ?? []).filter((c) => memberClusters.includes(c));
    const order = [...new Set([...listed, ...memberClusters])];
    const overprovisioningFactor = policy?.spec.overprovisioningFactor || undefined;
    const outlierDetection = outlierDetectionOf(policy?.spec.outlierDetection);
    const portClusters: ModelCluster[] = [];
    const overflows: string[] = [];
    spec.ports.forEach((port, i) => {
      const endpoints: Record<string, ModelEndpoint[]> = {};
      for (const cluster of memberClusters) endpoints[cluster] = [];
      for (const member of placed) {
        const source = destinations.clusters.get(clusterName(member.name, port.number, ""));
        if (!source) {
          statuses.warn(key, `spec.ports: Destination ${member.name} has no port ${port.number}; left out of it`);
          continue;
        }
        if (source.discovery.type === "static") endpoints[member.cluster]?.push(...source.discovery.endpoints);
      }
      overflows.push(...weightOverflows(`spec.ports[${i}]`, endpoints));
      const name = virtualClusterName(nameOf(vd), port.number);
      portClusters.push({
        name,
        destination: nameOf(vd),
        protocol: UpstreamProtocol[port.protocol] as ModelCluster["protocol"],
        connectTimeoutMs: defaultConnectTimeoutMs,
        ...(workloadTls ? { workloadTls } : {}),
        discovery: {
          type: "failover",
          order,
          endpoints,
          ...(overprovisioningFactor ? { overprovisioningFactor } : {}),
          // Gateways are joined in once they are known (east-west.ts). The workloads' TLS through a
          // gateway is Gantry's mTLS (the gateway routes by its SNI), checking the members' identities
          // when they serve workload TLS.
          eastWest: {
            sni: eastWestSni(nameOf(vd), port.number),
            port: port.number,
            gateways: {},
            tls: { mode: "MUTUAL", subjectAltNames: workloadTls?.serverIdentities ?? [] },
          },
        },
        outlierDetection,
      });
    });
    for (const problem of overflows) statuses.invalid(key, problem);
    if (overflows.length > 0) continue;
    for (const cluster of portClusters) result.clusters.set(cluster.name, cluster);
    result.byName.set(name, { ports: spec.ports.map((p) => p.number), members: placed.map((p) => p.name) });
  }
  for (const name of policies.keys()) {
    if (!usedPolicies.has(name)) statuses.warn(kindKey("FailoverPolicy", name), "no VirtualDestination names it");
  }
  return result;
}

/** Which Destinations each VirtualDestination routes to, as text (for the route memo's context). */
export function membershipOf(resolved: ResolvedVirtualDestinations): string {
  return [...resolved.byName]
    .map(([name, { members }]) => `VirtualDestination/${name} = ${members.join(",")}`)
    .join("\n");
}

/** The most the weights at one priority may add up to: Envoy and gRPC clients sum them in a uint32. */
const maxPriorityWeightSum = 0xffff_ffff;

/**
 * Why a port's endpoints cannot be served, if they cannot: each member cluster is one priority of
 * the EDS, whose locality weights (each the sum of its endpoints') clients add up in a uint32 and
 * NACK the whole ClusterLoadAssignment past it. Each member Destination fits on its own
 * (destinations.ts); several in one cluster may not.
 */
function weightOverflows(field: string, endpoints: Record<string, ModelEndpoint[]>): string[] {
  return Object.entries(endpoints).flatMap(([cluster, members]) => {
    const sum = members.reduce((total, e) => total + e.weight, 0);
    if (sum <= maxPriorityWeightSum) return [];
    return [
      `${field}: the endpoint weights of the member Destinations in cluster ${cluster} add up to ${sum}, above ${maxPriorityWeightSum} (2^32-1), the most Envoy and gRPC clients accept at one priority`,
    ];
  });
}

interface Member {
  name: string;
  /** The field that made it a member, for messages. */
  field: string;
  cluster: string;
  resource: ResourceOf<"Destination">;
}

function tlsMode(tls: ModelWorkloadTls | undefined): string {
  return tls?.mode ?? "DISABLE";
}

/**
 * The members' workload TLS, which the VirtualDestination's callers use towards all of them: one
 * cluster has one transport socket, so the members must agree on the mode. The first member's
 * (in member order) is the VirtualDestination's; a member with another is left out, with a warning.
 * The server identities are every kept member's (a caller may reach any of them); the SNI is
 * theirs when they all give the same.
 */
function membersTls(
  candidates: readonly Member[],
  destinations: ResolvedDestinations,
  key: string,
  statuses: StatusCollector,
): { placed: Member[]; workloadTls: ModelWorkloadTls | undefined } {
  const tlsOf = (member: Member) =>
    destinations.clusters.get(clusterName(member.name, member.resource.spec.ports[0]?.number ?? 0, ""))?.workloadTls;
  const first = candidates[0];
  const mode = tlsMode(first && tlsOf(first));
  const placed: Member[] = [];
  const kept: ModelWorkloadTls[] = [];
  for (const member of candidates) {
    const tls = tlsOf(member);
    if (tlsMode(tls) !== mode) {
      statuses.warn(
        key,
        `${member.field}: Destination ${member.name}'s spec.workloadTls mode is ${tlsMode(tls)}, not ${mode} as Destination ${first?.name}'s: callers use one TLS mode for every member; left out`,
      );
      continue;
    }
    placed.push(member);
    if (tls) kept.push(tls);
  }
  const [one] = kept;
  if (!one) return { placed, workloadTls: undefined };
  return {
    placed,
    workloadTls: {
      mode: one.mode,
      serverIdentities: [...new Set(kept.flatMap((t) => t.serverIdentities))].sort(),
      sni: kept.every((t) => t.sni === one.sni) ? one.sni : "",
    },
  };
}

function nameOf(vd: ResourceOf<"VirtualDestination">): string {
  return `${vd.metadata.namespace}/${vd.metadata.name}`;
}

function failoverPolicyProblems(policy: ResourceOf<"FailoverPolicy">): string[] {
  const spec = policy.spec;
  const problems: string[] = [];
  const seen = new Set<string>();
  spec.clusterOrder.forEach((cluster, i) => {
    if (!isClusterName(cluster)) {
      problems.push(`spec.clusterOrder[${i}]: "${cluster}" is not a cluster name: ${clusterNameRule}`);
    }
    if (seen.has(cluster)) problems.push(`spec.clusterOrder[${i}]: "${cluster}" is listed twice`);
    seen.add(cluster);
  });
  if (spec.overprovisioningFactor !== 0 && spec.overprovisioningFactor < 100) {
    problems.push(
      `spec.overprovisioningFactor: ${spec.overprovisioningFactor} is under 100 (percent); traffic would leave healthy clusters`,
    );
  }
  const od = spec.outlierDetection;
  if (od) {
    if (od.maxEjectionPercent > 100) problems.push("spec.outlierDetection.maxEjectionPercent: must be 0..100");
    for (const field of ["interval", "baseEjectionTime"] as const) {
      const ms = durationMs(od[field]);
      if (ms !== undefined && ms <= 0) problems.push(`spec.outlierDetection.${field}: must be over 0s`);
    }
    const fp = od.failurePercentage;
    if (fp && (fp.threshold < 1 || fp.threshold > 100)) {
      problems.push("spec.outlierDetection.failurePercentage.threshold: must be 1..100");
    }
  }
  return problems;
}

function outlierDetectionOf(od: OutlierDetection | undefined): ModelOutlierDetection {
  if (!od) return defaultOutlierDetection;
  const fp = od.failurePercentage;
  return {
    consecutiveErrors: od.consecutiveErrors || defaultOutlierDetection.consecutiveErrors,
    intervalMs: durationMs(od.interval) ?? defaultOutlierDetection.intervalMs,
    baseEjectionTimeMs: durationMs(od.baseEjectionTime) ?? defaultOutlierDetection.baseEjectionTimeMs,
    maxEjectionPercent: od.maxEjectionPercent || defaultOutlierDetection.maxEjectionPercent,
    ...(fp
      ? {
          failurePercentage: {
            threshold: fp.threshold,
            minimumHosts: fp.minimumHosts || 5,
            requestVolume: fp.requestVolume || 50,
          },
        }
      : {}),
  };
}
