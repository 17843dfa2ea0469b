import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterSchema } from "../../src/gen/envoy/config/cluster/v3/cluster_pb.js";
import { ClusterLoadAssignmentSchema } from "../../src/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { RouteConfigurationSchema } from "../../src/gen/envoy/config/route/v3/route_pb.js";
import { ManagementService } from "../../src/gen/gantry/api/v1/management_pb.js";
import { AuthConfigSchema } from "../../src/gen/gantry/extauth/v1/auth_config_pb.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { XdsClient } from "../../src/xds/index.js";
import { runGantry } from "../support/cli.js";
import { freePort } from "../support/ports.js";
import { waitFor } from "../support/wait.js";

const run = promisify(execFile);
const bin = new URL("../../bin/gantry.js", import.meta.url).pathname;
const policiesYaml = new URL("../../examples/features/policies.yaml", import.meta.url).pathname;
const token = "describe-test-token-0123456789";
const logger = createLogger({ service: "test", level: "silent" });

interface DescribeJson {
  resource: { ref: { kind: string; name: string }; status: { state: string } };
  servedBy: { nodeId: string; role: string; gateways?: string[]; acked?: boolean; lastNackError?: string }[];
  routes: { name: string; policies: { policy: { kind: string; name: string }; effect: string }[] }[];
}

describe("gantry describe against a running management server with connected proxies", () => {
  const store = new MemoryStore();
  const clients: XdsClient[] = [];
  let server: ManagementServer;
  let url = "";

  const gantry = (args: string[]) => runGantry([...args, "--server", url], { env: { GANTRY_API_TOKEN: token } });

  /** An xDS client that subscribes to every type and accepts (or, for clusters, refuses) what it gets. */
  function proxy(id: string, labels: Record<string, string>, refuseClusters = false): XdsClient {
    const xds = new XdsClient({
      server: `127.0.0.1:${server.xdsPort}`,
      node: { id, cluster: "test", metadata: { role: "gateway", labels } },
      logger,
    });
    xds.subscribe(ListenerSchema, { onUpdate: () => {} });
    xds.subscribe(RouteConfigurationSchema, { onUpdate: () => {} });
    xds.subscribe(ClusterSchema, {
      onUpdate: () => {
        if (refuseClusters) throw new Error("this proxy refuses clusters");
      },
    });
    xds.subscribe(ClusterLoadAssignmentSchema, { onUpdate: () => {} });
    xds.start();
    clients.push(xds);
    return xds;
  }

  const api = () =>
    createClient(
      ManagementService,
      createConnectTransport({
        baseUrl: url,
        httpVersion: "1.1",
        interceptors: [
          (next) => async (req) => {
            req.header.set("authorization", `Bearer ${token}`);
            return next(req);
          },
        ],
      }),
    );

  beforeAll(async () => {
    server = await startManagementServer({
      store,
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      apiToken: token,
      translate: { extAuth: { host: "127.0.0.1", port: 8083 }, rateLimit: { host: "127.0.0.1", port: 8081 } },
      logger,
      registry: createRegistry("server", { processMetrics: false }),
      debounce: { quietMs: 20, maxDelayMs: 200 },
    });
    url = `http://127.0.0.1:${server.apiPort}`;

    const applied = await gantry(["apply", "-f", policiesYaml]);
    expect(applied.stdout).toContain("gateway/policies/public created\n  status: Accepted\n");
    proxy("gw-policies-1", { gateway: "policies" });
    proxy("gw-policies-refusing", { gateway: "policies" }, true);
    const extauth = new XdsClient({
      server: `127.0.0.1:${server.xdsPort}`,
      node: { id: "extauth-1", cluster: "test", metadata: { role: "extauth" } },
      logger,
    });
    extauth.subscribe(AuthConfigSchema, {
      typeUrl: "type.googleapis.com/gantry.extauth.v1.AuthConfig",
      onUpdate: () => {},
    });
    extauth.start();
    clients.push(extauth);

    // Bounded wait: the accepting proxy has ACKed everything, the refusing one has NACKed clusters.
    await waitFor(
      async () => {
        const { servedBy } = await api().describe({ ref: { kind: "Gateway", namespace: "policies", name: "public" } });
        const accepting = servedBy.find((p) => p.nodeId === "gw-policies-1");
        const refusing = servedBy.find((p) => p.nodeId === "gw-policies-refusing");
        return accepting?.acked && refusing?.lastNackError;
      },
      { what: "one proxy ACKing the gateway's configuration and one NACKing its clusters", timeoutMs: 15_000 },
    );
  });

  afterAll(async () => {
    for (const c of clients) await c.stop();
    await server?.stop();
  });

  it("shows a gateway's status, the proxies serving it with their ACK state, and its routes' policies", async () => {
    const { code, stdout } = await gantry(["describe", "gateway", "public", "-n", "policies"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Name: +policies\/public\nKind: +Gateway\nStatus: +ACCEPTED\n/);
    expect(stdout).toMatch(/Served by:\n +NODE +ROLE +STREAMS +GATEWAYS +ACKED +PENDING TYPES +LAST NACK\n/);
    expect(stdout).toMatch(/gw-policies-1 +proxy +ads-sotw +policies\/public +yes +- +-\n/);
    expect(stdout).toMatch(
      /gw-policies-refusing +proxy +ads-sotw +policies\/public +no +Cluster +Cluster: .*: this proxy refuses clusters\n/,
    );
    expect(stdout).not.toContain("extauth-1");
    expect(stdout).toMatch(/Route tables: +policies\/store\n/);
    expect(stdout).toContain("ExtAuthPolicy/policies/require-login");
    expect(stdout).toMatch(
      /policies\/store\/account +policies\/public +10080 +store\.example\.com +prefix \/account +forward policies\/store:8080 +ExtAuthPolicy\/policies\/require-login, HeaderPolicy\/policies\/security-headers, RateLimitPolicy\/policies\/per-client\n/,
    );
  });

  it("shows a route table's per-route policy attachments as JSON", async () => {
    const { code, stdout } = await gantry(["describe", "RouteTables", "store", "-n", "policies", "-o", "json"]);
    expect(code).toBe(0);
    const described = JSON.parse(stdout) as DescribeJson;
    expect(described.resource.ref).toMatchObject({ kind: "RouteTable", name: "store" });
    expect(described.resource.status.state).toBe("ACCEPTED");
    const account = described.routes.find((r) => r.name === "policies/store/account");
    expect(account?.policies.map((p) => [p.policy.name, p.effect])).toContainEqual([
      "require-login",
      "auth config policies/users",
    ]);
    expect(described.servedBy.find((p) => p.nodeId === "gw-policies-1")).toMatchObject({
      role: "proxy",
      gateways: ["policies/public"],
      acked: true,
    });
  });

  it("shows what a policy attaches to, and an AuthConfig's ext-auth servers", async () => {
    const policy = await gantry(["describe", "extauthpolicy", "require-login", "-n", "policies"]);
    expect(policy.stdout).toMatch(/Attached to:\n +ROUTE .* EFFECT\n/);
    expect(policy.stdout).toMatch(/policies\/store\/account .* auth config policies\/users\n/);
    expect(policy.stdout).toMatch(/policies\/store\/checkout .* auth config policies\/users\n/);
    expect(policy.stdout).not.toContain("policies/store/public-assets");

    const config = await gantry(["describe", "authconfig", "users", "-n", "policies", "-o", "yaml"]);
    expect(config.code).toBe(0);
    expect(config.stdout).toContain("authConfigId: policies/users");
    expect(config.stdout).toMatch(/nodeId: extauth-1\n\s+role: extauth/);
  });

  it("explains a missing resource, a bad kind and an unreachable server", async () => {
    const missing = await gantry(["describe", "gateway", "nope", "-n", "policies"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^gantry: Gateway policies\/nope not found\n/);
    const kind = await gantry(["describe", "widget", "x"]);
    expect(kind.code).toBe(1);
    expect(kind.stderr).toContain('unknown kind "widget"');
    const port = await freePort();
    const away = await run(
      process.execPath,
      [bin, "describe", "gateway", "public", "--server", `http://127.0.0.1:${port}`],
      {
        env: { ...process.env, GANTRY_API_TOKEN: token },
      },
    ).catch((e: { code: number; stderr: string }) => e);
    expect(away).toMatchObject({ code: 1 });
    expect((away as { stderr: string }).stderr).toContain(`cannot reach the Gantry server at http://127.0.0.1:${port}`);
  });
});
