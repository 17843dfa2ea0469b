import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { type CheckRequest, CheckRequestSchema } from "../../../gen/envoy/service/auth/v3/external_auth_pb.js";
import { protomap } from "./protomap.js";

/**
 * A request the OPA-Envoy plugin cannot turn into `input`: a path or query with a bad escape, a query
 * pair with a `;`, a body of a parsed type that does not parse. The plugin denies it with 400 without
 * asking the policy, and so does Gantry: were the policy asked with the offending part left out, a rule
 * such as `not input.parsed_query.admin` would pass `?admin=1;x` on to an upstream that parses it.
 */
export class InputError extends Error {}

/**
 * The policy input, shaped exactly as the OPA-Envoy plugin shapes it so that policies written for
 * it run unchanged: the v3 CheckRequest as the plugin's reflection maps it (see protomap), plus
 * `parsed_path`, `parsed_query`, `parsed_body`, `truncated_body`, `version` and `source_principal`.
 * Throws an InputError, worded as the plugin words it where Go's parsers set the words, for a request
 * the plugin would refuse.
 */
export function buildPolicyInput(request: CheckRequest, options: { skipRequestBodyParse: boolean }): JsonObject {
  const input = protomap(CheckRequestSchema, request);
  const http = request.attributes?.request?.http;
  const { path, query } = splitTarget(http?.path ?? "");
  input["version"] = { ext_authz: "v3", encoding: "protojson" };
  input["parsed_path"] = parsePath(path);
  input["parsed_query"] = parseQuery(query);
  if (!options.skipRequestBodyParse) {
    const { parsed, truncated } = parseBody(http?.headers ?? {}, http?.body ?? "", http?.rawBody);
    input["parsed_body"] = parsed;
    input["truncated_body"] = truncated;
  }
  const principal = request.attributes?.source?.principal ?? "";
  if (principal !== "") input["source_principal"] = principal;
  return input;
}

/**
 * The policy input as the JSON text OPA reads. A JSON body goes in as the client wrote it, so numbers
 * beyond 2^53 (ids, amounts) reach the policy exact, as they do in the OPA-Envoy plugin; JavaScript's
 * own numbers would round them.
 */
export function policyInputJson(request: CheckRequest, options: { skipRequestBodyParse: boolean }): string {
  const input = buildPolicyInput(request, options);
  const parsed = input["parsed_body"];
  if (parsed === undefined || parsed === null || input["truncated_body"] === true) return JSON.stringify(input);
  const http = request.attributes?.request?.http;
  const headers = http?.headers ?? {};
  if (bodyKind(headers["content-type"] ?? "") !== "json") return JSON.stringify(input);
  // parseBody parsed exactly this text, so it is valid JSON.
  const raw = bodyText(http?.body ?? "", http?.rawBody);
  delete input["parsed_body"];
  const rest = JSON.stringify(input);
  return `${rest.slice(0, -1)}${rest === "{}" ? "" : ","}"parsed_body":${raw}}`;
}

function bodyText(body: string, rawBody: Uint8Array | undefined): string {
  return body !== "" ? body : rawBody && rawBody.length > 0 ? Buffer.from(rawBody).toString("utf8") : "";
}

function splitTarget(target: string): { path: string; query: string } {
  const hash = target.indexOf("#");
  const withoutFragment = hash < 0 ? target : target.slice(0, hash);
  const mark = withoutFragment.indexOf("?");
  return mark < 0
    ? { path: withoutFragment, query: "" }
    : { path: withoutFragment.slice(0, mark), query: withoutFragment.slice(mark + 1) };
}

/** The unescaped path without its leading slashes, split on `/` (`/` gives `[""]`, as in OPA-Envoy). */
export function parsePath(path: string): string[] {
  return percentDecode(path, false).replace(/^\/+/, "").split("/");
}

/** Go's `url.ParseQuery` refuses more pairs than this (its `urlmaxqueryparams` default). */
const maxQueryPairs = 10_000;

/**
 * A query or form body as a map of value arrays, with Go's `url.ParseQuery` rules: `+` is a space, a key
 * without `=` has the value "". A pair with a `;` or a bad escape, or more than 10000 pairs, is an
 * InputError (the first problem, in Go's order).
 */
export function parseQuery(query: string): Record<string, string[]> {
  const pairs = query.split("&");
  if (pairs.length > maxQueryPairs) throw new InputError("number of URL query parameters exceeded limit");
  const result: Record<string, string[]> = {};
  for (const pair of pairs) {
    if (pair.includes(";")) throw new InputError("invalid semicolon separator in query");
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const key = percentDecode(eq < 0 ? pair : pair.slice(0, eq), true);
    const value = percentDecode(eq < 0 ? "" : pair.slice(eq + 1), true);
    const values = Object.hasOwn(result, key) ? result[key] : undefined;
    if (values) values.push(value);
    else result[key] = [value];
  }
  return result;
}

/**
 * Percent-decoding with Go's `url.PathUnescape` / `url.QueryUnescape` rules: every `%` must start two
 * hex digits (else an InputError quoting the bad escape as Go does); the decoded bytes need not be
 * UTF-8 (each bad sequence becomes U+FFFD, see the migration guide's UTF-8 note); `+` is a space in
 * a query.
 */
function percentDecode(text: string, query: boolean): string {
  if (!text.includes("%")) return query ? text.replaceAll("+", " ") : text;
  const bytes = Buffer.from(text, "utf8");
  const out = Buffer.alloc(bytes.length);
  let length = 0;
  for (let i = 0; i < bytes.length; ) {
    const byte = bytes[i] as number;
    if (byte === 0x25) {
      const hex = bytes.subarray(i + 1, i + 3).toString("latin1");
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
        throw new InputError(`invalid URL escape ${goQuote(bytes.subarray(i, i + 3))}`);
      }
      out[length++] = Number.parseInt(hex, 16);
      i += 3;
    } else {
      out[length++] = query && byte === 0x2b ? 0x20 : byte;
      i += 1;
    }
  }
  return out.subarray(0, length).toString("utf8");
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const shortEscapes: Record<string, string> = {
  "\x07": "\\a",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\v": "\\v",
  '"': '\\"',
  "\\": "\\\\",
};

/** Bytes quoted as Go's `strconv.Quote` quotes them, which is how Go's parse errors show the culprit. */
export function goQuote(bytes: Uint8Array): string {
  let quoted = "";
  for (let i = 0; i < bytes.length; ) {
    const lead = bytes[i] as number;
    const size = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
    let char: string | undefined;
    try {
      char = strictUtf8.decode(bytes.subarray(i, i + size));
    } catch {
      char = undefined;
    }
    if (char === undefined || char.length === 0) {
      quoted += `\\x${lead.toString(16).padStart(2, "0")}`;
      i += 1;
      continue;
    }
    const code = char.codePointAt(0) as number;
    const short = shortEscapes[char];
    if (short !== undefined) quoted += short;
    else if (/^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(char)) quoted += char;
    else if (code < 0x80) quoted += `\\x${code.toString(16).padStart(2, "0")}`;
    else if (code < 0x10000) quoted += `\\u${code.toString(16).padStart(4, "0")}`;
    else quoted += `\\U${code.toString(16).padStart(8, "0")}`;
    i += size;
  }
  return `"${quoted}"`;
}

/**
 * The body as OPA-Envoy parses it, by content type: JSON; form-urlencoded as a map of value arrays;
 * multipart/form-data as a map of field names to arrays of values (a part of type JSON parsed);
 * others give null. A body shorter than its content-length is truncated and not parsed. A body
 * that does not parse, or a content-length that is not an integer, is an InputError.
 */
export function parseBody(
  headers: Readonly<Record<string, string>>,
  body: string,
  rawBody: Uint8Array | undefined,
): { parsed: JsonValue; truncated: boolean } {
  // Envoy says so when it cut the body to its max_request_bytes, with or without a content-length.
  if (headers["x-envoy-auth-partial-body"] === "true") return { parsed: null, truncated: true };
  const contentType = headers["content-type"] ?? "";
  const kind = bodyKind(contentType);
  if (!kind) return { parsed: null, truncated: false };
  const text = bodyText(body, rawBody);
  if (text === "") return { parsed: null, truncated: false };
  const declared = headers["content-length"];
  if (declared !== undefined) {
    const length = contentLength(declared);
    if (length !== -1n && length > BigInt(Buffer.byteLength(text, "utf8"))) return { parsed: null, truncated: true };
  }
  switch (kind) {
    case "form":
      return { parsed: parseQuery(text), truncated: false };
    case "multipart":
      return { parsed: parseMultipart(text, contentType), truncated: false };
    default:
      return { parsed: parseJson(text, "the body"), truncated: false };
  }
}

/** A `content-length` as Go's `strconv.ParseInt` reads it (an int64, a sign allowed), as the plugin does. */
function contentLength(value: string): bigint {
  const quoted = goQuote(Buffer.from(value, "utf8"));
  if (!/^[+-]?[0-9]+$/.test(value)) throw new InputError(`strconv.ParseInt: parsing ${quoted}: invalid syntax`);
  const length = BigInt(value);
  if (length < -(2n ** 63n) || length >= 2n ** 63n) {
    throw new InputError(`strconv.ParseInt: parsing ${quoted}: value out of range`);
  }
  return length;
}

function parseJson(text: string, what: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch (err) {
    // V8's message may quote the text, which can carry a secret: only the position is kept.
    const at = /at position (\d+)/.exec(String(err));
    throw new InputError(`${what} is not valid JSON${at ? ` (at character ${at[1]})` : ""}`);
  }
}

function bodyKind(contentType: string): "json" | "form" | "multipart" | undefined {
  if (contentType.includes("application/json")) return "json";
  if (contentType.includes("application/x-www-form-urlencoded")) return "form";
  if (contentType.includes("multipart/form-data")) return "multipart";
  return undefined;
}

/** Form fields of a multipart body; an InputError when the body is malformed. Null without a boundary. */
function parseMultipart(text: string, contentType: string): JsonValue {
  const boundary = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const delimiter = `--${boundary?.[1] ?? boundary?.[2] ?? ""}`;
  if (delimiter === "--") return null;
  const segments = text.split(delimiter);
  const fields: Record<string, JsonValue[]> = {};
  // segments[0] is the preamble; the last delimiter is followed by "--".
  for (const segment of segments.slice(1)) {
    if (segment.startsWith("--")) return fields;
    const part = segment.replace(/^\r?\n/, "").replace(/\r?\n$/, "");
    // A part may have no headers at all: then the blank line comes first.
    const split = /^\r?\n|\r?\n\r?\n/.exec(part);
    if (!split) throw new InputError("a multipart part without a blank line after its headers");
    const partHeaders = parsePartHeaders(part.slice(0, split.index));
    const content = part.slice(split.index + split[0].length);
    const name = formName(partHeaders["content-disposition"] ?? "");
    if (name === undefined) continue;
    const value = (partHeaders["content-type"] ?? "").includes("application/json")
      ? parseJson(content, "a multipart part of type JSON")
      : content;
    const values = Object.hasOwn(fields, name) ? fields[name] : undefined;
    if (values) values.push(value);
    else fields[name] = [value];
  }
  throw new InputError("a multipart body without its closing delimiter");
}

function parsePartHeaders(block: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/** The `name` of a `form-data` disposition (as Go's `Part.FormName`), or undefined. */
function formName(disposition: string): string | undefined {
  if (!/^form-data\s*(;|$)/i.test(disposition)) return undefined;
  const name = /;\s*name=(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(disposition);
  const value = name?.[1]?.replace(/\\(.)/g, "$1") ?? name?.[2];
  return value === "" ? undefined : value;
}
