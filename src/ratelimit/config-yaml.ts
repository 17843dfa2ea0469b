import { create } from "@bufbuild/protobuf";
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import {
  RateLimitAlgorithm,
  type RateLimitConfig,
  RateLimitConfigSchema,
  type RateLimitDescriptor,
  RateLimitDescriptorSchema,
  type RateLimitPolicy,
  RateLimitPolicySchema,
  RateLimitReplaceSchema,
  type SetDescriptor,
  SetDescriptorEntrySchema,
  SetDescriptorSchema,
} from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { configProblems } from "../ratelimit-config/index.js";
import { RateLimitConfigError } from "./config-errors.js";
import { unitsByName } from "./units.js";

const algorithmsByName = new Map([
  ["fixed_window", RateLimitAlgorithm.FIXED_WINDOW],
  ["sliding_window", RateLimitAlgorithm.SLIDING_WINDOW],
  ["token_bucket", RateLimitAlgorithm.TOKEN_BUCKET],
]);

/** Reads YAML nodes into protos, remembering the line of every field path for later errors. */
class Reader {
  readonly lines = new Map<string, number>();

  constructor(
    readonly source: string,
    readonly counter: LineCounter,
  ) {}

  fail(node: Node | null | undefined, path: string, problem: string): never {
    throw new RateLimitConfigError(this.source, path, problem, this.lineOf(node));
  }

  lineOf(node: Node | null | undefined): number | undefined {
    const offset = node?.range?.[0];
    return offset === undefined ? undefined : this.counter.linePos(offset).line;
  }

  /** The fields of a mapping, rejecting any key not in `allowed`. */
  fields(node: Node | null | undefined, path: string, allowed: readonly string[]): Map<string, Node | null> {
    if (!isMap(node)) this.fail(node, path, "expected a mapping");
    if (path !== "" && !this.lines.has(path)) this.lines.set(path, this.lineOf(node) ?? 0);
    const out = new Map<string, Node | null>();
    for (const pair of node.items) {
      const keyNode = pair.key as Node | null;
      const key = isScalar(keyNode) ? String(keyNode.value) : undefined;
      if (key === undefined) this.fail(keyNode, path, "expected a plain field name");
      const fieldPath = path === "" ? key : `${path}.${key}`;
      if (!allowed.includes(key))
        this.fail(keyNode, fieldPath, `unknown field (expected one of: ${allowed.join(", ")})`);
      if (out.has(key)) this.fail(keyNode, fieldPath, "given twice");
      const value = pair.value as Node | null;
      this.lines.set(fieldPath, this.lineOf(value) ?? this.lineOf(keyNode) ?? 0);
      out.set(key, value);
    }
    return out;
  }

  string(node: Node | null | undefined, path: string): string {
    if (!isScalar(node) || node.value === null || typeof node.value === "object")
      this.fail(node, path, "expected a string");
    return String(node.value);
  }

  bool(node: Node | null | undefined, path: string): boolean {
    if (!isScalar(node) || typeof node.value !== "boolean") this.fail(node, path, "expected true or false");
    return node.value;
  }

  count(node: Node | null | undefined, path: string): number {
    const value = isScalar(node) ? node.value : undefined;
    if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 0xffff_ffff)
      this.fail(node, path, "expected a whole number from 0 to 4294967295");
    return value;
  }

  list(node: Node | null | undefined, path: string): Node[] {
    if (node === undefined || node === null || (isScalar(node) && node.value === null)) return [];
    if (!isSeq(node)) this.fail(node, path, "expected a list");
    return node.items as Node[];
  }
}

function readPolicy(r: Reader, node: Node | null, path: string): RateLimitPolicy {
  const f = r.fields(node, path, ["unit", "requests_per_unit", "unlimited", "name", "replaces", "algorithm"]);
  const policy = create(RateLimitPolicySchema);
  const unit = f.get("unit");
  if (unit !== undefined) {
    const name = r.string(unit, `${path}.unit`);
    const value = unitsByName.get(name.toLowerCase());
    if (value === undefined)
      r.fail(unit, `${path}.unit`, `bad unit "${name}" (expected one of: ${[...unitsByName.keys()].join(", ")})`);
    policy.unit = value;
  }
  if (f.has("requests_per_unit"))
    policy.requestsPerUnit = r.count(f.get("requests_per_unit"), `${path}.requests_per_unit`);
  if (f.has("unlimited")) policy.unlimited = r.bool(f.get("unlimited"), `${path}.unlimited`);
  if (f.has("name")) policy.name = r.string(f.get("name"), `${path}.name`);
  const algorithm = f.get("algorithm");
  if (algorithm !== undefined) {
    const name = r.string(algorithm, `${path}.algorithm`);
    const value = algorithmsByName.get(name);
    if (value === undefined)
      r.fail(
        algorithm,
        `${path}.algorithm`,
        `bad algorithm "${name}" (expected one of: ${[...algorithmsByName.keys()].join(", ")})`,
      );
    policy.algorithm = value;
  }
  policy.replaces = r.list(f.get("replaces"), `${path}.replaces`).map((item, i) => {
    const at = `${path}.replaces[${i}]`;
    const fields = r.fields(item, at, ["name"]);
    return create(RateLimitReplaceSchema, {
      name: fields.has("name") ? r.string(fields.get("name"), `${at}.name`) : "",
    });
  });
  return policy;
}

function readAdditional(r: Reader, node: Node | null | undefined, path: string): RateLimitPolicy[] {
  return r.list(node, path).map((item, i) => readPolicy(r, item, `${path}[${i}]`));
}

function readDescriptor(r: Reader, node: Node, path: string): RateLimitDescriptor {
  const f = r.fields(node, path, [
    "key",
    "value",
    "rate_limit",
    "descriptors",
    "shadow_mode",
    "detailed_metric",
    "quota_mode",
    "share_threshold",
    "value_to_metric",
    "additional_limits",
  ]);
  const descriptor = create(RateLimitDescriptorSchema);
  if (f.has("key")) descriptor.key = r.string(f.get("key"), `${path}.key`);
  if (f.has("value")) descriptor.value = r.string(f.get("value"), `${path}.value`);
  const rateLimit = f.get("rate_limit");
  if (rateLimit !== undefined) descriptor.rateLimit = readPolicy(r, rateLimit, `${path}.rate_limit`);
  descriptor.additionalLimits = readAdditional(r, f.get("additional_limits"), `${path}.additional_limits`);
  if (f.has("shadow_mode")) descriptor.shadowMode = r.bool(f.get("shadow_mode"), `${path}.shadow_mode`);
  if (f.has("detailed_metric")) descriptor.detailedMetric = r.bool(f.get("detailed_metric"), `${path}.detailed_metric`);
  if (f.has("quota_mode")) descriptor.quotaMode = r.bool(f.get("quota_mode"), `${path}.quota_mode`);
  if (f.has("share_threshold")) descriptor.shareThreshold = r.bool(f.get("share_threshold"), `${path}.share_threshold`);
  if (f.has("value_to_metric")) descriptor.valueToMetric = r.bool(f.get("value_to_metric"), `${path}.value_to_metric`);
  descriptor.descriptors = readDescriptors(r, f.get("descriptors"), `${path}.descriptors`);
  return descriptor;
}

function readDescriptors(r: Reader, node: Node | null | undefined, path: string): RateLimitDescriptor[] {
  return r.list(node, path).map((item, i) => readDescriptor(r, item, `${path}[${i}]`));
}

function readSetDescriptor(r: Reader, node: Node, path: string): SetDescriptor {
  const f = r.fields(node, path, ["entries", "rate_limit", "additional_limits", "always_apply", "shadow_mode"]);
  const rule = create(SetDescriptorSchema);
  rule.entries = r.list(f.get("entries"), `${path}.entries`).map((item, i) => {
    const at = `${path}.entries[${i}]`;
    const fields = r.fields(item, at, ["key", "value"]);
    return create(SetDescriptorEntrySchema, {
      key: fields.has("key") ? r.string(fields.get("key"), `${at}.key`) : "",
      value: fields.has("value") ? r.string(fields.get("value"), `${at}.value`) : "",
    });
  });
  const rateLimit = f.get("rate_limit");
  if (rateLimit !== undefined) rule.rateLimit = readPolicy(r, rateLimit, `${path}.rate_limit`);
  rule.additionalLimits = readAdditional(r, f.get("additional_limits"), `${path}.additional_limits`);
  if (f.has("always_apply")) rule.alwaysApply = r.bool(f.get("always_apply"), `${path}.always_apply`);
  if (f.has("shadow_mode")) rule.shadowMode = r.bool(f.get("shadow_mode"), `${path}.shadow_mode`);
  return rule;
}

/**
 * Reads one envoyproxy/ratelimit YAML file (one domain) into the RateLimitConfig proto and
 * validates it. Throws a RateLimitConfigError naming the file, line and field.
 */
export function parseRateLimitYaml(text: string, source: string): RateLimitConfig {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: false });
  const syntaxError = doc.errors[0];
  if (syntaxError) {
    const line = counter.linePos(syntaxError.pos[0]).line;
    throw new RateLimitConfigError(source, "", `not valid YAML: ${syntaxError.message.split("\n")[0]}`, line);
  }
  const r = new Reader(source, counter);
  const root = doc.contents as Node | null;
  if (root === null) throw new RateLimitConfigError(source, "domain", "missing (the file is empty)");
  const f = r.fields(root, "", ["domain", "descriptors", "set_descriptors"]);
  const config: RateLimitConfig = create(RateLimitConfigSchema, { name: source });
  if (f.has("domain")) config.domain = r.string(f.get("domain"), "domain");
  config.descriptors = readDescriptors(r, f.get("descriptors"), "descriptors");
  config.setDescriptors = r
    .list(f.get("set_descriptors"), "set_descriptors")
    .map((item, i) => readSetDescriptor(r, item, `set_descriptors[${i}]`));
  const problem = configProblems(config)[0];
  if (problem) throw new RateLimitConfigError(source, problem.path, problem.problem, lineNear(r.lines, problem.path));
  return config;
}

/** The line of a field path, or of its closest parent that was written in the file. */
function lineNear(lines: ReadonlyMap<string, number>, path: string): number | undefined {
  let at = path;
  for (;;) {
    const line = lines.get(at);
    if (line !== undefined) return line;
    const parent = at.replace(/(\.[^.[\]]+|\[\d+\])$/, "");
    if (parent === at) return undefined;
    at = parent;
  }
}
