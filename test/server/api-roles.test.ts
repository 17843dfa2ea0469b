// Roles on the management API: viewer, editor, admin from --api-tokens-file (the API token and the
// secrets token stay admin), enforced by the API itself: PERMISSION_DENIED naming the role.
import type { JsonObject } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseGroupRoles, parseTokensFile, roleOfGroups, startManagementApi } from "../../src/server/api/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { untranslatedDeps } from "./api-deps.js";

const token = "admin-token-0123456789abcdef";
const secretsToken = "secrets-token-0123456789abcdef";
const viewer = "viewer-token-0123456789abcdef";
const editor = "editor-token-0123456789abcdef";

const destination: JsonObject = {
  apiVersion: "gantry/v1",
  kind: "Destination",
  metadata: { name: "web", namespace: "shop" },
  spec: { ports: [{ number: 80 }], endpoints: [{ address: "10.0.0.1" }] },
};
const secret: JsonObject = {
  apiVersion: "gantry/v1",
  kind: "Secret",
  metadata: { name: "tls", namespace: "shop" },
  spec: { tls: { certificateChain: { inline: "-----BEGIN CERTIFICATE-----" }, privateKey: { inline: "a key" } } },
};

describe("management API roles", () => {
  const store = new MemoryStore();
  let close: () => Promise<void> = async () => {};
  let port = 0;

  beforeAll(async () => {
    const api = await startManagementApi({
      host: "127.0.0.1",
      port: 0,
      token,
      secretsToken,
      tokens: [
        { name: "alice", role: "viewer", token: viewer },
        { name: "bob", role: "editor", token: editor },
      ],
      deps: untranslatedDeps(store),
      // Many refusals from one address in this suite: they are not failed authentications, but keep it out of the way.
      limits: { authFailuresPerMinute: 1_000 },
    });
    port = api.port;
    close = () => api.close();
  });
  afterAll(() => close());

  async function call(bearer: string, method: string, body: object) {
    const response = await fetch(`http://127.0.0.1:${port}/gantry.api.v1.ManagementService/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as { code?: string; message?: string } };
  }

  it("a viewer reads but may not apply, delete or silence: PERMISSION_DENIED naming its role", async () => {
    expect((await call(token, "Apply", { documents: [destination, secret] })).status).toBe(200);
    expect((await call(viewer, "List", {})).status).toBe(200);
    expect((await call(viewer, "Get", { ref: { kind: "Destination", namespace: "shop", name: "web" } })).status).toBe(
      200,
    );
    expect(await call(viewer, "Apply", { documents: [destination] })).toEqual({
      status: 403,
      body: { code: "permission_denied", message: "role viewer may not call Apply: it needs role editor or above" },
    });
    expect(await call(viewer, "Delete", { refs: [{ kind: "Destination", namespace: "shop", name: "web" }] })).toEqual({
      status: 403,
      body: { code: "permission_denied", message: "role viewer may not call Delete: it needs role editor or above" },
    });
    const silence = await call(viewer, "SilenceInsight", { code: "GTY0101" });
    expect(silence.body.message).toBe("role viewer may not call SilenceInsight: it needs role editor or above");
    // Nothing was deleted.
    expect((await call(viewer, "Get", { ref: { kind: "Destination", namespace: "shop", name: "web" } })).status).toBe(
      200,
    );
  });

  it("a viewer sees secret material redacted and may not ask for it", async () => {
    const ref = { kind: "Secret", namespace: "shop", name: "tls" };
    const got = await call(viewer, "Get", { ref });
    expect(JSON.stringify(got.body)).not.toContain("a key");
    expect(JSON.stringify(got.body)).toContain("<redacted, sha256:");
    expect(await call(viewer, "Get", { ref, showSecrets: true })).toEqual({
      status: 403,
      body: { code: "permission_denied", message: "role viewer may not see secret material (show_secrets)" },
    });
    // Only the secrets token may, as before.
    const revealed = await call(secretsToken, "Get", { ref, showSecrets: true });
    expect(JSON.stringify(revealed.body)).toContain("a key");
    expect((await call(editor, "Get", { ref, showSecrets: true })).status).toBe(403);
  });

  it("an editor applies and deletes but may not register workload clusters (admin)", async () => {
    expect((await call(editor, "Apply", { documents: [destination] })).status).toBe(200);
    expect(await call(editor, "AddCluster", { name: "east" })).toEqual({
      status: 403,
      body: { code: "permission_denied", message: "role editor may not call AddCluster: it needs role admin or above" },
    });
    // The API token is admin: it gets past the role check (and on to "no relay here").
    expect((await call(token, "AddCluster", { name: "east" })).body.code).toBe("failed_precondition");
  });

  it("the root CA's calls (gantry ca show, gantry ca rotate) are an admin's, as docs/ui.md says", async () => {
    const trust = async (bearer: string, method: string) => {
      const response = await fetch(`http://127.0.0.1:${port}/gantry.api.v1.TrustAdminService/${method}`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` },
        body: "{}",
      });
      return { status: response.status, body: (await response.json()) as { code?: string; message?: string } };
    };
    for (const method of ["GetRoots", "RotateRoot"]) {
      expect(await trust(editor, method)).toEqual({
        status: 403,
        body: {
          code: "permission_denied",
          message: `role editor may not call ${method}: it needs role admin or above`,
        },
      });
      // The API token gets past the role check (and on to "no root CA here": no relay).
      expect((await trust(token, method)).status).not.toBe(403);
    }
  });

  it("an unknown token is still refused before any role is considered", async () => {
    expect(await call("not-a-token-0123456789abcdef", "List", {})).toEqual({
      status: 401,
      body: { code: "unauthenticated", message: "invalid bearer token" },
    });
  });
});

describe("--api-tokens-file", () => {
  it("reads name, role and token per entry", () => {
    expect(
      parseTokensFile(`tokens:\n  - { name: alice, role: viewer, token: ${viewer} }\n`, "tokens.yaml", 16),
    ).toEqual([{ name: "alice", role: "viewer", token: viewer }]);
  });

  it.each([
    ["tokens: []", 'tokens.yaml: expected "tokens:" with a list of { name, role, token }'],
    [
      `tokens:\n  - { name: a, role: root, token: ${viewer} }`,
      "tokens.yaml: tokens[0].role: expected one of viewer, editor, admin",
    ],
    [
      "tokens:\n  - { name: a, role: viewer, token: short }",
      "tokens.yaml: tokens[0].token: at least 16 characters (it has 5)",
    ],
    [
      `tokens:\n  - { name: a, role: viewer, token: ${viewer} }\n  - { name: b, role: admin, token: ${viewer} }`,
      "tokens.yaml: tokens[1].token: the same token as an earlier entry",
    ],
    [
      `tokens:\n  - { name: a, role: viewer, token: ${viewer}, scope: all }`,
      "tokens.yaml: tokens[0]: unknown field scope (known: name, role, token)",
    ],
  ])("refuses %j, naming the entry and never the token", (text, message) => {
    expect(() => parseTokensFile(text, "tokens.yaml", 16)).toThrow(message);
  });

  it("an entry may not reuse the API token", async () => {
    await expect(
      startManagementApi({
        host: "127.0.0.1",
        port: 0,
        token,
        tokens: [{ name: "copy", role: "viewer", token }],
        deps: untranslatedDeps(new MemoryStore()),
      }),
    ).rejects.toThrow("the tokens file's entry copy: its token is the API token or the secrets token; give it its own");
  });
});

describe("--ui-oidc-roles", () => {
  it("maps groups to the highest of their roles", () => {
    const map = parseGroupRoles("ops=admin, dev=editor,staff=viewer");
    expect(roleOfGroups(["staff", "dev"], map)).toBe("editor");
    expect(roleOfGroups(["ops", "staff"], map)).toBe("admin");
    expect(roleOfGroups(["guests"], map)).toBeUndefined();
  });

  it("refuses a pair without a known role", () => {
    expect(() => parseGroupRoles("ops=root")).toThrow(
      '--ui-oidc-roles: "ops=root": the role must be one of viewer, editor, admin',
    );
    expect(() => parseGroupRoles("ops")).toThrow('--ui-oidc-roles: "ops" is not group=role');
  });
});
