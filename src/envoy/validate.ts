import {
  type DescField,
  type DescMessage,
  type DescOneof,
  getOption,
  hasOption,
  type Message,
  type Registry,
} from "@bufbuild/protobuf";
import { type ReflectMessage, reflect } from "@bufbuild/protobuf/reflect";
import type { Any, Duration } from "@bufbuild/protobuf/wkt";
import { anyUnpack, isWrapperDesc } from "@bufbuild/protobuf/wkt";
import {
  type FieldRules,
  rules as fieldRules,
  disabled as messageDisabled,
  required as oneofRequired,
} from "../gen/validate/validate_pb.js";
import { envoyRegistry } from "./registry.js";
import {
  checkAnyType,
  checkBytes,
  checkDuration,
  checkNumber,
  checkString,
  durationMs,
  num,
  setRules,
} from "./rules.js";

/** One broken rule: where (proto field names from the resource root) and what it requires. */
export interface Violation {
  path: string;
  message: string;
}

/**
 * Fields whose upstream rule says `ignore_empty: true`, an option the bundled validate.proto lacks
 * (codegen drops it): their rules apply only to non-empty values.
 */
const ignoreEmpty = new Set([
  "envoy.config.core.v3.UpstreamHttpProtocolOptions.override_auto_sni_header",
  "envoy.config.core.v3.AlternateProtocolsCacheOptions.AlternateProtocolsCacheEntry.hostname",
]);

const fieldRuleCache = new Map<DescField, FieldRules | null>();

function rulesOf(field: DescField): FieldRules | undefined {
  let cached = fieldRuleCache.get(field);
  if (cached === undefined) {
    cached = hasOption(field, fieldRules) ? getOption(field, fieldRules) : null;
    fieldRuleCache.set(field, cached);
  }
  return cached ?? undefined;
}

interface MessagePlan {
  disabled: boolean;
  requiredOneofs: DescOneof[];
  /** False when neither this type nor anything it can hold has a rule: nothing to visit. */
  checked: boolean;
  /** The fields with a rule or holding something checked; the others are skipped. */
  fields: DescField[];
  /** Fields whose rules are skipped when the value is "" (see ignoreEmpty). */
  ignoreEmpty: ReadonlySet<DescField>;
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
    ignoreEmpty: new Set(desc.fields.filter((f) => ignoreEmpty.has(`${desc.typeName}.${f.name}`))),
  };
  planCache.set(desc, plan);
  plan.fields = desc.fields.filter(
    (f) => rulesOf(f) !== undefined || (f.message !== undefined && planOf(f.message).checked),
  );
  plan.checked = desc.typeName === "google.protobuf.Any" || plan.requiredOneofs.length > 0 || plan.fields.length > 0;
  return plan;
}

interface AnyResult {
  typeName: string;
  violations: Violation[];
}

const anyCache = new WeakMap<Registry, Map<string, AnyResult>>();
const anyCacheLimit = 10_000;

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

/**
 * Checks a message against the `(validate.rules)` (PGV) annotations of its schema: the rules
 * Envoy and gRPC clients enforce on receipt and NACK for. Recurses into nested messages, lists,
 * maps, oneofs and `Any`s whose type the registry knows. Returns every violation, in field order.
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
      if (plan.ignoreEmpty.size > 0 && plan.ignoreEmpty.has(field) && r.get(field) === "") continue;
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
      found = checkAny(any, registry);
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
    else if (type.case === "bytes" && value instanceof Uint8Array) problem = checkBytes(value, setRules(type.value));
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
          const problem = checkDuration(durationMs(message.message as Duration), setRules(rules.type.value));
          if (problem) add(path, problem);
        }
        return;
      }
      if (rules?.type.case === "any" && message.desc.typeName === "google.protobuf.Any") {
        const problem = checkAnyType((message.message as Any).typeUrl, setRules(rules.type.value));
        if (problem) add(path, problem);
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

/** An `Any`'s content checked, when the registry knows its type; bytes that do not decode are a violation. */
function checkAny(any: Any, registry: Registry): AnyResult {
  const typeName = any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
  const desc = registry.getMessage(typeName);
  if (!desc) return { typeName: "", violations: [] };
  let inner: Message | undefined;
  try {
    inner = anyUnpack(any, registry);
  } catch (err) {
    return {
      typeName,
      violations: [
        { path: "", message: `cannot decode ${typeName}: ${err instanceof Error ? err.message : String(err)}` },
      ],
    };
  }
  return { typeName, violations: inner ? validateMessage(desc, inner, registry) : [] };
}
