// What a proxy is served, as JSON for the API (`DescribeProxy`): the routing types decoded, every
// other type (certificates and keys, ext-auth configs with client secrets) shown by name and
// version only, since the API never shows secret material in a proxy's config.
import { fromBinary, type JsonObject, toJson } from "@bufbuild/protobuf";
import { envoyRegistry, TypeUrl, type XdsResource } from "../envoy/index.js";

/** The types whose content is shown: none of them carries key material (TLS comes by SDS). */
const shownTypes = new Set<string>([TypeUrl.listener, TypeUrl.route, TypeUrl.cluster, TypeUrl.endpoint]);

export function proxyConfigJson(resources: readonly XdsResource[]): JsonObject[] {
  return [...resources]
    .sort((a, b) => (a.typeUrl === b.typeUrl ? (a.name < b.name ? -1 : 1) : a.typeUrl < b.typeUrl ? -1 : 1))
    .map((resource) => {
      const head = { "@type": resource.typeUrl, name: resource.name, version: resource.version };
      const schema = shownTypes.has(resource.typeUrl)
        ? envoyRegistry.getMessage(resource.typeUrl.slice(resource.typeUrl.lastIndexOf("/") + 1))
        : undefined;
      if (!schema) return { ...head, content: "not shown: this type may hold secret material" };
      const message = fromBinary(schema, resource.value);
      return { ...head, content: toJson(schema, message, { registry: envoyRegistry }) as JsonObject };
    });
}
