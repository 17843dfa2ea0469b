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

/** const, bounds and in/not_in, as every number rule (and enum rules) share them. */
export function checkNumber(value: number, rules: Map<string, unknown>): string | undefined {
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

export function checkString(value: string, rules: Map<string, unknown>): string | undefined {
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
  if (p !== undefined && pattern(p)?.test(value) === false) return `must match /${p}/, got ${shown}`;
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
  return checkWellKnown(value, shown, rules);
}

/** The `well_known` oneof of string rules: header names and values, IPs, host names. */
function checkWellKnown(value: string, shown: string, rules: Map<string, unknown>): string | undefined {
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
  if (rules.get("ip") === true && isIP(value) === 0) return `must be an IP address, got ${shown}`;
  if (rules.get("ipv4") === true && isIP(value) !== 4) return `must be an IPv4 address, got ${shown}`;
  if (rules.get("ipv6") === true && isIP(value) !== 6) return `must be an IPv6 address, got ${shown}`;
  if (rules.get("hostname") === true && !hostname.test(value)) return `must be a host name, got ${shown}`;
  if (rules.get("address") === true && isIP(value) === 0 && !hostname.test(value)) {
    return `must be an IP address or a host name, got ${shown}`;
  }
  return undefined;
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
