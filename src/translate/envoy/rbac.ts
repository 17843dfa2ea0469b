// AccessPolicies as Envoy's RBAC HTTP filter (`envoy.filters.http.rbac`), which xDS-enabled gRPC
// servers enforce too (gRFC A41): only matchers both support are built (principal names, paths,
// headers with string matchers).
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { type PermissionSchema, type PrincipalSchema, RBAC_Action } from "../../gen/envoy/config/rbac/v3/rbac_pb.js";
import { RBACPerRouteSchema, RBACSchema } from "../../gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js";
import type { HttpFilterSchema } from "../../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import type { ModelAccess, ModelAccessRule, StringPattern } from "../model.js";
import { pack, sortedRecord } from "./common.js";

type Permission = MessageInitShape<typeof PermissionSchema>;
type Principal = MessageInitShape<typeof PrincipalSchema>;
type HttpFilter = MessageInitShape<typeof HttpFilterSchema>;

/**
 * Two RBAC filters, denials first: a request a DENY rule matches is refused whatever allows it, and
 * the ALLOW filter (when some policy allows, or the namespace is default-deny) refuses the rest.
 */
export const rbacFilterNames = { deny: "gantry.access.deny", allow: "gantry.access.allow" } as const;

function stringMatcher(pattern: StringPattern) {
  return "exact" in pattern
    ? { matchPattern: { case: "exact" as const, value: pattern.exact } }
    : { matchPattern: { case: "prefix" as const, value: pattern.prefix } };
}

function permissionOf(rule: ModelAccessRule): Permission {
  const all: Permission[] = [];
  if (rule.paths.length > 0) {
    all.push({
      rule: {
        case: "orRules",
        value: {
          rules: rule.paths.map((p) => ({
            rule: { case: "urlPath" as const, value: { rule: { case: "path" as const, value: stringMatcher(p) } } },
          })),
        },
      },
    });
  }
  if (rule.methods.length > 0) {
    all.push({
      rule: {
        case: "orRules",
        value: {
          rules: rule.methods.map((m) => ({ rule: { case: "header" as const, value: headerMatcher(":method", m) } })),
        },
      },
    });
  }
  for (const header of rule.headers) {
    all.push(
      header.values.length === 0
        ? {
            rule: {
              case: "header",
              value: { name: header.name, headerMatchSpecifier: { case: "presentMatch", value: true } },
            },
          }
        : {
            rule: {
              case: "orRules",
              value: {
                rules: header.values.map((v) => ({
                  rule: { case: "header" as const, value: headerMatcher(header.name, v) },
                })),
              },
            },
          },
    );
  }
  if (all.length === 0) return { rule: { case: "any", value: true } };
  return all.length === 1 && all[0] ? all[0] : { rule: { case: "andRules", value: { rules: all } } };
}

function headerMatcher(name: string, value: string) {
  return {
    name,
    headerMatchSpecifier: { case: "stringMatch" as const, value: { matchPattern: { case: "exact" as const, value } } },
  };
}

/** The caller's SPIFFE ID is its certificate's URI SAN, which `authenticated.principal_name` matches first. */
function principalOf(rule: ModelAccessRule): Principal {
  const all: Principal[] = rule.principals.map((set) => ({
    identifier: {
      case: "orIds",
      value: {
        ids: set.map(
          (p): Principal => ({ identifier: { case: "authenticated", value: { principalName: stringMatcher(p) } } }),
        ),
      },
    },
  }));
  if (all.length === 0) return { identifier: { case: "any", value: true } };
  return all.length === 1 && all[0] ? all[0] : { identifier: { case: "andIds", value: { ids: all } } };
}

function rulesConfig(rules: ModelAccessRule[], action: RBAC_Action) {
  return {
    action,
    policies: sortedRecord(
      rules.map((r) => [r.name, { permissions: [permissionOf(r)], principals: [principalOf(r)] }]),
    ),
  };
}

/** The RBAC filters a gRPC server's Listener enforces for its destination, in order. */
export function buildServerRbacFilters(access: ModelAccess): HttpFilter[] {
  const filters: HttpFilter[] = [];
  if (access.deny.length > 0) {
    filters.push({
      name: rbacFilterNames.deny,
      configType: {
        case: "typedConfig",
        value: pack(RBACSchema, { rules: rulesConfig(access.deny, RBAC_Action.DENY) }),
      },
    });
  }
  if (access.allow) {
    filters.push({
      name: rbacFilterNames.allow,
      configType: {
        case: "typedConfig",
        value: pack(RBACSchema, { rules: rulesConfig(access.allow, RBAC_Action.ALLOW) }),
      },
    });
  }
  return filters;
}

/**
 * Envoy listeners carry both filters without rules (which enforce nothing); a route to destinations
 * with AccessPolicies sets their rules per route.
 */
export function buildListenerRbacFilters(): HttpFilter[] {
  return [rbacFilterNames.deny, rbacFilterNames.allow].map((name) => ({
    name,
    configType: { case: "typedConfig" as const, value: pack(RBACSchema, {}) },
  }));
}

/** A route's RBAC configs, by filter name: a filter the route's access does not use is disabled there. */
export function routeRbacConfigs(access: ModelAccess): [string, Any][] {
  return [
    [
      rbacFilterNames.deny,
      pack(
        RBACPerRouteSchema,
        access.deny.length > 0 ? { rbac: { rules: rulesConfig(access.deny, RBAC_Action.DENY) } } : {},
      ),
    ],
    [
      rbacFilterNames.allow,
      pack(RBACPerRouteSchema, access.allow ? { rbac: { rules: rulesConfig(access.allow, RBAC_Action.ALLOW) } } : {}),
    ],
  ];
}
