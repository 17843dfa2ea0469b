import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runGantry, serverPortFlags } from "../support/cli.js";

const dir = mkdtempSync(join(tmpdir(), "gantry-api-flags-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const token = "api-flags-token-0123456789";
const tokenFile = join(dir, "token");
writeFileSync(tokenFile, `${token}\n`);

/** Runs `gantry server` expecting it to stop by itself; the timeout catches a server that keeps running. */
const server = async (args: string[]) =>
  runGantry(["server", "--host", "127.0.0.1", ...(await serverPortFlags()), "--api-token-file", tokenFile, ...args], {
    timeoutMs: 10_000,
    env: { GANTRY_API_TOKEN: "", GANTRY_API_SECRETS_TOKEN: "" },
  });

describe("gantry server checks its API limits and secrets token before any port opens", () => {
  it("exits non-zero on a request timeout shorter than the headers timeout, naming both flags", async () => {
    const result = await server(["--api-headers-timeout-ms", "5000", "--api-request-timeout-ms", "1000"]);
    expect(result.killed).toBe(false);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("--api-request-timeout-ms (1000) must be at least --api-headers-timeout-ms (5000)");
    expect(result.stdout).not.toContain("gantry server started");
  });

  it("exits non-zero on a body limit that is not a positive integer", async () => {
    const result = await server(["--api-max-body-bytes", "0"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("--api-max-body-bytes");
  });

  it("exits non-zero on a secrets token equal to the API token, never showing it", async () => {
    const result = await server(["--api-secrets-token-file", tokenFile]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`--api-secrets-token-file ${tokenFile}: the secrets token must differ`);
    expect(result.stderr).not.toContain(token);
  });
});
