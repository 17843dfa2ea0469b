import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createApiKey, revokeApiKey } from "../../src/extauth/index.js";
import { Authorization } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { createClient, createRedis, ManualClock, waitForRedis } from "../../src/lib/index.js";
import { freePorts, haveRedis, startProcess, startRedis, waitFor } from "../support/index.js";
import { checkRequest, summary } from "./helpers.js";

/** `gantry extauth --workers N` as a user runs it: real processes, one client connection per worker and more. */
const bin = fileURLToPath(new URL("../../bin/gantry.js", import.meta.url));
const workers = 3;

const configs = (header: string) => `keys:
  configs:
    - name: key
      apiKeyAuth: { headerName: ${header} }
`;

// Each test starts N+1 processes and a Redis; on a loaded machine that alone takes many seconds.
describe.skipIf(!haveRedis())("gantry extauth --workers", { timeout: 180_000 }, () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function start() {
    const redis = await startRedis();
    cleanups.push(() => redis.close());
    const dir = mkdtempSync(join(tmpdir(), "gantry-extauth-workers-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "auth.yaml");
    writeFileSync(file, configs("x-api-key"));
    const [grpcPort, metricsPort] = await freePorts(2);
    const proc = await startProcess({
      name: "gantry extauth --workers",
      command: process.execPath,
      args: [
        bin,
        "extauth",
        "--host",
        "127.0.0.1",
        "--grpc-port",
        String(grpcPort),
        "--metrics-port",
        String(metricsPort),
        "--config",
        file,
        "--redis-url",
        redis.url,
        // A generous Redis deadline: the test machine may be loaded, and a timeout is not what this checks.
        "--redis-timeout-ms",
        "2000",
        "--workers",
        String(workers),
      ],
      env: { ...process.env, GANTRY_LOG_LEVEL: "warn" },
      ready: async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).ok,
      readyTimeoutMs: 60_000,
    });
    cleanups.push(() => proc.stop());
    const admin = createRedis({ url: redis.url });
    cleanups.push(() => admin.disconnect());
    await waitForRedis(admin);
    // One connection each (no shared subchannel), so that they are spread over the workers.
    const clients = Array.from({ length: 2 * workers }, () => {
      const client = createClient(Authorization, `127.0.0.1:${grpcPort}`, {
        channelOptions: { "grpc.use_local_subchannel_pool": 1 },
      });
      cleanups.push(() => client.close());
      return client;
    });
    const text = async (path: string) => (await fetch(`http://127.0.0.1:${metricsPort}${path}`)).text();
    return { file, admin, clients, text };
  }

  it("a revoked key stops working in every worker within the bound of one process", async () => {
    const s = await start();
    const readyz = await s.text("/readyz");
    expect(readyz.match(/apikey revocations: subscribed/g)).toHaveLength(workers);
    expect(await s.text("/metrics")).toContain(
      `gantry_extauth_apikey_revocation_subscribed{service="extauth"} ${workers}`,
    );

    const { secret, record } = await createApiKey(s.admin, new ManualClock(), {});
    const statuses = async () =>
      Promise.all(
        s.clients.map(async (client) => {
          const answer = summary(
            await client.check(checkRequest({ configId: "keys", headers: { "x-api-key": secret } })),
          );
          return answer.allowed ? 200 : answer.httpStatus;
        }),
      );
    // Twice: the second answers come from each worker's key cache.
    expect(await statuses()).toEqual(s.clients.map(() => 200));
    expect(await statuses()).toEqual(s.clients.map(() => 200));

    const revokedAt = Date.now();
    expect(await revokeApiKey(s.admin, record.id)).toBe(true);
    await waitFor(async () => (await statuses()).every((status) => status === 401), {
      timeoutMs: 10_000,
      what: "the revoked key to fail on every connection",
    });
    // Announced on the channel to every worker's subscription, as to one process: well under the 60 s cache TTL.
    expect(Date.now() - revokedAt).toBeLessThan(3_000);
  });

  it("reloads the config file in every worker, and counts the load once", async () => {
    const s = await start();
    const { secret } = await createApiKey(s.admin, new ManualClock(), {});
    const allowed = async (header: string) =>
      Promise.all(
        s.clients.map(
          async (client) =>
            summary(await client.check(checkRequest({ configId: "keys", headers: { [header]: secret } }))).allowed,
        ),
      );
    expect(await allowed("x-api-key")).toEqual(s.clients.map(() => true));
    writeFileSync(s.file, configs("x-other-key"));
    await waitFor(
      async () =>
        (await s.text("/metrics")).includes(
          'gantry_extauth_config_reloads_total{result="success",service="extauth"} 2',
        ),
      {
        timeoutMs: 20_000,
        what: "the reload",
      },
    );
    const versions = [...(await s.text("/readyz")).matchAll(/config: (\S+)/g)].map((m) => m[1]);
    expect(versions).toHaveLength(workers);
    expect(new Set(versions).size).toBe(1);
    expect(await allowed("x-other-key")).toEqual(s.clients.map(() => true));
    expect(await allowed("x-api-key")).toEqual(s.clients.map(() => false));
  });
});
