import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, type JsonObject } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CheckRequestSchema } from "../../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { needTool } from "../../support/tools.js";
import { type AuthzPeer, type Observed, startGantryExtauth, startPlugin } from "./peers.js";

/**
 * Rows of docs/migrating-from-opa-envoy.md's settings table, run against the plugin: a Rego v0 policy
 * (`opa run --v0-compatible` there, `opaAuth.v0Compatible: true` here) with the body left unparsed
 * (`skip-request-body-parse: true` there, `opaAuth.skipRequestBodyParse: true` here). The policy echoes
 * its input, which both must build alike.
 */
const plugin = needTool("opa-envoy-plugin", "build it with `node scripts/test-prereqs.mjs` (npm test does this)");
const opa = needTool("opa", "build it with `node scripts/test-prereqs.mjs` (npm test does this)");

/** Rego v0: rule bodies without `if`, `=` for values. */
const policy = `package envoy.authz

default allow = false

allow = {"allowed": false, "http_status": 400, "body": json.marshal(input)} {
  input.attributes.request.http.headers["x-case"] == "echo"
}

allow = true {
  input.attributes.request.http.headers["x-case"] == "allow"
}
`;

function request(xCase: string, body = '{"n": 1}', contentLength = "9") {
  return create(CheckRequestSchema, {
    attributes: {
      request: {
        http: {
          method: "POST",
          path: "/orders/7?expand=items",
          headers: { "x-case": xCase, "content-type": "application/json", "content-length": contentLength },
          body,
        },
      },
    },
  });
}

function echoed(o: Observed): JsonObject {
  if (!("response" in o)) throw new Error(`no response: ${JSON.stringify(o)}`);
  const denied = (o.response as JsonObject)["deniedResponse"] as JsonObject;
  return JSON.parse(String(denied["body"])) as JsonObject;
}

describe.skipIf(!plugin || !opa)("v0 policies and skip-request-body-parse, as the plugin runs them", () => {
  let dir: string;
  let theirs: AuthzPeer;
  let ours: AuthzPeer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "gantry-compat-opa-settings-"));
    mkdirSync(join(dir, "plugin"));
    mkdirSync(join(dir, "gantry"));
    [theirs, ours] = await Promise.all([
      startPlugin(plugin as string, join(dir, "plugin"), policy, {
        pluginConfig: ["skip-request-body-parse: true"],
        pluginArgs: ["--v0-compatible"],
      }),
      startGantryExtauth(opa as string, join(dir, "gantry"), policy, {
        opaAuth: ["v0Compatible: true", "skipRequestBodyParse: true"],
      }),
    ]);
  }, 120_000);

  afterAll(async () => {
    await theirs?.stop();
    await ours?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("both run the v0 policy: a boolean decision allows", async () => {
    const [a, b] = [await theirs.check(request("allow")), await ours.check(request("allow"))];
    expect((a as { response: JsonObject }).response["status"]).toEqual({});
    expect((b as { response: JsonObject }).response["status"]).toEqual({});
  });

  it("both build the same input, without parsed_body and truncated_body", async () => {
    const [a, b] = [echoed(await theirs.check(request("echo"))), echoed(await ours.check(request("echo")))];
    expect(a).not.toHaveProperty("parsed_body");
    expect(a).not.toHaveProperty("truncated_body");
    expect(a["parsed_path"]).toEqual(["orders", "7"]);
    expect(b).toEqual(a);
  });

  it("both ask the policy about a body that would not parse, with a content-length that is no number", async () => {
    const malformed = request("allow", '{"n": ', "x");
    const [a, b] = [await theirs.check(malformed), await ours.check(malformed)];
    expect((a as { response: JsonObject }).response["status"]).toEqual({});
    expect((b as { response: JsonObject }).response["status"]).toEqual({});
  });
});
