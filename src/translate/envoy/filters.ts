import type { MessageInitShape } from "@bufbuild/protobuf";
import { ApiVersion } from "../../gen/envoy/config/core/v3/config_source_pb.js";
import { CorsSchema } from "../../gen/envoy/extensions/filters/http/cors/v3/cors_pb.js";
import { ExtAuthzSchema } from "../../gen/envoy/extensions/filters/http/ext_authz/v3/ext_authz_pb.js";
import { HTTPFaultSchema } from "../../gen/envoy/extensions/filters/http/fault/v3/fault_pb.js";
import { RateLimitSchema } from "../../gen/envoy/extensions/filters/http/ratelimit/v3/rate_limit_pb.js";
import { RouterSchema } from "../../gen/envoy/extensions/filters/http/router/v3/router_pb.js";
import type { HttpFilterSchema } from "../../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import type { ModelRoute } from "../model.js";
import { duration, filterNames, pack, serviceClusters } from "./common.js";
import { buildListenerRbacFilters } from "./rbac.js";
import type { ClientKind } from "./route.js";

type HttpFilter = MessageInitShape<typeof HttpFilterSchema>;

/** Which filters a listener's routes need. */
export interface FilterNeeds {
  cors: boolean;
  fault: boolean;
  extAuth: boolean;
  rateLimit: boolean;
  /** Some route goes to a destination with AccessPolicies (Envoy's RBAC filters). */
  access: boolean;
}

export function filterNeeds(routes: Iterable<ModelRoute>, client: ClientKind): FilterNeeds {
  const needs: FilterNeeds = { cors: false, fault: false, extAuth: false, rateLimit: false, access: false };
  for (const { policies } of routes) {
    if (policies.fault) needs.fault = true;
    if (client === "grpc") continue;
    if (policies.access) needs.access = true;
    if (policies.cors) needs.cors = true;
    if (policies.extAuth && "configId" in policies.extAuth) needs.extAuth = true;
    if (policies.rateLimit) needs.rateLimit = true;
  }
  return needs;
}

function grpcService(clusterName: string) {
  return { targetSpecifier: { case: "envoyGrpc" as const, value: { clusterName } } };
}

/**
 * The HTTP filter chain, in the order requests pass it: CORS answers preflights first, then
 * AccessPolicies (RBAC) refuse callers before anything else is done for them, faults before any
 * backend is called, then authorization, then rate limiting, and the router last.
 * Only filters some route needs are present.
 */
export function buildHttpFilters(needs: FilterNeeds): HttpFilter[] {
  const filters: HttpFilter[] = [];
  if (needs.cors)
    filters.push({ name: filterNames.cors, configType: { case: "typedConfig", value: pack(CorsSchema, {}) } });
  if (needs.access) filters.push(...buildListenerRbacFilters());
  if (needs.fault) {
    filters.push({ name: filterNames.fault, configType: { case: "typedConfig", value: pack(HTTPFaultSchema, {}) } });
  }
  if (needs.extAuth) {
    filters.push({
      name: filterNames.extAuthz,
      configType: {
        case: "typedConfig",
        value: pack(ExtAuthzSchema, {
          services: {
            case: "grpcService",
            value: { ...grpcService(serviceClusters.extAuth), timeout: duration(1000) },
          },
          transportApiVersion: ApiVersion.V3,
        }),
      },
    });
  }
  if (needs.rateLimit) {
    filters.push({
      name: filterNames.rateLimit,
      configType: {
        case: "typedConfig",
        value: pack(RateLimitSchema, {
          domain: "gantry",
          timeout: duration(100),
          rateLimitService: { grpcService: grpcService(serviceClusters.rateLimit), transportApiVersion: ApiVersion.V3 },
        }),
      },
    });
  }
  filters.push({ name: filterNames.router, configType: { case: "typedConfig", value: pack(RouterSchema, {}) } });
  return filters;
}
