import {
  RateLimitAlgorithm,
  type RateLimitConfig,
  type RateLimitPolicy,
  type RateLimitUnit,
} from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { unitSeconds } from "../ratelimit-config/index.js";
import type { FixedWindowKeyFormat } from "./algorithms.js";
import {
  exactNode,
  keyOnlyNode,
  type LimitRule,
  nodeValue,
  type PackedTree,
  packTree,
  type TreeNode,
  treeNode,
  wildcardNode,
} from "./rule-tree.js";

export type { LimitRule } from "./rule-tree.js";

/** A limit that applies to one request descriptor, with the counter it counts on. */
export interface AppliedLimit {
  readonly rule: LimitRule;
  /**
   * The counter's identity built from the request's own entries (so `foo*` counts foo1 and foo2 apart,
   * unless the wildcard has `share_threshold`), spelled `domain_key_value_…_` as envoyproxy/ratelimit does.
   */
  readonly counterKey: string;
  readonly keyFormat: FixedWindowKeyFormat;
  readonly statsName: string;
}

/** What the config says about one request descriptor. */
export type DescriptorMatch =
  | { readonly kind: "none" }
  /** `replaces` of an unlimited limit still drop the limits it names, as in envoyproxy/ratelimit. */
  | { readonly kind: "unlimited"; readonly replaces: readonly string[] }
  | { readonly kind: "limited"; readonly limits: readonly AppliedLimit[] };

export interface DescriptorEntry {
  readonly key: string;
  readonly value: string;
}

interface SetRule {
  readonly index: number;
  readonly entries: readonly DescriptorEntry[];
  readonly alwaysApply: boolean;
  readonly limits: readonly LimitRule[];
}

/** One domain's rules, compiled for matching. */
export interface DomainRules {
  readonly domain: string;
  readonly tree: PackedTree;
  readonly sets: readonly SetRule[];
}

/** A compiled set of configs, one per domain. Immutable: a reload builds a new one and swaps it in. */
export interface RuleBook {
  readonly domains: ReadonlyMap<string, DomainRules>;
  /** How the keys of the limits envoyproxy/ratelimit also has (a descriptor's `rate_limit`, overrides) are spelled. */
  readonly keyFormat: FixedWindowKeyFormat;
}

function limitRules(
  first: RateLimitPolicy | undefined,
  additional: readonly RateLimitPolicy[],
  statsName: string,
  shadowMode: boolean,
  quotaMode: boolean,
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
    quotaMode,
  }));
}

/**
 * Compiles validated configs (see configProblems) into a RuleBook. `keyFormat` spells the keys of the
 * fixed-window limits envoyproxy/ratelimit also has; Gantry's additional limits and set rules always use
 * Gantry's format, since two of them may share a window start.
 */
export function compileRules(
  configs: readonly RateLimitConfig[],
  keyFormat: FixedWindowKeyFormat = "envoyproxy",
): RuleBook {
  const domains = new Map<string, DomainRules>();
  for (const config of configs) {
    domains.set(config.domain, {
      domain: config.domain,
      tree: packTree(config.domain, config.descriptors),
      sets: config.setDescriptors.map((rule, index) => ({
        index,
        entries: rule.entries.map((e) => ({ key: e.key, value: e.value })),
        alwaysApply: rule.alwaysApply,
        limits: limitRules(
          rule.rateLimit,
          rule.additionalLimits,
          `${config.domain}.set_${index}`,
          rule.shadowMode,
          false,
        ),
      })),
    });
  }
  return { domains, keyFormat };
}

function pairs(entries: readonly DescriptorEntry[]): string {
  let out = "";
  for (const e of entries) out += `${e.key}_${e.value}_`;
  return out;
}

/** The statistics name that spells out the request's own values (detailed_metric, overrides). */
function detailedName(domain: string, entries: readonly DescriptorEntry[]): string {
  return `${domain}.${entries.map((e) => (e.value === "" ? e.key : `${e.key}_${e.value}`)).join(".")}`;
}

/** The node a request descriptor reaches, with the values it counts and is reported by. */
interface TreeMatch {
  readonly node: TreeNode;
  /** Per entry: the request's value, or the wildcard value when the wildcard has `share_threshold`. */
  readonly countedValues: readonly string[];
  /** The statistics name with `value_to_metric` and `share_threshold` applied, as envoyproxy names it. */
  readonly statsName: string;
}

/**
 * Walks the tree: at each level exact key+value, then the first wildcard in config order, then the
 * key alone. The node found at the request's last entry is the match (depth must match).
 */
function matchTree(rules: DomainRules, entries: readonly DescriptorEntry[]): TreeMatch | undefined {
  const { tree } = rules;
  let level = 0;
  let node: TreeNode | undefined;
  const countedValues: string[] = [];
  let statsName = rules.domain;
  for (const entry of entries) {
    if (level < 0) return undefined;
    let shown: string;
    let here: TreeNode;
    let shared = false;
    const exact = exactNode(tree, level, entry.key, entry.value);
    const wildcard = exact >= 0 ? -1 : wildcardNode(tree, level, entry.key, entry.value);
    if (exact >= 0) {
      here = treeNode(tree, exact);
      shown = entry.value;
    } else if (wildcard >= 0) {
      here = treeNode(tree, wildcard);
      shown = here.sharedValue ?? (here.valueToMetric ? entry.value : nodeValue(tree, wildcard));
      shared = here.sharedValue !== undefined;
    } else {
      const keyOnly = keyOnlyNode(tree, level, entry.key);
      if (keyOnly < 0) return undefined;
      here = treeNode(tree, keyOnly);
      shown = here.valueToMetric ? entry.value : "";
    }
    countedValues.push(shared ? (here.sharedValue as string) : entry.value);
    statsName += `.${shown === "" ? entry.key : `${entry.key}_${shown}`}`;
    node = here;
    level = here.children;
  }
  return node ? { node, countedValues, statsName } : undefined;
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

/** Finds the limits that apply to one request descriptor. An unknown domain has none, override or not. */
export function matchDescriptor(
  book: RuleBook,
  domain: string,
  entries: readonly DescriptorEntry[],
  override?: LimitOverride,
): DescriptorMatch {
  const rules = book.domains.get(domain);
  if (!rules) return { kind: "none" };
  const match = matchTree(rules, entries);
  if (override) {
    const rule: LimitRule = {
      statsName: match?.statsName ?? detailedName(domain, entries),
      name: "",
      replaces: [],
      unit: override.unit,
      windowSeconds: unitSeconds(override.unit),
      requestsPerUnit: override.requestsPerUnit,
      algorithm: RateLimitAlgorithm.FIXED_WINDOW,
      shadowMode: false,
      quotaMode: false,
    };
    const counterKey = `${domain}_${pairs(entries)}`;
    return {
      kind: "limited",
      limits: [{ rule, counterKey, keyFormat: book.keyFormat, statsName: rule.statsName }],
    };
  }
  const limits: AppliedLimit[] = [];
  if (match) {
    const { node } = match;
    const counted = entries.map((e, i) => ({ key: e.key, value: match.countedValues[i] ?? e.value }));
    const counterKey = `${domain}_${pairs(counted)}`;
    const shown = node.detailedMetric ? detailedName(domain, counted) : match.statsName;
    node.limits.forEach((rule, i) => {
      const statsName = rule.statsName.replace(node.statsName, shown);
      // Only a descriptor's first limit is one envoyproxy/ratelimit also counts.
      const keyFormat = i === 0 && rule.algorithm === RateLimitAlgorithm.FIXED_WINDOW ? book.keyFormat : "gantry";
      limits.push({ rule, counterKey, keyFormat, statsName });
    });
  }
  if (rules.sets.length > 0) {
    let firstTaken = false;
    for (const set of rules.sets) {
      if (firstTaken && !set.alwaysApply) continue;
      const found = matchSet(set, entries);
      if (!found) continue;
      if (!set.alwaysApply) firstTaken = true;
      const counterKey = `${domain}_set${set.index}_${pairs(found)}`;
      for (const rule of set.limits) limits.push({ rule, counterKey, keyFormat: "gantry", statsName: rule.statsName });
    }
  }
  if (limits.length > 0) return { kind: "limited", limits };
  const replaces = match?.node.unlimitedReplaces;
  return replaces ? { kind: "unlimited", replaces } : { kind: "none" };
}
