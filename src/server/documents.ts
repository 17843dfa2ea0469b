import { type JsonObject, toJson } from "@bufbuild/protobuf";
import { type Resource, specSchemas } from "../resources/index.js";
import type { ResourceDocument } from "../store/index.js";

/**
 * A loaded resource as the JSON document the store keeps: canonical field names and values
 * (durations as "5s", enums by name), so the same meaning is always stored the same way and
 * nothing churns.
 */
export function resourceToDocument(resource: Resource): ResourceDocument {
  const schema = specSchemas[resource.kind];
  const metadata: ResourceDocument["metadata"] = {
    name: resource.metadata.name,
    namespace: resource.metadata.namespace,
  };
  if (Object.keys(resource.metadata.labels).length > 0) metadata.labels = { ...resource.metadata.labels };
  if (resource.metadata.clusters?.length) metadata["clusters"] = [...resource.metadata.clusters];
  return {
    apiVersion: "gantry/v1",
    kind: resource.kind,
    metadata,
    // biome-ignore lint/suspicious/noExplicitAny: the kind and its schema agree by construction of specSchemas.
    spec: toJson(schema, resource.spec as any) as JsonObject,
  };
}
