// What a product's OpenAPI document says about it, as its status: the document's problems (it could
// not be read, or is not valid OpenAPI) and, for a valid one, the operations no route serves and the
// routes no operation documents. All WARNINGs: the product's routes and plans work without a
// document, so a schema URL that is down must not take its rate limits away. Pure: the checks are
// made at the edge (src/openapi, OpenApiChecks) and given to the translation as an input.
import type { CoveredRoute, DocumentCheck } from "../openapi/index.js";
import { coverageWarnings, sourceKey } from "../openapi/index.js";
import { kindKey, type Resource, refName, resourceKey } from "../resources/index.js";
import { routeTablesOf } from "./attachments.js";
import type { ModelGateway, ModelRoute } from "./model.js";
import { State, type StatusCollector } from "./status.js";

/** Checks of OpenAPI sources, by `sourceKey`; a source not checked yet is absent (and says nothing). */
export type OpenApiResults = ReadonlyMap<string, DocumentCheck>;

/**
 * Every route the gateways serve, once by name (a route table on several gateways is one set of
 * routes), in the order they are served.
 */
function servedRoutes(gateways: readonly ModelGateway[]): ModelRoute[] {
  const byName = new Map<string, ModelRoute>();
  for (const gateway of gateways) {
    for (const listener of gateway.listeners) {
      for (const vhost of listener.virtualHosts) {
        for (const route of vhost.routes) if (!byName.has(route.name)) byName.set(route.name, route);
      }
    }
  }
  return [...byName.values()];
}

/**
 * The routes serving a product: those passing through one of its route tables, delegated children's
 * included, as its plans' rate limits select them (normalize/products.ts). A route written with
 * several matchers is served as one model route per matcher (`name#i`): here it is one route again.
 */
function productRoutes(tables: ReadonlySet<string>, served: readonly ModelRoute[]): CoveredRoute[] {
  const byName = new Map<string, CoveredRoute & { matches: ModelRoute["match"][] }>();
  for (const route of served) {
    if (!routeTablesOf(route).some((table) => tables.has(table))) continue;
    const name = route.name.replace(/#\d+$/, "");
    const covered = byName.get(name) ?? { name, matches: [] };
    covered.matches.push(route.match);
    byName.set(name, covered);
  }
  return [...byName.values()];
}

export function reportOpenApi(
  resources: readonly Resource[],
  gateways: readonly ModelGateway[],
  checks: OpenApiResults,
  statuses: StatusCollector,
): void {
  let served: ModelRoute[] | undefined;
  for (const product of resources) {
    if (product.kind !== "ApiProduct") continue;
    const key = resourceKey(product);
    if (statuses.get(key)?.state === State.INVALID) continue;
    const sourceId = sourceKey(product.spec.openapi);
    const check = sourceId === undefined ? undefined : checks.get(sourceId);
    if (!check) continue;
    for (const problem of check.problems) statuses.warn(key, problem);
    if (check.problems.length > 0) continue;
    const tables = new Set(
      product.spec.routeTables.map((ref) => kindKey("RouteTable", refName(ref, product.metadata.namespace))),
    );
    served ??= servedRoutes(gateways);
    for (const warning of coverageWarnings(check.operations, productRoutes(tables, served))) {
      statuses.warn(key, `spec.openapi: ${warning}`);
    }
  }
}
