// The rate-limit servers' output: one RateLimitConfig per domain.
import { create } from "@bufbuild/protobuf";
import { type XdsResource as EnvoyResource, encodeResource } from "../../envoy/index.js";
import {
  RateLimitConfigSchema,
  type RateLimitDescriptor,
} from "../../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { type ConfigProblem, configProblems } from "../../ratelimit-config/index.js";
import { kindKey } from "../../resources/index.js";
import type { Model } from "../model.js";
import { State, type StatusCollector } from "../status.js";

/** A domain left out because a rate-limit server would refuse its merged config. */
export interface RefusedDomain {
  domain: string;
  problems: ConfigProblem[];
}

/**
 * One RateLimitConfig per domain (what rate-limit servers expect), merging the descriptors of every
 * RateLimitPolicy of that domain in policy-name order. A domain whose merged config a rate-limit
 * server would refuse is left out: its policies get FAILED (the Translator publishes its last good config).
 */
export function processRateLimitConfigs(
  model: Model,
  statuses: StatusCollector,
): { configs: EnvoyResource[]; refused: RefusedDomain[] } {
  const byDomain = new Map<string, { policies: string[]; descriptors: RateLimitDescriptor[] }>();
  // Keys, not names: a domain's descriptors may come from RateLimitPolicies and ApiProducts alike.
  for (const d of [...model.rateLimits].sort((a, b) => (a.policy < b.policy ? -1 : a.policy > b.policy ? 1 : 0))) {
    const entry = byDomain.get(d.domain) ?? { policies: [], descriptors: [] };
    entry.policies.push(kindKey(d.kind ?? "RateLimitPolicy", d.policy));
    // One by one: spreading a long list into push() overflows the call stack.
    for (const descriptor of d.descriptors) entry.descriptors.push(descriptor);
    byDomain.set(d.domain, entry);
  }
  const configs: EnvoyResource[] = [];
  const refused: RefusedDomain[] = [];
  for (const [domain, entry] of [...byDomain].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const config = create(RateLimitConfigSchema, { name: domain, domain, descriptors: entry.descriptors });
    const problems = configProblems(config);
    if (problems.length > 0) {
      const message = `rate-limit domain "${domain}" cannot be served: ${problems.map((p) => `${p.path}: ${p.problem}`).join("; ")}`;
      for (const policy of entry.policies) statuses.report(policy, State.FAILED, message);
      refused.push({ domain, problems });
      continue;
    }
    configs.push(encodeResource(RateLimitConfigSchema, config, domain));
  }
  return { configs, refused };
}
