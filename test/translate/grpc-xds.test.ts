// Gantry resources → translation → our xDS server → real grpc-js-xds clients → real grpc-js
// backends. grpc-js-xds's registration and bootstrap are process-wide, so this file has its own
// vitest fork.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Authorization } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { createClient, GrpcError, GrpcServer, GrpcStatus, type ServiceClient } from "../../src/lib/grpc.js";
import { createLogger } from "../../src/lib/logger.js";
import { parseResources } from "../../src/resources/index.js";
import { translate } from "../../src/translate/index.js";
import { SnapshotCache, startXdsServer, type XdsServer } from "../../src/xds/index.js";
import { waitFor } from "../support/wait.js";

const logger = createLogger({ service: "test", level: "silent" });
const nodeId = "e2e-client";
type Client = ServiceClient<(typeof Authorization)["method"]>;

interface Backend {
  name: string;
  server: GrpcServer;
  port: number;
  calls: number;
}

/**
 * A backend that names itself in a response header. `behaviour` may fail or stall a call; it
 * gets the 1-based count of calls this backend has seen.
 */
async function startBackend(
  name: string,
  behaviour?: (call: number, cancelled: Promise<void>) => Promise<void>,
): Promise<Backend> {
  const server = new GrpcServer({ logger });
  const backend: Backend = { name, server, port: 0, calls: 0 };
  server.add(Authorization, {
    check: async (_request, call) => {
      backend.calls++;
      if (behaviour) await behaviour(backend.calls, new Promise((resolve) => call.once("cancelled", () => resolve())));
      return {
        status: { code: 0 },
        httpResponse: { case: "okResponse", value: { headers: [{ header: { key: "backend", value: name } }] } },
      };
    },
  });
  backend.port = await server.listen("127.0.0.1", 0);
  return backend;
}

async function backendOf(client: Client, headers: Record<string, string> = {}, timeoutMs = 5_000): Promise<string> {
  const { Metadata } = await import("@grpc/grpc-js");
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
  const response = await client.check({}, { timeoutMs, metadata });
  return response.httpResponse.case === "okResponse"
    ? (response.httpResponse.value.headers[0]?.header?.value ?? "")
    : "";
}

async function outcome(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return GrpcStatus.OK;
  } catch (error) {
    return (error as { code: number }).code;
  }
}

function world(ports: Record<string, number>): string {
  const destination = (name: string) => `---
apiVersion: gantry/v1
kind: Destination
metadata: { name: ${name}, namespace: e2e }
spec:
  ports: [{ number: 50051, protocol: GRPC }]
  endpoints: [{ address: 127.0.0.1, port: ${ports[name]}, locality: { region: local } }]
`;
  const table = (name: string, http: string) => `---
apiVersion: gantry/v1
kind: RouteTable
metadata: { name: ${name}, namespace: e2e }
spec:
  hosts: [${name}.test]
  gateways: [{ name: clients }]
  http:
${http}`;
  const to = (destination: string) => `forwardTo: { destinations: [{ destination: { name: ${destination} } }] }`;
  return `apiVersion: gantry/v1
kind: Gateway
metadata: { name: clients, namespace: e2e }
spec:
  kind: GRPC_PROXYLESS
  proxies: { nodeIds: [${nodeId}] }
${["a", "b", "flaky", "slow"].map(destination).join("")}${table(
  "split",
  `    - forwardTo:
        destinations:
          - { destination: { name: a }, weight: 80 }
          - { destination: { name: b }, weight: 20 }
`,
)}${table(
  "headers",
  `    - { name: to-b, matchers: [{ headers: [{ name: x-variant, value: b }] }], ${to("b")} }
    - { name: default, ${to("a")} }
`,
)}${table("retry", `    - { name: flaky, labels: { retry: "yes" }, ${to("flaky")} }\n`)}${table(
  "noretry",
  `    - { name: flaky, ${to("flaky")} }\n`,
)}${table("fault", `    - { name: broken, labels: { chaos: "yes" }, ${to("a")} }\n`)}${table(
  "timeout",
  `    - name: slow
      forwardTo: { destinations: [{ destination: { name: slow } }], timeout: 0.3s }
`,
)}---
apiVersion: gantry/v1
kind: RetryTimeoutPolicy
metadata: { name: retry-unavailable, namespace: e2e }
spec:
  applyToRoutes: [{ route: { labels: { retry: "yes" } } }]
  retry: { retryOn: [unavailable], attempts: 3 }
---
apiVersion: gantry/v1
kind: FaultInjectionPolicy
metadata: { name: deny-all, namespace: e2e }
spec:
  applyToRoutes: [{ route: { labels: { chaos: "yes" } } }]
  abort: { grpcStatus: 7, percentage: 100 }
`;
}

describe("grpc-js-xds clients routed by Gantry resources", () => {
  const cache = new SnapshotCache();
  let xds: XdsServer;
  const backends: Record<string, Backend> = {};
  const clients: Record<string, Client> = {};
  const client = (host: string): Client => {
    clients[host] ??= createClient(Authorization, `xds:///${host}.test`);
    return clients[host];
  };

  beforeAll(async () => {
    xds = await startXdsServer({ cache, host: "127.0.0.1", port: 0, logger });
    const started = await Promise.all([
      startBackend("a"),
      startBackend("b"),
      // Every odd-numbered call fails: without a retry, half the calls fail.
      startBackend("flaky", async (call) => {
        if (call % 2 === 1) throw new GrpcError(GrpcStatus.UNAVAILABLE, "flaky");
      }),
      // Answers only when the caller gives up.
      startBackend("slow", async (_call, cancelled) => cancelled),
    ]);
    for (const backend of started) backends[backend.name] = backend;
    const { resources, rejected } = parseResources(
      world(Object.fromEntries(started.map((b) => [b.name, b.port]))),
      "e2e.yaml",
    );
    expect(rejected).toEqual([]);
    const translation = translate(resources);
    for (const [key, status] of translation.statuses) expect(`${key} ${status.messages.join("; ")}`).toBe(`${key} `);
    const [group] = translation.groups;
    expect(group?.rejected).toBeUndefined();
    cache.setSnapshot(nodeId, group?.resources ?? []);
    process.env["GRPC_XDS_BOOTSTRAP_CONFIG"] = JSON.stringify({
      xds_servers: [
        { server_uri: `127.0.0.1:${xds.port}`, channel_creds: [{ type: "insecure" }], server_features: [] },
      ],
      node: { id: nodeId, locality: {} },
    });
    const grpcXds = await import("@grpc/grpc-js-xds");
    grpcXds.register();
  });

  afterAll(async () => {
    for (const c of Object.values(clients)) c.close();
    await Promise.all([xds.stop(500), ...Object.values(backends).map((b) => b.server.shutdown(500))]);
  });

  it("splits 80/20 by weight: measured share within ±5% over 2,000 calls", async () => {
    await waitFor(() => backendOf(client("split")), { timeoutMs: 20_000, what: "the first call through xDS" });
    const counts: Record<string, number> = { a: 0, b: 0 };
    const total = 2_000;
    const inFlight = 50;
    for (let done = 0; done < total; done += inFlight) {
      const names = await Promise.all(Array.from({ length: inFlight }, () => backendOf(client("split"))));
      for (const name of names) counts[name] = (counts[name] ?? 0) + 1;
    }
    expect((counts["a"] ?? 0) + (counts["b"] ?? 0)).toBe(total);
    expect(Math.abs((counts["a"] ?? 0) / total - 0.8)).toBeLessThanOrEqual(0.05);
  });

  it("routes by request header", async () => {
    await waitFor(() => backendOf(client("headers")), { timeoutMs: 20_000, what: "the first call through xDS" });
    for (let i = 0; i < 10; i++) {
      expect(await backendOf(client("headers"), { "x-variant": "b" })).toBe("b");
      expect(await backendOf(client("headers"))).toBe("a");
      expect(await backendOf(client("headers"), { "x-variant": "c" })).toBe("a");
    }
  });

  it("retries calls that fail with UNAVAILABLE where the policy applies, and only there", async () => {
    await waitFor(async () => (await outcome(backendOf(client("noretry")))) === GrpcStatus.UNAVAILABLE, {
      timeoutMs: 20_000,
      what: "a call through xDS to fail on the flaky backend",
    });
    const without = await Promise.all(Array.from({ length: 10 }, () => outcome(backendOf(client("noretry")))));
    expect(without.filter((code) => code === GrpcStatus.UNAVAILABLE).length).toBeGreaterThan(0);

    await waitFor(() => backendOf(client("retry")), { timeoutMs: 20_000, what: "the first call through xDS" });
    const before = backends["flaky"]?.calls ?? 0;
    for (let i = 0; i < 10; i++) expect(await backendOf(client("retry"))).toBe("flaky");
    // One failed attempt and one retry per call.
    expect((backends["flaky"]?.calls ?? 0) - before).toBe(20);
  });

  it("aborts calls by fault injection without reaching the backend", async () => {
    const before = backends["a"]?.calls ?? 0;
    const first = await waitFor(
      async () => {
        const code = await outcome(backendOf(client("fault")));
        return code === GrpcStatus.UNAVAILABLE ? undefined : code;
      },
      { timeoutMs: 20_000, what: "a call through xDS" },
    );
    expect(first).toBe(GrpcStatus.PERMISSION_DENIED);
    for (let i = 0; i < 10; i++) expect(await outcome(backendOf(client("fault")))).toBe(GrpcStatus.PERMISSION_DENIED);
    expect(backends["a"]?.calls ?? 0).toBe(before);
  });

  it("ends calls at the route's timeout", async () => {
    const first = await waitFor(
      async () => {
        const code = await outcome(backendOf(client("timeout"), {}, 10_000));
        return code === GrpcStatus.UNAVAILABLE ? undefined : code;
      },
      { timeoutMs: 20_000, what: "a call through xDS" },
    );
    expect(first).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    const started = Date.now();
    expect(await outcome(backendOf(client("timeout"), {}, 10_000))).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    // The client allowed 10 s; the route's 0.3 s ended it.
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
