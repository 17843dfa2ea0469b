import {
  createRegistry,
  type DescField,
  type DescMessage,
  type DescOneof,
  getOption,
  hasOption,
  type Message,
  type Registry,
} from "@bufbuild/protobuf";
import { isReflectMessage, type ReflectMessage, reflect } from "@bufbuild/protobuf/reflect";
import type { Any } from "@bufbuild/protobuf/wkt";
import { anyUnpack, isWrapperDesc } from "@bufbuild/protobuf/wkt";
import { file_envoy_config_cluster_v3_cluster } from "../gen/envoy/config/cluster/v3/cluster_pb.js";
import { file_envoy_config_endpoint_v3_endpoint } from "../gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { file_envoy_config_listener_v3_listener } from "../gen/envoy/config/listener/v3/listener_pb.js";
import { file_envoy_config_route_v3_route } from "../gen/envoy/config/route/v3/route_pb.js";
import { file_envoy_extensions_filters_http_cors_v3_cors } from "../gen/envoy/extensions/filters/http/cors/v3/cors_pb.js";
import { file_envoy_extensions_filters_http_ext_authz_v3_ext_authz } from "../gen/envoy/extensions/filters/http/ext_authz/v3/ext_authz_pb.js";
import { file_envoy_extensions_filters_http_fault_v3_fault } from "../gen/envoy/extensions/filters/http/fault/v3/fault_pb.js";
import { file_envoy_extensions_filters_http_ratelimit_v3_rate_limit } from "../gen/envoy/extensions/filters/http/ratelimit/v3/rate_limit_pb.js";
import { file_envoy_extensions_filters_http_router_v3_router } from "../gen/envoy/extensions/filters/http/router/v3/router_pb.js";
import { file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager } from "../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { file_envoy_extensions_transport_sockets_tls_v3_secret } from "../gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { file_envoy_extensions_transport_sockets_tls_v3_tls } from "../gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js";
import { file_envoy_extensions_upstreams_http_v3_http_protocol_options } from "../gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js";
import {
  type FieldRules,
  rules as fieldRules,
  KnownRegex,
  disabled as messageDisabled,
  required as oneofRequired,
} from "../gen/validate/validate_pb.js";

/** One broken rule: where (proto field names from the resource root) and what it requires. */
export interface Violation {
  path: string;
  message: string;
}

/** The types that can sit in an `Any` of what Gantry sends, so typed configs are checked too. */
export const envoyRegistry: Registry = createRegistry(
  file_envoy_config_listener_v3_listener,
  file_envoy_config_route_v3_route,
  file_envoy_config_cluster_v3_cluster,
  file_envoy_config_endpoint_v3_endpoint,
  file_envoy_extensions_transport_sockets_tls_v3_secret,
  file_envoy_extensions_transport_sockets_tls_v3_tls,
  file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager,
  file_envoy_extensions_filters_http_router_v3_router,
  file_envoy_extensions_filters_http_cors_v3_cors,
  file_envoy_extensions_filters_http_fault_v3_fault,
  file_envoy_extensions_filters_http_ext_authz_v3_ext_authz,
  file_envoy_extensions_filters_http_ratelimit_v3_rate_limit,
  file_envoy_extensions_upstreams_http_v3_http_protocol_options,
);

// PGV's well-known header regexes (strict and lax forms).
const headerNameStrict = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: these rules are about control characters
const headerValueStrict = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: these rules are about control characters
const headerLax = /^[^\u0000\u000A\u000D]*$/;

const fieldRuleCache = new Map<DescField, FieldRules | null>();
const patternCache = new Map<string, RegExp>();

function rulesOf(field: DescField): FieldRules | undefined {
  let cached = fieldRuleCache.get(field);
  if (cached === undefined) {
    cached = hasOption(field, fieldRules) ? getOption(field, fieldRules) : null;
    fieldRuleCache.set(field, cached);
  }
  return cached ?? undefined;
}

function pattern(source: string): RegExp {
  let re = patternCache.get(source);
  if (!re) {
    // RE2 and JavaScript agree on the patterns Envoy's protos use, given the `u` flag.
    re = new RegExp(source, "u");
    patternCache.set(source, re);
  }
  return re;
}

interface MessagePlan {
  disabled: boolean;
  requiredOneofs: DescOneof[];
  /** False when neither this type nor anything it can hold has a rule: nothing to visit. */
  checked: boolean;
  /** The fields with a rule or holding something checked; the others are skipped. */
  fields: DescField[];
}

const planCache = new Map<DescMessage, MessagePlan>();

/** What to check in a message type, worked out once per type (option lookups are costly). */
function planOf(desc: DescMessage): MessagePlan {
  const cached = planCache.get(desc);
  if (cached) return cached;
  const plan: MessagePlan = {
    disabled: hasOption(desc, messageDisabled) && getOption(desc, messageDisabled),
    requiredOneofs: desc.oneofs.filter((o) => hasOption(o, oneofRequired) && getOption(o, oneofRequired)),
    // Assumed while the type's own fields are looked at, so recursive types end.
    checked: true,
    fields: desc.fields,
  };
  planCache.set(desc, plan);
  plan.fields = desc.fields.filter(
    (f) => rulesOf(f) !== undefined || (f.message !== undefined && planOf(f.message).checked),
  );
  plan.checked = desc.typeName === "google.protobuf.Any" || plan.requiredOneofs.length > 0 || plan.fields.length > 0;
  return plan;
}

const anyCache = new WeakMap<Registry, Map<string, { typeName: string; violations: Violation[] }>>();
const anyCacheLimit = 10_000;

const setRulesCache = new WeakMap<object, Map<string, unknown>>();

/** Reads the rule fields that are explicitly set (validate.proto is proto2: presence matters). */
function setRules(rules: Message & object): Map<string, unknown> {
  const cached = setRulesCache.get(rules);
  if (cached) return cached;
  const out = readSetRules(rules);
  setRulesCache.set(rules, out);
  return out;
}

function readSetRules(rules: Message & object): Map<string, unknown> {
  const desc = validateRegistry.getMessage(rules.$typeName);
  if (!desc) throw new Error(`validate: no descriptor for ${rules.$typeName}`);
  const r = reflect(desc, rules);
  const out = new Map<string, unknown>();
  for (const field of r.fields) {
    if (!r.isSet(field)) continue;
    const value = r.get(field);
    const plain = (v: unknown) => (isReflectMessage(v) ? v.message : v);
    out.set(field.localName, field.fieldKind === "list" ? [...(value as Iterable<unknown>)].map(plain) : plain(value));
  }
  return out;
}

const validateRegistry = createRegistry(fieldRules.file);

function num(value: unknown): number {
  return typeof value === "bigint" ? Number(value) : (value as number);
}

function checkNumber(value: number, rules: Map<string, unknown>): string | undefined {
  const c = rules.get("const");
  if (c !== undefined && value !== num(c)) return `must equal ${num(c)}, got ${value}`;
  const lt = rules.get("lt");
  if (lt !== undefined && !(value < num(lt))) return `must be < ${num(lt)}, got ${value}`;
  const lte = rules.get("lte");
  if (lte !== undefined && !(value <= num(lte))) return `must be <= ${num(lte)}, got ${value}`;
  const gt = rules.get("gt");
  if (gt !== undefined && !(value > num(gt))) return `must be > ${num(gt)}, got ${value}`;
  const gte = rules.get("gte");
  if (gte !== undefined && !(value >= num(gte))) return `must be >= ${num(gte)}, got ${value}`;
  const inList = rules.get("in") as unknown[] | undefined;
  if (inList && inList.length > 0 && !inList.some((v) => num(v) === value)) {
    return `must be one of ${inList.map(num).join(", ")}, got ${value}`;
  }
  const notIn = rules.get("notIn") as unknown[] | undefined;
  if (notIn?.some((v) => num(v) === value)) return `must not be ${value}`;
  return undefined;
}

function checkString(value: string, rules: Map<string, unknown>): string | undefined {
  const length = [...value].length;
  const shown = JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  const c = rules.get("const");
  if (c !== undefined && value !== c) return `must equal ${JSON.stringify(c)}, got ${shown}`;
  const len = rules.get("len");
  if (len !== undefined && length !== num(len)) return `must be exactly ${num(len)} characters, got ${length}`;
  const minLen = rules.get("minLen");
  if (minLen !== undefined && length < num(minLen)) {
    return num(minLen) === 1 ? "must not be empty" : `must be at least ${num(minLen)} characters, got ${length}`;
  }
  const maxLen = rules.get("maxLen");
  if (maxLen !== undefined && length > num(maxLen)) return `must be at most ${num(maxLen)} characters, got ${length}`;
  const maxBytes = rules.get("maxBytes");
  if (maxBytes !== undefined && Buffer.byteLength(value) > num(maxBytes))
    return `must be at most ${num(maxBytes)} bytes`;
  const minBytes = rules.get("minBytes");
  if (minBytes !== undefined && Buffer.byteLength(value) < num(minBytes)) {
    return num(minBytes) === 1 ? "must not be empty" : `must be at least ${num(minBytes)} bytes`;
  }
  const p = rules.get("pattern") as string | undefined;
  if (p !== undefined && !pattern(p).test(value)) return `must match /${p}/, got ${shown}`;
  const prefix = rules.get("prefix") as string | undefined;
  if (prefix !== undefined && !value.startsWith(prefix))
    return `must start with ${JSON.stringify(prefix)}, got ${shown}`;
  const suffix = rules.get("suffix") as string | undefined;
  if (suffix !== undefined && !value.endsWith(suffix)) return `must end with ${JSON.stringify(suffix)}, got ${shown}`;
  const contains = rules.get("contains") as string | undefined;
  if (contains !== undefined && !value.includes(contains)) return `must contain ${JSON.stringify(contains)}`;
  const notContains = rules.get("notContains") as string | undefined;
  if (notContains !== undefined && value.includes(notContains))
    return `must not contain ${JSON.stringify(notContains)}`;
  const inList = rules.get("in") as string[] | undefined;
  if (inList && inList.length > 0 && !inList.includes(value))
    return `must be one of ${inList.join(", ")}, got ${shown}`;
  const notIn = rules.get("notIn") as string[] | undefined;
  if (notIn?.includes(value)) return `must not be ${shown}`;
  const known = rules.get("wellKnownRegex");
  if (known !== undefined) {
    const strict = rules.get("strict") !== false;
    if (known === KnownRegex.HTTP_HEADER_NAME && !(strict ? headerNameStrict : headerLax).test(value)) {
      return `must be a valid HTTP header name, got ${shown}`;
    }
    if (known === KnownRegex.HTTP_HEADER_VALUE && !(strict ? headerValueStrict : headerLax).test(value)) {
      return `must be a valid HTTP header value, got ${shown}`;
    }
  }
  return undefined;
}

function durationMs(message: ReflectMessage): number {
  const seconds = message.desc.fields.find((f) => f.name === "seconds");
  const nanos = message.desc.fields.find((f) => f.name === "nanos");
  return num(seconds ? message.get(seconds) : 0) * 1000 + num(nanos ? message.get(nanos) : 0) / 1e6;
}

function durationOf(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const d = value as { seconds: bigint; nanos: number };
  return Number(d.seconds) * 1000 + d.nanos / 1e6;
}

function checkDuration(ms: number, rules: Map<string, unknown>): string | undefined {
  const bound = (name: string) => durationOf(rules.get(name));
  const lt = bound("lt");
  if (lt !== undefined && !(ms < lt)) return `must be shorter than ${lt} ms, got ${ms} ms`;
  const lte = bound("lte");
  if (lte !== undefined && !(ms <= lte)) return `must be at most ${lte} ms, got ${ms} ms`;
  const gt = bound("gt");
  if (gt !== undefined && !(ms > gt)) return `must be longer than ${gt} ms, got ${ms} ms`;
  const gte = bound("gte");
  if (gte !== undefined && !(ms >= gte)) return `must be at least ${gte} ms, got ${ms} ms`;
  return undefined;
}

/**
 * Checks a message against the `(validate.rules)` annotations of its schema, recursing into
 * nested messages, lists, maps, oneofs and `Any`s whose type the registry knows. Returns every
 * violation, in field order.
 */
export function validateMessage(
  schema: DescMessage,
  message: Message,
  registry: Registry = envoyRegistry,
): Violation[] {
  const violations: Violation[] = [];
  const add = (path: string, message: string) => violations.push({ path, message });

  const visitMessage = (r: ReflectMessage, path: string): void => {
    const desc = r.desc;
    if (desc.typeName === "google.protobuf.Any") {
      visitAny(r.message as Any, path);
      return;
    }
    const plan = planOf(desc);
    if (plan.disabled || !plan.checked) return;
    for (const oneof of plan.requiredOneofs) {
      if (r.oneofCase(oneof) === undefined) {
        add(join(path, oneof.name), `one of ${oneof.fields.map((f) => f.name).join(", ")} is required`);
      }
    }
    for (const field of plan.fields) {
      if (field.oneof && r.oneofCase(field.oneof) !== field) continue;
      visitField(r, field, join(path, field.name));
    }
  };

  // Typed configs repeat (the same per-route override on many routes): each distinct one is
  // unpacked and checked once per registry.
  const visitAny = (any: Any, path: string): void => {
    let byBytes = anyCache.get(registry);
    if (!byBytes) {
      byBytes = new Map();
      anyCache.set(registry, byBytes);
    }
    const key = `${any.typeUrl} ${Buffer.from(any.value.buffer, any.value.byteOffset, any.value.byteLength).toString("latin1")}`;
    let found = byBytes.get(key);
    if (!found) {
      const inner = anyUnpack(any, registry);
      const desc = inner && registry.getMessage(inner.$typeName);
      found = desc
        ? { typeName: desc.typeName, violations: validateMessage(desc, inner, registry) }
        : { typeName: "", violations: [] };
      if (byBytes.size >= anyCacheLimit) byBytes.clear();
      byBytes.set(key, found);
    }
    for (const v of found.violations) add(`${path}<${found.typeName}>${v.path === "" ? "" : `.${v.path}`}`, v.message);
  };

  const visitField = (r: ReflectMessage, field: DescField, path: string): void => {
    const rules = rulesOf(field);
    const type = rules?.type;
    switch (field.fieldKind) {
      case "list": {
        const list = r.get(field);
        if (type?.case === "repeated") {
          const set = setRules(type.value);
          const min = set.get("minItems");
          if (min !== undefined && list.size < num(min))
            add(path, `needs at least ${num(min)} item(s), has ${list.size}`);
          const max = set.get("maxItems");
          if (max !== undefined && list.size > num(max))
            add(path, `allows at most ${num(max)} items, has ${list.size}`);
          if (set.get("unique") === true && field.listKind !== "message") {
            const seen = new Set<unknown>();
            for (const [i, v] of [...list].entries()) {
              if (seen.has(v)) add(`${path}[${i}]`, `duplicate ${JSON.stringify(v)}; items must be unique`);
              seen.add(v);
            }
          }
        }
        const itemRules = type?.case === "repeated" ? type.value.items : undefined;
        [...list].forEach((item, i) => {
          visitValue(field, field.listKind, item, itemRules, `${path}[${i}]`);
        });
        return;
      }
      case "map": {
        const map = r.get(field);
        if (type?.case === "map") {
          const set = setRules(type.value);
          const min = set.get("minPairs");
          if (min !== undefined && map.size < num(min))
            add(path, `needs at least ${num(min)} entries, has ${map.size}`);
          const max = set.get("maxPairs");
          if (max !== undefined && map.size > num(max))
            add(path, `allows at most ${num(max)} entries, has ${map.size}`);
        }
        const keyRules = type?.case === "map" ? type.value.keys : undefined;
        const valueRules = type?.case === "map" ? type.value.values : undefined;
        for (const [k, v] of map) {
          if (keyRules) checkScalarRules(String(k), keyRules, `${path}[${JSON.stringify(String(k))}]`);
          visitValue(field, field.mapKind, v, valueRules, `${path}[${JSON.stringify(String(k))}]`);
        }
        return;
      }
      case "message": {
        const set = r.isSet(field);
        const messageRules = rules?.message;
        if (!set) {
          const required =
            messageRules?.required === true ||
            (type?.case === "duration" && type.value.required) ||
            (type?.case === "any" && type.value.required) ||
            (type?.case === "timestamp" && type.value.required);
          if (required) add(path, "is required");
          return;
        }
        if (messageRules?.skip) return;
        visitValue(field, "message", r.get(field), rules, path);
        return;
      }
      default:
        visitValue(field, field.fieldKind, r.get(field), rules, path);
    }
  };

  const checkScalarRules = (value: unknown, rules: FieldRules, path: string): void => {
    const type = rules.type;
    let problem: string | undefined;
    if (type.case === "string" && typeof value === "string") problem = checkString(value, setRules(type.value));
    else if (type.case === "bool") {
      const set = setRules(type.value);
      if (set.has("const") && value !== set.get("const")) problem = `must be ${String(set.get("const"))}`;
    } else if (
      type.case !== undefined &&
      numericRules.has(type.case) &&
      (typeof value === "number" || typeof value === "bigint")
    ) {
      problem = checkNumber(num(value), setRules(type.value as Message));
    }
    if (problem) add(path, problem);
  };

  const visitValue = (
    field: DescField,
    kind: "scalar" | "enum" | "message",
    value: unknown,
    rules: FieldRules | undefined,
    path: string,
  ): void => {
    if (kind === "message") {
      const message = value as ReflectMessage;
      if (isWrapperDesc(message.desc)) {
        const inner = message.desc.fields[0];
        if (rules && inner) checkScalarRules(message.get(inner), rules, path);
        return;
      }
      if (message.desc.typeName === "google.protobuf.Duration") {
        if (rules?.type.case === "duration") {
          const problem = checkDuration(durationMs(message), setRules(rules.type.value));
          if (problem) add(path, problem);
        }
        return;
      }
      if (rules?.type.case === "any" && message.desc.typeName === "google.protobuf.Any") {
        const set = setRules(rules.type.value);
        const url = (message.message as Any).typeUrl;
        const inList = set.get("in") as string[] | undefined;
        if (inList && inList.length > 0 && !inList.includes(url))
          add(path, `type ${url} is not one of ${inList.join(", ")}`);
      }
      visitMessage(message, path);
      return;
    }
    if (kind === "enum" && field.enum) {
      const n = value as number;
      if (rules?.type.case === "enum") {
        const set = setRules(rules.type.value);
        if (set.get("definedOnly") === true && !field.enum.values.some((v) => v.number === n)) {
          add(path, `${n} is not a defined ${field.enum.name} value`);
        }
        const problem = checkNumber(n, set);
        if (problem) add(path, problem);
      }
      return;
    }
    if (rules) checkScalarRules(value, rules, path);
  };

  visitMessage(reflect(schema, message), "");
  return violations;
}

const numericRules = new Set([
  "float",
  "double",
  "int32",
  "int64",
  "uint32",
  "uint64",
  "sint32",
  "sint64",
  "fixed32",
  "fixed64",
  "sfixed32",
  "sfixed64",
]);

function join(path: string, name: string): string {
  return path === "" ? name : `${path}.${name}`;
}
