import { isIP } from "node:net";
import { createRegistry, type Message } from "@bufbuild/protobuf";
import { isReflectMessage, reflect } from "@bufbuild/protobuf/reflect";
import { rules as fieldRules, KnownRegex } from "../gen/validate/validate_pb.js";

/**
 * The checks of single values against one PGV rule message (`StringRules`, `UInt32Rules`,
 * `DurationRules`, …). Each returns what is wrong, or undefined. The rule messages are read as
 * "which fields are set" maps, because validate.proto is proto2 and presence is the rule.
 */

const validateRegistry = createRegistry(fieldRules.file);
const setRulesCache = new WeakMap<object, Map<string, unknown>>();

/** The explicitly set fields of a rule message, by local name (list fields as arrays). */
export function setRules(rules: Message & object): Map<string, unknown> {
  const cached = setRulesCache.get(rules);
  if (cached) return cached;
  const desc = validateRegistry.getMessage(rules.$typeName);
  if (!desc) throw new Error(`validate: no descriptor for ${rules.$typeName}`);
  const r = reflect(desc, rules);
  const out = new Map<string, unknown>();
  const plain = (v: unknown) => (isReflectMessage(v) ? v.message : v);
  for (const field of r.fields) {
    if (!r.isSet(field)) continue;
    const value = r.get(field);
    out.set(field.localName, field.fieldKind === "list" ? [...(value as Iterable<unknown>)].map(plain) : plain(value));
  }
  setRulesCache.set(rules, out);
  return out;
}

export function num(value: unknown): number {
  return typeof value === "bigint" ? Number(value) : (value as number);
}

/** One check of a value against one rule: what is wrong, or undefined. */
type Check<T> = (value: T) => string | undefined;

/**
 * The checks a rule set makes, built once per rule message: only the rules that are set cost
 * anything per value, on a path that runs for every string and number of every resource.
 */
function compiled<T>(cache: WeakMap<object, Check<T>[]>, rules: Map<string, unknown>, build: () => Check<T>[]) {
  let checks = cache.get(rules);
  if (!checks) {
    checks = build();
    cache.set(rules, checks);
  }
  return checks;
}

function firstProblem<T>(checks: Check<T>[], value: T): string | undefined {
  for (const check of checks) {
    const problem = check(value);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

const numberChecks = new WeakMap<object, Check<number>[]>();

/** const, bounds and in/not_in, as every number rule (and enum rules) share them. */
export function checkNumber(value: number, rules: Map<string, unknown>): string | undefined {
  return firstProblem(
    compiled(numberChecks, rules, () => {
      const checks: Check<number>[] = [];
      const bound = (name: string) => (rules.has(name) ? num(rules.get(name)) : undefined);
      const c = bound("const");
      if (c !== undefined) checks.push((v) => (v !== c ? `must equal ${c}, got ${v}` : undefined));
      const lt = bound("lt");
      if (lt !== undefined) checks.push((v) => (!(v < lt) ? `must be < ${lt}, got ${v}` : undefined));
      const lte = bound("lte");
      if (lte !== undefined) checks.push((v) => (!(v <= lte) ? `must be <= ${lte}, got ${v}` : undefined));
      const gt = bound("gt");
      if (gt !== undefined) checks.push((v) => (!(v > gt) ? `must be > ${gt}, got ${v}` : undefined));
      const gte = bound("gte");
      if (gte !== undefined) checks.push((v) => (!(v >= gte) ? `must be >= ${gte}, got ${v}` : undefined));
      const inList = ((rules.get("in") as unknown[] | undefined) ?? []).map(num);
      if (inList.length > 0) {
        checks.push((v) => (!inList.includes(v) ? `must be one of ${inList.join(", ")}, got ${v}` : undefined));
      }
      const notIn = ((rules.get("notIn") as unknown[] | undefined) ?? []).map(num);
      if (notIn.length > 0) checks.push((v) => (notIn.includes(v) ? `must not be ${v}` : undefined));
      return checks;
    }),
    value,
  );
}

// PGV's well-known header regexes (strict and lax forms).
const headerNameStrict = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: these rules are about control characters
const headerValueStrict = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
// Loose rules only forbid NUL, CR and LF, and accept "" (optional header fields default to it).
// biome-ignore lint/suspicious/noControlCharactersInRegex: these rules are about control characters
const headerLax = /^[^\u0000\u000A\u000D]*$/;

const hostname =
  /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/;

const patternCache = new Map<string, RegExp | undefined>();

/**
 * An RE2 pattern as a JavaScript RegExp. RE2 and JavaScript agree on the patterns Envoy's protos
 * use, given the `u` flag; a pattern JavaScript cannot read is not checked rather than failing all.
 */
function pattern(source: string): RegExp | undefined {
  if (!patternCache.has(source)) {
    let re: RegExp | undefined;
    try {
      re = new RegExp(source, "u");
    } catch {
      re = undefined;
    }
    patternCache.set(source, re);
  }
  return patternCache.get(source);
}

const stringChecks = new WeakMap<object, Check<string>[]>();

/** A string as a problem shows it: quoted, cut after 60 characters. */
function shown(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
}

function characters(value: string): number {
  return [...value].length;
}

export function checkString(value: string, rules: Map<string, unknown>): string | undefined {
  return firstProblem(
    compiled(stringChecks, rules, () => compileString(rules)),
    value,
  );
}

function compileString(rules: Map<string, unknown>): Check<string>[] {
  const checks: Check<string>[] = [];
  const bound = (name: string) => (rules.has(name) ? num(rules.get(name)) : undefined);
  const text = (name: string) => rules.get(name) as string | undefined;
  const c = text("const");
  if (c !== undefined) checks.push((v) => (v !== c ? `must equal ${JSON.stringify(c)}, got ${shown(v)}` : undefined));
  const len = bound("len");
  if (len !== undefined) {
    checks.push((v) => {
      const n = characters(v);
      return n !== len ? `must be exactly ${len} characters, got ${n}` : undefined;
    });
  }
  const minLen = bound("minLen");
  if (minLen !== undefined) {
    checks.push((v) => {
      // Characters are at most as many as UTF-16 units: the common "not empty" rule needs no count.
      if (v.length >= minLen && (minLen <= 1 || characters(v) >= minLen)) return undefined;
      return minLen === 1 ? "must not be empty" : `must be at least ${minLen} characters, got ${characters(v)}`;
    });
  }
  const maxLen = bound("maxLen");
  if (maxLen !== undefined) {
    checks.push((v) => {
      const n = characters(v);
      return n > maxLen ? `must be at most ${maxLen} characters, got ${n}` : undefined;
    });
  }
  const maxBytes = bound("maxBytes");
  if (maxBytes !== undefined) {
    checks.push((v) => (Buffer.byteLength(v) > maxBytes ? `must be at most ${maxBytes} bytes` : undefined));
  }
  const minBytes = bound("minBytes");
  if (minBytes !== undefined) {
    checks.push((v) =>
      Buffer.byteLength(v) < minBytes
        ? minBytes === 1
          ? "must not be empty"
          : `must be at least ${minBytes} bytes`
        : undefined,
    );
  }
  const p = text("pattern");
  const re = p === undefined ? undefined : pattern(p);
  if (re !== undefined) checks.push((v) => (!re.test(v) ? `must match /${p}/, got ${shown(v)}` : undefined));
  const prefix = text("prefix");
  if (prefix !== undefined) {
    checks.push((v) =>
      !v.startsWith(prefix) ? `must start with ${JSON.stringify(prefix)}, got ${shown(v)}` : undefined,
    );
  }
  const suffix = text("suffix");
  if (suffix !== undefined) {
    checks.push((v) => (!v.endsWith(suffix) ? `must end with ${JSON.stringify(suffix)}, got ${shown(v)}` : undefined));
  }
  const contains = text("contains");
  if (contains !== undefined) {
    checks.push((v) => (!v.includes(contains) ? `must contain ${JSON.stringify(contains)}` : undefined));
  }
  const notContains = text("notContains");
  if (notContains !== undefined) {
    checks.push((v) => (v.includes(notContains) ? `must not contain ${JSON.stringify(notContains)}` : undefined));
  }
  const inList = (rules.get("in") as string[] | undefined) ?? [];
  if (inList.length > 0) {
    checks.push((v) => (!inList.includes(v) ? `must be one of ${inList.join(", ")}, got ${shown(v)}` : undefined));
  }
  const notIn = (rules.get("notIn") as string[] | undefined) ?? [];
  if (notIn.length > 0) checks.push((v) => (notIn.includes(v) ? `must not be ${shown(v)}` : undefined));
  checks.push(...wellKnownChecks(rules));
  return checks;
}

/** The `well_known` oneof of string rules: header names and values, IPs, host names. */
function wellKnownChecks(rules: Map<string, unknown>): Check<string>[] {
  const strict = rules.get("strict") !== false;
  const failing = (ok: (v: string) => boolean, what: string): Check<string> => {
    return (v) => (ok(v) ? undefined : `must be ${what}, got ${shown(v)}`);
  };
  switch (rules.get("wellKnownRegex")) {
    case KnownRegex.HTTP_HEADER_NAME: {
      const re = strict ? headerNameStrict : headerLax;
      return [failing((v) => re.test(v), "a valid HTTP header name")];
    }
    case KnownRegex.HTTP_HEADER_VALUE: {
      const re = strict ? headerValueStrict : headerLax;
      return [failing((v) => re.test(v), "a valid HTTP header value")];
    }
  }
  if (rules.get("ip") === true) return [failing((v) => isIP(v) !== 0, "an IP address")];
  if (rules.get("ipv4") === true) return [failing((v) => isIP(v) === 4, "an IPv4 address")];
  if (rules.get("ipv6") === true) return [failing((v) => isIP(v) === 6, "an IPv6 address")];
  if (rules.get("hostname") === true) return [failing((v) => hostname.test(v), "a host name")];
  if (rules.get("address") === true) {
    return [failing((v) => isIP(v) !== 0 || hostname.test(v), "an IP address or a host name")];
  }
  return [];
}

export function checkBytes(value: Uint8Array, rules: Map<string, unknown>): string | undefined {
  const minLen = rules.get("minLen");
  if (minLen !== undefined && value.length < num(minLen)) {
    return num(minLen) === 1 ? "must not be empty" : `must be at least ${num(minLen)} bytes, got ${value.length}`;
  }
  const maxLen = rules.get("maxLen");
  if (maxLen !== undefined && value.length > num(maxLen))
    return `must be at most ${num(maxLen)} bytes, got ${value.length}`;
  return undefined;
}

/** A Duration's length in ms, from its seconds and nanos. */
export function durationMs(d: { seconds: bigint; nanos: number }): number {
  return Number(d.seconds) * 1000 + d.nanos / 1e6;
}

export function checkDuration(ms: number, rules: Map<string, unknown>): string | undefined {
  const bound = (name: string) => {
    const value = rules.get(name) as { seconds: bigint; nanos: number } | undefined;
    return value === undefined ? undefined : durationMs(value);
  };
  const c = bound("const");
  if (c !== undefined && ms !== c) return `must be exactly ${c} ms, got ${ms} ms`;
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

export function checkAnyType(typeUrl: string, rules: Map<string, unknown>): string | undefined {
  const inList = rules.get("in") as string[] | undefined;
  if (inList && inList.length > 0 && !inList.includes(typeUrl))
    return `type ${typeUrl} is not one of ${inList.join(", ")}`;
  const notIn = rules.get("notIn") as string[] | undefined;
  if (notIn?.includes(typeUrl)) return `type ${typeUrl} is not allowed`;
  return undefined;
}
