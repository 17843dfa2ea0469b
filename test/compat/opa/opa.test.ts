import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, type JsonObject, type JsonValue, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CheckRequest, CheckRequestSchema } from "../../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { needTool } from "../../support/tools.js";
import { type AuthzPeer, type Observed, startGantryExtauth, startPlugin } from "./peers.js";

const plugin = needTool("opa-envoy-plugin", "build it with `node scripts/test-prereqs.mjs` (npm test does this)");
const opa = needTool("opa", "build it with `node scripts/test-prereqs.mjs` (npm test does this)");

/** One policy for every case: the request's `x-case` header picks the decision. */
const policy = `package envoy.authz

import rego.v1

default allow := false

case := input.attributes.request.http.headers["x-case"]

allow := {"allowed": false, "http_status": 400, "body": json.marshal(input)} if case == "echo"

allow := true if case == "bool-allow"

allow := {
  "allowed": true,
  "headers": {"x-a": "1", "x-b": "2"},
  "request_headers_to_remove": ["x-drop"],
  "response_headers_to_add": {"x-r": "r"},
} if case == "object-allow"

allow := {"allowed": false, "http_status": 401, "body": "no", "headers": {"www-authenticate": "Basic"}} if case == "object-deny"

allow := {"allowed": false} if case == "object-deny-default"

allow := {
  "allowed": true,
  "headers": [{"x-l": "1"}, {"x-m": "2"}],
  "response_headers_to_add": [{"x-n": "3"}],
  "dynamic_metadata": {"user": "ada", "n": 3},
} if case == "headers-list"

allow := {"allowed": false, "http_status": 429, "headers": [{"retry-after": "5"}], "body": "slow down"} if case == "deny-list"

allow := {
  "allowed": true,
  "query_parameters_to_set": {"page": "2"},
  "query_parameters_to_remove": ["debug"],
} if case == "query"

allow := {"allowed": false, "http_status": 418} if case == "teapot"
`;

interface OpaCase {
  readonly name: string;
  readonly request: CheckRequest;
  /** Sent as these bytes instead of the encoded request (for what an encoder would refuse to write). */
  readonly bytes?: Uint8Array;
  /** What the plugin answers, where comparing alone would not show it (both could be wrong alike). */
  readonly theirs?: Observed;
  /** For a deliberate difference: checks it, and returns the two answers with it taken out. */
  readonly differs?: (theirs: Observed, ours: Observed) => [Observed, Observed];
}

const status = (o: Observed) =>
  "response" in o ? ((o.response as JsonObject)["status"] as JsonObject)?.["code"] : undefined;
const withStatus = (o: Observed, code: number): Observed =>
  "response" in o ? { response: { ...(o.response as JsonObject), status: { code } } } : o;

/**
 * `request` encoded, with every "\u00ff" (C3 BF in UTF-8) overwritten by FF FE: two bytes that are not
 * UTF-8, so no length changes. Envoy sends such strings when its sanitizer
 * (envoy.reloadable_features.service_sanitize_non_utf8_strings) is off.
 */
function withByteFF(request: CheckRequest): Uint8Array {
  const bytes = Buffer.from(toBinary(CheckRequestSchema, request));
  let at = bytes.indexOf(markerBytes);
  while (at >= 0) {
    bytes[at] = 0xff;
    bytes[at + 1] = 0xfe;
    at = bytes.indexOf(markerBytes, at + 2);
  }
  return bytes;
}
const marker = "\u00ff";
const markerBytes = Buffer.from(marker, "utf8");

/** A CheckRequest as Envoy sends one for an HTTP request, with the given extras. */
function httpCheck(xCase: string, http: Record<string, unknown> = {}, attributes: Record<string, unknown> = {}) {
  const headers = {
    ":method": "POST",
    ":path": "/api/v1/items?x=1&y=a+b",
    "x-case": xCase,
    ...(http["headers"] ?? {}),
  };
  return create(CheckRequestSchema, {
    attributes: {
      source: {
        address: {
          address: {
            case: "socketAddress",
            value: { address: "10.0.0.7", portSpecifier: { case: "portValue", value: 51_234 } },
          },
        },
        principal: "spiffe://cluster.local/ns/shop/sa/web",
      },
      destination: {
        address: {
          address: {
            case: "socketAddress",
            value: { address: "10.0.0.9", portSpecifier: { case: "portValue", value: 8080 } },
          },
        },
      },
      request: {
        time: { seconds: 1_767_614_400n, nanos: 123_000_000 },
        http: {
          id: "4242",
          method: "POST",
          path: "/api/v1/items?x=1&y=a+b",
          host: "shop.example.com",
          scheme: "https",
          protocol: "HTTP/1.1",
          size: 2n,
          ...http,
          headers,
        },
      },
      contextExtensions: { route: "items" },
      ...attributes,
    },
  });
}

const cases: readonly OpaCase[] = [
  {
    name: "input: a rich HTTP request, echoed by the policy",
    request: httpCheck("echo", {
      headers: { "content-type": "application/json", "content-length": "2" },
      body: "{}",
    }),
  },
  {
    name: "input: JSON numbers beyond 2^53 in the body stay exact (compared as written)",
    request: httpCheck("echo", {
      headers: { "content-type": "application/json" },
      body: '{"id": 12345678901234567890, "n": [9007199254740993, -9007199254740993], "x": 0.1}',
    }),
  },
  {
    name: "input: a body Envoy cut short (x-envoy-auth-partial-body) is truncated_body",
    request: httpCheck("echo", {
      headers: { "content-type": "application/json", "x-envoy-auth-partial-body": "true" },
      body: '{"a":',
    }),
  },
  {
    name: "input: no source principal, form body, escaped path",
    request: create(CheckRequestSchema, {
      attributes: {
        request: {
          http: {
            method: "PUT",
            path: "/a%20b/c?q=1&q=2",
            headers: { "x-case": "echo", "content-type": "application/x-www-form-urlencoded" },
            body: "k=v&k=w",
          },
        },
      },
    }),
  },
  { name: "boolean decision: allow", request: httpCheck("bool-allow") },
  { name: "boolean decision: deny (no rule)", request: httpCheck("nothing") },
  { name: "object decision: allow with headers to add, remove and respond with", request: httpCheck("object-allow") },
  {
    name: "(gantry differs) object decision: deny 401 with body and headers — gRPC status UNAUTHENTICATED, not PERMISSION_DENIED",
    request: httpCheck("object-deny"),
    differs: (theirs, ours) => {
      expect([status(theirs), status(ours)]).toEqual([7, 16]);
      return [withStatus(theirs, 16), ours];
    },
  },
  { name: "object decision: deny with nothing but allowed: false", request: httpCheck("object-deny-default") },
  {
    name: "object decision: headers and response_headers_to_add as lists of objects, with dynamic_metadata",
    request: httpCheck("headers-list"),
  },
  { name: "object decision: deny 429 with headers as a list and a body", request: httpCheck("deny-list") },
  {
    name: "(gantry differs) header values and a body that are not UTF-8 get a decision (U+FFFD for each bad byte); the plugin answers INTERNAL",
    request: httpCheck("echo", { headers: { "x-bin": `a${marker}b` }, body: `{"k": "${marker}"}` }),
    bytes: withByteFF(httpCheck("echo", { headers: { "x-bin": `a${marker}b` }, body: `{"k": "${marker}"}` })),
    differs: (theirs, ours) => {
      expect(theirs).toEqual({ grpcError: "INTERNAL" });
      expect(status(ours)).toBe(7);
      const input = JSON.parse(
        String(((ours as { response: JsonObject }).response["deniedResponse"] as JsonObject)["body"]),
      );
      expect(input.attributes.request.http.headers["x-bin"]).toBe("a\ufffd\ufffdb");
      expect(input.attributes.request.http.body).toBe('{"k": "\ufffd\ufffd"}');
      return [ours, ours];
    },
  },
  {
    name: "input: a multipart/form-data body, a JSON part parsed",
    request: httpCheck("echo", {
      headers: { "content-type": "multipart/form-data; boundary=XyZ" },
      body: [
        "--XyZ",
        'Content-Disposition: form-data; name="title"',
        "",
        "hello",
        "--XyZ",
        'Content-Disposition: form-data; name="meta"',
        "Content-Type: application/json",
        "",
        '{"n": 1, "tags": ["a"]}',
        "--XyZ",
        'Content-Disposition: form-data; name="title"',
        "",
        "again",
        "--XyZ--",
        "",
      ].join("\r\n"),
    }),
  },
  {
    name: "object decision: allow with query parameters to set and to remove",
    request: httpCheck("query"),
  },
  {
    name: "a CheckRequest over 4 MiB: RESOURCE_EXHAUSTED in both",
    request: httpCheck("bool-allow", { body: "x".repeat(5 * 1024 * 1024) }),
    theirs: { grpcError: "RESOURCE_EXHAUSTED" },
  },
  // The plugin refuses a request it cannot turn into `input` with 400 and its parse error, without asking
  // the policy; so does Gantry. The policy here would allow each of them.
  {
    name: "a JSON body that does not parse: 400 request_parse_error, the policy not asked (the error in Gantry's words)",
    request: httpCheck("bool-allow", { headers: { "content-type": "application/json" }, body: '{"a": tru' }),
    theirs: refused("unexpected EOF"),
    differs: inGantrysWords(/^request_parse_error: the body is not valid JSON/),
  },
  {
    name: "a multipart body without its closing delimiter: 400 request_parse_error, the policy not asked (the error in Gantry's words)",
    request: httpCheck("bool-allow", {
      headers: { "content-type": "multipart/form-data; boundary=XyZ" },
      body: ["--XyZ", 'Content-Disposition: form-data; name="role"', "", "user"].join("\r\n"),
    }),
    theirs: refused("unexpected EOF"),
    differs: inGantrysWords(/^request_parse_error: a multipart body without its closing delimiter$/),
  },
  {
    name: "a path with a bad escape: 400 request_parse_error, the policy not asked",
    request: httpCheck("bool-allow", { path: "/files/100%zz/x" }),
    theirs: refused('invalid URL escape "%zz"'),
  },
  {
    name: "a path ending in a cut-short escape: 400 request_parse_error, the policy not asked",
    request: httpCheck("bool-allow", { path: "/files/a%4" }),
    theirs: refused('invalid URL escape "%4"'),
  },
  {
    name: "a query with a ';' pair: 400 request_parse_error, the policy not asked",
    request: httpCheck("bool-allow", { path: "/items?a=1;b=2&c=3" }),
    theirs: refused("invalid semicolon separator in query"),
  },
  {
    name: "a query value with a bad escape: 400 request_parse_error, the policy not asked",
    request: httpCheck("bool-allow", { path: "/items?c=3&admin=%g1" }),
    theirs: refused('invalid URL escape "%g1"'),
  },
  {
    name: "a query of more than 10000 pairs: 400 request_parse_error, the policy not asked",
    request: httpCheck("bool-allow", { path: `/items?${"a=1&".repeat(10_000)}admin=1` }),
    theirs: refused("number of URL query parameters exceeded limit"),
  },
  {
    name: "a form body with a ';' pair: 400 request_parse_error, the policy not asked",
    request: httpCheck("bool-allow", {
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "role=user;admin=1",
    }),
    theirs: refused("invalid semicolon separator in query"),
  },
  {
    name: "a JSON body whose content-length is not a number: 400 request_parse_error, the policy not asked",
    request: httpCheck("bool-allow", {
      headers: { "content-type": "application/json", "content-length": "2x" },
      body: "{}",
    }),
    theirs: refused('strconv.ParseInt: parsing "2x": invalid syntax'),
  },
  {
    name: "input: path and query escapes that decode to bytes that are not UTF-8 are decided, not refused",
    request: httpCheck("echo", { path: "/files/%FF?k=%FE" }),
  },
  {
    name: "(gantry differs) http_status 418, outside Envoy's StatusCode enum: denied with 418; the plugin fails the call",
    request: httpCheck("teapot"),
    differs: (theirs, ours) => {
      expect("grpcError" in theirs).toBe(true);
      expect(((ours as { response: JsonObject }).response["deniedResponse"] as JsonObject)["status"]).toEqual({
        code: 418,
      });
      return [ours, ours];
    },
  },
];

/** The plugin's answer to a request it cannot turn into `input`: a 400 denial carrying its parse error. */
function refused(error: string): Observed {
  const message = `request_parse_error: ${error}`;
  return {
    response: {
      status: { code: 7, message },
      deniedResponse: { status: { code: "BadRequest" }, body: message },
    },
  };
}

/**
 * For a refusal whose parse error comes from a Go parser whose wording is no protocol (JSON, multipart):
 * checks Gantry's own wording, and takes the difference out.
 */
function inGantrysWords(ours: RegExp): NonNullable<OpaCase["differs"]> {
  return (theirs, gantry) => {
    expect(refusal(gantry)).toMatch(ours);
    return [theirs, withRefusal(gantry, refusal(theirs) as string)];
  };
}

/** The body of a denial. */
function refusal(o: Observed): string | undefined {
  if (!("response" in o)) return undefined;
  const denied = (o.response as JsonObject)["deniedResponse"] as JsonObject | undefined;
  return denied?.["body"] as string | undefined;
}

function withRefusal(o: Observed, body: string): Observed {
  if (!("response" in o)) return o;
  const response = structuredClone(o.response as JsonObject);
  const denied = response["deniedResponse"] as JsonObject;
  denied["body"] = body;
  return { response };
}

/** Dynamic metadata only Gantry adds (which config and step decided, and why), a deliberate extra. */
const gantryDiagnostics = ["config_id", "step", "reason"];

/**
 * A CheckResponse reduced to what Envoy acts on, for both sides alike: headers sorted by name (the plugin
 * adds them in Go's random map order), `append: false` dropped (Envoy's ext_authz reads it as unset), an
 * empty `okResponse` dropped (Envoy allows the same without one), a `deniedResponse` that says only 403
 * dropped (Envoy's default for a denial without one), the gRPC status without its message (Envoy reads
 * only the code; the plugin repeats its parse error there), and the dynamic metadata without the
 * plugin's random `decision_id` and without Gantry's diagnostics.
 */
function comparable(response: JsonObject): JsonObject {
  const out = structuredClone(response);
  const grpcStatus = out["status"] as JsonObject | undefined;
  if (grpcStatus) delete grpcStatus["message"];
  for (const part of ["okResponse", "deniedResponse"]) {
    const section = out[part] as JsonObject | undefined;
    if (!section) continue;
    for (const list of ["headers", "responseHeadersToAdd"]) {
      const headers = section[list] as JsonObject[] | undefined;
      if (!headers) continue;
      for (const h of headers) if (h["append"] === false) delete h["append"];
      headers.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    }
    if (Object.keys(section).length === 0) delete out[part];
    if (JSON.stringify(section) === JSON.stringify({ status: { code: "Forbidden" } })) delete out[part];
  }
  const metadata = out["dynamicMetadata"] as JsonObject | undefined;
  if (metadata) {
    for (const key of ["decision_id", ...gantryDiagnostics]) delete metadata[key];
    if (Object.keys(metadata).length === 0) delete out["dynamicMetadata"];
  }
  return out;
}

/** The input the policy echoed in the body of its denial, parsed; and the rest of the response, comparable. */
function split(
  observed: Observed,
  echoes: boolean,
): { input: JsonValue | undefined; longNumbers?: string[]; rest: Observed } {
  if (!("response" in observed)) return { input: undefined, rest: observed };
  const response = comparable(observed.response as JsonObject);
  const denied = response["deniedResponse"] as JsonObject | undefined;
  const body = denied?.["body"];
  if (!echoes || typeof body !== "string") return { input: undefined, rest: { response } };
  delete (denied as JsonObject)["body"];
  // JSON.parse here would round long numbers on both sides alike; they are compared as written.
  const longNumbers = (body.match(/-?\d{16,}/g) ?? []).sort();
  return { input: JSON.parse(body) as JsonValue, longNumbers, rest: { response } };
}

describe.skipIf(!plugin || !opa)("the OPA-Envoy plugin and gantry extauth (OPA) answer alike", () => {
  let dir: string;
  let theirs: AuthzPeer;
  let ours: AuthzPeer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "gantry-compat-opa-"));
    theirs = await startPlugin(plugin as string, dir, policy);
    ours = await startGantryExtauth(opa as string, dir, policy);
  }, 120_000);

  afterAll(async () => {
    await theirs?.stop();
    await ours?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const ask = (peer: AuthzPeer) => (c.bytes ? peer.checkBytes(c.bytes) : peer.check(c.request));
    let [x, y] = [await ask(theirs), await ask(ours)];
    if (c.theirs) expect(x).toEqual(c.theirs);
    if (c.differs) [x, y] = c.differs(x, y);
    const echoes = c.request.attributes?.request?.http?.headers["x-case"] === "echo";
    const [a, b] = [split(x, echoes), split(y, echoes)];
    expect(b.input).toEqual(a.input);
    expect(b.longNumbers).toEqual(a.longNumbers);
    expect(b.rest).toEqual(a.rest);
  });
});
