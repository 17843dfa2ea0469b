// What the agent keeps of each Kubernetes object it watches in its workload cluster: only the fields
// discovery reads, so a cluster's thousands of Pods cost a few strings each. Pure projections from
// the apiserver's JSON; a field of the wrong type reads as absent (the apiserver validated it).
import type { KubeObject } from "../kubernetes/index.js";

export interface ServicePortView {
  /** "" for the one port of a single-port Service. */
  name: string;
  port: number;
  protocol: string;
  appProtocol: string;
  /** A number, a container port's name, or absent (the same as `port`). */
  targetPort: number | string | undefined;
}

export interface ServiceView {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  type: string;
  externalName: string;
  ports: ServicePortView[];
}

export interface EndpointView {
  address: string;
  /** The conditions as the EndpointSlice API defines them; absent `ready` means ready. */
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  /** The Pod behind the endpoint (`namespace/name`), when its targetRef names one. */
  pod: string | undefined;
  zone: string;
}

export interface EndpointSliceView {
  namespace: string;
  name: string;
  /** The Service it belongs to (label `kubernetes.io/service-name`). */
  service: string | undefined;
  addressType: string;
  ports: { name: string; port: number; protocol: string }[];
  endpoints: EndpointView[];
}

export interface PodView {
  labels: Record<string, string>;
  serviceAccount: string;
}

/** A Gantry Destination applied in the workload cluster as a custom resource. */
export interface DestinationResourceView {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  spec: unknown;
}

type Json = Record<string, unknown>;

const asObject = (value: unknown): Json => (typeof value === "object" && value !== null ? (value as Json) : {});
const asString = (value: unknown): string => (typeof value === "string" ? value : "");
const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(asObject(value))) if (typeof v === "string") out[key] = v;
  return out;
}

export function projectService(object: KubeObject): ServiceView {
  const spec = asObject((object as unknown as Json)["spec"]);
  return {
    namespace: object.metadata.namespace ?? "default",
    name: object.metadata.name,
    labels: stringMap(object.metadata.labels),
    type: asString(spec["type"]) || "ClusterIP",
    externalName: asString(spec["externalName"]),
    ports: asArray(spec["ports"]).map((value) => {
      const port = asObject(value);
      const target = port["targetPort"];
      return {
        name: asString(port["name"]),
        port: typeof port["port"] === "number" ? port["port"] : 0,
        protocol: asString(port["protocol"]) || "TCP",
        appProtocol: asString(port["appProtocol"]),
        targetPort: typeof target === "number" || typeof target === "string" ? target : undefined,
      };
    }),
  };
}

export const serviceNameLabel = "kubernetes.io/service-name";

export function projectEndpointSlice(object: KubeObject): EndpointSliceView {
  const raw = object as unknown as Json;
  const namespace = object.metadata.namespace ?? "default";
  return {
    namespace,
    name: object.metadata.name,
    service: object.metadata.labels?.[serviceNameLabel],
    addressType: asString(raw["addressType"]),
    ports: asArray(raw["ports"]).map((value) => {
      const port = asObject(value);
      return {
        name: asString(port["name"]),
        port: typeof port["port"] === "number" ? port["port"] : 0,
        protocol: asString(port["protocol"]) || "TCP",
      };
    }),
    endpoints: asArray(raw["endpoints"]).flatMap((value): EndpointView[] => {
      const endpoint = asObject(value);
      const address = asString(asArray(endpoint["addresses"])[0]);
      if (!address) return [];
      const conditions = asObject(endpoint["conditions"]);
      const ready = conditions["ready"] !== false;
      const target = asObject(endpoint["targetRef"]);
      const pod =
        target["kind"] === "Pod" && asString(target["name"])
          ? `${asString(target["namespace"]) || namespace}/${asString(target["name"])}`
          : undefined;
      return [
        {
          address,
          ready,
          // Both default to the endpoint's readiness when the apiserver does not set them.
          serving: typeof conditions["serving"] === "boolean" ? conditions["serving"] : ready,
          terminating: conditions["terminating"] === true,
          pod,
          zone: asString(endpoint["zone"]),
        },
      ];
    }),
  };
}

export function projectPod(object: KubeObject): PodView {
  const spec = asObject((object as unknown as Json)["spec"]);
  return {
    labels: stringMap(object.metadata.labels),
    serviceAccount: asString(spec["serviceAccountName"]) || "default",
  };
}

export function projectDestinationResource(object: KubeObject): DestinationResourceView {
  return {
    namespace: object.metadata.namespace ?? "default",
    name: object.metadata.name,
    labels: stringMap(object.metadata.labels),
    spec: (object as unknown as Json)["spec"] ?? {},
  };
}
