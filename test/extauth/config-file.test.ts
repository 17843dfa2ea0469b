import { describe, expect, it } from "vitest";
import { AuthConfigFileError, lineOfField, parseAuthConfigFile } from "../../src/extauth/config-file.js";

function failure(text: string): string {
  try {
    parseAuthConfigFile(text, "auth.yaml");
  } catch (err) {
    expect(err).toBeInstanceOf(AuthConfigFileError);
    return (err as Error).message;
  }
  throw new Error("parsed");
}

describe("auth config files", () => {
  it("reads a map keyed by config id", () => {
    const configs = parseAuthConfigFile(
      `
shop:
  booleanExpr: "keys || users"
  failOnRedirect: true
  denyResponse: { status: 404, body: "not here", headers: { x-why: auth } }
  configs:
    - name: keys
      apiKeyAuth: { headerName: x-api-key, labelSelector: { team: shop } }
    - name: users
      failureModeAllow: true
      basicAuth: { realm: shop, users: { alice: "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=" } }
open: {}
`,
      "auth.yaml",
    );
    expect(configs.map((c) => c.id)).toEqual(["shop", "open"]);
    const shop = configs[0];
    expect(shop?.booleanExpr).toBe("keys || users");
    expect(shop?.failOnRedirect).toBe(true);
    expect(shop?.denyResponse).toMatchObject({ status: 404, body: "not here", headers: { "x-why": "auth" } });
    expect(shop?.configs[0]?.evaluator).toMatchObject({
      case: "apiKeyAuth",
      value: { headerName: "x-api-key", labelSelector: { team: "shop" } },
    });
    expect(shop?.configs[1]).toMatchObject({ name: "users", failureModeAllow: true, evaluator: { case: "basicAuth" } });
  });

  it("reads a list of configs that carry their ids, and durations as text", () => {
    const configs = parseAuthConfigFile(
      `
- id: api
  configs:
    - oauth2:
        accessTokenValidation:
          jwt: { issuer: "https://idp.test", clockSkew: 30s, localJwks: { file: jwks.json } }
`,
      "auth.yaml",
    );
    expect(configs[0]?.id).toBe("api");
    const oauth2 = configs[0]?.configs[0]?.evaluator;
    expect(oauth2?.case).toBe("oauth2");
    expect(JSON.stringify(oauth2?.value, (_k, v) => (typeof v === "bigint" ? Number(v) : v))).toContain('"seconds":30');
  });

  it("reads an empty file as no configs", () => {
    expect(parseAuthConfigFile("", "auth.yaml")).toEqual([]);
    expect(parseAuthConfigFile("# nothing yet\n", "auth.yaml")).toEqual([]);
  });

  it("names the file, line, config id and step of an unknown field", () => {
    const message = failure(`
shop:
  configs:
    - basicAuth: { realm: shop }
    - basicAuth:
        realmm: shop
`);
    expect(message).toBe(
      'auth.yaml:5: auth config "shop": configs[1]: cannot decode message gantry.extauth.v1.BasicAuth from JSON: key "realmm" is unknown',
    );
  });

  it("names wrong types and unknown top-level fields", () => {
    expect(failure("shop:\n  failOnRedirect: maybe\n")).toMatch(
      /^auth\.yaml:2: auth config "shop": .*fail_on_redirect from JSON: expected boolean/,
    );
    expect(failure("shop:\n  config: []\n")).toMatch(/^auth\.yaml:2: auth config "shop": .*key "config" is unknown/);
    expect(failure("shop:\n  configs: {}\n")).toMatch(/^auth\.yaml:2: auth config "shop": configs: expected a list/);
    expect(failure("shop:\n  id: other\n")).toMatch(/auth config "shop": id: "other" differs from its key/);
    expect(failure("shop: 3\n")).toMatch(/^auth\.yaml:1: auth config "shop": expected a map of its fields/);
  });

  it("rejects YAML errors, list entries without ids, and other shapes", () => {
    expect(failure("shop:\n  configs: [\n")).toMatch(/^auth\.yaml:\d+: not valid YAML/);
    expect(failure("- configs: []\n")).toMatch(/^auth\.yaml:1: entry 0: expected an auth config with an "id"/);
    expect(failure("just text\n")).toMatch(/^auth\.yaml: expected a map from config id to auth config, found a string/);
    // An alias to no anchor parses, then fails on reading: still an error naming the file (it threw a ReferenceError).
    expect(failure("shop: *nowhere\n")).toMatch(/^auth\.yaml: not valid YAML: Unresolved alias/);
  });

  it("finds the line of a field named by a later error, or of its nearest parent", () => {
    const map = "shop:\n  configs:\n    - basicAuth:\n        users:\n          alice: plain\n";
    expect(lineOfField(map, "shop", "configs[0].basicAuth.users.alice")).toBe(5);
    expect(lineOfField(map, "shop", "configs[0].basicAuth.realm")).toBe(4);
    expect(lineOfField(map, "shop", "booleanExpr")).toBe(2);
    const list = "- id: a\n  configs: []\n- id: b\n  booleanExpr: 'x &&'\n";
    expect(lineOfField(list, "b", "booleanExpr")).toBe(4);
    expect(lineOfField(list, "c", "booleanExpr")).toBeUndefined();
  });
});
