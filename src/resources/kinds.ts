import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { AuthConfigSchema } from "../gen/gantry/extauth/v1/auth_config_pb.js";
import { AccessPolicySpecSchema } from "../gen/gantry/v1/access_pb.js";
import { DestinationSpecSchema } from "../gen/gantry/v1/destination_pb.js";
import { GatewaySpecSchema } from "../gen/gantry/v1/gateway_pb.js";
import { FailoverPolicySpecSchema, VirtualDestinationSpecSchema } from "../gen/gantry/v1/multicluster_pb.js";
import {
  CORSPolicySpecSchema,
  ExtAuthPolicySpecSchema,
  FaultInjectionPolicySpecSchema,
  HeaderPolicySpecSchema,
  RateLimitPolicySpecSchema,
  RetryTimeoutPolicySpecSchema,
} from "../gen/gantry/v1/policies_pb.js";
import { ApiProductSpecSchema, PortalSpecSchema, UsagePlanSpecSchema } from "../gen/gantry/v1/portal_pb.js";
import { RouteTableSpecSchema } from "../gen/gantry/v1/route_table_pb.js";
import { SecretSpecSchema } from "../gen/gantry/v1/secret_pb.js";

export const apiVersion = "gantry/v1";

/** Each kind's spec schema. A new kind is one line here plus its processing in translate/normalize. */
export const specSchemas = {
  Gateway: GatewaySpecSchema,
  RouteTable: RouteTableSpecSchema,
  Destination: DestinationSpecSchema,
  Secret: SecretSpecSchema,
  AuthConfig: AuthConfigSchema,
  ExtAuthPolicy: ExtAuthPolicySpecSchema,
  RateLimitPolicy: RateLimitPolicySpecSchema,
  RetryTimeoutPolicy: RetryTimeoutPolicySpecSchema,
  FaultInjectionPolicy: FaultInjectionPolicySpecSchema,
  CORSPolicy: CORSPolicySpecSchema,
  HeaderPolicy: HeaderPolicySpecSchema,
  VirtualDestination: VirtualDestinationSpecSchema,
  FailoverPolicy: FailoverPolicySpecSchema,
  AccessPolicy: AccessPolicySpecSchema,
  ApiProduct: ApiProductSpecSchema,
  UsagePlan: UsagePlanSpecSchema,
  Portal: PortalSpecSchema,
} as const satisfies Record<string, DescMessage>;

export type Kind = keyof typeof specSchemas;
export type SpecOf<K extends Kind> = MessageShape<(typeof specSchemas)[K]>;

export const kinds = Object.keys(specSchemas) as Kind[];

export function isKind(value: unknown): value is Kind {
  return typeof value === "string" && Object.hasOwn(specSchemas, value);
}

/** Where a document came from, for error messages. */
export interface Source {
  file: string;
  line: number;
}

export interface Metadata {
  name: string;
  namespace: string;
  labels: Readonly<Record<string, string>>;
  /**
   * The workload clusters a Gateway or RouteTable is placed in (absent or empty: every cluster), or
   * the one cluster a Destination's endpoints run in. Other kinds are not placed.
   */
  clusters?: readonly string[];
}

/** The kinds `metadata.clusters` may be set on, and how many clusters each may name. */
export const placedKinds: Readonly<Partial<Record<Kind, number>>> = {
  Gateway: Number.POSITIVE_INFINITY,
  RouteTable: Number.POSITIVE_INFINITY,
  Destination: 1,
};

/** The clusters a resource is placed in; empty: every cluster (or, for a Destination, none). */
export function clustersOf(metadata: Metadata): readonly string[] {
  return metadata.clusters ?? [];
}

/**
 * The older spelling of placement in one cluster, still read: a Gateway whose proxy selector has
 * this label, or a Destination with this label (the relay labels its clusters' Destinations so).
 */
export const clusterLabel = "gantry.io/cluster";

/** The label that names, on a Destination an agent discovered, its name in its own cluster (stored as `<name>.<cluster>`). */
export const discoveredNameLabel = "gantry.io/discovered-name";

/**
 * Where a resource is placed: `metadata.clusters`, or else the cluster its `gantry.io/cluster` label
 * names (a Gateway's `spec.proxies.labels`, a Destination's `metadata.labels`). Loading refuses a
 * resource whose two spellings disagree, so this is the one placement everything reads.
 */
export function placementOf(resource: { kind: string; metadata: Metadata; spec?: unknown }): readonly string[] {
  const clusters = clustersOf(resource.metadata);
  if (clusters.length > 0) return clusters;
  const label = clusterLabelOf(resource);
  return label ? [label] : [];
}

/** The `gantry.io/cluster` label that places a Gateway or a Destination, if any. */
export function clusterLabelOf(resource: { kind: string; metadata: Metadata; spec?: unknown }): string | undefined {
  if (resource.kind === "Destination") return resource.metadata.labels?.[clusterLabel];
  if (resource.kind === "Gateway") {
    const spec = resource.spec as SpecOf<"Gateway"> | undefined;
    return spec?.proxies?.labels[clusterLabel];
  }
  return undefined;
}

export type ResourceOf<K extends Kind> = {
  readonly kind: K;
  readonly metadata: Metadata;
  readonly spec: SpecOf<K>;
  readonly source?: Source;
};

/** A loaded, schema-valid resource of any kind. */
export type Resource = { [K in Kind]: ResourceOf<K> }[Kind];

export const defaultNamespace = "default";
