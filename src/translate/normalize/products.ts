// The developer portal's resources: usage plans become rate limits on their products' routes, keyed
// by the caller's API key (docs/portal.md).
import { create } from "@bufbuild/protobuf";
import { type RateLimit, RateLimitSchema } from "../../gen/envoy/config/route/v3/route_components_pb.js";
import { type OpenApiSource, type PlanLimits, Visibility } from "../../gen/gantry/v1/portal_pb.js";
import {
  type RateLimitDescriptor,
  RateLimitDescriptorSchema,
  type RateLimitPolicy,
  RateLimitPolicySchema,
  RateLimitUnit,
} from "../../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { kindKey, type ResourceOf, refName, resourceKey } from "../../resources/index.js";
import { durationMs } from "../durations.js";
import type { Model } from "../model.js";
import { State, type StatusCollector } from "../status.js";
import type { Index } from "./common.js";
import type { AttachablePolicy } from "./policies.js";

/** The rate-limit domain every usage plan is served in. */
export const portalDomain = "gantry-portal";
/** Descriptor keys of a plan's limits, in the order Envoy's actions send them. */
export const planDescriptorKeys = { product: "portal_product", plan: "portal_plan", apiKey: "api_key" } as const;
/** Where ext-auth's apiKeyAuth step leaves the key it accepted (docs/extauth.md, apiKeyAuth). */
const extAuthNamespace = "envoy.filters.http.ext_authz";

const units: readonly [keyof Omit<PlanLimits, "$typeName" | "$unknown">, RateLimitUnit][] = [
  ["perSecond", RateLimitUnit.SECOND],
  ["perMinute", RateLimitUnit.MINUTE],
  ["perDay", RateLimitUnit.DAY],
  ["perMonth", RateLimitUnit.MONTH],
];

const colour = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/;

/** A plan's limits as rate-limit policies, shortest unit first; empty when it sets none. */
export function planPolicies(limits: PlanLimits | undefined): RateLimitPolicy[] {
  if (!limits) return [];
  return units
    .filter(([field]) => limits[field] > 0)
    .map(([field, unit]) => create(RateLimitPolicySchema, { unit, requestsPerUnit: limits[field] }));
}

/**
 * Envoy's rate-limit actions for a product's routes: the product, then the plan and id of the API
 * key ext-auth accepted (its dynamic metadata). A request without a key sends no descriptor, so only
 * keyed callers are counted.
 */
export function productRateLimits(product: string): RateLimit[] {
  const fromKey = (descriptorKey: string, path: string[]) => ({
    actionSpecifier: {
      case: "metadata" as const,
      value: {
        descriptorKey,
        metadataKey: {
          key: extAuthNamespace,
          path: path.map((key) => ({ segment: { case: "key" as const, value: key } })),
        },
      },
    },
  });
  return [
    create(RateLimitSchema, {
      actions: [
        {
          actionSpecifier: {
            case: "genericKey",
            value: { descriptorKey: planDescriptorKeys.product, descriptorValue: product },
          },
        },
        fromKey(planDescriptorKeys.plan, ["api_key", "metadata", "plan"]),
        fromKey(planDescriptorKeys.apiKey, ["api_key", "id"]),
      ],
    }),
  ];
}

/** The rate-limit server's rules for one product: per plan, each key's limits (per-key statistics). */
export function productDescriptor(
  product: string,
  plans: { name: string; limits: RateLimitPolicy[] }[],
): RateLimitDescriptor {
  return create(RateLimitDescriptorSchema, {
    key: planDescriptorKeys.product,
    value: product,
    descriptors: plans.map(({ name, limits }) =>
      create(RateLimitDescriptorSchema, {
        key: planDescriptorKeys.plan,
        value: name,
        descriptors: [
          create(RateLimitDescriptorSchema, {
            key: planDescriptorKeys.apiKey,
            // Statistics name each key, so the portal can show a key's usage.
            detailedMetric: true,
            ...(limits[0] ? { rateLimit: limits[0] } : {}),
            additionalLimits: limits.slice(1),
          }),
        ],
      }),
    ),
  });
}

export interface Products {
  policies: AttachablePolicy[];
  rateLimits: Model["rateLimits"];
}

/**
 * Checks UsagePlans, ApiProducts and Portals, and makes each product with plans a policy on the
 * routes of its route tables (the plans' rate limits) plus its rules in the portal's domain.
 */
export function normalizeProducts(index: Index, statuses: StatusCollector): Products {
  const result: Products = { policies: [], rateLimits: [] };
  const plans = new Map<string, RateLimitPolicy[]>();
  for (const [name, plan] of index.of("UsagePlan")) {
    const limits = planPolicies(plan.spec.limits);
    if (limits.length === 0) {
      statuses.invalid(
        resourceKey(plan),
        "spec.limits: at least one of perSecond, perMinute, perDay, perMonth is required",
      );
      continue;
    }
    plans.set(name, limits);
  }
  for (const [name, product] of index.of("ApiProduct")) {
    const key = resourceKey(product);
    const spec = product.spec;
    const namespace = product.metadata.namespace;
    const problems = openApiProblems(spec.openapi);
    if (problems.length > 0) {
      for (const problem of problems) statuses.invalid(key, problem);
      continue;
    }
    if (!spec.openapi?.source.case) statuses.warn(key, "spec.openapi: no document; the portal shows no API reference");
    const routeTables = new Set<string>();
    spec.routeTables.forEach((ref, i) => {
      const table = refName(ref, namespace);
      if (!index.of("RouteTable").has(table))
        statuses.warn(key, `spec.routeTables[${i}]: RouteTable ${table} not found`);
      routeTables.add(kindKey("RouteTable", table));
    });
    if (spec.routeTables.length === 0) statuses.warn(key, "spec.routeTables: empty; no route serves the product");
    const offered: { name: string; limits: RateLimitPolicy[] }[] = [];
    const listed = new Map<string, number>();
    spec.usagePlans.forEach((ref, i) => {
      const plan = refName(ref, namespace);
      const limits = plans.get(plan);
      const first = listed.get(plan);
      // Twice in one product would be one descriptor twice: the whole portal domain refused.
      if (first !== undefined)
        statuses.warn(key, `spec.usagePlans[${i}]: UsagePlan ${plan} is already listed at spec.usagePlans[${first}]`);
      else if (limits) offered.push({ name: plan, limits });
      else if (index.of("UsagePlan").has(plan))
        statuses.warn(key, `spec.usagePlans[${i}]: UsagePlan ${plan} is invalid; not offered`);
      else statuses.warn(key, `spec.usagePlans[${i}]: UsagePlan ${plan} not found; not offered`);
      if (first === undefined) listed.set(plan, i);
    });
    if (offered.length === 0 || routeTables.size === 0) continue;
    offered.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    result.rateLimits.push({
      policy: name,
      kind: "ApiProduct",
      domain: portalDomain,
      descriptors: [productDescriptor(name, offered)],
    });
    const rateLimits = productRateLimits(name);
    result.policies.push({
      key,
      kind: "ApiProduct",
      namespace,
      targets: [],
      destinationTargets: [],
      routeTables,
      apply: (route) => {
        route.rateLimit = { domain: portalDomain, rateLimits };
      },
      conflictsWith: (route) => route.rateLimit !== undefined,
      conflictState: State.WARNING,
    });
  }
  for (const [, portal] of index.of("Portal")) normalizePortal(index, portal, statuses);
  return result;
}

function openApiProblems(source: OpenApiSource | undefined): string[] {
  const problems: string[] = [];
  const value = source?.source;
  if (value?.case === "inline" && value.value.trim() === "") problems.push("spec.openapi.inline: empty document");
  if (value?.case === "file" && value.value === "") problems.push("spec.openapi.file: empty path");
  if (value?.case === "url") {
    let url: URL | undefined;
    try {
      url = new URL(value.value.url);
    } catch {
      problems.push(`spec.openapi.url.url: "${value.value.url}" is not an absolute URL`);
    }
    if (url && url.protocol !== "http:" && url.protocol !== "https:") {
      problems.push(`spec.openapi.url.url: scheme ${url.protocol} is not http: or https:`);
    }
    const refresh = durationMs(value.value.refreshInterval);
    if (refresh !== undefined && refresh < 1_000) problems.push("spec.openapi.url.refreshInterval: at least 1s");
  }
  return problems;
}

function normalizePortal(index: Index, portal: ResourceOf<"Portal">, statuses: StatusCollector): void {
  const key = resourceKey(portal);
  const { branding, products } = portal.spec;
  for (const field of ["primaryColor", "backgroundColor"] as const) {
    const value = branding?.[field] ?? "";
    if (value !== "" && !colour.test(value))
      statuses.invalid(key, `spec.branding.${field}: "${value}" is not #rgb or #rrggbb`);
  }
  const logo = branding?.logoUrl ?? "";
  if (logo !== "" && !/^(https?:\/\/|\/)/.test(logo)) {
    statuses.invalid(key, `spec.branding.logoUrl: "${logo}" is neither an http(s) URL nor a path starting with /`);
  }
  products.forEach((published, i) => {
    const name = refName(published.product ?? { name: "", namespace: "" }, portal.metadata.namespace);
    if (!published.product?.name) statuses.invalid(key, `spec.products[${i}].product: a name is required`);
    else if (!index.of("ApiProduct").has(name))
      statuses.warn(key, `spec.products[${i}].product: ApiProduct ${name} not found`);
    if (published.visibility === Visibility.GROUPS && published.groups.length === 0) {
      statuses.invalid(key, `spec.products[${i}].groups: visibility GROUPS needs at least one group`);
    }
    if (published.visibility !== Visibility.GROUPS && published.groups.length > 0) {
      statuses.warn(key, `spec.products[${i}].groups: ignored unless visibility is GROUPS`);
    }
  });
}
