import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startManagementApi } from "../../src/server/api/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { untranslatedDeps } from "../server/api-deps.js";
import { runGantry } from "../support/cli.js";

const token = "cli-test-token-0123456789";
const secretsToken = "cli-secrets-token-0123456789";
const keyBody = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC";

const secretYaml = (privateKey: string) => `apiVersion: gantry/v1
kind: Secret
metadata:
  name: tls
  namespace: edge
spec:
  tls:
    certificateChain: { inline: "-----BEGIN CERTIFICATE-----" }
    privateKey: ${privateKey}
`;

describe("gantry get / describe / apply and secret material", () => {
  const store = new MemoryStore();
  let close: () => Promise<void> = async () => {};
  let dir = "";
  let server = "";
  const gantry = (args: string[], bearer = token) =>
    runGantry([...args, "--server", server], { env: { GANTRY_API_TOKEN: bearer, GANTRY_API_TOKEN_FILE: undefined } });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "gantry-secrets-"));
    writeFileSync(join(dir, "good.yaml"), secretYaml(`{ inline: "-----BEGIN PRIVATE KEY-----\\n${keyBody}\\n" }`));
    writeFileSync(join(dir, "bad.yaml"), secretYaml(`"-----BEGIN PRIVATE KEY-----\\n${keyBody}\\n"`));
    const api = await startManagementApi({
      host: "127.0.0.1",
      port: 0,
      token,
      secretsToken,
      deps: untranslatedDeps(store),
    });
    close = () => api.close();
    server = `http://127.0.0.1:${api.port}`;
  });
  afterAll(async () => {
    await close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("apply of a malformed private key names the field and never prints the key", async () => {
    const result = await gantry(["apply", "-f", join(dir, "bad.yaml")]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("spec.tls.privateKey: expected a mapping (DataSource), got a string");
    expect(result.stdout + result.stderr).not.toContain(keyBody);
  });

  it("get -o yaml and describe -o yaml redact the key; --show-secrets needs the secrets token", async () => {
    expect((await gantry(["apply", "-f", join(dir, "good.yaml")])).code).toBe(0);
    for (const args of [
      ["get", "secret", "tls", "-n", "edge", "-o", "yaml"],
      ["get", "secrets", "-o", "json"],
      ["describe", "secret", "tls", "-n", "edge", "-o", "yaml"],
    ]) {
      const result = await gantry(args);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/<redacted, sha256:[0-9a-f]{8}>/);
      expect(result.stdout).not.toContain(keyBody);
    }
    const denied = await gantry(["get", "secret", "tls", "-n", "edge", "-o", "yaml", "--show-secrets"]);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain("secrets token");
    expect(denied.stdout).not.toContain(keyBody);
    const shown = await gantry(["get", "secret", "tls", "-n", "edge", "-o", "yaml", "--show-secrets"], secretsToken);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(keyBody);
  });
});
