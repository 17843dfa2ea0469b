import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterSchema } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { RedisStore } from "../../src/store/index.js";
import { XdsClient } from "../../src/xds/index.js";
import { haveRedis, type RedisServer, startRedis } from "../support/redis.js";
import { waitFor } from "../support/wait.js";
import { applyYaml } from "./api.js";
import { shopResources } from "./fixture.js";

const logger = createLogger({ service: "e2e", level: "silent" });
const token = "e2e-api-token-0123456789abcdef";

/** A gateway proxy that records every cluster update it accepts. */
function gatewayProxy(id: string, xdsPort: number) {
  const updates: Array<{ version: string; names: string[] }> = [];
  const client = new XdsClient({
    server: `127.0.0.1:${xdsPort}`,
    node: { id, cluster: "gateways", metadata: { role: "gateway", labels: { gateway: "e2e" } } },
    logger,
    backoff: { initialMs: 50, maxMs: 200 },
  });
  client.subscribe(ClusterSchema, {
    onUpdate: (clusters, version) => void updates.push({ version, names: [...clusters.keys()] }),
  });
  client.start();
  return { client, updates, latest: () => updates.at(-1) };
}

describe.skipIf(!haveRedis())("replicas and restarts of gantry server on one Redis", () => {
  let redis: RedisServer;
  const stores: RedisStore[] = [];
  const servers: ManagementServer[] = [];
  const proxies: XdsClient[] = [];

  const start = async (xdsPort = 0) => {
    const store = new RedisStore({ url: redis.url });
    await store.ready();
    stores.push(store);
    const server = await startManagementServer({
      store,
      host: "127.0.0.1",
      xdsPort,
      apiPort: 0,
      apiToken: token,
      logger,
      registry: createRegistry("server", { processMetrics: false }),
    });
    servers.push(server);
    return server;
  };

  const apply = async (server: ManagementServer, yaml: string) => {
    await applyYaml(server.apiPort, token, yaml);
  };

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    for (const p of proxies) await p.stop();
    for (const s of servers) await s.stop().catch(() => {});
    for (const s of stores) await s.close();
    await redis?.close();
  });

  it("a change applied through one replica reaches proxies on the other within 1 s, at the same versions", async () => {
    const a = await start();
    const b = await start();
    await apply(a, shopResources(3));
    const onA = gatewayProxy("gw-on-a", a.xdsPort);
    const onB = gatewayProxy("gw-on-b", b.xdsPort);
    proxies.push(onA.client, onB.client);
    const configured = (p: typeof onA) => p.latest()?.names.includes("e2e/shop:8080");
    await waitFor(() => configured(onA) && configured(onB), { what: "both proxies configured" });
    expect(onB.latest()).toEqual(onA.latest());

    // A new destination port means a new cluster: apply it through replica A only.
    const changed = shopResources(3).replace(
      "endpoints: [{ address: 10.0.0.1 }]",
      "endpoints: [{ address: 10.0.0.1 }]\n  connectTimeout: 2s",
    );
    const before = onB.latest()?.version;
    const applied = Date.now();
    await apply(a, changed);
    await waitFor(() => onB.latest()?.version !== before, {
      what: "the changed cluster at the proxy on replica B",
      timeoutMs: 1_000,
    });
    expect(Date.now() - applied).toBeLessThan(1_000);
    await waitFor(() => onA.latest()?.version === onB.latest()?.version, { what: "the proxy on replica A to match" });
    expect(onB.latest()).toEqual(onA.latest());
  });

  it("after a restart, proxies reconnect and receive the same versions: no config churn", async () => {
    const first = await start();
    const port = first.xdsPort;
    const proxy = gatewayProxy("gw-restart", port);
    proxies.push(proxy.client);
    await waitFor(() => proxy.latest()?.names.length, { what: "the proxy configured" });
    const updatesBefore = proxy.updates.length;
    const version = proxy.latest()?.version;

    await first.stop();
    await waitFor(() => !proxy.client.connected, { what: "the proxy to notice the server left" });
    const second = await start(port);
    await waitFor(() => proxy.client.connected, { what: "the proxy to reconnect", timeoutMs: 10_000 });
    await waitFor(
      () => second.proxies().some((p) => p.nodeId === "gw-restart" && p.types.some((t) => t.ackedVersion)),
      {
        what: "the reconnected proxy's ACK",
      },
    );
    expect(proxy.latest()?.version).toBe(version);
    // Any update the proxy accepted after reconnecting carried the same version and content.
    for (const update of proxy.updates.slice(updatesBefore)) expect(update.version).toBe(version);
  });

  it("with the management Redis down, xDS keeps serving the last snapshot and apply fails clearly", async () => {
    const server = await start();
    const proxy = gatewayProxy("gw-redis-down", server.xdsPort);
    proxies.push(proxy.client);
    await waitFor(() => proxy.latest()?.names.length, { what: "the proxy configured" });
    const version = proxy.latest()?.version;
    await redis.stop();
    try {
      const failure = await apply(server, shopResources(7)).catch((err: unknown) => err);
      expect(String(failure)).toMatch(/unavailable.*management Redis at redis:\/\/127\.0\.0\.1:\d+/i);
      // A proxy connecting now is still served the last published configuration.
      const late = gatewayProxy("gw-late", server.xdsPort);
      proxies.push(late.client);
      await waitFor(() => late.latest()?.names.length, { what: "the late proxy configured from the last snapshot" });
      expect(late.latest()?.version).toBe(version);
      expect(proxy.client.connected).toBe(true);
    } finally {
      await redis.start();
    }
  });
});
