import {
  RateLimitAlgorithm,
  type RateLimitConfig,
  type RateLimitDescriptor,
  type RateLimitPolicy,
  RateLimitUnit,
} from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { isKnownUnit, unitSeconds } from "./units.js";

/** One problem in one config: where (a field path such as `descriptors[0].rate_limit.unit`) and what. */
export interface ConfigProblem {
  path: string;
  problem: string;
}

/** Token-bucket state is kept in integer token-milliseconds; beyond this Lua's doubles lose exactness. */
const maxExactInteger = 2 ** 53;

function checkPolicy(policy: RateLimitPolicy, path: string, problems: ConfigProblem[], extra: boolean): void {
  if (policy.unlimited) {
    if (policy.unit !== RateLimitUnit.UNKNOWN)
      problems.push({ path: `${path}.unit`, problem: "`unlimited` cannot be combined with a unit" });
    if (extra) problems.push({ path: `${path}.unlimited`, problem: "an additional limit cannot be unlimited" });
  } else if (policy.unit === RateLimitUnit.UNKNOWN) {
    problems.push({ path: `${path}.unit`, problem: "missing: a limit needs a unit (or `unlimited: true`)" });
  } else if (!isKnownUnit(policy.unit)) {
    problems.push({ path: `${path}.unit`, problem: `unknown unit ${policy.unit}` });
  } else if (
    policy.algorithm === RateLimitAlgorithm.TOKEN_BUCKET &&
    policy.requestsPerUnit * unitSeconds(policy.unit) * 1000 > maxExactInteger
  ) {
    problems.push({
      path: `${path}.requests_per_unit`,
      problem: "too large for a token bucket over this unit (requests_per_unit × unit in ms must stay below 2^53)",
    });
  }
  if (!(policy.algorithm in RateLimitAlgorithm))
    problems.push({ path: `${path}.algorithm`, problem: `unknown algorithm ${policy.algorithm}` });
  policy.replaces.forEach((replace, i) => {
    if (replace.name === "") problems.push({ path: `${path}.replaces[${i}].name`, problem: "empty" });
    else if (replace.name === policy.name)
      problems.push({ path: `${path}.replaces[${i}].name`, problem: `"${replace.name}" names this limit itself` });
  });
}

function checkLimits(
  rateLimit: RateLimitPolicy | undefined,
  additional: readonly RateLimitPolicy[],
  path: string,
  problems: ConfigProblem[],
): void {
  if (rateLimit) checkPolicy(rateLimit, `${path}rate_limit`, problems, false);
  else if (additional.length > 0)
    problems.push({ path: `${path}additional_limits`, problem: "needs `rate_limit` as the first limit" });
  if (rateLimit?.unlimited && additional.length > 0)
    problems.push({ path: `${path}additional_limits`, problem: "an unlimited descriptor cannot have more limits" });
  additional.forEach((policy, i) => {
    checkPolicy(policy, `${path}additional_limits[${i}]`, problems, true);
  });
  // Limits of one descriptor with the same unit and algorithm would count on the same counter.
  const seen = new Map<string, string>();
  [rateLimit, ...additional].forEach((policy, i) => {
    if (!policy || policy.unlimited) return;
    const where = i === 0 ? `${path}rate_limit` : `${path}additional_limits[${i - 1}]`;
    const identity = `${policy.unit}/${policy.algorithm}`;
    const first = seen.get(identity);
    if (first === undefined) seen.set(identity, where);
    else problems.push({ path: where, problem: `same unit and algorithm as ${first}; merge them into one limit` });
  });
}

function checkDescriptors(descriptors: readonly RateLimitDescriptor[], path: string, problems: ConfigProblem[]): void {
  const seen = new Map<string, number>();
  descriptors.forEach((descriptor, i) => {
    const here = `${path}descriptors[${i}]`;
    if (descriptor.key === "") problems.push({ path: `${here}.key`, problem: "empty" });
    const identity = `${descriptor.key}\u0000${descriptor.value}`;
    const first = seen.get(identity);
    if (first === undefined) seen.set(identity, i);
    else
      problems.push({
        path: here,
        problem: `duplicate descriptor key "${descriptor.key}"${descriptor.value === "" ? "" : ` value "${descriptor.value}"`} (first at ${path}descriptors[${first}])`,
      });
    if (descriptor.shareThreshold && !descriptor.value.endsWith("*"))
      problems.push({
        path: `${here}.share_threshold`,
        problem: "needs a wildcard value (one ending in `*`)",
      });
    checkLimits(descriptor.rateLimit, descriptor.additionalLimits, `${here}.`, problems);
    checkDescriptors(descriptor.descriptors, `${here}.`, problems);
  });
}

/** Everything wrong with one domain's config, as field paths and problems (empty when it is usable). */
export function configProblems(config: RateLimitConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (config.domain === "") problems.push({ path: "domain", problem: "empty" });
  checkDescriptors(config.descriptors, "", problems);
  config.setDescriptors.forEach((rule, i) => {
    const here = `set_descriptors[${i}]`;
    if (rule.entries.length === 0) problems.push({ path: `${here}.entries`, problem: "a set rule needs entries" });
    rule.entries.forEach((entry, j) => {
      if (entry.key === "") problems.push({ path: `${here}.entries[${j}].key`, problem: "empty" });
    });
    if (!rule.rateLimit) problems.push({ path: `${here}.rate_limit`, problem: "missing" });
    checkLimits(rule.rateLimit, rule.additionalLimits, `${here}.`, problems);
  });
  return problems;
}
