import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthConfigError, type CheckContext, type EvaluatorDeps } from "../../../src/extauth/evaluator.js";
import {
  buildPolicyInput,
  createOpaAuthFactory,
  decisionToVerdict,
  normalizeEntrypoint,
  policyInputJson,
} from "../../../src/extauth/evaluators/opa/index.js";
import { goQuote, InputError, parseBody, parsePath, parseQuery } from "../../../src/extauth/evaluators/opa/input.js";
import { type ExtAuthServer, startExtAuthServer } from "../../../src/extauth/index.js";
import { CheckRequestSchema } from "../../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { type OpaAuth, OpaAuthSchema } from "../../../src/gen/gantry/extauth/v1/opa_pb.js";
import { createLogger, systemClock } from "../../../src/lib/index.js";
import { needTool } from "../../support/index.js";
import { type CheckClient, checkClient, checkRequest, quietLogger, summary } from "../helpers.js";

const run = promisify(execFile);

interface RequestShape {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
}

function checkContext({ method = "GET", path = "/", headers = {}, body = "" }: RequestShape): CheckContext {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const request = create(CheckRequestSchema, {
    attributes: {
      source: {
        address: {
          address: {
            case: "socketAddress",
            value: { address: "10.0.0.7", portSpecifier: { case: "portValue", value: 51000 } },
          },
        },
      },
      request: { http: { id: "req-1", method, path, host: "api.example.com", scheme: "http", headers: lower, body } },
      contextExtensions: { config_id: "opa" },
    },
  });
  return { request, headers: lower, state: new Map(), signal: new AbortController().signal };
}

describe("OPA-Envoy input shape", () => {
  it("is the CheckRequest as proto JSON plus the parsed fields and version", () => {
    const context = checkContext({
      method: "POST",
      path: "/api/v1/users%2Fall?id=1&id=2&q=a+b",
      headers: { "content-type": "application/json", "content-length": "13" },
      body: '{"name":"ab"}',
    });
    const input = buildPolicyInput(context.request, { skipRequestBodyParse: false });
    expect(input["attributes"]).toMatchObject({
      request: { http: { method: "POST", host: "api.example.com", headers: { "content-type": "application/json" } } },
      contextExtensions: { config_id: "opa" },
      source: { address: { socketAddress: { address: "10.0.0.7", portValue: 51000 } } },
    });
    expect(input["version"]).toEqual({ ext_authz: "v3", encoding: "protojson" });
    expect(input["parsed_path"]).toEqual(["api", "v1", "users", "all"]);
    expect(input["parsed_query"]).toEqual({ id: ["1", "2"], q: ["a b"] });
    expect(input["parsed_body"]).toEqual({ name: "ab" });
    expect(input["truncated_body"]).toBe(false);
  });

  it("maps the CheckRequest as the plugin's reflection does: time {seconds, nanos}, numbers, source_principal", () => {
    const request = create(CheckRequestSchema, {
      attributes: {
        source: { principal: "spiffe://x/y" },
        request: {
          time: { seconds: 1_767_614_400n, nanos: 5 },
          http: {
            size: 7n,
            headers: { "x-envoy-auth-partial-body": "true", "content-type": "application/json" },
            body: '{"a":',
          },
        },
      },
    });
    const input = buildPolicyInput(request, { skipRequestBodyParse: false });
    expect(input["attributes"]).toMatchObject({
      request: { time: { seconds: 1_767_614_400, nanos: 5 }, http: { size: 7 } },
    });
    expect(input["source_principal"]).toBe("spiffe://x/y");
    expect(input["truncated_body"]).toBe(true);
    expect(input["parsed_body"]).toBeNull();
  });

  it("hands OPA a JSON body's numbers as written, beyond 2^53 too", () => {
    const request = create(CheckRequestSchema, {
      attributes: {
        request: { http: { headers: { "content-type": "application/json" }, body: '{"id": 12345678901234567890}' } },
      },
    });
    const text = policyInputJson(request, { skipRequestBodyParse: false });
    expect(text).toContain('"parsed_body":{"id": 12345678901234567890}');
    expect(JSON.parse(text)).toMatchObject({ truncated_body: false, parsed_path: [""] });
  });

  it("leaves the body fields out when body parsing is skipped", () => {
    const input = buildPolicyInput(checkContext({ body: "{}" }).request, { skipRequestBodyParse: true });
    expect(Object.keys(input)).not.toContain("parsed_body");
    expect(Object.keys(input)).not.toContain("truncated_body");
  });

  it("parses paths as OPA-Envoy does", () => {
    expect(parsePath("/")).toEqual([""]);
    expect(parsePath("//a/b/")).toEqual(["a", "b", ""]);
    expect(parsePath("/caf%C3%A9")).toEqual(["café"]);
    expect(parsePath("/a+b%2Fc")).toEqual(["a+b", "c"]);
    // Go decodes escapes to bytes without asking for UTF-8; JSON then shows a bad byte as U+FFFD.
    expect(parsePath("/x%FF%e9")).toEqual(["x\ufffd\ufffd"]);
  });

  it("refuses a path with a bad escape, worded as Go's url.PathUnescape", () => {
    const refusal = (path: string) => () => parsePath(path);
    expect(refusal("/bad%zz/x")).toThrow(new InputError('invalid URL escape "%zz"'));
    expect(refusal("/bad%4")).toThrow(new InputError('invalid URL escape "%4"'));
    expect(refusal("/bad%")).toThrow(new InputError('invalid URL escape "%"'));
    expect(refusal("/bad%4é")).toThrow(new InputError('invalid URL escape "%4\\xc3"'));
    expect(refusal("/bad%é")).toThrow(new InputError('invalid URL escape "%é"'));
  });

  it("parses queries with Go's rules", () => {
    expect(parseQuery("")).toEqual({});
    expect(parseQuery("a=1&a=2&b&c=x%20y&d=a+b&&")).toEqual({ a: ["1", "2"], b: [""], c: ["x y"], d: ["a b"] });
    expect(parseQuery("k=%FF")).toEqual({ k: ["\ufffd"] });
    expect(parseQuery(`${"a=1&".repeat(9_999)}a=2`)["a"]).toHaveLength(10_000);
  });

  it("refuses a query with a ';' pair, a bad escape or over 10000 pairs, the first problem named as Go does", () => {
    const refusal = (query: string) => () => parseQuery(query);
    expect(refusal("ok=1&semi=1;2")).toThrow(new InputError("invalid semicolon separator in query"));
    expect(refusal("ok=1&bad=%zz&semi=1;2")).toThrow(new InputError('invalid URL escape "%zz"'));
    expect(refusal("%g=1")).toThrow(new InputError('invalid URL escape "%g"'));
    expect(refusal("ok=1&semi=;&bad=%zz")).toThrow(new InputError("invalid semicolon separator in query"));
    expect(refusal(`${"a=1&".repeat(10_000)}a=2`)).toThrow(
      new InputError("number of URL query parameters exceeded limit"),
    );
  });

  it("quotes as Go's strconv.Quote does", () => {
    const quote = (bytes: number[]) => goQuote(Uint8Array.from(bytes));
    expect(quote([0x25, 0x7a, 0x22])).toBe('"%z\\""');
    expect(quote([0x25, 0x0a, 0x5c])).toBe('"%\\n\\\\"');
    expect(quote([0x25, 0x01, 0x7f])).toBe('"%\\x01\\x7f"');
    expect(quote([0x25, 0xc3, 0xa9])).toBe('"%é"');
    expect(quote([0x25, 0xff, 0xc3])).toBe('"%\\xff\\xc3"');
    expect(quote([0xc2, 0xad])).toBe('"\\u00ad"');
  });

  it("parses JSON and form bodies and marks truncated ones", () => {
    const json = { "content-type": "application/json" };
    expect(parseBody(json, '{"a":[1,2]}', undefined)).toEqual({ parsed: { a: [1, 2] }, truncated: false });
    expect(parseBody({ ...json, "content-length": "+11" }, '{"a":[1,2]}', undefined).truncated).toBe(false);
    expect(parseBody({ ...json, "content-length": "-1" }, '{"a":[1,2]}', undefined).truncated).toBe(false);
    expect(parseBody({ ...json, "content-length": "100" }, '{"a":1}', undefined)).toEqual({
      parsed: null,
      truncated: true,
    });
    expect(parseBody(json, "", new TextEncoder().encode('{"raw":true}'))).toEqual({
      parsed: { raw: true },
      truncated: false,
    });
    expect(parseBody({ "content-type": "application/x-www-form-urlencoded" }, "x=1&x=2&y=z", undefined)).toEqual({
      parsed: { x: ["1", "2"], y: ["z"] },
      truncated: false,
    });
    expect(parseBody({ "content-type": "text/plain" }, "hello", undefined)).toEqual({ parsed: null, truncated: false });
    expect(parseBody({ "content-type": "text/plain", "content-length": "x" }, "{", undefined).parsed).toBeNull();
  });

  it("refuses a body that does not parse, or a bad content-length, without quoting the body", () => {
    const json = { "content-type": "application/json" };
    const refusal = (headers: Record<string, string>, body: string) => () => parseBody(headers, body, undefined);
    expect(refusal(json, '{"secret": "hunter2"')).toThrow(/^the body is not valid JSON/);
    expect(refusal(json, '{"secret": "hunter2"')).not.toThrow(/hunter2/);
    expect(refusal(json, "{} {}")).toThrow(/^the body is not valid JSON/);
    expect(refusal({ "content-type": "application/x-www-form-urlencoded" }, "role=user;admin=1")).toThrow(
      new InputError("invalid semicolon separator in query"),
    );
    expect(refusal({ ...json, "content-length": "2x" }, "{}")).toThrow(
      new InputError('strconv.ParseInt: parsing "2x": invalid syntax'),
    );
    expect(refusal({ ...json, "content-length": "" }, "{}")).toThrow(
      new InputError('strconv.ParseInt: parsing "": invalid syntax'),
    );
    expect(refusal({ ...json, "content-length": "9223372036854775808" }, "{}")).toThrow(
      new InputError('strconv.ParseInt: parsing "9223372036854775808": value out of range'),
    );
  });
});

describe("OPA-Envoy multipart bodies", () => {
  const contentType = { "content-type": 'multipart/form-data; boundary="XyZ"' };
  const multipart = [
    "preamble",
    "--XyZ",
    'Content-Disposition: form-data; name="tag"',
    "",
    "red",
    "--XyZ",
    'Content-Disposition: form-data; name="tag"',
    "",
    "blue",
    "--XyZ",
    'Content-Disposition: form-data; name="meta"',
    "Content-Type: application/json",
    "",
    '{"size":2}',
    "--XyZ",
    'Content-Disposition: form-data; name="upload"; filename="a.txt"',
    "Content-Type: text/plain",
    "",
    "line one\r\nline two",
    "--XyZ",
    "Content-Disposition: attachment",
    "",
    "ignored",
    "--XyZ--",
    "",
  ].join("\r\n");

  it("parses form fields into arrays of values, JSON parts parsed", () => {
    expect(parseBody(contentType, multipart, undefined)).toEqual({
      parsed: { tag: ["red", "blue"], meta: [{ size: 2 }], upload: ["line one\r\nline two"] },
      truncated: false,
    });
  });

  it("gives null for a body without a boundary, and skips a part without headers (so without a name)", () => {
    expect(parseBody({ "content-type": "multipart/form-data" }, multipart, undefined).parsed).toBeNull();
    const headerless = ["--XyZ", "", "loose", "--XyZ--", ""].join("\r\n");
    expect(parseBody(contentType, headerless, undefined)).toEqual({ parsed: {}, truncated: false });
  });

  it("refuses a body without its closing delimiter, or with a JSON part that does not parse", () => {
    expect(() => parseBody(contentType, multipart.replace("--XyZ--", ""), undefined)).toThrow(
      new InputError("a multipart body without its closing delimiter"),
    );
    expect(() => parseBody(contentType, multipart.replace('{"size":2}', "{size"), undefined)).toThrow(
      /^a multipart part of type JSON is not valid JSON/,
    );
  });
});

describe("OPA-Envoy decision shape", () => {
  it("reads a boolean", () => {
    expect(decisionToVerdict(true)).toEqual({ kind: "allow" });
    // Headers as a list of objects, as the OPA-Envoy plugin takes them too.
    expect(decisionToVerdict({ allowed: true, headers: [{ a: "1" }, { a: "2", b: "3" }] })).toEqual({
      kind: "allow",
      headers: [
        { name: "a", value: "1" },
        { name: "a", value: "2", append: true },
        { name: "b", value: "3" },
      ],
    });
    expect(decisionToVerdict(false)).toEqual({ kind: "deny", status: 403, reason: "denied by policy" });
  });

  it("reads an allowing object with every field", () => {
    expect(
      decisionToVerdict({
        allowed: true,
        headers: { "x-user": "alice", "x-role": ["admin", "dev"] },
        request_headers_to_remove: ["authorization"],
        response_headers_to_add: { "x-checked": "yes" },
        query_parameters_to_set: { tenant: "t1" },
        query_parameters_to_remove: ["debug"],
        dynamic_metadata: { user: "alice" },
      }),
    ).toEqual({
      kind: "allow",
      headers: [
        { name: "x-user", value: "alice" },
        { name: "x-role", value: "admin" },
        { name: "x-role", value: "dev", append: true },
      ],
      headersToRemove: ["authorization"],
      responseHeaders: [{ name: "x-checked", value: "yes" }],
      queryParametersToSet: [{ key: "tenant", value: "t1" }],
      queryParametersToRemove: ["debug"],
      dynamicMetadata: { user: "alice" },
    });
  });

  it("reads a denying object with status, body and headers", () => {
    expect(
      decisionToVerdict({ allowed: false, http_status: 401, body: "nope", headers: { "www-authenticate": "Bearer" } }),
    ).toEqual({
      kind: "deny",
      status: 401,
      reason: "denied by policy",
      body: "nope",
      headers: [{ name: "www-authenticate", value: "Bearer" }],
    });
  });

  it("denies on an undefined or malformed decision, saying why", () => {
    const reasonOf = (d: Parameters<typeof decisionToVerdict>[0]) => {
      const verdict = decisionToVerdict(d);
      expect(verdict.kind).toBe("deny");
      return verdict.kind === "deny" ? verdict.reason : "";
    };
    expect(reasonOf(undefined)).toMatch(/undefined/);
    expect(reasonOf("yes")).toMatch(/a string, not a boolean or an object/);
    expect(reasonOf({ allowed: "true" })).toMatch(/`allowed` must be a boolean/);
    expect(reasonOf({ allowed: true, headers: { a: 1 } })).toMatch(/`headers.a` must be a string or an array/);
    expect(reasonOf({ allowed: true, headers: [{ a: "1" }, 2] })).toMatch(/`headers\[1\]` must be an object/);
    expect(reasonOf({ allowed: false, http_status: 42 })).toMatch(/http_status/);
  });

  it("accepts the entrypoint as a path or a data reference", () => {
    expect(normalizeEntrypoint("", "f")).toBe("envoy/authz/allow");
    expect(normalizeEntrypoint("data.httpapi.authz.decision", "f")).toBe("httpapi/authz/decision");
    expect(normalizeEntrypoint("envoy/authz/allow", "f")).toBe("envoy/authz/allow");
    expect(() => normalizeEntrypoint("envoy authz", "configs[0].opaAuth.entrypoint")).toThrow(
      /configs\[0\]\.opaAuth\.entrypoint/,
    );
  });
});

const opa = needTool("opa", "run `npm test` (it builds opa v1.22.2 from the Go module proxy into .cache/bin)");

const rbacPolicy = `package envoy.authz

import rego.v1

default allow := false

roles := {"alice": ["admin"], "bob": ["reader"]}

grants := {"admin": [{"method": "GET"}, {"method": "POST"}], "reader": [{"method": "GET"}]}

user := input.attributes.request.http.headers["x-user"]

allow if {
	some role in roles[user]
	some grant in grants[role]
	grant.method == input.attributes.request.http.method
	input.parsed_path[0] == "api"
}
`;

const objectPolicy = `package envoy.authz

import rego.v1

default allow := {"allowed": false, "http_status": 401, "body": "who are you?", "headers": {"www-authenticate": "Basic"}}

allow := {
	"allowed": true,
	"headers": {"x-user": input.attributes.request.http.headers["x-user"]},
	"request_headers_to_remove": ["x-secret"],
	"dynamic_metadata": {
		"parsed_path": input.parsed_path,
		"parsed_query": input.parsed_query,
		"parsed_body": input.parsed_body,
		"truncated_body": input.truncated_body,
		"version": input.version,
		"config_id": input.attributes.contextExtensions.config_id,
		"team": data.teams[input.attributes.request.http.headers["x-user"]],
	},
} if input.attributes.request.http.headers["x-user"]
`;

describe.skipIf(!opa)("opaAuth evaluator with opa-compiled Rego", () => {
  let dir: string;
  let cacheDir: string;
  let deps: EvaluatorDeps;
  const factory = () => createOpaAuthFactory({ opaCommand: opa ?? "opa", cacheDir });
  const settings = (init: Parameters<typeof create<typeof OpaAuthSchema>>[1]): OpaAuth => create(OpaAuthSchema, init);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "gantry-opa-test-"));
    cacheDir = join(dir, "cache");
    writeFileSync(join(dir, "rbac.rego"), rbacPolicy);
    writeFileSync(join(dir, "object.rego"), objectPolicy);
    writeFileSync(join(dir, "broken.rego"), "package envoy.authz\n\nallow if {\n");
    deps = {
      clock: systemClock,
      logger: createLogger({ service: "test", level: "silent" }),
      redis: undefined,
      baseDir: dir,
    };
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("allows and denies by an RBAC policy", async () => {
    const evaluator = await factory()(settings({ regoFiles: ["rbac.rego"] }), deps, "configs[0].opaAuth");
    const verdict = (shape: RequestShape) => evaluator.evaluate(checkContext(shape));
    expect(await verdict({ method: "POST", path: "/api/items", headers: { "x-user": "alice" } })).toEqual({
      kind: "allow",
    });
    expect(await verdict({ method: "GET", path: "/api/items", headers: { "x-user": "bob" } })).toEqual({
      kind: "allow",
    });
    expect(await verdict({ method: "POST", path: "/api/items", headers: { "x-user": "bob" } })).toMatchObject({
      kind: "deny",
      status: 403,
    });
    expect(await verdict({ method: "GET", path: "/other", headers: { "x-user": "alice" } })).toMatchObject({
      kind: "deny",
    });
    expect(await verdict({ method: "GET", path: "/api" })).toMatchObject({ kind: "deny" });
  });

  it("passes the OPA-Envoy input to the policy and reads its object decision", async () => {
    const evaluator = await factory()(
      settings({ modules: { "object.rego": objectPolicy }, data: { teams: { alice: "payments" } } }),
      deps,
      "configs[0].opaAuth",
    );
    const allowed = await evaluator.evaluate(
      checkContext({
        method: "POST",
        path: "/api/v1/pay?amount=10&amount=20",
        headers: { "x-user": "alice", "content-type": "application/json" },
        body: '{"to":"bob"}',
      }),
    );
    expect(allowed).toEqual({
      kind: "allow",
      headers: [{ name: "x-user", value: "alice" }],
      headersToRemove: ["x-secret"],
      dynamicMetadata: {
        parsed_path: ["api", "v1", "pay"],
        parsed_query: { amount: ["10", "20"] },
        parsed_body: { to: "bob" },
        truncated_body: false,
        version: { ext_authz: "v3", encoding: "protojson" },
        config_id: "opa",
        team: "payments",
      },
    });
    const malformedBody = await evaluator.evaluate(
      checkContext({
        method: "POST",
        headers: { "x-user": "alice", "content-type": "application/json" },
        body: "{oops",
      }),
    );
    // The plugin refuses what it cannot parse, and so does Gantry, the policy not asked.
    const problem = "request_parse_error: the body is not valid JSON (at character 1)";
    expect(malformedBody).toEqual({ kind: "deny", status: 400, reason: problem, body: problem });
    const refused = { kind: "deny", status: 400, reason: expect.stringMatching(/^request_parse_error: /) };
    for (const path of ["/api?admin=1;x", "/api?admin=%zz", "/api/%zz"]) {
      expect(await evaluator.evaluate(checkContext({ path, headers: { "x-user": "alice" } }))).toMatchObject(refused);
    }
    expect(await evaluator.evaluate(checkContext({}))).toEqual({
      kind: "deny",
      status: 401,
      reason: "denied by policy",
      body: "who are you?",
      headers: [{ name: "www-authenticate", value: "Basic" }],
    });
  });

  it("compiles each policy once and reuses the bundle from the cache", async () => {
    const bundles = () => readdirSync(cacheDir).filter((f) => f.endsWith(".tar.gz"));
    await factory()(settings({ regoFiles: ["rbac.rego"] }), deps, "configs[0].opaAuth");
    const before = bundles();
    const first = before[0] ?? "";
    const mtime = statSync(join(cacheDir, first)).mtimeMs;
    await factory()(settings({ regoFiles: ["rbac.rego"] }), deps, "configs[0].opaAuth");
    expect(bundles()).toEqual(before);
    expect(statSync(join(cacheDir, first)).mtimeMs).toBe(mtime);
    await factory()(settings({ regoFiles: ["rbac.rego"], entrypoint: "envoy/authz/user" }), deps, "configs[0].opaAuth");
    expect(bundles()).toHaveLength(before.length + 1);
  });

  it("compiles the same policy concurrently, and without a writable cache", async () => {
    const concurrentCache = join(dir, "concurrent-cache");
    const load = () =>
      createOpaAuthFactory({ opaCommand: opa ?? "opa", cacheDir: concurrentCache })(
        settings({ regoFiles: ["rbac.rego"] }),
        deps,
        "configs[0].opaAuth",
      );
    const evaluators = await Promise.all([load(), load(), load()]);
    for (const evaluator of evaluators) {
      expect(await evaluator.evaluate(checkContext({ path: "/api", headers: { "x-user": "bob" } }))).toEqual({
        kind: "allow",
      });
    }
    expect(readdirSync(concurrentCache)).toHaveLength(1);
    const unwritable = join(dir, "rbac.rego", "cache");
    const evaluator = await createOpaAuthFactory({ opaCommand: opa ?? "opa", cacheDir: unwritable })(
      settings({ regoFiles: ["rbac.rego"] }),
      deps,
      "configs[0].opaAuth",
    );
    expect(await evaluator.evaluate(checkContext({ path: "/api", headers: { "x-user": "bob" } }))).toEqual({
      kind: "allow",
    });
  });

  it("compiles a policy written for OPA before 1.0 when asked to", async () => {
    const v0Policy = 'package envoy.authz\n\ndefault allow = false\n\nallow {\n  input.parsed_path[0] == "public"\n}\n';
    const modules = { "legacy.rego": v0Policy };
    const evaluator = await factory()(settings({ modules, v0Compatible: true }), deps, "configs[0].opaAuth");
    expect(await evaluator.evaluate(checkContext({ path: "/public/logo.png" }))).toEqual({ kind: "allow" });
    expect(await evaluator.evaluate(checkContext({ path: "/private" }))).toMatchObject({ kind: "deny" });
    await expect(factory()(settings({ modules }), deps, "configs[0].opaAuth")).rejects.toThrow(
      /configs\[0\]\.opaAuth\.modules: opa build failed: .*legacy\.rego:5: rego_parse_error: `if` keyword is required/s,
    );
  });

  it("takes a prebuilt bundle or a bare policy.wasm", async () => {
    const bundlePath = join(dir, "bundle.tar.gz");
    await run(opa ?? "opa", [
      "build",
      "-t",
      "wasm",
      "-e",
      "envoy/authz/allow",
      "-o",
      bundlePath,
      join(dir, "rbac.rego"),
    ]);
    await run("tar", ["-xzf", bundlePath, "-C", dir, "/policy.wasm"]).catch(() =>
      run("tar", ["-xzf", bundlePath, "-C", dir, "policy.wasm"]),
    );
    for (const wasmBundle of ["bundle.tar.gz", "policy.wasm"]) {
      const evaluator = await factory()(settings({ wasmBundle }), deps, "configs[0].opaAuth");
      expect(await evaluator.evaluate(checkContext({ path: "/api", headers: { "x-user": "bob" } }))).toEqual({
        kind: "allow",
      });
    }
  });

  it("rejects bad configs naming the field", async () => {
    const failure = async (init: Parameters<typeof settings>[0], opaCommand = opa ?? "opa") => {
      try {
        await createOpaAuthFactory({ opaCommand, cacheDir })(settings(init), deps, "configs[2].opaAuth");
      } catch (err) {
        expect(err).toBeInstanceOf(AuthConfigError);
        return (err as Error).message;
      }
      throw new Error("expected an AuthConfigError");
    };
    expect(await failure({ regoFiles: ["broken.rego"] })).toMatch(
      /^configs\[2\]\.opaAuth\.regoFiles: opa build failed: .*broken\.rego/s,
    );
    expect(await failure({ regoFiles: ["missing.rego"] })).toMatch(
      /^configs\[2\]\.opaAuth\.regoFiles\[0\]: cannot read .*ENOENT/,
    );
    expect(await failure({ regoFiles: ["rbac.rego"], entrypoint: "envoy/authz/nothing" })).toMatch(
      /^configs\[2\]\.opaAuth\.regoFiles: opa build failed: .*envoy\/authz\/nothing/s,
    );
    expect(await failure({ regoFiles: ["rbac.rego"], wasmBundle: "bundle.tar.gz" })).toMatch(
      /^configs\[2\]\.opaAuth: give exactly one of/,
    );
    expect(await failure({})).toMatch(/^configs\[2\]\.opaAuth: give exactly one of/);
    expect(await failure({ wasmBundle: "rbac.rego" })).toMatch(
      /^configs\[2\]\.opaAuth\.wasmBundle: not a WebAssembly module/,
    );
    expect(await failure({ wasmBundle: "bundle.tar.gz", entrypoint: "envoy/authz/other" })).toMatch(
      /^configs\[2\]\.opaAuth\.entrypoint: the policy has no entrypoint envoy\/authz\/other \(it has: envoy\/authz\/allow\)/,
    );
    expect(await failure({ modules: { "x.rego": rbacPolicy } }, join(dir, "no-such-opa"))).toMatch(
      /^configs\[2\]\.opaAuth\.modules: the opa CLI .* not found; install it, or give a prebuilt wasmBundle/,
    );
  });
});

describe.skipIf(!opa)("opaAuth through a real Check call", () => {
  let dir: string;
  let server: ExtAuthServer;
  let client: CheckClient;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "gantry-opa-check-"));
    writeFileSync(join(dir, "rbac.rego"), rbacPolicy);
    await run(opa ?? "opa", [
      "build",
      "-t",
      "wasm",
      "-e",
      "envoy/authz/allow",
      "-o",
      join(dir, "rbac.tar.gz"),
      join(dir, "rbac.rego"),
    ]);
    const file = join(dir, "auth.yaml");
    writeFileSync(file, "api:\n  configs:\n    - name: rbac\n      opaAuth: { wasmBundle: rbac.tar.gz }\n");
    server = await startExtAuthServer({
      host: "127.0.0.1",
      grpcPort: 0,
      metricsPort: 0,
      configFile: file,
      logger: quietLogger,
    });
    client = checkClient(server.grpcPort);
  });

  afterAll(async () => {
    client?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("allows and denies by the policy, with the reason in dynamic metadata", async () => {
    const check = async (shape: Parameters<typeof checkRequest>[0]) => summary(await client.check(checkRequest(shape)));
    expect(
      await check({ configId: "api", method: "POST", path: "/api/items", headers: { "x-user": "alice" } }),
    ).toMatchObject({
      allowed: true,
    });
    expect(
      await check({ configId: "api", method: "POST", path: "/api/items", headers: { "x-user": "bob" } }),
    ).toMatchObject({
      allowed: false,
      httpStatus: 403,
      metadata: { config_id: "api", step: "rbac", reason: "denied by policy" },
    });
  });

  it("refuses a query with a ';' pair with 400, as the OPA-Envoy plugin does, though the policy would allow", async () => {
    const problem = "request_parse_error: invalid semicolon separator in query";
    const response = await client.check(
      checkRequest({ configId: "api", method: "POST", path: "/api/items?admin=1;x", headers: { "x-user": "alice" } }),
    );
    expect(summary(response)).toMatchObject({
      allowed: false,
      httpStatus: 400,
      body: problem,
      metadata: { config_id: "api", step: "rbac", reason: problem },
    });
  });
});
