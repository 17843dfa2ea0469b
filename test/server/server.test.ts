import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type MessageShape, toJson } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterSchema } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { ClusterLoadAssignmentSchema } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { RouteConfigurationSchema } from "../../src/gen/envoy/config/route/v3/route_pb.js";
import { ManagementService } from "../../src/gen/gantry/api/v1/management_pb.js";
import { AuthConfigSchema } from "../../src/gen/gantry/extauth/v1/auth_config_pb.js";
import { RateLimitConfigSchema } from "../../src/gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { State } from "../../src/translate/index.js";
import { XdsClient } from "../../src/xds/index.js";
import { waitFor } from "../support/wait.js";

const logger = createLogger({ service: "test", level: "silent" });
const token = "server-test-token-0123456789";

type Configs<S extends Parameters<typeof toJson>[0]> = ReadonlyMap<string, MessageShape<S>>;

describe("gantry server: resources in, xDS out to proxies, ext-auth and rate-limit servers", () => {
  const store = new MemoryStore();
  let server: ManagementServer;
  let dir = "";
  const clients: XdsClient[] = [];

  function client(id: string, metadata: Record<string, unknown>): XdsClient {
    const xds = new XdsClient({
      server: `127.0.0.1:${server.xdsPort}`,
      node: { id, cluster: "test", metadata: metadata as never },
      logger,
    });
    clients.push(xds);
    return xds;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "gantry-server-"));
    cpSync(new URL("../../examples/features", import.meta.url).pathname, dir, { recursive: true });
    server = await startManagementServer({
      store,
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      apiToken: token,
      configDir: dir,
      translate: { extAuth: { host: "127.0.0.1", port: 8083 }, rateLimit: { host: "127.0.0.1", port: 8081 } },
      logger,
      registry: createRegistry("server", { processMetrics: false }),
      debounce: { quietMs: 20, maxDelayMs: 200 },
    });
  });

  afterAll(async () => {
    for (const c of clients) await c.stop();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("loads the config folder, translates it and reports status", () => {
    expect(server.ready).toBe(true);
    expect(server.status({ kind: "Gateway", namespace: "basic", name: "public" })?.state).toBe(State.ACCEPTED);
  });

  it("serves a proxy the listeners of the gateways that select it by label", async () => {
    const proxy = client("gw-basic-1", { role: "gateway", labels: { gateway: "basic" } });
    let listeners: string[] = [];
    proxy.subscribe(ListenerSchema, {
      onUpdate: (resources) => {
        listeners = [...resources.keys()];
      },
    });
    proxy.start();
    await waitFor(() => listeners.length > 0, { what: "listeners for the basic gateway" });
    expect(listeners.every((name) => name.startsWith("basic/public"))).toBe(true);
    await waitFor(
      () => server.proxies().some((p) => p.nodeId === "gw-basic-1" && p.types.some((t) => t.ackedVersion)),
      {
        what: "the proxy's ACK in proxy status",
      },
    );
  });

  it("serves ext-auth servers the AuthConfigs routes name, keyed by config id", async () => {
    const extauth = client("extauth-1", { role: "extauth" });
    let configs: Configs<typeof AuthConfigSchema> = new Map();
    extauth.subscribe(AuthConfigSchema, {
      nameOf: (c) => c.id,
      onUpdate: (resources) => {
        configs = resources;
      },
    });
    extauth.start();
    await waitFor(() => configs.size > 0, { what: "auth configs" });
    expect([...configs.keys()]).toEqual(["policies/users"]);
    expect(configs.get("policies/users")?.configs.length).toBeGreaterThan(0);
  });

  it("serves rate-limit servers one RateLimitConfig per domain, and follows changes", async () => {
    const ratelimit = client("ratelimit-1", { role: "ratelimit" });
    let configs: Configs<typeof RateLimitConfigSchema> = new Map();
    ratelimit.subscribe(RateLimitConfigSchema, {
      onUpdate: (resources) => {
        configs = resources;
      },
    });
    ratelimit.start();
    await waitFor(() => configs.size > 0, { what: "rate-limit configs" });
    expect([...configs.keys()]).toEqual(["store"]);
    const before = JSON.stringify(toJson(RateLimitConfigSchema, configs.get("store") as never));

    // Edit the folder: the change flows through the store and translation to the rate-limit server.
    const policies = join(dir, "policies.yaml");
    const text = (await import("node:fs")).readFileSync(policies, "utf8");
    const edited = text.replace(/requestsPerUnit: (\d+)/, (_m, n: string) => `requestsPerUnit: ${Number(n) + 1}`);
    expect(edited).not.toBe(text);
    writeFileSync(policies, edited);
    await waitFor(() => JSON.stringify(toJson(RateLimitConfigSchema, configs.get("store") as never)) !== before, {
      what: "the changed rate limit",
    });
  });

  it("describes through the API which connected proxy serves a delegated route table, once it ACKs", async () => {
    const proxy = client("gw-delegation-1", { role: "gateway", labels: { gateway: "delegation" } });
    for (const schema of [ListenerSchema, RouteConfigurationSchema, ClusterSchema, ClusterLoadAssignmentSchema]) {
      proxy.subscribe(schema, { onUpdate: () => {} });
    }
    proxy.start();
    const api = createClient(
      ManagementService,
      createConnectTransport({
        baseUrl: `http://127.0.0.1:${server.apiPort}`,
        httpVersion: "1.1",
        interceptors: [
          (next) => async (req) => {
            req.header.set("authorization", `Bearer ${token}`);
            return next(req);
          },
        ],
      }),
    );
    const ref = { kind: "RouteTable", namespace: "delegation", name: "orders" };
    const described = await waitFor(
      async () => {
        const response = await api.describe({ ref });
        return response.servedBy.some((p) => p.nodeId === "gw-delegation-1" && p.acked) ? response : undefined;
      },
      { what: "the delegation gateway's proxy ACKing its configuration" },
    );
    expect(described.resource?.ref).toMatchObject(ref);
    expect(described.publishedRevision).toBe(BigInt(server.publishedRevision));
    expect(described.gateways.map((g) => `${g.namespace}/${g.name}`)).toEqual(["delegation/public"]);
    expect(described.routeTables.map((r) => r.name)).toEqual(["orders", "root"]);
    expect(described.routes.map((r) => [r.name, r.routeTable?.name])).toEqual([
      ["delegation/root/api > delegation/orders/orders", "root"],
    ]);
    expect(described.servedBy.map((p) => [p.nodeId, p.role, p.gateways, p.pendingTypes])).toEqual([
      ["gw-delegation-1", "proxy", ["delegation/public"], []],
    ]);
  });
});
