import {
  RateLimitAlgorithm,
  type RateLimitConfig,
  type RateLimitDescriptor,
  type RateLimitPolicy,
  type RateLimitUnit,
} from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { unitSeconds } from "../ratelimit-config/index.js";

/** One limit as configured: how many hits per window, counted how, and what it replaces. */
export interface LimitRule {
  /** The per-rule metric label: the config path, e.g. `domain.key1_value1.subkey1`. */
  readonly statsName: string;
  /** The limit's `name`, which other limits' `replaces` refer to ("" when unnamed). */
  readonly name: string;
  readonly replaces: readonly string[];
  readonly unit: RateLimitUnit;
  readonly windowSeconds: number;
  readonly requestsPerUnit: number;
  readonly algorithm: RateLimitAlgorithm;
  readonly shadowMode: boolean;
}

/** A limit that applies to one request descriptor, with the counter it counts on. */
export interface AppliedLimit {
  readonly rule: LimitRule;
  /** The counter's identity built from the request's own entries (so `foo*` counts foo1 and foo2 apart). */
  readonly counterKey: string;
  readonly statsName: string;
}

/** What the config says about one request descriptor. */
export type DescriptorMatch =
  | { readonly kind: "none" }
  | { readonly kind: "unlimited" }
  | { readonly kind: "limited"; readonly limits: readonly AppliedLimit[] };

export interface DescriptorEntry {
  readonly key: string;
  readonly value: string;
}

interface TreeNode {
  readonly statsName: string;
  readonly detailedMetric: boolean;
  readonly unlimited: boolean;
  readonly limits: readonly LimitRule[];
  readonly children: Level;
}

interface KeyChoices {
  readonly exact: Map<string, TreeNode>;
  /** In config order: the first that matches wins. */
  readonly wildcards: Array<{ readonly pattern: RegExp; readonly node: TreeNode }>;
  keyOnly?: TreeNode;
}

type Level = Map<string, KeyChoices>;

interface SetRule {
  readonly index: number;
  readonly entries: readonly DescriptorEntry[];
  readonly alwaysApply: boolean;
  readonly limits: readonly LimitRule[];
}

/** One domain's rules, compiled for matching. */
export interface DomainRules {
  readonly domain: string;
  readonly root: Level;
  readonly sets: readonly SetRule[];
}

/** A compiled set of configs, one per domain. Immutable: a reload builds a new one and swaps it in. */
export interface RuleBook {
  readonly domains: ReadonlyMap<string, DomainRules>;
}

function wildcardPattern(value: string): RegExp {
  const parts = value.split("*").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(`^${parts.join(".*")}$`, "s");
}

function limitRules(
  first: RateLimitPolicy | undefined,
  additional: readonly RateLimitPolicy[],
  statsName: string,
  shadowMode: boolean,
): LimitRule[] {
  if (!first || first.unlimited) return [];
  return [first, ...additional].map((policy, i) => ({
    statsName: i === 0 ? statsName : `${statsName}/limit${i}`,
    name: policy.name,
    replaces: policy.replaces.map((r) => r.name),
    unit: policy.unit,
    windowSeconds: unitSeconds(policy.unit),
    requestsPerUnit: policy.requestsPerUnit,
    algorithm: policy.algorithm,
    shadowMode,
  }));
}

function compileLevel(descriptors: readonly RateLimitDescriptor[], parentName: string): Level {
  const level: Level = new Map();
  for (const d of descriptors) {
    const statsName = `${parentName}.${d.value === "" ? d.key : `${d.key}_${d.value}`}`;
    const node: TreeNode = {
      statsName,
      detailedMetric: d.detailedMetric,
      unlimited: d.rateLimit?.unlimited ?? false,
      limits: limitRules(d.rateLimit, d.additionalLimits, statsName, d.shadowMode),
      children: compileLevel(d.descriptors, statsName),
    };
    let choices = level.get(d.key);
    if (!choices) {
      choices = { exact: new Map(), wildcards: [] };
      level.set(d.key, choices);
    }
    if (d.value === "") choices.keyOnly = node;
    else if (d.value.includes("*")) choices.wildcards.push({ pattern: wildcardPattern(d.value), node });
    else choices.exact.set(d.value, node);
  }
  return level;
}

/** Compiles validated configs (see configProblems) into a RuleBook. */
export function compileRules(configs: readonly RateLimitConfig[]): RuleBook {
  const domains = new Map<string, DomainRules>();
  for (const config of configs) {
    domains.set(config.domain, {
      domain: config.domain,
      root: compileLevel(config.descriptors, config.domain),
      sets: config.setDescriptors.map((rule, index) => ({
        index,
        entries: rule.entries.map((e) => ({ key: e.key, value: e.value })),
        alwaysApply: rule.alwaysApply,
        limits: limitRules(rule.rateLimit, rule.additionalLimits, `${config.domain}.set_${index}`, rule.shadowMode),
      })),
    });
  }
  return { domains };
}

function pairs(entries: readonly DescriptorEntry[]): string {
  let out = "";
  for (const e of entries) out += `${e.key}_${e.value}_`;
  return out;
}

/** The statistics name that spells out the request's own values (detailed_metric, overrides). */
function detailedName(domain: string, entries: readonly DescriptorEntry[]): string {
  return `${domain}.${entries.map((e) => `${e.key}_${e.value}`).join(".")}`;
}

/**
 * Walks the tree: at each level exact key+value, then the first wildcard in config order, then the
 * key alone. The node found at the request's last entry is the match (depth must match).
 */
function matchTree(rules: DomainRules, entries: readonly DescriptorEntry[]): TreeNode | undefined {
  let level = rules.root;
  let node: TreeNode | undefined;
  for (const entry of entries) {
    const choices = level.get(entry.key);
    if (!choices) return undefined;
    node =
      choices.exact.get(entry.value) ??
      choices.wildcards.find((w) => w.pattern.test(entry.value))?.node ??
      choices.keyOnly;
    if (!node) return undefined;
    level = node.children;
  }
  return node;
}

/** The request's entries a set rule needs, in the rule's order; undefined when one is missing. */
function matchSet(rule: SetRule, entries: readonly DescriptorEntry[]): DescriptorEntry[] | undefined {
  const found: DescriptorEntry[] = [];
  for (const wanted of rule.entries) {
    const entry = entries.find((e) => e.key === wanted.key && (wanted.value === "" || e.value === wanted.value));
    if (!entry) return undefined;
    found.push(entry);
  }
  return found;
}

/** A request's `limit` override, as envoyproxy/ratelimit applies it: fixed window, counted like the descriptor. */
export interface LimitOverride {
  readonly requestsPerUnit: number;
  readonly unit: RateLimitUnit;
}

/** Finds the limits that apply to one request descriptor. */
export function matchDescriptor(
  rules: DomainRules | undefined,
  domain: string,
  entries: readonly DescriptorEntry[],
  override?: LimitOverride,
): DescriptorMatch {
  const node = rules ? matchTree(rules, entries) : undefined;
  const treeKey = `${domain}_${pairs(entries)}`;
  if (override) {
    const rule: LimitRule = {
      statsName: node?.statsName ?? detailedName(domain, entries),
      name: "",
      replaces: [],
      unit: override.unit,
      windowSeconds: unitSeconds(override.unit),
      requestsPerUnit: override.requestsPerUnit,
      algorithm: RateLimitAlgorithm.FIXED_WINDOW,
      shadowMode: false,
    };
    return { kind: "limited", limits: [{ rule, counterKey: treeKey, statsName: rule.statsName }] };
  }
  const limits: AppliedLimit[] = [];
  if (node)
    for (const rule of node.limits) {
      const statsName = node.detailedMetric
        ? rule.statsName.replace(node.statsName, detailedName(domain, entries))
        : rule.statsName;
      limits.push({ rule, counterKey: treeKey, statsName });
    }
  if (rules && rules.sets.length > 0) {
    let firstTaken = false;
    for (const set of rules.sets) {
      if (firstTaken && !set.alwaysApply) continue;
      const found = matchSet(set, entries);
      if (!found) continue;
      if (!set.alwaysApply) firstTaken = true;
      const counterKey = `${domain}_set${set.index}_${pairs(found)}`;
      for (const rule of set.limits) limits.push({ rule, counterKey, statsName: rule.statsName });
    }
  }
  if (limits.length > 0) return { kind: "limited", limits };
  return node?.unlimited ? { kind: "unlimited" } : { kind: "none" };
}
