import type { JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManagementService } from "../../src/gen/gantry/api/v1/management_pb.js";
import { redactedValue } from "../../src/resources/index.js";
import { startManagementApi } from "../../src/server/api/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { untranslatedDeps } from "./api-deps.js";

const token = "test-token-0123456789abcdef";
const secretsToken = "secrets-token-0123456789abcdef";
const pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n";
const hmacSecret = "0123456789abcdef-shared";

const secret: JsonObject = {
  apiVersion: "gantry/v1",
  kind: "Secret",
  metadata: { name: "tls", namespace: "edge" },
  spec: { tls: { certificateChain: { inline: "-----BEGIN CERTIFICATE-----" }, privateKey: { inline: pem } } },
};
const authConfig: JsonObject = {
  apiVersion: "gantry/v1",
  kind: "AuthConfig",
  metadata: { name: "signed", namespace: "edge" },
  spec: { configs: [{ hmacAuth: { sharedSecrets: { k1: hmacSecret } } }] },
};

describe("management API: secret material", () => {
  const store = new MemoryStore();
  const deps = untranslatedDeps(store);
  let closes: Array<() => Promise<void>> = [];
  let port = 0;
  let portWithoutSecretsToken = 0;

  beforeAll(async () => {
    const api = await startManagementApi({ host: "127.0.0.1", port: 0, token, secretsToken, deps });
    const plain = await startManagementApi({ host: "127.0.0.1", port: 0, token, deps });
    closes = [() => api.close(), () => plain.close()];
    port = api.port;
    portWithoutSecretsToken = plain.port;
    await client(token).apply({ documents: [secret, authConfig] });
  });
  afterAll(async () => {
    for (const close of closes) await close();
  });

  function client(bearer: string, to = port) {
    const auth: Interceptor = (next) => async (req) => {
      req.header.set("authorization", `Bearer ${bearer}`);
      return next(req);
    };
    return createClient(
      ManagementService,
      createConnectTransport({ baseUrl: `http://127.0.0.1:${to}`, httpVersion: "1.1", interceptors: [auth] }),
    );
  }
  const codeOf = (err: unknown) => ConnectError.from(err).code;

  it("get, list and describe show secrets as a short hash, whoever asks without show_secrets", async () => {
    for (const bearer of [token, secretsToken]) {
      const c = client(bearer);
      const got = await c.get({ ref: { kind: "Secret", namespace: "edge", name: "tls" } });
      const listed = await c.list({ namespace: "edge" });
      const described = await c.describe({ ref: { kind: "AuthConfig", namespace: "edge", name: "signed" } });
      const text = JSON.stringify([
        got.resource?.document,
        listed.resources.map((r) => r.document),
        described.resource?.document,
      ]);
      expect(text).not.toContain("MIIEvQ");
      expect(text).not.toContain(hmacSecret);
      expect(text).toContain(redactedValue(pem));
      expect(text).toContain(redactedValue(hmacSecret));
      expect(text).toContain("-----BEGIN CERTIFICATE-----");
    }
  });

  it("shows secrets only to the secrets token, and says why to anyone else", async () => {
    const ref = { kind: "Secret", namespace: "edge", name: "tls" };
    const denied = await client(token)
      .get({ ref, showSecrets: true })
      .catch((e: unknown) => e);
    expect(codeOf(denied)).toBe(Code.PermissionDenied);
    expect(ConnectError.from(denied).rawMessage).toContain("--api-secrets-token-file");
    for (const call of [
      client(token).list({ showSecrets: true }),
      client(token).describe({ ref, showSecrets: true }),
    ]) {
      expect(codeOf(await call.catch((e: unknown) => e))).toBe(Code.PermissionDenied);
    }
    const shown = await client(secretsToken).get({ ref, showSecrets: true });
    expect(JSON.stringify(shown.resource?.document)).toContain("MIIEvQ");
    const listed = await client(secretsToken).list({ namespace: "edge", showSecrets: true });
    expect(JSON.stringify(listed.resources.map((r) => r.document))).toContain(hmacSecret);
    const described = await client(secretsToken).describe({ ref, showSecrets: true });
    expect(JSON.stringify(described.resource?.document)).toContain("MIIEvQ");
  });

  it("will not start with a secrets token equal to the API token, or a short one", async () => {
    await expect(startManagementApi({ host: "127.0.0.1", port: 0, token, secretsToken: token, deps })).rejects.toThrow(
      /must differ from the API token/,
    );
    await expect(
      startManagementApi({ host: "127.0.0.1", port: 0, token, secretsToken: "short", deps }),
    ).rejects.toThrow(/secrets token: .*at least 16/);
  });

  it("a server without a secrets token shows secrets to nobody", async () => {
    const refused = await client(token, portWithoutSecretsToken)
      .list({ showSecrets: true })
      .catch((e: unknown) => e);
    expect(codeOf(refused)).toBe(Code.PermissionDenied);
    expect(ConnectError.from(refused).rawMessage).toContain("shows no secrets");
  });

  it("an apply that fails on a secret field names the field, never its value", async () => {
    const bad = { ...secret, spec: { tls: { certificateChain: { inline: "c" }, privateKey: pem } } };
    const refused = await client(token)
      .apply({ documents: [bad as JsonObject] })
      .catch((e: unknown) => e);
    expect(codeOf(refused)).toBe(Code.InvalidArgument);
    const message = ConnectError.from(refused).rawMessage;
    expect(message).toContain("spec.tls.privateKey");
    expect(message).not.toContain("MIIEvQ");
    expect(message).not.toContain("BEGIN PRIVATE KEY");
  });
});
