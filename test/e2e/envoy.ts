import type { RateLimit, Route } from "../../src/gen/envoy/config/route/v3/route_components_pb.js";
import type { RouteConfiguration } from "../../src/gen/envoy/config/route/v3/route_pb.js";

/**
 * The parts of Envoy's behaviour these tests need, written from Envoy's documented semantics, so
 * that the ext-auth and rate-limit servers are called exactly as a proxy running the translated
 * configuration would call them.
 */

export interface SampleRequest {
  host: string;
  path: string;
  headers: Record<string, string>;
  remoteAddress: string;
  /** Dynamic metadata earlier filters set (ext_authz's under its namespace), for `metadata` actions. */
  dynamicMetadata?: Record<string, unknown>;
}

/** The route Envoy would pick: first virtual host whose domains match, first route whose prefix/path matches. */
export function routeFor(config: RouteConfiguration, request: SampleRequest): Route {
  const vhost = config.virtualHosts.find((v) => v.domains.includes(request.host) || v.domains.includes("*"));
  if (!vhost) throw new Error(`no virtual host for ${request.host} in ${config.name}`);
  const route = vhost.routes.find((r) => {
    const spec = r.match?.pathSpecifier;
    if (spec?.case === "prefix") return request.path.startsWith(spec.value);
    if (spec?.case === "path") return request.path === spec.value;
    return false;
  });
  if (!route) throw new Error(`no route for ${request.path} in ${vhost.name}`);
  return route;
}

export type DescriptorEntry = { key: string; value: string };

/**
 * The descriptors Envoy sends for a route's `rate_limits`: each entry's actions in order; if any
 * action cannot produce its entry, that descriptor is not sent.
 */
export function descriptorsFor(rateLimits: readonly RateLimit[], request: SampleRequest): DescriptorEntry[][] {
  const out: DescriptorEntry[][] = [];
  for (const rateLimit of rateLimits) {
    const entries: DescriptorEntry[] = [];
    let complete = true;
    for (const action of rateLimit.actions) {
      const spec = action.actionSpecifier;
      switch (spec.case) {
        case "genericKey":
          entries.push({ key: spec.value.descriptorKey || "generic_key", value: spec.value.descriptorValue });
          break;
        case "remoteAddress":
          entries.push({ key: "remote_address", value: request.remoteAddress });
          break;
        case "requestHeaders": {
          const value = request.headers[spec.value.headerName.toLowerCase()];
          if (value === undefined) {
            if (!spec.value.skipIfAbsent) complete = false;
          } else entries.push({ key: spec.value.descriptorKey, value });
          break;
        }
        case "metadata": {
          // Dynamic metadata: the namespace, then the path through its struct; absent and no default: no descriptor.
          let value: unknown = request.dynamicMetadata?.[spec.value.metadataKey?.key ?? ""];
          for (const segment of spec.value.metadataKey?.path ?? []) {
            value =
              typeof value === "object" && value !== null
                ? (value as Record<string, unknown>)[segment.segment.value ?? ""]
                : undefined;
          }
          if (typeof value === "string" && value !== "") entries.push({ key: spec.value.descriptorKey, value });
          else if (spec.value.defaultValue !== "")
            entries.push({ key: spec.value.descriptorKey, value: spec.value.defaultValue });
          else if (!spec.value.skipIfAbsent) complete = false;
          break;
        }
        default:
          throw new Error(`rate-limit action ${spec.case} is not modelled in this test`);
      }
    }
    if (complete && entries.length > 0) out.push(entries);
  }
  return out;
}
