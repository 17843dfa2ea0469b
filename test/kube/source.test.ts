// Gantry's custom resources in a real kube-apiserver as the management server's source: a
// `kubectl apply` reaches a Go gRPC xDS client within a second, statuses appear on the objects (and
// are not rewritten when nothing changed), and a restart of the API server loses no change.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeClient, loadKubeConfig } from "../../src/kubernetes/index.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { buildGrpcBootstrap } from "../../src/server/bootstrap-grpc.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { type Backend, startBackend } from "../interop/backends.js";
import { clientCommand, type InteropClient, startClient } from "../interop/clients.js";
import { haveKube, type KubeApiServer, startKubeApiServer } from "../support/kube.js";
import { waitFor } from "../support/wait.js";
import { installCrds } from "./support.js";

const logger = createLogger({ service: "test", level: "silent" });
const ready = haveKube() && clientCommand("go") !== undefined;

const gateway = `apiVersion: gantry.dev/v1
kind: Gateway
metadata: { name: web, namespace: shop }
spec: { kind: GRPC_PROXYLESS, proxies: { labels: { app: shop } } }
`;
const destination = (name: string, port: number) => `apiVersion: gantry.dev/v1
kind: Destination
metadata: { name: ${name}, namespace: shop }
spec: { ports: [{ number: 50051, protocol: GRPC }], endpoints: [{ address: 127.0.0.1, port: ${port} }] }
`;
const routeTable = (to: string) => `apiVersion: gantry.dev/v1
kind: RouteTable
metadata: { name: echo, namespace: shop }
spec:
  hosts: [echo.test]
  gateways: [{ name: web }]
  http: [{ name: all, forwardTo: { destinations: [{ destination: { name: ${to} } }] } }]
`;

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration: number;
}
interface Got {
  metadata: { generation: number; resourceVersion: string };
  status?: { state?: string; conditions?: Condition[] };
}

describe.skipIf(!ready)("gantry server with --kubeconfig (a real kube-apiserver)", () => {
  let kube: KubeApiServer;
  let server: ManagementServer;
  let client: InteropClient;
  const backends: Backend[] = [];

  const get = async (what: string): Promise<Got> =>
    JSON.parse(await kube.kubectlOk(["get", what, "-n", "shop", "-o", "json"])) as Got;
  /** Which backend answers echo.test now. */
  const answering = async () => {
    const result = await client.run({ target: "xds:///echo.test", calls: 1, method: "/interop.Echo/Exact" });
    return Object.keys(result.backends)[0];
  };

  beforeAll(async () => {
    kube = await startKubeApiServer();
    await installCrds(kube);
    await kube.kubectlOk(["create", "namespace", "shop"]);
    backends.push(await startBackend("a"), await startBackend("b"));
    const [a, b] = backends as [Backend, Backend];
    await kube.kubectlOk(
      ["apply", "-f", "-"],
      [gateway, destination("a", a.port), destination("b", b.port), routeTable("a")].join("---\n"),
    );
    server = await startManagementServer({
      store: new MemoryStore(),
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      apiToken: undefined,
      insecureApi: true,
      logger,
      registry: createRegistry("server", { processMetrics: false }),
      debounce: { quietMs: 10, maxDelayMs: 100 },
      kubernetes: { api: new KubeClient(await loadKubeConfig({ kubeconfig: kube.kubeconfig })) },
    });
    const bootstrap = buildGrpcBootstrap({
      nodeId: "kube-go",
      labels: { app: "shop" },
      xdsHost: "127.0.0.1",
      xdsPort: server.xdsPort,
    });
    const started = await startClient("go", bootstrap);
    if (!started) throw new Error("the Go client is not built");
    client = started;
    await waitFor(async () => (await answering()) === "a", { timeoutMs: 25_000, what: "echo.test to reach a" });
  }, 180_000);

  afterAll(async () => {
    await client?.stop();
    await server?.stop();
    await Promise.all(backends.map((b) => b.stop()));
    await kube?.stop();
  });

  it("sends a kubectl apply to the Go gRPC client within a second", async () => {
    await kube.kubectlOk(["apply", "-f", "-"], routeTable("b"));
    const applied = performance.now();
    await waitFor(async () => (await answering()) === "b", { timeoutMs: 5_000, what: "echo.test to reach b" });
    expect(performance.now() - applied).toBeLessThan(1_000);
  });

  it("writes Accepted with the generation translated, once", async () => {
    const accepted = await waitFor(
      async () => {
        const got = await get("routetables.gantry.dev/echo");
        const condition = got.status?.conditions?.find((c) => c.type === "Accepted");
        return condition?.observedGeneration === got.metadata.generation && condition.status === "True"
          ? got
          : undefined;
      },
      { timeoutMs: 10_000, what: "the route table's Accepted condition" },
    );
    expect(accepted.status?.state).toBe("Accepted");
    const table = await kube.kubectlOk(["get", "routetables.gantry.dev", "-n", "shop"]);
    expect(table).toMatch(/NAME\s+STATUS\s+POLICIES\s+AGE/);
    expect(table).toMatch(/echo\s+Accepted/);
    // Another object comes, is translated and gets its status: the pass that wrote it went over the
    // route table too, and did not write it again.
    await kube.kubectlOk(["apply", "-f", "-"], destination("c", (backends[1] as Backend).port));
    await waitFor(async () => (await get("destinations.gantry.dev/c")).status?.state === "Accepted", {
      timeoutMs: 10_000,
      what: "the new destination's status",
    });
    expect((await get("routetables.gantry.dev/echo")).metadata.resourceVersion).toBe(accepted.metadata.resourceVersion);
  });

  it("says why the translator rejects a resource, on the object", async () => {
    await kube.kubectlOk(["apply", "-f", "-"], routeTable("nowhere"));
    const condition = await waitFor(
      async () => {
        const got = await get("routetables.gantry.dev/echo");
        const c = got.status?.conditions?.find((x) => x.type === "Accepted");
        return c?.observedGeneration === got.metadata.generation ? c : undefined;
      },
      { timeoutMs: 10_000, what: "the new generation's condition" },
    );
    expect(condition.reason).not.toBe("Accepted");
    expect(condition.message).toContain("nowhere");
    await kube.kubectlOk(["apply", "-f", "-"], routeTable("b"));
  });

  it("misses no change across an API server restart", async () => {
    await waitFor(async () => (await answering()) === "b", { what: "echo.test back on b" });
    await kube.restart();
    await kube.kubectlOk(["apply", "-f", "-"], routeTable("a"));
    await waitFor(async () => (await answering()) === "a", {
      // The watch is resumed after a backoff of at most 10 s once the API server is back.
      timeoutMs: 25_000,
      what: "the change made after the restart to reach the client",
    });
  }, 60_000);
});
