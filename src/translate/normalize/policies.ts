// Policies: each kind reduced to its targets and what it adds to a route.
import type { DestinationTarget, RouteTarget } from "../../gen/gantry/v1/common_pb.js";
import { type Kind, type Resource, refName, resourceKey } from "../../resources/index.js";
import { durationMs } from "../durations.js";
import type { Model, ModelRoutePolicies } from "../model.js";
import { State, type StatusCollector } from "../status.js";
import { headerName, type Index, nsName, validRegex } from "./common.js";
import { normalizeProducts, portalDomain } from "./products.js";

/** A policy of any kind, reduced to where it applies and what it adds to a route. */
export interface AttachablePolicy {
  key: string;
  kind: Kind;
  namespace: string;
  targets: RouteTarget[];
  destinationTargets: DestinationTarget[];
  /** When set, the policy also selects every route passing through these route tables (`RouteTable/namespace/name`). */
  routeTables?: ReadonlySet<string>;
  apply(route: ModelRoutePolicies): void;
  /** True when the route already has what this policy would set. */
  conflictsWith(route: ModelRoutePolicies): boolean;
  conflictState: State;
}

export interface Policies {
  all: AttachablePolicy[];
  used: Set<string>;
  rateLimits: Model["rateLimits"];
  authConfigIds: string[];
}

export function normalizePolicies(index: Index, statuses: StatusCollector): Policies {
  const all: AttachablePolicy[] = [];
  const result: Policies = { all, used: new Set(), rateLimits: [], authConfigIds: [] };
  const base = (
    resource: Resource & { spec: { applyToRoutes: RouteTarget[]; applyToDestinations: DestinationTarget[] } },
  ) => {
    const key = resourceKey(resource);
    const { applyToRoutes, applyToDestinations } = resource.spec;
    if (applyToRoutes.length === 0 && applyToDestinations.length === 0) {
      statuses.warn(key, "spec: applyToRoutes and applyToDestinations are empty; the policy applies nowhere");
    }
    return {
      key,
      kind: resource.kind,
      namespace: resource.metadata.namespace,
      targets: applyToRoutes,
      destinationTargets: applyToDestinations,
    };
  };
  for (const [, policy] of index.of("ExtAuthPolicy")) {
    const config = policy.spec.config;
    const key = resourceKey(policy);
    let extAuth: ModelRoutePolicies["extAuth"];
    if (config.case === "disable" && config.value) extAuth = { disabled: true };
    else if (config.case === "authConfig" && config.value.name !== "") {
      const configId = refName(config.value, policy.metadata.namespace);
      if (!index.of("AuthConfig").has(configId)) {
        statuses.warn(key, `spec.authConfig: AuthConfig ${configId} not found; the ext-auth server will not know it`);
      }
      result.authConfigIds.push(configId);
      extAuth = { configId };
    } else {
      statuses.invalid(key, "spec: one of authConfig or disable: true is required");
      continue;
    }
    const value = extAuth;
    all.push({
      ...base(policy),
      apply: (route) => {
        route.extAuth = value;
      },
      conflictsWith: (route) => route.extAuth !== undefined,
      conflictState: State.FAILED,
    });
  }
  for (const [, policy] of index.of("RateLimitPolicy")) {
    const key = resourceKey(policy);
    const domain = policy.spec.domain || "gantry";
    // The plans' domain is made by the translator alone, so no policy's descriptor can clash with a plan's.
    if (domain === portalDomain) {
      statuses.invalid(key, `spec.domain: "${portalDomain}" is reserved for the usage plans of API products`);
      continue;
    }
    if (policy.spec.rateLimits.length === 0) statuses.warn(key, "spec.rateLimits: empty; no descriptors are sent");
    const bad = policy.spec.rateLimits.findIndex((r) => r.actions.length === 0);
    if (bad >= 0) {
      statuses.invalid(key, `spec.rateLimits[${bad}].actions: at least one action is required`);
      continue;
    }
    result.rateLimits.push({ policy: nsName(policy), domain, descriptors: policy.spec.descriptors });
    const rateLimits = policy.spec.rateLimits;
    all.push({
      ...base(policy),
      apply: (route) => {
        route.rateLimit = { domain, rateLimits };
      },
      conflictsWith: (route) => route.rateLimit !== undefined,
      conflictState: State.WARNING,
    });
  }
  for (const [, policy] of index.of("RetryTimeoutPolicy")) {
    const key = resourceKey(policy);
    const retry = policy.spec.retry;
    const timeoutMs = durationMs(policy.spec.timeout);
    if (retry && retry.retryOn.length === 0) {
      statuses.invalid(key, "spec.retry.retryOn: at least one condition is required");
      continue;
    }
    const perTryTimeoutMs = durationMs(retry?.perTryTimeout);
    all.push({
      ...base(policy),
      apply: (route) => {
        if (retry) {
          route.retry = {
            retryOn: [...retry.retryOn],
            attempts: retry.attempts || 1,
            retriableStatusCodes: [...retry.retriableStatusCodes],
            ...(perTryTimeoutMs !== undefined ? { perTryTimeoutMs } : {}),
          };
        }
        if (timeoutMs !== undefined) route.timeoutMs = timeoutMs;
      },
      conflictsWith: (route) => route.retry !== undefined || route.timeoutMs !== undefined,
      conflictState: State.WARNING,
    });
  }
  for (const [, policy] of index.of("FaultInjectionPolicy")) {
    const key = resourceKey(policy);
    const { abort, delay } = policy.spec;
    const problems: string[] = [];
    if (!abort && !delay) problems.push("spec: abort or delay is required");
    if (abort) {
      if (abort.status.case === undefined) problems.push("spec.abort: httpStatus or grpcStatus is required");
      if (abort.status.case === "httpStatus" && (abort.status.value < 200 || abort.status.value > 599)) {
        problems.push("spec.abort.httpStatus: must be 200..599");
      }
      if (abort.status.case === "grpcStatus" && abort.status.value > 16)
        problems.push("spec.abort.grpcStatus: must be 0..16");
      if (abort.percentage < 0 || abort.percentage > 100) problems.push("spec.abort.percentage: must be 0..100");
    }
    if (delay) {
      if (!delay.fixedDelay) problems.push("spec.delay.fixedDelay: required");
      if (delay.percentage < 0 || delay.percentage > 100) problems.push("spec.delay.percentage: must be 0..100");
    }
    if (problems.length > 0) {
      for (const p of problems) statuses.invalid(key, p);
      continue;
    }
    const fault: ModelRoutePolicies["fault"] = {
      ...(abort
        ? {
            abort: {
              percentage: abort.percentage,
              ...(abort.status.case === "httpStatus" ? { httpStatus: abort.status.value } : {}),
              ...(abort.status.case === "grpcStatus" ? { grpcStatus: abort.status.value } : {}),
            },
          }
        : {}),
      ...(delay ? { delay: { fixedDelayMs: durationMs(delay.fixedDelay) ?? 0, percentage: delay.percentage } } : {}),
    };
    all.push({
      ...base(policy),
      apply: (route) => {
        route.fault = fault;
      },
      conflictsWith: (route) => route.fault !== undefined,
      conflictState: State.WARNING,
    });
  }
  for (const [, policy] of index.of("CORSPolicy")) {
    const key = resourceKey(policy);
    const spec = policy.spec;
    const badRegex = spec.allowOriginRegexes.map((r, i) => [i, validRegex(r)] as const).find(([, e]) => e);
    if (badRegex) {
      statuses.invalid(key, `spec.allowOriginRegexes[${badRegex[0]}]: invalid regex: ${badRegex[1]}`);
      continue;
    }
    if (spec.allowOrigins.length === 0 && spec.allowOriginRegexes.length === 0) {
      statuses.warn(key, "spec: no allowOrigins; no cross-origin request is allowed");
    }
    const maxAgeMs = durationMs(spec.maxAge);
    const cors: ModelRoutePolicies["cors"] = {
      allowOrigins: [...spec.allowOrigins],
      allowOriginRegexes: [...spec.allowOriginRegexes],
      allowMethods: [...spec.allowMethods],
      allowHeaders: [...spec.allowHeaders],
      exposeHeaders: [...spec.exposeHeaders],
      allowCredentials: spec.allowCredentials,
      ...(maxAgeMs !== undefined ? { maxAgeSeconds: Math.floor(maxAgeMs / 1000) } : {}),
    };
    all.push({
      ...base(policy),
      apply: (route) => {
        route.cors = cors;
      },
      conflictsWith: (route) => route.cors !== undefined,
      conflictState: State.WARNING,
    });
  }
  for (const [, policy] of index.of("HeaderPolicy")) {
    const key = resourceKey(policy);
    const spec = policy.spec;
    const names = [
      ...spec.requestHeadersToAdd.map((h, i) => [`spec.requestHeadersToAdd[${i}].name`, h.name] as const),
      ...spec.responseHeadersToAdd.map((h, i) => [`spec.responseHeadersToAdd[${i}].name`, h.name] as const),
      ...spec.requestHeadersToRemove.map((h, i) => [`spec.requestHeadersToRemove[${i}]`, h] as const),
      ...spec.responseHeadersToRemove.map((h, i) => [`spec.responseHeadersToRemove[${i}]`, h] as const),
    ];
    const bad = names.filter(([, name]) => !headerName.test(name));
    if (bad.length > 0) {
      for (const [field, name] of bad)
        statuses.invalid(key, `${field}: "${name}" is not a valid lowercase header name`);
      continue;
    }
    const copy = (h: { name: string; value: string; append: boolean }) => ({
      name: h.name,
      value: h.value,
      append: h.append,
    });
    all.push({
      ...base(policy),
      // Header policies add up: each one's headers are appended in policy order.
      apply: (route) => {
        const headers = route.headers ?? { requestAdd: [], requestRemove: [], responseAdd: [], responseRemove: [] };
        // Appended one by one: a long list spread into push() overflows the call stack.
        for (const h of spec.requestHeadersToAdd) headers.requestAdd.push(copy(h));
        for (const name of spec.requestHeadersToRemove) headers.requestRemove.push(name);
        for (const h of spec.responseHeadersToAdd) headers.responseAdd.push(copy(h));
        for (const name of spec.responseHeadersToRemove) headers.responseRemove.push(name);
        route.headers = headers;
      },
      conflictsWith: () => false,
      conflictState: State.WARNING,
    });
  }
  const products = normalizeProducts(index, statuses);
  for (const policy of products.policies) all.push(policy);
  for (const domain of products.rateLimits) result.rateLimits.push(domain);
  all.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return result;
}
