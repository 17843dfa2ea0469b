import { isIP } from "node:net";
import {
  type DescEnum,
  type DescField,
  type DescMessage,
  fromBinary,
  getOption,
  hasOption,
  isFieldSet,
  type Message,
  type Registry,
  ScalarType,
} from "@bufbuild/protobuf";
import { type Any, type Duration, isWrapperDesc } from "@bufbuild/protobuf/wkt";
import {
  BoolRulesSchema,
  BytesRulesSchema,
  DoubleRulesSchema,
  type DurationRules,
  disabled,
  type FieldRules,
  Fixed32RulesSchema,
  Fixed64RulesSchema,
  FloatRulesSchema,
  rules as fieldRules,
  Int32RulesSchema,
  Int64RulesSchema,
  KnownRegex,
  MapRulesSchema,
  required as oneofRequired,
  RepeatedRulesSchema,
  SFixed32RulesSchema,
  SFixed64RulesSchema,
  SInt32RulesSchema,
  SInt64RulesSchema,
  type StringRules,
  StringRulesSchema,
  UInt32RulesSchema,
  UInt64RulesSchema,
} from "../gen/validate/validate_pb.js";

/**
 * Checks messages against the `(validate.rules)` annotations in their protos: the rules Envoy and
 * gRPC clients enforce on receipt (and NACK for). Nested messages are checked, and so are `Any`s whose
 * type the registry knows. Problems read `path: what is wrong`, with proto field names.
 */
export function validationProblems(schema: DescMessage, message: Message, registry: Registry): string[] {
  const problems: string[] = [];
  checkMessage(schema, message, "", registry, problems);
  return problems;
}

/**
 * Fields whose upstream rule says `ignore_empty: true`, an option the bundled validate.proto lacks
 * (codegen drops it), so their rules are skipped for empty values here.
 */
const ignoreEmpty = new Set([
  "envoy.config.core.v3.UpstreamHttpProtocolOptions.override_auto_sni_header",
  "envoy.config.core.v3.AlternateProtocolsCacheOptions.AlternateProtocolsCacheEntry.hostname",
]);

type ValueKind =
  | { kind: "scalar"; scalar: ScalarType }
  | { kind: "enum"; desc: DescEnum }
  | { kind: "message"; desc: DescMessage };

function join(path: string, name: string): string {
  return path === "" ? name : `${path}.${name}`;
}

function oneofHolds(message: Message, field: DescField): boolean {
  const oneof = field.oneof;
  if (!oneof) return false;
  const group = (message as unknown as Record<string, { case: string | undefined }>)[oneof.localName];
  return group?.case === field.localName;
}

function fieldValue(message: Message, field: DescField): unknown {
  const record = message as unknown as Record<string, unknown>;
  if (field.oneof) {
    const group = record[field.oneof.localName] as { case: string | undefined; value?: unknown };
    return group.case === field.localName ? group.value : undefined;
  }
  return record[field.localName];
}

function checkMessage(
  schema: DescMessage,
  message: Message,
  path: string,
  registry: Registry,
  problems: string[],
): void {
  if (hasOption(schema, disabled) && getOption(schema, disabled)) return;
  for (const oneof of schema.oneofs) {
    if (!hasOption(oneof, oneofRequired) || !getOption(oneof, oneofRequired)) continue;
    const group = (message as unknown as Record<string, { case: string | undefined }>)[oneof.localName];
    if (group?.case === undefined) {
      problems.push(`${join(path, oneof.name)}: one of ${oneof.fields.map((f) => f.name).join(", ")} is required`);
    }
  }
  for (const field of schema.fields) {
    // A oneof member's rules apply only when it is the member set.
    if (field.oneof && !oneofHolds(message, field)) continue;
    const rules = hasOption(field, fieldRules) ? getOption(field, fieldRules) : undefined;
    const value = fieldValue(message, field);
    const at = join(path, field.name);
    if (rules && ignoreEmpty.has(`${schema.typeName}.${field.name}`) && value === "") continue;
    switch (field.fieldKind) {
      case "list": {
        const items = value as unknown[];
        const repeated = rules?.type.case === "repeated" ? rules.type.value : undefined;
        if (repeated) {
          if (isFieldSet(repeated, repeatedMin) && items.length < Number(repeated.minItems)) {
            problems.push(`${at}: needs at least ${repeated.minItems} item(s), has ${items.length}`);
          }
          if (isFieldSet(repeated, repeatedMax) && items.length > Number(repeated.maxItems)) {
            problems.push(`${at}: allows at most ${repeated.maxItems} item(s), has ${items.length}`);
          }
          if (repeated.unique && field.listKind !== "message") {
            const seen = new Set<unknown>();
            for (const item of items) {
              if (seen.has(item)) problems.push(`${at}: "${String(item)}" appears more than once`);
              seen.add(item);
            }
          }
        }
        const kind = listKind(field);
        items.forEach((item, index) => {
          checkValue(item, kind, repeated?.items, `${at}[${index}]`, registry, problems);
        });
        break;
      }
      case "map": {
        const entries = Object.entries(value as Record<string, unknown>);
        const map = rules?.type.case === "map" ? rules.type.value : undefined;
        if (map) {
          if (isFieldSet(map, mapMin) && entries.length < Number(map.minPairs)) {
            problems.push(`${at}: needs at least ${map.minPairs} entr(ies), has ${entries.length}`);
          }
          if (isFieldSet(map, mapMax) && entries.length > Number(map.maxPairs)) {
            problems.push(`${at}: allows at most ${map.maxPairs} entr(ies), has ${entries.length}`);
          }
        }
        const valueKind = mapValueKind(field);
        for (const [key, item] of entries) {
          if (map?.keys)
            checkValue(
              key,
              { kind: "scalar", scalar: ScalarType.STRING },
              map.keys,
              `${at}["${key}"]`,
              registry,
              problems,
            );
          checkValue(item, valueKind, map?.values, `${at}["${key}"]`, registry, problems);
        }
        break;
      }
      case "scalar":
        checkValue(value, { kind: "scalar", scalar: field.scalar }, rules, at, registry, problems);
        break;
      case "enum":
        checkValue(value, { kind: "enum", desc: field.enum }, rules, at, registry, problems);
        break;
      case "message":
        checkValue(value, { kind: "message", desc: field.message }, rules, at, registry, problems);
        break;
    }
  }
}

const repeatedMin = RepeatedRulesSchema.field.minItems;
const repeatedMax = RepeatedRulesSchema.field.maxItems;
const mapMin = MapRulesSchema.field.minPairs;
const mapMax = MapRulesSchema.field.maxPairs;

function listKind(field: DescField & { fieldKind: "list" }): ValueKind {
  switch (field.listKind) {
    case "scalar":
      return { kind: "scalar", scalar: field.scalar };
    case "enum":
      return { kind: "enum", desc: field.enum };
    case "message":
      return { kind: "message", desc: field.message };
  }
}

function mapValueKind(field: DescField & { fieldKind: "map" }): ValueKind {
  switch (field.mapKind) {
    case "scalar":
      return { kind: "scalar", scalar: field.scalar };
    case "enum":
      return { kind: "enum", desc: field.enum };
    case "message":
      return { kind: "message", desc: field.message };
  }
}

function checkValue(
  value: unknown,
  kind: ValueKind,
  rules: FieldRules | undefined,
  at: string,
  registry: Registry,
  problems: string[],
): void {
  if (kind.kind === "message") {
    checkMessageValue(value, kind.desc, rules, at, registry, problems);
    return;
  }
  if (!rules) return;
  if (kind.kind === "enum") {
    const enumRules = rules.type.case === "enum" ? rules.type.value : undefined;
    if (enumRules?.definedOnly && !kind.desc.values.some((v) => v.number === value)) {
      problems.push(`${at}: ${String(value)} is not a defined ${kind.desc.name} value`);
    }
    if (enumRules) checkMembership(value, enumRules.in, enumRules.notIn, at, problems);
    return;
  }
  checkScalar(value, rules, at, problems);
}

function checkMessageValue(
  value: unknown,
  desc: DescMessage,
  rules: FieldRules | undefined,
  at: string,
  registry: Registry,
  problems: string[],
): void {
  const requiredByRules =
    rules?.message?.required === true ||
    (rules?.type.case === "duration" && rules.type.value.required) ||
    (rules?.type.case === "any" && rules.type.value.required) ||
    (rules?.type.case === "timestamp" && rules.type.value.required);
  if (value === undefined) {
    if (requiredByRules) problems.push(`${at}: is required`);
    return;
  }
  if (isWrapperDesc(desc)) {
    // Wrappers outside oneofs arrive unwrapped; the scalar rules apply to the inner value.
    const inner = typeof value === "object" && value !== null ? (value as { value: unknown }).value : value;
    if (rules) checkScalar(inner, rules, at, problems);
    return;
  }
  if (rules?.type.case === "duration") checkDuration(value as Duration, rules.type.value, at, problems);
  if (desc.typeName === "google.protobuf.Any") {
    const any = value as Any;
    if (rules?.type.case === "any")
      checkMembership(any.typeUrl, rules.type.value.in, rules.type.value.notIn, at, problems);
    const inner = registry.getMessage(any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1));
    if (inner) {
      let decoded: Message | undefined;
      try {
        decoded = fromBinary(inner, any.value);
      } catch (err) {
        problems.push(`${at}: cannot decode ${inner.typeName}: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (decoded) checkMessage(inner, decoded, at, registry, problems);
    }
    return;
  }
  if (rules?.message?.skip) return;
  // Well-known types (Struct, Duration, …) have no rules inside and some arrive as plain JSON.
  if (desc.typeName.startsWith("google.protobuf.")) return;
  checkMessage(desc, value as Message, at, registry, problems);
}

function compare(a: number | bigint, b: number | bigint): number {
  if (typeof a === "bigint" || typeof b === "bigint") {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

function checkMembership(
  value: unknown,
  allowed: readonly unknown[],
  denied: readonly unknown[],
  at: string,
  problems: string[],
): void {
  if (allowed.length > 0 && !allowed.some((a) => a === value)) {
    problems.push(`${at}: ${String(value)} is not one of ${allowed.map(String).join(", ")}`);
  }
  if (denied.some((d) => d === value)) problems.push(`${at}: ${String(value)} is not allowed`);
}

/** Numeric bounds, as the rule messages of every number type share them. */
function checkNumber(
  value: number | bigint,
  rules: {
    const: number | bigint;
    lt: number | bigint;
    lte: number | bigint;
    gt: number | bigint;
    gte: number | bigint;
  } & Message,
  schema: DescMessage,
  at: string,
  problems: string[],
): void {
  const set = (name: string) => {
    const field = schema.fields.find((f) => f.localName === name);
    return field !== undefined && isFieldSet(rules, field);
  };
  if (set("const") && compare(value, rules.const) !== 0) problems.push(`${at}: must be ${rules.const}, is ${value}`);
  if (set("gt") && compare(value, rules.gt) <= 0) problems.push(`${at}: must be greater than ${rules.gt}, is ${value}`);
  if (set("gte") && compare(value, rules.gte) < 0) problems.push(`${at}: must be at least ${rules.gte}, is ${value}`);
  if (set("lt") && compare(value, rules.lt) >= 0) problems.push(`${at}: must be less than ${rules.lt}, is ${value}`);
  if (set("lte") && compare(value, rules.lte) > 0) problems.push(`${at}: must be at most ${rules.lte}, is ${value}`);
}

function checkScalar(value: unknown, rules: FieldRules, at: string, problems: string[]): void {
  const { type } = rules;
  switch (type.case) {
    case "string":
      checkString(String(value), type.value, at, problems);
      return;
    case "bytes": {
      const length = (value as Uint8Array).length;
      if (isFieldSet(type.value, BytesRulesSchema.field.minLen) && length < Number(type.value.minLen)) {
        problems.push(`${at}: needs at least ${type.value.minLen} byte(s)`);
      }
      if (isFieldSet(type.value, BytesRulesSchema.field.maxLen) && length > Number(type.value.maxLen)) {
        problems.push(`${at}: allows at most ${type.value.maxLen} byte(s)`);
      }
      return;
    }
    case "bool":
      if (isFieldSet(type.value, BoolRulesSchema.field.const) && value !== type.value.const) {
        problems.push(`${at}: must be ${type.value.const}`);
      }
      return;
    case "double":
    case "float":
    case "int32":
    case "int64":
    case "uint32":
    case "uint64":
    case "sint32":
    case "sint64":
    case "fixed32":
    case "fixed64":
    case "sfixed32":
    case "sfixed64": {
      const schema = numberRuleSchemas[type.case];
      checkNumber(value as number | bigint, type.value, schema, at, problems);
      checkMembership(value, type.value.in, type.value.notIn, at, problems);
      return;
    }
    default:
      return;
  }
}

const numberRuleSchemas = {
  double: DoubleRulesSchema,
  float: FloatRulesSchema,
  int32: Int32RulesSchema,
  int64: Int64RulesSchema,
  uint32: UInt32RulesSchema,
  uint64: UInt64RulesSchema,
  sint32: SInt32RulesSchema,
  sint64: SInt64RulesSchema,
  fixed32: Fixed32RulesSchema,
  fixed64: Fixed64RulesSchema,
  sfixed32: SFixed32RulesSchema,
  sfixed64: SFixed64RulesSchema,
} satisfies Record<string, DescMessage>;

const headerNameToken = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;

/** No NUL, CR or LF: what a header needs when its rule is not strict. */
function freeOfLineBreaks(value: string): boolean {
  return ![...value].some((c) => c === "\u0000" || c === "\n" || c === "\r");
}

/** PGV's header checks: strict follows RFC 7230, loose only forbids NUL, CR and LF. */
function validHeader(regex: KnownRegex, value: string, strict: boolean): boolean {
  // Loose rules accept the empty string: optional header fields (a weighted cluster's cluster_header) default to it.
  if (regex === KnownRegex.HTTP_HEADER_NAME) return strict ? headerNameToken.test(value) : freeOfLineBreaks(value);
  if (regex === KnownRegex.HTTP_HEADER_VALUE) {
    if (!strict) return freeOfLineBreaks(value);
    return ![...value].some((c) => {
      const code = c.codePointAt(0) ?? 0;
      return code <= 0x08 || (code >= 0x0a && code <= 0x1f) || code === 0x7f;
    });
  }
  return true;
}

const patterns = new Map<string, RegExp | undefined>();

/** RE2 patterns as JavaScript regular expressions; a pattern JavaScript cannot read is not checked. */
function compiled(pattern: string): RegExp | undefined {
  if (!patterns.has(pattern)) {
    let regex: RegExp | undefined;
    try {
      regex = new RegExp(pattern, "u");
    } catch {
      regex = undefined;
    }
    patterns.set(pattern, regex);
  }
  return patterns.get(pattern);
}

const hostname =
  /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/;

function checkString(value: string, rules: StringRules, at: string, problems: string[]): void {
  const set = (field: keyof typeof StringRulesSchema.field) => isFieldSet(rules, StringRulesSchema.field[field]);
  const length = [...value].length;
  const bytes = Buffer.byteLength(value);
  if (set("const") && value !== rules.const) problems.push(`${at}: must be "${rules.const}"`);
  if (set("len") && length !== Number(rules.len)) problems.push(`${at}: must be ${rules.len} character(s) long`);
  if (set("minLen") && length < Number(rules.minLen)) {
    problems.push(
      rules.minLen === 1n ? `${at}: must not be empty` : `${at}: needs at least ${rules.minLen} character(s)`,
    );
  }
  if (set("maxLen") && length > Number(rules.maxLen))
    problems.push(`${at}: allows at most ${rules.maxLen} character(s)`);
  if (set("minBytes") && bytes < Number(rules.minBytes)) {
    problems.push(
      rules.minBytes === 1n ? `${at}: must not be empty` : `${at}: needs at least ${rules.minBytes} byte(s)`,
    );
  }
  if (set("maxBytes") && bytes > Number(rules.maxBytes))
    problems.push(`${at}: allows at most ${rules.maxBytes} byte(s)`);
  if (set("prefix") && !value.startsWith(rules.prefix)) problems.push(`${at}: must start with "${rules.prefix}"`);
  if (set("suffix") && !value.endsWith(rules.suffix)) problems.push(`${at}: must end with "${rules.suffix}"`);
  if (set("contains") && !value.includes(rules.contains)) problems.push(`${at}: must contain "${rules.contains}"`);
  if (set("notContains") && value.includes(rules.notContains))
    problems.push(`${at}: must not contain "${rules.notContains}"`);
  if (set("pattern")) {
    const regex = compiled(rules.pattern);
    if (regex && !regex.test(value)) problems.push(`${at}: ${JSON.stringify(value)} does not match ${rules.pattern}`);
  }
  checkMembership(value, rules.in, rules.notIn, at, problems);
  const known = rules.wellKnown;
  switch (known.case) {
    case "wellKnownRegex":
      if (!validHeader(known.value, value, rules.strict)) {
        const what = known.value === KnownRegex.HTTP_HEADER_NAME ? "header name" : "header value";
        problems.push(`${at}: ${JSON.stringify(value)} is not a valid ${what}`);
      }
      break;
    case "ip":
      if (known.value && isIP(value) === 0) problems.push(`${at}: ${JSON.stringify(value)} is not an IP address`);
      break;
    case "ipv4":
      if (known.value && isIP(value) !== 4) problems.push(`${at}: ${JSON.stringify(value)} is not an IPv4 address`);
      break;
    case "ipv6":
      if (known.value && isIP(value) !== 6) problems.push(`${at}: ${JSON.stringify(value)} is not an IPv6 address`);
      break;
    case "hostname":
      if (known.value && !hostname.test(value)) problems.push(`${at}: ${JSON.stringify(value)} is not a host name`);
      break;
    case "address":
      if (known.value && isIP(value) === 0 && !hostname.test(value)) {
        problems.push(`${at}: ${JSON.stringify(value)} is neither an IP address nor a host name`);
      }
      break;
    default:
      break;
  }
}

function nanos(duration: Duration): bigint {
  return duration.seconds * 1_000_000_000n + BigInt(duration.nanos);
}

function showDuration(duration: Duration): string {
  return `${Number(nanos(duration)) / 1e9}s`;
}

function checkDuration(value: Duration, rules: DurationRules, at: string, problems: string[]): void {
  const v = nanos(value);
  if (rules.const && v !== nanos(rules.const)) problems.push(`${at}: must be ${showDuration(rules.const)}`);
  if (rules.gt && v <= nanos(rules.gt))
    problems.push(`${at}: must be greater than ${showDuration(rules.gt)}, is ${showDuration(value)}`);
  if (rules.gte && v < nanos(rules.gte))
    problems.push(`${at}: must be at least ${showDuration(rules.gte)}, is ${showDuration(value)}`);
  if (rules.lt && v >= nanos(rules.lt))
    problems.push(`${at}: must be less than ${showDuration(rules.lt)}, is ${showDuration(value)}`);
  if (rules.lte && v > nanos(rules.lte))
    problems.push(`${at}: must be at most ${showDuration(rules.lte)}, is ${showDuration(value)}`);
}
