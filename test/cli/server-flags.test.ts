import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { serverPortFlags } from "../support/cli.js";
import { freePort, freePorts, runGantry } from "../support/index.js";

const dir = mkdtempSync(join(tmpdir(), "gantry-server-flags-"));

/** Runs `gantry server` expecting it to stop by itself; the timeout catches a server that keeps running. */
const server = (args: string[], env: Record<string, string> = {}) =>
  runGantry(["server", "--host", "127.0.0.1", ...args], {
    timeoutMs: 10_000,
    env: { GANTRY_API_TOKEN: "", ...env },
  });

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("gantry server checks every flag before any port opens", () => {
  it("exits non-zero on a short API token, naming where it came from and never showing it", async () => {
    const tokenFile = join(dir, "short-token");
    writeFileSync(tokenFile, "s3cret-short\n");
    const result = await server([...(await serverPortFlags()), "--api-token-file", tokenFile]);
    expect(result.killed).toBe(false);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`--api-token-file ${tokenFile}: the API token must be at least 16 characters`);
    expect(result.stderr).not.toContain("s3cret-short");
    expect(result.stdout).not.toContain("gantry server started");
  });

  it("exits non-zero on a short GANTRY_API_TOKEN", async () => {
    const result = await server(await serverPortFlags(), { GANTRY_API_TOKEN: "short" });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("GANTRY_API_TOKEN: the API token must be at least 16 characters");
  });

  it("exits non-zero on a config folder that does not exist", async () => {
    const result = await server([...(await serverPortFlags()), "--insecure-api", "--config-dir", join(dir, "missing")]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`--config-dir ${join(dir, "missing")}: no such folder`);
  });

  it("exits non-zero on a malformed Redis URL, without showing its password", async () => {
    const result = await server([
      ...(await serverPortFlags()),
      "--insecure-api",
      "--redis-url",
      "redis://user:hunter2@",
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("--redis-url: invalid Redis URL");
    expect(result.stderr).not.toContain("hunter2");
  });

  it("exits non-zero when two ports are the same", async () => {
    const port = String(await freePort());
    const result = await server(["--insecure-api", "--xds-port", port, "--api-port", port]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`--xds-port and --api-port are both ${port}`);
  });

  it("exits non-zero, not half-started, when the API port is taken after xDS opened", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const apiPort = (taken.address() as { port: number }).port;
    const [xdsPort, metricsPort] = await freePorts(2);
    try {
      const result = await server([
        "--insecure-api",
        "--xds-port",
        String(xdsPort),
        "--api-port",
        String(apiPort),
        "--metrics-port",
        String(metricsPort),
      ]);
      expect(result.killed).toBe(false);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("EADDRINUSE");
    } finally {
      taken.close();
    }
  });
});
