// `gantry bootstrap --format grpc` → a real grpc-js-xds client reads it from GRPC_XDS_BOOTSTRAP and
// routes through a real management server to a real backend. grpc-js-xds's registration and
// bootstrap are process-wide, so this file has its own vitest fork.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Authorization } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { createClient, GrpcServer } from "../../src/lib/grpc.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { buildGrpcBootstrap, parseLocality } from "../../src/server/bootstrap-grpc.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { runGantry } from "../support/cli.js";
import { waitFor } from "../support/wait.js";

const logger = createLogger({ service: "test", level: "silent" });

const gantry = (...args: string[]) => runGantry(args, { timeoutMs: 15_000 });

describe("gRPC xDS bootstrap", () => {
  it("names Gantry's xDS server, the node with role, labels and locality, and the server listener template", () => {
    expect(
      buildGrpcBootstrap({
        nodeId: "checkout-7f9",
        labels: { app: "checkout" },
        xdsHost: "gantry.gantry-system",
        xdsPort: 18000,
        locality: parseLocality("eu-west/eu-west-1a"),
      }),
    ).toEqual({
      xds_servers: [
        {
          server_uri: "gantry.gantry-system:18000",
          channel_creds: [{ type: "insecure" }],
          server_features: ["xds_v3"],
        },
      ],
      node: {
        id: "checkout-7f9",
        cluster: "gantry-grpc",
        metadata: { role: "grpc", labels: { app: "checkout" } },
        locality: { region: "eu-west", zone: "eu-west-1a" },
      },
      server_listener_resource_name_template: "grpc/server?xds.resource.listening_address=%s",
    });
  });

  it("writes --cluster as the node's cluster and its metadata `cluster` (its workload cluster), and checks it", () => {
    const base = { nodeId: "n", labels: {}, xdsHost: "h", xdsPort: 1 };
    const node = buildGrpcBootstrap({ ...base, cluster: "east" }).node;
    expect([node.cluster, node.metadata]).toEqual(["east", { role: "grpc", labels: {}, cluster: "east" }]);
    expect(() => buildGrpcBootstrap({ ...base, cluster: "East Coast" })).toThrow(
      `--cluster: "East Coast" is not a cluster name`,
    );
    // As an agent's --cluster: a DNS label, so a dotted name is refused, not written for no agent to match.
    expect(() => buildGrpcBootstrap({ ...base, cluster: "east.eu" })).toThrow(
      `--cluster: "east.eu" is not a cluster name: it must be a DNS label`,
    );
  });

  it("brackets an IPv6 xDS host and always sends a locality", () => {
    const bootstrap = buildGrpcBootstrap({ nodeId: "n", labels: {}, xdsHost: "::1", xdsPort: 18000 });
    expect(bootstrap.xds_servers[0]?.server_uri).toBe("[::1]:18000");
    expect(bootstrap.node.locality).toEqual({});
  });

  it("refuses bad values, naming the flag", () => {
    const base = { nodeId: "n", labels: {}, xdsHost: "h", xdsPort: 1 };
    expect(() => buildGrpcBootstrap({ ...base, nodeId: " " })).toThrow("--node-id: must not be empty");
    expect(() => buildGrpcBootstrap({ ...base, labels: { "bad key": "x" } })).toThrow("--labels");
    expect(() => buildGrpcBootstrap({ ...base, serverListenerTemplate: "grpc/server" })).toThrow(
      "--server-listener-template",
    );
    expect(() => parseLocality("a//b")).toThrow("--locality");
    expect(() => parseLocality("a/b/c/d")).toThrow("--locality");
  });

  it("the CLI prints it as JSON and refuses Envoy-only flags with --format grpc", async () => {
    const ok = await gantry("bootstrap", "--format", "grpc", "--node-id", "c1", "--labels", "app=web");
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).node).toMatchObject({ id: "c1", metadata: { labels: { app: "web" } } });
    const withRole = await gantry("bootstrap", "--format", "grpc", "--node-id", "c1", "--role", "gateway");
    expect(withRole.code).not.toBe(0);
    expect(withRole.stderr).toContain("--role is for Envoy bootstraps");
    const yaml = await gantry("bootstrap", "--format", "grpc", "--node-id", "c1", "-o", "yaml");
    expect(yaml.code).not.toBe(0);
    expect(yaml.stderr).toContain("gRPC reads JSON bootstraps only");
    const certs = ["bootstrap", "--format", "grpc", "--node-id", "c1", "--certs-dir", "/certs/shop/cart"];
    const refreshed = await gantry(...certs, "--certs-refresh-seconds", "2");
    expect(refreshed.code, refreshed.stderr).toBe(0);
    expect(JSON.parse(refreshed.stdout).certificate_providers.gantry.config).toEqual({
      certificate_file: "/certs/shop/cart/cert-chain.pem",
      private_key_file: "/certs/shop/cart/key.pem",
      ca_certificate_file: "/certs/shop/cart/root-cert.pem",
      refresh_interval: "2s",
    });
    const alone = await gantry("bootstrap", "--format", "grpc", "--node-id", "c1", "--certs-refresh-seconds", "2");
    expect(alone.stderr).toContain("--certs-refresh-seconds needs --certs-dir");
    const envoy = await gantry("bootstrap", "--role", "gateway", "--node-id", "gw", "--certs-refresh-seconds", "2");
    expect(envoy.stderr).toContain("--certs-refresh-seconds is for gRPC bootstraps");
    const noRole = await gantry("bootstrap", "--node-id", "gw");
    expect(noRole.code).not.toBe(0);
    expect(noRole.stderr).toContain("--role is required for an Envoy bootstrap");
  });
});

describe("a grpc-js-xds client on the CLI's bootstrap", () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-grpc-bootstrap-"));
  let server: ManagementServer;
  let backend: GrpcServer;
  let backendPort = 0;

  beforeAll(async () => {
    backend = new GrpcServer({ logger });
    backend.add(Authorization, {
      check: async () => ({
        status: { code: 0 },
        httpResponse: { case: "okResponse", value: { headers: [{ header: { key: "backend", value: "echo" } }] } },
      }),
    });
    backendPort = await backend.listen("127.0.0.1", 0);
    const store = new MemoryStore();
    server = await startManagementServer({
      store,
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      insecureApi: true,
      apiToken: undefined,
      logger,
      registry: createRegistry("server", { processMetrics: false }),
      debounce: { quietMs: 10, maxDelayMs: 100 },
    });
    const yaml = `apiVersion: gantry/v1
kind: Gateway
metadata: { name: mesh, namespace: grpc }
spec:
  kind: GRPC_PROXYLESS
  proxies: { labels: { app: frontend } }
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: echo, namespace: grpc }
spec:
  hosts: [echo.grpc.test]
  gateways: [{ name: mesh }]
  http:
    - forwardTo: { destinations: [{ destination: { name: echo } }] }
---
apiVersion: gantry/v1
kind: Destination
metadata: { name: echo, namespace: grpc }
spec:
  ports: [{ number: 50051, protocol: GRPC }]
  endpoints: [{ address: 127.0.0.1, port: ${backendPort} }]
`;
    const file = join(dir, "world.yaml");
    writeFileSync(file, yaml);
    const applied = await gantry("apply", "-f", file, "--server", `http://127.0.0.1:${server.apiPort}`);
    expect(applied.code, applied.stderr).toBe(0);
    const printed = await gantry(
      "bootstrap",
      "--format",
      "grpc",
      "--node-id",
      "frontend-1",
      "--labels",
      "app=frontend",
      "--xds-address",
      `127.0.0.1:${server.xdsPort}`,
    );
    expect(printed.code).toBe(0);
    const bootstrapFile = join(dir, "bootstrap.json");
    writeFileSync(bootstrapFile, printed.stdout);
    process.env["GRPC_XDS_BOOTSTRAP"] = bootstrapFile;
    const grpcXds = await import("@grpc/grpc-js-xds");
    grpcXds.register();
  });

  afterAll(async () => {
    await server?.stop();
    await backend?.shutdown(500);
    rmSync(dir, { recursive: true, force: true });
  });

  it("is selected by its labels and reaches the backend by xds:///", async () => {
    const client = createClient(Authorization, "xds:///echo.grpc.test");
    try {
      const backendName = await waitFor(
        async () => {
          const response = await client.check({}, { timeoutMs: 2_000 }).catch(() => undefined);
          return response?.httpResponse.case === "okResponse"
            ? response.httpResponse.value.headers[0]?.header?.value
            : undefined;
        },
        { timeoutMs: 20_000, what: "a call routed by the bootstrap's xDS server" },
      );
      expect(backendName).toBe("echo");
      expect(server.proxies().map((p) => p.nodeId)).toContain("frontend-1");
    } finally {
      client.close();
    }
  });
});
