// What a product's OpenAPI document says about it, as its status: the document's problems (it could
// not be read, or is not valid OpenAPI) and, for a valid one, the operations no route serves and the
// routes no operation documents. All WARNINGs: the product's routes and plans work without a
// document, so a schema URL that is down must not take its rate limits away. Pure: the checks are
// made at the edge (src/openapi, OpenApiChecks) and given to the translation as an input.
import type { DocumentCheck } from "../openapi/index.js";
import { coverageWarnings, sourceKey } from "../openapi/index.js";
import { type Resource, type ResourceOf, refName, resourceKey } from "../resources/index.js";
import { State, type StatusCollector } from "./status.js";

/** Checks of OpenAPI sources, by `sourceKey`; a source not checked yet is absent (and says nothing). */
export type OpenApiResults = ReadonlyMap<string, DocumentCheck>;

export function reportOpenApi(resources: readonly Resource[], checks: OpenApiResults, statuses: StatusCollector): void {
  const tables = new Map<string, ResourceOf<"RouteTable">>();
  for (const r of resources) {
    if (r.kind === "RouteTable") tables.set(`${r.metadata.namespace}/${r.metadata.name}`, r);
  }
  for (const product of resources) {
    if (product.kind !== "ApiProduct") continue;
    const key = resourceKey(product);
    if (statuses.get(key)?.state === State.INVALID) continue;
    const sourceId = sourceKey(product.spec.openapi);
    const check = sourceId === undefined ? undefined : checks.get(sourceId);
    if (!check) continue;
    for (const problem of check.problems) statuses.warn(key, problem);
    if (check.problems.length > 0) continue;
    const served = product.spec.routeTables.flatMap(
      (ref) => tables.get(refName(ref, product.metadata.namespace)) ?? [],
    );
    for (const warning of coverageWarnings(check.operations, served)) statuses.warn(key, `spec.openapi: ${warning}`);
  }
}
