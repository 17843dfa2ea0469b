// Does the gateway serve what a product documents, and document what it serves? Operations no route
// serves and routes no operation documents are warnings on the product (docs/portal.md).
import type { RequestMatcher } from "../gen/gantry/v1/route_table_pb.js";
import type { ResourceOf } from "../resources/index.js";

const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"] as const;

export interface Operation {
  method: string;
  /** The full path template, base path included (`/v1/pets/{id}`). */
  path: string;
}

/** What a route matches, as the coverage check reads it (header and query conditions aside). */
export interface RouteMatch {
  path: { kind: "exact" | "prefix" | "regex"; value: string };
  /** Empty: every method. */
  methods: readonly string[];
  ignoreCase: boolean;
}

/** A route as the coverage check sees it: its name, and what it matches (any of `matches`). */
export interface CoveredRoute {
  name: string;
  matches: readonly RouteMatch[];
}

/** The operations of an OpenAPI 2.0 or 3.x document, with its base path (2.0 `basePath`, 3.x the first server's path). */
export function operationsOf(document: Record<string, unknown>): Operation[] {
  const paths = document["paths"];
  if (typeof paths !== "object" || paths === null) return [];
  let base = "";
  if (typeof document["basePath"] === "string") base = document["basePath"];
  const servers = document["servers"];
  if (Array.isArray(servers) && typeof servers[0]?.url === "string") {
    base = new URL(servers[0].url, "http://relative").pathname;
  }
  base = base.replace(/\/+$/, "");
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(paths as Record<string, unknown>)) {
    if (typeof item !== "object" || item === null) continue;
    for (const method of methods) {
      if (method in item) out.push({ method: method.toUpperCase(), path: `${base}${path}` });
    }
  }
  return out;
}

/** A concrete path a template stands for: each `{param}` as one segment. */
function samplePath(template: string): string {
  return template.replace(/\{[^}/]*\}/g, "x");
}

function matches(match: RouteMatch, operation: Operation): boolean {
  if (match.methods.length > 0 && !match.methods.some((m) => m.toUpperCase() === operation.method)) return false;
  const path = samplePath(operation.path);
  const fold = (s: string) => (match.ignoreCase ? s.toLowerCase() : s);
  switch (match.path.kind) {
    case "exact":
      return fold(path) === fold(match.path.value);
    case "prefix":
      return fold(path).startsWith(fold(match.path.value));
    case "regex":
      // Approximate (JavaScript's regex dialect, not RE2's): this only decides a warning.
      try {
        return new RegExp(`^(?:${match.path.value})$`, match.ignoreCase ? "i" : "").test(path);
      } catch {
        return false;
      }
  }
}

/**
 * The routes route tables define as written, each table alone (delegating routes hand their paths to
 * other tables and are left out). The translator checks the routes as served instead, delegated
 * children's included; this reads the resources alone (the portal's admin view).
 */
export function routeTableRoutes(tables: readonly ResourceOf<"RouteTable">[]): CoveredRoute[] {
  return tables.flatMap((rt) =>
    rt.spec.http
      .filter((route) => route.action.case !== "delegate")
      .map((route, i) => ({
        name: `${rt.metadata.namespace}/${rt.metadata.name}/${route.name || `http[${i}]`}`,
        matches: route.matchers.map(routeMatch),
      })),
  );
}

function routeMatch(matcher: RequestMatcher): RouteMatch {
  return {
    path:
      matcher.path.case === undefined
        ? { kind: "prefix", value: "/" }
        : { kind: matcher.path.case, value: matcher.path.value },
    methods: matcher.methods,
    ignoreCase: matcher.ignoreCase,
  };
}

/** Warnings comparing a product's documented operations with the routes that serve it. */
export function coverageWarnings(operations: readonly Operation[], routes: readonly CoveredRoute[]): string[] {
  const routeMatches = (route: CoveredRoute, op: Operation) =>
    route.matches.length === 0 ? true : route.matches.some((m) => matches(m, op));
  const warnings: string[] = [];
  for (const op of operations) {
    if (!routes.some((route) => routeMatches(route, op))) {
      warnings.push(`operation ${op.method} ${op.path}: no route of the product's route tables serves it`);
    }
  }
  for (const route of routes) {
    if (!operations.some((op) => routeMatches(route, op))) {
      warnings.push(`route ${route.name}: the OpenAPI document documents no operation it serves`);
    }
  }
  return warnings;
}
