import { createHash } from "node:crypto";
import {
  create,
  type DescMessage,
  isMessage,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { typeUrlOf } from "./type-urls.js";

/**
 * One resource as xDS serves it: encoded once, versioned by a hash of its bytes, so an unchanged
 * resource is never re-encoded and never re-sent. Any type URL, not only Envoy's.
 */
export interface XdsResource {
  readonly typeUrl: string;
  readonly name: string;
  /** The message's bytes, as they go into an `Any`. */
  readonly value: Uint8Array;
  /** A hash of `value`: equal bytes give equal versions. */
  readonly version: string;
}

export class ResourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ResourceError";
  }
}

/** The version of encoded resource bytes: sha256, truncated to 16 hex digits (64 bits). */
export function versionOf(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex").slice(0, 16);
}

/** A resource from already-encoded bytes, for any type URL. */
export function rawResource(typeUrl: string, name: string, value: Uint8Array): XdsResource {
  if (typeUrl === "") throw new ResourceError(`resource "${name}": type URL is empty`);
  if (name === "") throw new ResourceError(`${typeUrl}: resource name is empty`);
  return { typeUrl, name, value, version: versionOf(value) };
}

/**
 * The name a resource is known by in xDS: its `name` field, or `cluster_name` for a
 * ClusterLoadAssignment.
 */
export function resourceNameOf(schema: DescMessage, message: object): string {
  for (const field of ["name", "clusterName"]) {
    if (schema.fields.some((f) => f.localName === field)) {
      const value = (message as Record<string, unknown>)[field];
      if (typeof value === "string") return value;
    }
  }
  return "";
}

/**
 * Encodes a protobuf-es message into a cache resource. The name is taken from the message
 * unless given.
 */
export function encodeResource<S extends DescMessage>(
  schema: S,
  message: MessageShape<S> | MessageInitShape<S>,
  name?: string,
): XdsResource {
  const full = (isMessage(message, schema) ? message : create(schema, message)) as MessageShape<S>;
  const resourceName = name ?? resourceNameOf(schema, full);
  if (resourceName === "") {
    throw new ResourceError(`${schema.typeName}: resource has no name (field "name" or "cluster_name" is empty)`);
  }
  return rawResource(typeUrlOf(schema.typeName), resourceName, toBinary(schema, full));
}

/** Resources in a stable order: by type URL, then name (sorts in place). */
export function sortResources(resources: XdsResource[]): XdsResource[] {
  return resources.sort((a, b) =>
    a.typeUrl !== b.typeUrl ? (a.typeUrl < b.typeUrl ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
}
