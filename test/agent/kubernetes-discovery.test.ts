// The agent's Kubernetes provider with a real kube-apiserver as the workload cluster (no controllers
// run: the test writes the EndpointSlices an EndpointSlice controller would), a management server
// and the agent in this process, and a Go gRPC xDS client attached to the agent: a Service with
// EndpointSlices becomes a Destination at the server and the client's picks; an endpoint that goes
// not-ready leaves them within a second.
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { type Agent, KubernetesDiscovery, startAgent } from "../../src/agent/index.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { buildGrpcBootstrap } from "../../src/server/bootstrap-grpc.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore, type ResourceDocument } from "../../src/store/index.js";
import { type Backend, startBackend } from "../interop/backends.js";
import { clientCommand, type InteropClient, startClient } from "../interop/clients.js";
import { haveApiserver, startApiserver, type TestApiserver } from "../kubernetes/apiserver.js";
import { inCI } from "../support/tools.js";
import { waitFor } from "../support/wait.js";

const logger = createLogger({ service: "test", level: "silent" });
/**
 * The machine's first non-loopback IPv4 address: an EndpointSlice refuses loopback addresses, so the
 * backends listen on this one (only this machine's clients connect to it).
 */
const hostAddress = Object.values(networkInterfaces())
  .flat()
  .find((a) => a?.family === "IPv4" && !a.internal)?.address;

const destinationsCrd = new URL("../../deploy/crds/destinations.gantry.dev.yaml", import.meta.url).pathname;

const routing = parseAllDocuments(`apiVersion: gantry/v1
kind: Gateway
metadata: { name: mesh, namespace: shop }
spec:
  kind: GRPC_PROXYLESS
  proxies: { labels: { app: shop } }
---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: echo, namespace: shop }
spec:
  hosts: [echo.test]
  gateways: [{ name: mesh }]
  http:
    - forwardTo: { destinations: [{ destination: { name: echo.east } }] }
`).map((d) => d.toJSON() as ResourceDocument);

/** An EndpointSlice of Service `echo`: one endpoint on the host address, listening on `port`. */
function slice(name: string, port: number, ready: boolean) {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name, namespace: "shop", labels: { "kubernetes.io/service-name": "echo" } },
    addressType: "IPv4",
    ports: [{ name: "grpc", port, protocol: "TCP" }],
    endpoints: [
      {
        addresses: [hostAddress],
        conditions: { ready, serving: ready, terminating: false },
        targetRef: { kind: "Pod", name, namespace: "shop" },
      },
    ],
  };
}

if (hostAddress === undefined) {
  const message = "this machine has no non-loopback IPv4 address for the workload cluster's endpoints";
  if (inCI) throw new Error(`CI=true and ${message}`);
  console.warn(`skipping: ${message}`);
}

describe.skipIf(!haveApiserver() || clientCommand("go") === undefined || hostAddress === undefined)(
  "the agent's Kubernetes provider, with a real apiserver as the workload cluster",
  () => {
    let kube: TestApiserver;
    let server: ManagementServer;
    let agent: Agent;
    let discovery: KubernetesDiscovery;
    let client: InteropClient;
    const store = new MemoryStore();
    const backends: Backend[] = [];

    const picks = async (calls = 20) =>
      (await client.run({ target: "xds:///echo.test", calls, timeoutMs: 2_000 })).backends;

    beforeAll(async () => {
      kube = await startApiserver();
      const api = kube.api;
      await kube.server.kubectlOk(["apply", "--server-side", "-f", destinationsCrd]);
      await kube.server.kubectlOk(["wait", "--for=condition=Established", "crd/destinations.gantry.dev"]);
      await api.request("POST", "/api/v1/namespaces", {
        body: { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } },
      });
      await api.request("POST", "/api/v1/namespaces/shop/serviceaccounts", {
        body: { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "echo" } },
      });
      for (const name of ["echo-a", "echo-b"]) {
        backends.push(await startBackend(name, undefined, 0, hostAddress));
        await api.request("POST", "/api/v1/namespaces/shop/pods", {
          body: {
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name, labels: { app: "echo", slot: name } },
            spec: {
              serviceAccountName: "echo",
              automountServiceAccountToken: false,
              containers: [{ name: "echo", image: "echo" }],
            },
          },
        });
      }
      await api.request("POST", "/api/v1/namespaces/shop/services", {
        body: {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: "echo", labels: { app: "echo" } },
          spec: { ports: [{ name: "grpc", port: 50051, targetPort: "grpc" }], selector: { app: "echo" } },
        },
      });
      for (const [i, backend] of backends.entries()) {
        await api.request("POST", "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices", {
          body: slice(`echo-${"ab"[i]}`, backend.port, true),
        });
      }

      server = await startManagementServer({
        store,
        host: "127.0.0.1",
        xdsPort: 0,
        apiPort: 0,
        apiToken: "kubernetes-agent-test-token-0123",
        translate: { extAuth: { host: "127.0.0.1", port: 8083 }, rateLimit: { host: "127.0.0.1", port: 8081 } },
        relay: { port: 0 },
        logger,
        registry: createRegistry("server", { processMetrics: false }),
        debounce: { quietMs: 20, maxDelayMs: 200 },
      });
      await store.apply(routing);
      discovery = new KubernetesDiscovery({ api, logger });
      agent = await startAgent({
        cluster: "east",
        relay: [`127.0.0.1:${server.relayPort}`],
        dataDir: join(kube.dir, "agent-data"),
        discovery,
        host: "127.0.0.1",
        xdsPort: 0,
        agentVersion: "test",
        logger,
        registry: createRegistry("agent", { processMetrics: false }),
      });
      const started = await startClient(
        "go",
        buildGrpcBootstrap({
          nodeId: "shop-client",
          labels: { app: "shop" },
          xdsHost: "127.0.0.1",
          xdsPort: agent.xdsPort,
        }),
      );
      if (!started) throw new Error("the Go client is not built");
      client = started;
    }, 180_000);

    afterAll(async () => {
      await client?.stop();
      await agent?.stop();
      await server?.stop();
      for (const b of backends) await b.stop();
      await kube?.stop();
    });

    it("makes the Service and its EndpointSlices a Destination at the server, with the Pods' labels and service accounts", async () => {
      const stored = await waitFor(
        async () => (await store.get({ kind: "Destination", namespace: "shop", name: "echo.east" }))?.document,
        { what: "Destination shop/echo.east at the server" },
      );
      expect(stored.spec).toMatchObject({
        hosts: ["echo.shop.svc.cluster.local"],
        ports: [{ number: 50051, name: "grpc", protocol: "GRPC" }],
      });
      // Endpoints come in address and port order, and the backends' ports are whatever was free.
      const endpoints = (stored.spec as { endpoints: { port: number }[] }).endpoints;
      expect(endpoints).toHaveLength(2);
      expect(endpoints.find((e) => e.port === backends[0]?.port)).toMatchObject({
        address: hostAddress,
        health: "HEALTHY",
        labels: { app: "echo", slot: "echo-a", "gantry.io/service-account": "echo" },
      });
      expect(endpoints.find((e) => e.port === backends[1]?.port)).toMatchObject({
        address: hostAddress,
        health: "HEALTHY",
      });
    });

    it("sends up a Destination applied in the cluster as a custom resource, as it is", async () => {
      await kube.api.request("POST", "/apis/gantry.dev/v1/namespaces/shop/destinations", {
        body: {
          apiVersion: "gantry.dev/v1",
          kind: "Destination",
          metadata: { name: "legacy", labels: { tier: "gold" } },
          spec: { ports: [{ number: 8443, protocol: "HTTP2" }], dns: "legacy.example.com" },
        },
      });
      const stored = await waitFor(
        async () => (await store.get({ kind: "Destination", namespace: "shop", name: "legacy.east" }))?.document,
        { what: "Destination shop/legacy.east at the server" },
      );
      expect(stored.spec).toEqual({ ports: [{ number: 8443, protocol: "HTTP2" }], dns: "legacy.example.com" });
      expect(stored.metadata.labels).toMatchObject({ tier: "gold", "gantry.io/cluster": "east" });
    });

    it("reaches a Go gRPC xDS client attached to the agent: both endpoints are picked", async () => {
      await waitFor(
        async () => {
          const seen = await picks();
          return (seen["echo-a"] ?? 0) > 0 && (seen["echo-b"] ?? 0) > 0;
        },
        { timeoutMs: 20_000, what: "calls to both endpoints" },
      );
    });

    it("an endpoint that goes not-ready leaves the client's picks within a second, and comes back when ready", async () => {
      const path = "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices/echo-b";
      const current = await kube.api.request<{ metadata: object }>("GET", path);
      const changedAt = Date.now();
      await kube.api.request("PUT", path, {
        body: { ...slice("echo-b", backends[1]?.port ?? 0, false), metadata: current.metadata },
      });
      await waitFor(async () => Object.keys(await picks(10)).join() === "echo-a", {
        timeoutMs: 1_000,
        intervalMs: 0,
        what: "echo-b to leave the picks",
      });
      expect(Date.now() - changedAt).toBeLessThan(1_000);
      const stored = await store.get({ kind: "Destination", namespace: "shop", name: "echo.east" });
      const spec = stored?.document.spec as { endpoints: { port: number; health: string }[] } | undefined;
      expect(spec?.endpoints.find((e) => e.port === backends[1]?.port)?.health).toBe("UNHEALTHY");

      const again = await kube.api.request<{ metadata: object }>("GET", path);
      await kube.api.request("PUT", path, {
        body: { ...slice("echo-b", backends[1]?.port ?? 0, true), metadata: again.metadata },
      });
      await waitFor(async () => ((await picks())["echo-b"] ?? 0) > 0, { what: "echo-b back in the picks" });
    });

    it("watches from the list's version: nothing was listed twice while the apiserver stayed up", () => {
      for (const counts of Object.values(discovery.counts)) expect(counts.lists).toBe(1);
    });

    it("goes on across an apiserver restart: a change made after it reaches the server", async () => {
      const watchesBefore = discovery.counts["services"]?.watches ?? 0;
      await kube.server.restart();
      await kube.api.request("POST", "/api/v1/namespaces/shop/services", {
        body: { apiVersion: "v1", kind: "Service", metadata: { name: "late" }, spec: { ports: [{ port: 80 }] } },
      });
      await waitFor(async () => await store.get({ kind: "Destination", namespace: "shop", name: "late.east" }), {
        timeoutMs: 15_000,
        what: "Destination shop/late.east after the restart",
      });
      expect(discovery.counts["services"]?.watches).toBeGreaterThan(watchesBefore);
      expect(await store.get({ kind: "Destination", namespace: "shop", name: "echo.east" })).toBeDefined();
    });
  },
);
