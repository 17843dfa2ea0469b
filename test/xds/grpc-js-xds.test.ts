// A real proxyless gRPC client (grpc-js-xds) against our server. Its registration and bootstrap are
// process-wide, so it has this file (one vitest fork) to itself.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TypeUrl } from "../../src/envoy/index.js";
import { Authorization } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { createClient, GrpcServer, GrpcStatus, type ServiceClient } from "../../src/lib/grpc.js";
import { SnapshotCache, startXdsServer, type XdsServer } from "../../src/xds/index.js";
import { waitFor } from "../support/wait.js";
import { service } from "./fixtures.js";
import { logger } from "./harness.js";

const nodeId = "grpc-client";

/** A backend that says who it is in a response header. */
async function startBackend(name: string): Promise<{ server: GrpcServer; port: number }> {
  const server = new GrpcServer({ logger });
  server.add(Authorization, {
    check: () => ({
      status: { code: 0 },
      httpResponse: { case: "okResponse", value: { headers: [{ header: { key: "backend", value: name } }] } },
    }),
  });
  return { server, port: await server.listen("127.0.0.1", 0) };
}

async function backendOf(client: ServiceClient<(typeof Authorization)["method"]>): Promise<string> {
  const response = await client.check({}, { timeoutMs: 2_000 });
  return response.httpResponse.case === "okResponse"
    ? (response.httpResponse.value.headers[0]?.header?.value ?? "")
    : "";
}

describe("grpc-js-xds clients bootstrapped at our server", () => {
  const cache = new SnapshotCache();
  let xds: XdsServer;
  let a: Awaited<ReturnType<typeof startBackend>>;
  let b: Awaited<ReturnType<typeof startBackend>>;
  let client: ServiceClient<(typeof Authorization)["method"]>;

  beforeAll(async () => {
    xds = await startXdsServer({ cache, host: "127.0.0.1", port: 0, logger });
    [a, b] = await Promise.all([startBackend("a"), startBackend("b")]);
    process.env["GRPC_XDS_BOOTSTRAP_CONFIG"] = JSON.stringify({
      xds_servers: [
        { server_uri: `127.0.0.1:${xds.port}`, channel_creds: [{ type: "insecure" }], server_features: [] },
      ],
      node: { id: nodeId, locality: {} },
    });
    const grpcXds = await import("@grpc/grpc-js-xds");
    grpcXds.register();
    client = createClient(Authorization, "xds:///svc");
  });

  afterAll(async () => {
    client.close();
    await Promise.all([xds.stop(500), a.server.shutdown(500), b.server.shutdown(500)]);
  });

  it("resolves xds:///svc through listener, routes, cluster and endpoints and calls the backend", async () => {
    cache.setSnapshot(nodeId, service("svc", a.port));
    expect(await waitFor(() => backendOf(client), { timeoutMs: 10_000, what: "a call through xDS" })).toBe("a");
    const status = xds.proxyStatus().find((p) => p.nodeId === nodeId);
    expect(status?.kind).toBe("ads-sotw");
    const acked = status?.types.filter((t) => t.acked !== undefined && t.lastNack === undefined).map((t) => t.typeUrl);
    expect(acked?.sort()).toEqual([TypeUrl.cluster, TypeUrl.endpoint, TypeUrl.listener, TypeUrl.route].sort());
  });

  it("follows the endpoints when they move to a second backend", async () => {
    cache.setSnapshot(nodeId, service("svc", b.port));
    await waitFor(async () => (await backendOf(client)) === "b", {
      timeoutMs: 10_000,
      what: "calls to reach backend b",
    });
    for (let i = 0; i < 5; i++) expect(await backendOf(client)).toBe("b");
  });

  it("fails calls with UNAVAILABLE once the resources are removed, without waiting for the 15 s timer", async () => {
    cache.setSnapshot(nodeId, []);
    const error = await waitFor(
      async () => {
        try {
          await backendOf(client);
          return undefined;
        } catch (err) {
          return err as { code?: number; details?: string };
        }
      },
      // Well under grpc-js-xds's 15 s does-not-exist timer: an LDS response without the listener says it is gone.
      { timeoutMs: 5_000, what: "calls to fail" },
    );
    expect(error.code).toBe(GrpcStatus.UNAVAILABLE);
  });
});
