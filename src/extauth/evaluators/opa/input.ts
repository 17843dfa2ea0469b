import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { type CheckRequest, CheckRequestSchema } from "../../../gen/envoy/service/auth/v3/external_auth_pb.js";
import { protomap } from "./protomap.js";

/**
 * The policy input, shaped exactly as the OPA-Envoy plugin shapes it so that policies written for
 * it run unchanged: the v3 CheckRequest as the plugin's reflection maps it (see protomap), plus
 * `parsed_path`, `parsed_query`, `parsed_body`, `truncated_body`, `version` and `source_principal`.
 * Building it never fails: a path or body that cannot be parsed leaves the parsed field empty instead
 * of failing the check.
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
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // A malformed escape: the raw segments are still worth showing the policy.
    decoded = path;
  }
  return decoded.replace(/^\/+/, "").split("/");
}

/**
 * A query or form body as a map of value arrays, with Go's `url.ParseQuery` rules: `+` is a space,
 * pairs with a `;` or a bad escape are dropped, a key without `=` has the value "".
 */
export function parseQuery(query: string): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const pair of query.split("&")) {
    if (pair === "" || pair.includes(";")) continue;
    const eq = pair.indexOf("=");
    const key = unescapeQueryPart(eq < 0 ? pair : pair.slice(0, eq));
    const value = unescapeQueryPart(eq < 0 ? "" : pair.slice(eq + 1));
    if (key === undefined || value === undefined) continue;
    const values = Object.hasOwn(result, key) ? result[key] : undefined;
    if (values) values.push(value);
    else result[key] = [value];
  }
  return result;
}

function unescapeQueryPart(part: string): string | undefined {
  try {
    return decodeURIComponent(part.replaceAll("+", " "));
  } catch {
    return undefined;
  }
}

/**
 * The body as OPA-Envoy parses it, by content type: JSON; form-urlencoded as a map of value arrays;
 * multipart/form-data as a map of field names to arrays of values (a part of type JSON parsed);
 * others give null. A body shorter than its content-length is truncated and not parsed. A
 * malformed body gives null.
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
  const declared = Number.parseInt(headers["content-length"] ?? "", 10);
  if (Number.isFinite(declared) && declared > Buffer.byteLength(text, "utf8")) return { parsed: null, truncated: true };
  try {
    switch (kind) {
      case "form":
        return { parsed: parseQuery(text), truncated: false };
      case "multipart":
        return { parsed: parseMultipart(text, contentType), truncated: false };
      default:
        return { parsed: JSON.parse(text) as JsonValue, truncated: false };
    }
  } catch {
    return { parsed: null, truncated: false };
  }
}

function bodyKind(contentType: string): "json" | "form" | "multipart" | undefined {
  if (contentType.includes("application/json")) return "json";
  if (contentType.includes("application/x-www-form-urlencoded")) return "form";
  if (contentType.includes("multipart/form-data")) return "multipart";
  return undefined;
}

/** Form fields of a multipart body; throws when the body is malformed. Null without a boundary. */
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
    const split = /\r?\n\r?\n/.exec(part);
    if (!split) throw new Error("a multipart part without a blank line after its headers");
    const partHeaders = parsePartHeaders(part.slice(0, split.index));
    const content = part.slice(split.index + split[0].length);
    const name = formName(partHeaders["content-disposition"] ?? "");
    if (name === undefined) continue;
    const value = (partHeaders["content-type"] ?? "").includes("application/json")
      ? (JSON.parse(content) as JsonValue)
      : content;
    const values = Object.hasOwn(fields, name) ? fields[name] : undefined;
    if (values) values.push(value);
    else fields[name] = [value];
  }
  throw new Error("a multipart body without its closing delimiter");
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
