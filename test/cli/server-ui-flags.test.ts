// `gantry server`'s role and dashboard flags are checked before any port opens; errors name the
// flag, the file and the entry, never a token.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runGantry, serverPortFlags } from "../support/cli.js";

const dir = mkdtempSync(join(tmpdir(), "gantry-ui-flags-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const weak = "weak-token";
const tokensFile = join(dir, "tokens.yaml");
writeFileSync(tokensFile, `tokens:\n  - { name: alice, role: viewer, token: ${weak} }\n`);
const secretFile = join(dir, "client-secret");
writeFileSync(secretFile, "a-client-secret\n");

const server = async (args: string[]) =>
  runGantry(["server", "--host", "127.0.0.1", ...(await serverPortFlags()), ...args], {
    timeoutMs: 30_000,
    env: { GANTRY_API_TOKEN: "", GANTRY_API_SECRETS_TOKEN: "" },
  });

describe("gantry server's role and dashboard flags", () => {
  it("refuses a tokens file entry with a short token, naming file and entry and never the token", async () => {
    const result = await server(["--api-tokens-file", tokensFile]);
    expect(result.killed).toBe(false);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `--api-tokens-file ${tokensFile}: tokens[0].token: at least 16 characters (it has 10)`,
    );
    expect(result.stderr).not.toContain(weak);
  });

  it("refuses OIDC sign-in without the dashboard's URL or the roles", async () => {
    const oidc = [
      "--ui-oidc-issuer",
      "http://127.0.0.1:9",
      "--ui-oidc-client-id",
      "ui",
      "--ui-oidc-client-secret-file",
      secretFile,
    ];
    const withoutUrl = await server([...oidc, "--ui-oidc-roles", "staff=viewer"]);
    expect(withoutUrl.code).toBe(1);
    expect(withoutUrl.stderr).toContain("--ui-oidc-issuer needs --ui-url");
    const badRoles = await server([...oidc, "--ui-url", "http://127.0.0.1:8080/ui/", "--ui-oidc-roles", "staff=root"]);
    expect(badRoles.code).toBe(1);
    expect(badRoles.stderr).toContain('--ui-oidc-roles: "staff=root": the role must be one of viewer, editor, admin');
    const badUrl = await server([...oidc, "--ui-url", "http://127.0.0.1:8080/", "--ui-oidc-roles", "staff=viewer"]);
    expect(badUrl.stderr).toContain('--ui-url "http://127.0.0.1:8080/" must end with /ui/');
  });

  it("refuses a session key file that holds no usable key, naming the file and line, never the text", async () => {
    const keys = join(dir, "session-keys");
    writeFileSync(keys, "# rotated 2026-12\nshort-secret-text\n");
    const result = await server([
      ...["--ui-oidc-issuer", "http://127.0.0.1:9", "--ui-oidc-client-id", "ui"],
      ...["--ui-oidc-client-secret-file", secretFile, "--ui-url", "http://127.0.0.1:8080/ui/"],
      ...["--ui-oidc-roles", "staff=viewer", "--ui-session-key-file", keys],
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `--ui-session-key-file ${keys} line 2: expected a key of 32 bytes as 64 hex digits or base64`,
    );
    expect(result.stderr).not.toContain("short-secret-text");
    const alone = await server(["--insecure-api", "--ui-session-key-file", keys]);
    expect(alone.code).toBe(1);
    expect(alone.stderr).toContain("--ui-oidc-* and --ui-session-key-file flags need --ui-oidc-issuer");
  });
});
