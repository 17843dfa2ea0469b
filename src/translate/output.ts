import { createHash } from "node:crypto";
import { type DescMessage, type MessageShape, toBinary } from "@bufbuild/protobuf";

const typePrefix = "type.googleapis.com/";

/** The type URLs of what a translation produces. */
export const typeUrls = {
  listener: `${typePrefix}envoy.config.listener.v3.Listener`,
  route: `${typePrefix}envoy.config.route.v3.RouteConfiguration`,
  cluster: `${typePrefix}envoy.config.cluster.v3.Cluster`,
  endpoint: `${typePrefix}envoy.config.endpoint.v3.ClusterLoadAssignment`,
  secret: `${typePrefix}envoy.extensions.transport_sockets.tls.v3.Secret`,
} as const;

/**
 * One encoded xDS resource. Its version is a hash of its bytes, so equal content always has the
 * same version and an unchanged resource is never re-sent.
 */
export interface EnvoyResource {
  readonly typeUrl: string;
  readonly name: string;
  readonly value: Uint8Array;
  readonly version: string;
}

export function encode<S extends DescMessage>(schema: S, name: string, message: MessageShape<S>): EnvoyResource {
  const value = toBinary(schema, message);
  return {
    typeUrl: `${typePrefix}${schema.typeName}`,
    name,
    value,
    version: createHash("sha256").update(value).digest("hex").slice(0, 16),
  };
}

/** Resources in a stable order: by type URL, then name. */
export function sortResources(resources: EnvoyResource[]): EnvoyResource[] {
  return resources.sort((a, b) =>
    a.typeUrl !== b.typeUrl ? (a.typeUrl < b.typeUrl ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
}
