// The API's resource references and the store's keys, one to the other.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type ResourceRef, ResourceRefSchema } from "../../gen/gantry/api/v1/management_pb.js";
import { defaultNamespace } from "../../resources/index.js";
import type { ResourceKey } from "../../store/index.js";

/** A request's reference as a store key; `field` names it in the error when kind or name is missing. */
export function toKey(ref: ResourceRef | undefined, field: string): ResourceKey {
  if (!ref?.kind) throw new ConnectError(`${field}.kind is required`, Code.InvalidArgument);
  if (!ref.name) throw new ConnectError(`${field}.name is required`, Code.InvalidArgument);
  return { kind: ref.kind, namespace: ref.namespace || defaultNamespace, name: ref.name };
}

export function toRef(key: ResourceKey): ResourceRef {
  return create(ResourceRefSchema, key);
}
