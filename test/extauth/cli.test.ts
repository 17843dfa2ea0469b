import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main.js";
import { Setting } from "../../src/lib/h2/frames.js";
import { RawH2Client } from "../lib/h2/raw-client.js";
import { freePorts, haveRedis, type RedisServer, startRedis, waitFor } from "../support/index.js";
import { checkClient, checkRequest, summary } from "./helpers.js";

/** Runs the CLI in this process, capturing what it prints. */
async function gantry(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  try {
    const code = await main(["node", "gantry", ...args]);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe.skipIf(!haveRedis())("gantry apikey and gantry extauth", () => {
  let redis: RedisServer;
  const dir = mkdtempSync(join(tmpdir(), "gantry-extauth-cli-"));

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("creates, lists and revokes keys, printing the secret only at creation", async () => {
    const created = await gantry(
      "apikey",
      "create",
      "--redis-url",
      redis.url,
      "--name",
      "ci bot",
      "--labels",
      "team=shop",
      "--metadata",
      "user=u1,plan=gold",
    );
    expect(created.code).toBe(0);
    const id = /^id: +([0-9a-f]{16})$/m.exec(created.stdout)?.[1];
    const secret = /^key: +(gak_\S+)$/m.exec(created.stdout)?.[1];
    expect(id).toBeDefined();
    expect(secret).toBeDefined();
    expect(created.stderr).toContain("cannot be shown again");

    const listed = await gantry("apikey", "list", "--redis-url", redis.url);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^ID +NAME +LABELS +METADATA +CREATED$/m);
    expect(listed.stdout).toContain(`${id}  ci bot  team=shop  user=u1,plan=gold`);
    expect(listed.stdout).not.toContain(secret);

    expect((await gantry("apikey", "revoke", id as string, "--redis-url", redis.url)).stdout).toBe(`revoked ${id}\n`);
    const again = await gantry("apikey", "revoke", id as string, "--redis-url", redis.url);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`no API key has id "${id}"`);
    expect(JSON.parse((await gantry("apikey", "list", "--json", "--redis-url", redis.url)).stdout)).toEqual([]);
  });

  it("needs a Redis URL", async () => {
    const result = await gantry("apikey", "list");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("--redis-url");
  });

  it("serves Check from a config file until SIGTERM", async () => {
    const file = join(dir, "auth.yaml");
    writeFileSync(file, "keys:\n  configs:\n    - apiKeyAuth: {}\n");
    const created = await gantry("apikey", "create", "--redis-url", redis.url);
    const secret = /^key: +(\S+)$/m.exec(created.stdout)?.[1] as string;
    const [grpcPort, metricsPort] = await freePorts(2);
    const running = main([
      "node",
      "gantry",
      "extauth",
      "--host",
      "127.0.0.1",
      "--grpc-port",
      String(grpcPort),
      "--grpc-max-concurrent-streams",
      "9",
      "--metrics-port",
      String(metricsPort),
      "--config",
      file,
      "--default-config",
      "keys",
      "--redis-url",
      redis.url,
      // In this test process, from the TypeScript sources: one process (workers run the built dist/).
      "--workers",
      "1",
      "--log-level",
      "silent",
    ]);
    const client = checkClient(grpcPort);
    try {
      const response = await waitFor(
        async () => summary(await client.check(checkRequest({ headers: { "api-key": secret } }), { timeoutMs: 500 })),
        { what: "gantry extauth to answer" },
      );
      expect(response.allowed).toBe(true);
      expect(summary(await client.check(checkRequest({ headers: { "api-key": "wrong" } }))).httpStatus).toBe(401);
      const raw = await RawH2Client.open(grpcPort);
      try {
        expect((await raw.settings()).get(Setting.MAX_CONCURRENT_STREAMS)).toBe(9);
      } finally {
        raw.close();
      }
    } finally {
      client.close();
      process.emit("SIGTERM", "SIGTERM");
    }
    expect(await running).toBe(0);
  });
});
