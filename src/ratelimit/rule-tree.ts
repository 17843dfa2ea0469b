// A domain's descriptor tree packed into flat typed arrays (built in the config worker thread) and
// its lookups. Just over 400 lines on purpose: the layout constants, the packer and the readers must
// agree field for field, so they stay in one file.
import type {
  RateLimitAlgorithm,
  RateLimitDescriptor,
  RateLimitUnit,
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
  /** Over the limit is reported in the status, but the descriptor's code stays OK (envoyproxy's quota_mode). */
  readonly quotaMode: boolean;
}

/** One descriptor of the config, as matching needs it. */
export interface TreeNode {
  readonly statsName: string;
  readonly detailedMetric: boolean;
  readonly valueToMetric: boolean;
  /** The wildcard value (`files*`) every matching value counts as, with `share_threshold`. */
  readonly sharedValue: string | undefined;
  /** Set when the descriptor's limit is `unlimited`: what that limit replaces. */
  readonly unlimitedReplaces: readonly string[] | undefined;
  readonly limits: readonly LimitRule[];
  /** The level of its child descriptors, or -1 for a leaf. */
  readonly children: number;
}

/**
 * One domain's descriptor tree packed into one string and a few typed arrays. Built in the config
 * worker thread, it crosses to the event loop as a handful of values, and the garbage collector
 * there sees a handful of objects instead of one per descriptor, limit and name: a 20,000-descriptor
 * tree built from objects held the event loop for 70–250 ms in old-generation collections (issue #17).
 * Nodes are decoded on first match and kept (decodedNodes), so a hot descriptor costs one lookup.
 *
 * Levels are numbered from 0 (the domain's top descriptors); each node with children opens one.
 */
export interface PackedTree {
  /** Every distinct string, one after the other. */
  readonly text: string;
  /** String id i spans text[strings[2i], strings[2i+1]). */
  readonly strings: Int32Array;
  /** nodeFields numbers per node. */
  readonly nodes: Int32Array;
  /** limitFields numbers per limit (requests_per_unit is a uint32: a Float64Array holds it exactly). */
  readonly limits: Float64Array;
  /** choiceFields numbers per (level, key): its key-only node and its wildcard nodes. */
  readonly choices: Int32Array;
  /** Lists the other arrays point into: string ids (replaces) and node ids (wildcards, in config order). */
  readonly lists: Int32Array;
  /** Open addressing, node id + 1 per slot (0: empty), by hash of (level, key, value). */
  readonly exactIndex: Int32Array;
  /** Open addressing, choice id + 1 per slot, by hash of (level, key). */
  readonly choiceIndex: Int32Array;
}

/** Per tree, its nodes decoded so far: made on the thread that matches, never sent across. */
const decodedNodes = new WeakMap<PackedTree, Array<TreeNode | undefined>>();

// Node fields.
const N_LEVEL = 0;
const N_KEY = 1;
const N_VALUE = 2;
const N_STATS = 3;
const N_FLAGS = 4;
const N_LIMITS = 5;
const N_LIMIT_COUNT = 6;
const N_REPLACES = 7;
const N_REPLACE_COUNT = 8;
const N_CHILDREN = 9;
const nodeFields = 10;
const F_DETAILED = 1;
const F_VALUE_TO_METRIC = 2;
const F_SHARED = 4;
const F_UNLIMITED = 8;

// Limit fields.
const L_STATS = 0;
const L_NAME = 1;
const L_REPLACES = 2;
const L_REPLACE_COUNT = 3;
const L_UNIT = 4;
const L_REQUESTS = 5;
const L_ALGORITHM = 6;
const L_SHADOW = 7;
const L_QUOTA = 8;
const limitFields = 9;

// Choice fields.
const C_LEVEL = 0;
const C_KEY = 1;
const C_KEY_ONLY = 2;
const C_WILDCARDS = 3;
const C_WILDCARD_COUNT = 4;
const choiceFields = 5;

/** FNV-1a over a level and up to two strings (a 0xffff separator between them, not a valid UTF-16 unit alone). */
function hash(level: number, key: string, value: string | undefined): number {
  let h = Math.imul(0x811c9dc5 ^ level, 0x01000193);
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  if (value !== undefined) {
    h = Math.imul(h ^ 0xffff, 0x01000193);
    for (let i = 0; i < value.length; i++) h = Math.imul(h ^ value.charCodeAt(i), 0x01000193);
  }
  return h >>> 0;
}

/** Only a trailing `*` is a wildcard (envoyproxy/ratelimit's rule); a `*` anywhere else is a literal character. */
function isWildcard(value: string): boolean {
  return value.endsWith("*");
}

/** A table of at least twice `count` slots, a power of two. */
function tableFor(count: number): Int32Array {
  let size = 16;
  while (size < count * 2) size *= 2;
  return new Int32Array(size);
}

class TreeBuilder {
  readonly #ids = new Map<string, number>();
  readonly #text: string[] = [];
  readonly #strings: number[] = [];
  #length = 0;
  readonly nodes: number[] = [];
  readonly limits: number[] = [];
  readonly lists: number[] = [];
  /** Per (level, key): key-only node, wildcard nodes, and the exact nodes by value. */
  readonly choices = new Map<string, { level: number; key: number; keyOnly: number; wildcards: number[] }>();
  readonly exact: Array<{ level: number; key: string; value: string; node: number }> = [];

  string(s: string): number {
    let id = this.#ids.get(s);
    if (id === undefined) {
      id = this.#strings.length / 2;
      this.#ids.set(s, id);
      this.#text.push(s);
      this.#strings.push(this.#length, this.#length + s.length);
      this.#length += s.length;
    }
    return id;
  }

  list(ids: readonly number[]): number {
    const start = this.lists.length;
    for (const id of ids) this.lists.push(id);
    return start;
  }

  get text(): string {
    return this.#text.join("");
  }

  get strings(): Int32Array {
    return Int32Array.from(this.#strings);
  }
}

function addLimits(b: TreeBuilder, d: RateLimitDescriptor, statsName: string): { start: number; count: number } {
  const first = d.rateLimit;
  const start = b.limits.length / limitFields;
  if (!first || first.unlimited) return { start, count: 0 };
  const policies = [first];
  for (const extra of d.additionalLimits) policies.push(extra);
  policies.forEach((policy, i) => {
    const replaces = policy.replaces.map((r) => b.string(r.name));
    b.limits.push(
      b.string(i === 0 ? statsName : `${statsName}/limit${i}`),
      b.string(policy.name),
      b.list(replaces),
      replaces.length,
      policy.unit,
      policy.requestsPerUnit,
      policy.algorithm,
      d.shadowMode ? 1 : 0,
      d.quotaMode ? 1 : 0,
    );
  });
  return { start, count: policies.length };
}

/** Packs a domain's descriptors. Walks with an explicit queue: no depth of nesting overflows the stack. */
export function packTree(domain: string, descriptors: readonly RateLimitDescriptor[]): PackedTree {
  const b = new TreeBuilder();
  const queue: Array<{ level: number; parentName: string; descriptors: readonly RateLimitDescriptor[] }> = [
    { level: 0, parentName: domain, descriptors },
  ];
  let levels = 1;
  for (let q = 0; q < queue.length; q++) {
    const { level, parentName, descriptors: here } = queue[q] as (typeof queue)[number];
    for (const d of here) {
      const node = b.nodes.length / nodeFields;
      const statsName = `${parentName}.${d.value === "" ? d.key : `${d.key}_${d.value}`}`;
      const limits = addLimits(b, d, statsName);
      const unlimited = d.rateLimit?.unlimited === true;
      const replaces = unlimited ? (d.rateLimit?.replaces ?? []).map((r) => b.string(r.name)) : [];
      let children = -1;
      if (d.descriptors.length > 0) {
        children = levels++;
        queue.push({ level: children, parentName: statsName, descriptors: d.descriptors });
      }
      const flags =
        (d.detailedMetric ? F_DETAILED : 0) |
        (d.valueToMetric ? F_VALUE_TO_METRIC : 0) |
        (d.shareThreshold && isWildcard(d.value) ? F_SHARED : 0) |
        (unlimited ? F_UNLIMITED : 0);
      b.nodes.push(
        level,
        b.string(d.key),
        b.string(d.value),
        b.string(statsName),
        flags,
        limits.start,
        limits.count,
        b.list(replaces),
        replaces.length,
        children,
      );
      const choiceKey = `${level}\u0000${d.key}`;
      let choice = b.choices.get(choiceKey);
      if (!choice) {
        choice = { level, key: b.string(d.key), keyOnly: -1, wildcards: [] };
        b.choices.set(choiceKey, choice);
      }
      if (d.value === "") choice.keyOnly = node;
      else if (isWildcard(d.value)) choice.wildcards.push(node);
      else b.exact.push({ level, key: d.key, value: d.value, node });
    }
  }
  const exactIndex = tableFor(b.exact.length);
  for (const { level, key, value, node } of b.exact) {
    // Checked configs have no duplicate; were there one, the later would win, as a Map's set does.
    const nodes = b.nodes;
    let slot = hash(level, key, value) & (exactIndex.length - 1);
    for (;;) {
      const taken = exactIndex[slot] as number;
      if (taken === 0) break;
      const other = (taken - 1) * nodeFields;
      if (
        nodes[other + N_LEVEL] === level &&
        nodes[other + N_KEY] === b.string(key) &&
        nodes[other + N_VALUE] === b.string(value)
      )
        break;
      slot = (slot + 1) & (exactIndex.length - 1);
    }
    exactIndex[slot] = node + 1;
  }
  const choices: number[] = [];
  const choiceIndex = tableFor(b.choices.size);
  for (const [choiceKey, choice] of b.choices) {
    const id = choices.length / choiceFields;
    choices.push(choice.level, choice.key, choice.keyOnly, b.list(choice.wildcards), choice.wildcards.length);
    const key = choiceKey.slice(choiceKey.indexOf("\u0000") + 1);
    let slot = hash(choice.level, key, undefined) & (choiceIndex.length - 1);
    while (choiceIndex[slot] !== 0) slot = (slot + 1) & (choiceIndex.length - 1);
    choiceIndex[slot] = id + 1;
  }
  return {
    text: b.text,
    strings: b.strings,
    nodes: Int32Array.from(b.nodes),
    limits: Float64Array.from(b.limits),
    choices: Int32Array.from(choices),
    lists: Int32Array.from(b.lists),
    exactIndex,
    choiceIndex,
  };
}

function stringAt(tree: PackedTree, id: number): string {
  return tree.text.slice(tree.strings[2 * id], tree.strings[2 * id + 1]);
}

function isString(tree: PackedTree, id: number, s: string): boolean {
  const start = tree.strings[2 * id] as number;
  return (tree.strings[2 * id + 1] as number) - start === s.length && tree.text.startsWith(s, start);
}

function stringList(tree: PackedTree, start: number, count: number): string[] {
  const out: string[] = new Array(count);
  for (let i = 0; i < count; i++) out[i] = stringAt(tree, tree.lists[start + i] as number);
  return out;
}

/** The node, decoded once. */
export function treeNode(tree: PackedTree, node: number): TreeNode {
  let decodedSoFar = decodedNodes.get(tree);
  if (!decodedSoFar) {
    decodedSoFar = new Array<TreeNode | undefined>(tree.nodes.length / nodeFields);
    decodedNodes.set(tree, decodedSoFar);
  }
  const known = decodedSoFar[node];
  if (known) return known;
  const at = node * nodeFields;
  const n = tree.nodes;
  const flags = n[at + N_FLAGS] as number;
  const limits: LimitRule[] = [];
  const first = n[at + N_LIMITS] as number;
  for (let i = 0; i < (n[at + N_LIMIT_COUNT] as number); i++) {
    const l = (first + i) * limitFields;
    const f = tree.limits;
    const unit = f[l + L_UNIT] as RateLimitUnit;
    limits.push({
      statsName: stringAt(tree, f[l + L_STATS] as number),
      name: stringAt(tree, f[l + L_NAME] as number),
      replaces: stringList(tree, f[l + L_REPLACES] as number, f[l + L_REPLACE_COUNT] as number),
      unit,
      windowSeconds: unitSeconds(unit),
      requestsPerUnit: f[l + L_REQUESTS] as number,
      algorithm: f[l + L_ALGORITHM] as RateLimitAlgorithm,
      shadowMode: f[l + L_SHADOW] === 1,
      quotaMode: f[l + L_QUOTA] === 1,
    });
  }
  const decoded: TreeNode = {
    statsName: stringAt(tree, n[at + N_STATS] as number),
    detailedMetric: (flags & F_DETAILED) !== 0,
    valueToMetric: (flags & F_VALUE_TO_METRIC) !== 0,
    sharedValue: (flags & F_SHARED) !== 0 ? stringAt(tree, n[at + N_VALUE] as number) : undefined,
    unlimitedReplaces:
      (flags & F_UNLIMITED) !== 0
        ? stringList(tree, n[at + N_REPLACES] as number, n[at + N_REPLACE_COUNT] as number)
        : undefined,
    limits,
    children: n[at + N_CHILDREN] as number,
  };
  decodedSoFar[node] = decoded;
  return decoded;
}

/** The node of `key` = `value` exactly at `level`, or -1. */
export function exactNode(tree: PackedTree, level: number, key: string, value: string): number {
  const table = tree.exactIndex;
  const mask = table.length - 1;
  for (let slot = hash(level, key, value) & mask; table[slot] !== 0; slot = (slot + 1) & mask) {
    const at = ((table[slot] as number) - 1) * nodeFields;
    const n = tree.nodes;
    if (
      n[at + N_LEVEL] === level &&
      isString(tree, n[at + N_KEY] as number, key) &&
      isString(tree, n[at + N_VALUE] as number, value)
    )
      return at / nodeFields;
  }
  return -1;
}

/** The choice record of `key` at `level` (its offset in `choices`), or -1. */
function choiceAt(tree: PackedTree, level: number, key: string): number {
  const table = tree.choiceIndex;
  const mask = table.length - 1;
  for (let slot = hash(level, key, undefined) & mask; table[slot] !== 0; slot = (slot + 1) & mask) {
    const at = ((table[slot] as number) - 1) * choiceFields;
    if (tree.choices[at + C_LEVEL] === level && isString(tree, tree.choices[at + C_KEY] as number, key)) return at;
  }
  return -1;
}

/** Whether `value` starts with the node's wildcard value less its `*`. */
function matchesWildcard(tree: PackedTree, node: number, value: string): boolean {
  const id = tree.nodes[node * nodeFields + N_VALUE] as number;
  const start = tree.strings[2 * id] as number;
  const length = (tree.strings[2 * id + 1] as number) - start - 1;
  if (value.length < length) return false;
  for (let i = 0; i < length; i++) if (tree.text.charCodeAt(start + i) !== value.charCodeAt(i)) return false;
  return true;
}

/** The first wildcard of `key` at `level`, in config order, whose prefix `value` starts with; or -1. */
export function wildcardNode(tree: PackedTree, level: number, key: string, value: string): number {
  const at = choiceAt(tree, level, key);
  if (at < 0) return -1;
  const start = tree.choices[at + C_WILDCARDS] as number;
  const end = start + (tree.choices[at + C_WILDCARD_COUNT] as number);
  for (let i = start; i < end; i++) {
    const node = tree.lists[i] as number;
    if (matchesWildcard(tree, node, value)) return node;
  }
  return -1;
}

/** The node of `key` with no value at `level`, or -1. */
export function keyOnlyNode(tree: PackedTree, level: number, key: string): number {
  const at = choiceAt(tree, level, key);
  return at < 0 ? -1 : (tree.choices[at + C_KEY_ONLY] as number);
}

/** The value a node matches (its wildcard's prefix includes the `*`). */
export function nodeValue(tree: PackedTree, node: number): string {
  return stringAt(tree, tree.nodes[node * nodeFields + N_VALUE] as number);
}
