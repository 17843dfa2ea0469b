// An agent and a management server in one process: what the agent serves its cluster's own
// services, what the server sees of the cluster, and who may connect as which cluster.
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Agent, directoryDiscovery, RelayClient, startAgent } from "../../src/agent/index.js";
import { AuthConfigSchema } from "../../src/gen/gantry/extauth/v1/auth_config_pb.js";
import { RateLimitConfigSchema } from "../../src/gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { DesiredState, type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { RelayHub, startRelayServer } from "../../src/server/relay/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { XdsClient } from "../../src/xds/index.js";
import { waitFor } from "../support/wait.js";

const logger = createLogger({ service: "test", level: "silent" });

describe("gantry agent, in process with a management server", () => {
  const store = new MemoryStore();
  let server: ManagementServer;
  let agent: Agent;
  let root = "";
  const clients: XdsClient[] = [];

  const client = (id: string, role: string) => {
    const xds = new XdsClient({ server: `127.0.0.1:${agent.xdsPort}`, node: { id, metadata: { role } }, logger });
    clients.push(xds);
    return xds;
  };

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "gantry-agent-"));
    cpSync(new URL("../../examples/features", import.meta.url).pathname, join(root, "config"), { recursive: true });
    mkdirSync(join(root, "discovery"));
    writeFileSync(
      join(root, "discovery", "discovered.yaml"),
      "apiVersion: gantry/v1\nkind: Destination\nmetadata: { name: api, namespace: east-apps }\nspec:\n  endpoints: [{ address: 10.0.0.1 }]\n  ports: [{ number: 80 }]\n",
    );
    server = await startManagementServer({
      store,
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      apiToken: "agent-test-token-0123456789",
      configDir: join(root, "config"),
      translate: { extAuth: { host: "127.0.0.1", port: 8083 }, rateLimit: { host: "127.0.0.1", port: 8081 } },
      relay: { port: 0 },
      logger,
      registry: createRegistry("server", { processMetrics: false }),
      debounce: { quietMs: 20, maxDelayMs: 200 },
    });
    agent = await startAgent({
      cluster: "east",
      relay: [`127.0.0.1:${server.relayPort}`],
      dataDir: join(root, "data"),
      discovery: directoryDiscovery(join(root, "discovery")),
      host: "127.0.0.1",
      xdsPort: 0,
      agentVersion: "test",
      logger,
      registry: createRegistry("agent", { processMetrics: false }),
    });
  });

  afterAll(async () => {
    for (const c of clients) await c.stop();
    await agent?.stop();
    await server?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it("feeds the cluster's ext-auth and rate-limit servers what the server would", async () => {
    let auth: string[] = [];
    let limits: string[] = [];
    const extauth = client("extauth-east", "extauth");
    extauth.subscribe(AuthConfigSchema, {
      nameOf: (c) => c.id,
      onUpdate: (r) => {
        auth = [...r.keys()];
      },
    });
    extauth.start();
    const ratelimit = client("ratelimit-east", "ratelimit");
    ratelimit.subscribe(RateLimitConfigSchema, {
      onUpdate: (r) => {
        limits = [...r.keys()];
      },
    });
    ratelimit.start();
    await waitFor(() => auth.length > 0 && limits.length > 0, { what: "auth and rate-limit configs from the agent" });
    expect(auth).toEqual(["policies/users"]);
    expect(limits).toEqual(["store"]);
  });

  it("stores the cluster's Destinations at the server, and shows the cluster and its proxies there", async () => {
    await waitFor(async () => (await store.list({ kind: "Destination", namespace: "east-apps" })).length === 1, {
      what: "the discovered Destination in the store",
    });
    const [stored] = await store.list({ kind: "Destination", namespace: "east-apps" });
    expect(stored?.key.name).toBe("api.east");
    await waitFor(() => server.proxies().some((p) => p.nodeId === "extauth-east"), {
      what: "the agent's proxy report",
    });
    expect(server.proxies().find((p) => p.nodeId === "extauth-east")?.server).toMatch(/^cluster east via /);
    const [east] = server.clusters();
    expect(east).toMatchObject({ name: "east", connected: true, agentVersion: "test", discovered: 1 });
    expect(east?.outputVersion).toBe(agent.outputVersion);
    expect(agent.staleSinceMs).toBeUndefined();
    expect(agent.readiness()).toMatchObject({ ready: true });
  });

  it("sends no discovery while its source has none: a bad file at start does not delete the cluster's Destinations", async () => {
    const discovery = join(root, "north-discovery");
    mkdirSync(discovery);
    writeFileSync(join(discovery, "api.yaml"), "apiVersion: gantry/v1\nkind: Destination\nmetadata: { name: api\n");
    const stored = {
      apiVersion: "gantry/v1",
      kind: "Destination",
      // As the relay stores north's own `api` (storedDocument), so that the relay would remove it.
      metadata: {
        name: "api.north",
        namespace: "north-apps",
        clusters: ["north"],
        labels: { "gantry.io/cluster": "north", "gantry.io/discovered-name": "api" },
      },
      spec: { endpoints: [{ address: "10.0.0.9" }], ports: [{ number: 80 }] },
    };
    await store.apply([stored]);
    const deleted: string[] = [];
    const unwatch = store.watch((change) => {
      if (change.kind === "changed") deleted.push(...change.deleted.map((k) => k.name));
    });
    const north = await startAgent({
      cluster: "north",
      relay: [`127.0.0.1:${server.relayPort}`],
      dataDir: join(root, "north-data"),
      discovery: directoryDiscovery(discovery),
      host: "127.0.0.1",
      xdsPort: 0,
      agentVersion: "test",
      logger,
      registry: createRegistry("agent", { processMetrics: false }),
    });
    try {
      await waitFor(() => server.clusters().some((c) => c.name === "north" && c.outputVersion !== ""), {
        what: "the north agent on the relay",
      });
      // Fixed: the discovery goes up whole, and the stored Destination changes without ever being deleted.
      writeFileSync(
        join(discovery, "api.yaml"),
        "apiVersion: gantry/v1\nkind: Destination\nmetadata: { name: api, namespace: north-apps }\nspec:\n  endpoints: [{ address: 10.0.0.10 }]\n  ports: [{ number: 80 }]\n",
      );
      await waitFor(
        async () =>
          JSON.stringify(
            (await store.get({ kind: "Destination", namespace: "north-apps", name: "api.north" }))?.document,
          ).includes("10.0.0.10"),
        { what: "the fixed discovery in the store" },
      );
      expect(deleted).toEqual([]);
    } finally {
      unwatch();
      await north.stop();
    }
  });
});

describe("a discovered name a user's resource already holds", () => {
  it("is neither overwritten nor removed: the agent's Destination is left out, and the collision reported", async () => {
    const store = new MemoryStore();
    const root = mkdtempSync(join(tmpdir(), "gantry-agent-names-"));
    const user = {
      apiVersion: "gantry/v1",
      kind: "Destination",
      metadata: { name: "api.south", namespace: "south-apps" },
      spec: { endpoints: [{ address: "192.0.2.7" }], ports: [{ number: 80 }] },
    };
    await store.apply([user]);
    const registry = createRegistry("server", { processMetrics: false });
    const server = await startManagementServer({
      store,
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      apiToken: "agent-test-token-0123456789",
      relay: { port: 0 },
      logger,
      registry,
      debounce: { quietMs: 20, maxDelayMs: 200 },
    });
    mkdirSync(join(root, "discovery"));
    const discovered = (address: string) =>
      `apiVersion: gantry/v1\nkind: Destination\nmetadata: { name: api, namespace: south-apps }\nspec:\n  endpoints: [{ address: ${address} }]\n  ports: [{ number: 80 }]\n---\napiVersion: gantry/v1\nkind: Destination\nmetadata: { name: web, namespace: south-apps }\nspec:\n  endpoints: [{ address: ${address} }]\n  ports: [{ number: 80 }]\n`;
    writeFileSync(join(root, "discovery", "api.yaml"), discovered("10.9.0.1"));
    const south = await startAgent({
      cluster: "south",
      relay: [`127.0.0.1:${server.relayPort}`],
      dataDir: join(root, "data"),
      discovery: directoryDiscovery(join(root, "discovery")),
      host: "127.0.0.1",
      xdsPort: 0,
      agentVersion: "test",
      logger,
      registry: createRegistry("agent", { processMetrics: false }),
    });
    try {
      const conflicts = () => server.clusters().find((c) => c.name === "south")?.conflicts ?? [];
      await waitFor(() => conflicts().length === 1, { what: "the collision on the relay" });
      expect(conflicts()).toEqual([
        { stored: "Destination/south-apps/api.south", discovered: "Destination/south-apps/api" },
      ]);
      // The other Destination is stored; the user's is as the user wrote it.
      await waitFor(
        async () =>
          (await store.get({ kind: "Destination", namespace: "south-apps", name: "web.south" })) !== undefined,
        {
          what: "south's web stored",
        },
      );
      const kept = await store.get({ kind: "Destination", namespace: "south-apps", name: "api.south" });
      expect(kept?.document).toEqual(user);
      expect(await registry.metrics()).toMatch(
        /gantry_relay_discovery_conflicts_total\{[^}]*cluster="south"[^}]*\} 1\n/,
      );
      // The agent drops `api`: the relay does not remove the user's resource under that name.
      writeFileSync(join(root, "discovery", "api.yaml"), discovered("10.9.0.2").split("---\n")[1] ?? "");
      await waitFor(() => conflicts().length === 0, { what: "the collision to clear" });
      expect((await store.get({ kind: "Destination", namespace: "south-apps", name: "api.south" }))?.document).toEqual(
        user,
      );
    } finally {
      await south.stop();
      await server.stop();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("the relay port", () => {
  it("refuses a peer whose credentials name another cluster than its hello", async () => {
    const store = new MemoryStore();
    const hub = new RelayHub({
      store,
      desired: new DesiredState(store),
      logger,
      registry: createRegistry("server", { processMetrics: false }),
      clock: { now: () => Date.now() },
      serverName: "test",
    });
    const relay = await startRelayServer({ hub, host: "127.0.0.1", port: 0, peerCluster: () => "west", logger });
    const errors: string[] = [];
    const client = new RelayClient({
      addresses: [`127.0.0.1:${relay.port}`],
      hello: () => ({ cluster: "east", agentVersion: "test" }),
      onOutput: async () => {},
      onOpen: () => {},
      onResyncDiscovery: () => {},
      onClose: (err) => errors.push(err?.message ?? "ended"),
      logger,
    });
    client.start();
    try {
      await waitFor(() => errors.length > 0, { what: "the refusal" });
      expect(errors[0]).toMatch(/PERMISSION_DENIED.*credentials are for cluster "west", but its hello says "east"/);
      expect(hub.clusters()).toEqual([]);
    } finally {
      client.stop();
      await relay.stop(0);
    }
  });
});
