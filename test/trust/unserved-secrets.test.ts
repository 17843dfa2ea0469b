// The management server's own xDS serves no workload secrets (its cluster's agent does): a proxy that
// asks it for `default` or `ROOTCA` is counted once per stream (and logged), instead of waiting unseen.
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TypeUrl } from "../../src/envoy/index.js";
import type { Node } from "../../src/gen/envoy/config/core/v3/base_pb.js";
import { AggregatedDiscoveryService } from "../../src/gen/envoy/service/discovery/v3/ads_pb.js";
import { createClient } from "../../src/lib/grpc.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { UnservedWorkloadSecrets } from "../../src/trust/index.js";
import type { StreamInfo } from "../../src/xds/index.js";
import { waitFor } from "../support/wait.js";

const registry = createRegistry("server", { processMetrics: false });
const unserved = async () =>
  (await registry.getSingleMetric("gantry_xds_workload_secret_requests_unserved_total")?.get())?.values[0]?.value ?? 0;

describe("UnservedWorkloadSecrets", () => {
  it("counts each stream once, when it asks for default or ROOTCA, and never for other secrets or types", async () => {
    const own = createRegistry("server", { processMetrics: false });
    const hooks = new UnservedWorkloadSecrets({
      logger: createLogger({ service: "test", level: "silent" }),
      registry: own,
    });
    const count = async () =>
      (await own.getSingleMetric("gantry_xds_workload_secret_requests_unserved_total")?.get())?.values[0]?.value;
    const stream = (id: number) =>
      ({ id, kind: "sotw", node: { id: `n${id}` } as Node, group: "g", peer: "p", openedAt: 0 }) as StreamInfo;
    const ask = (id: number, names: string[], typeUrl: string = TypeUrl.secret) =>
      hooks.onSubscribe(stream(id), { typeUrl, wildcard: false, names: new Set(names), at: 0 });
    ask(1, ["shop/tls"]);
    ask(1, ["default"], TypeUrl.cluster);
    expect(await count()).toBe(0);
    ask(1, ["default", "ROOTCA"]);
    ask(1, ["ROOTCA"]);
    expect(await count()).toBe(1);
    ask(2, ["ROOTCA"]);
    expect(await count()).toBe(2);
    hooks.onStreamClose(stream(1));
    ask(1, ["default"]);
    expect(await count()).toBe(3);
  });
});

describe("workload secrets asked of the management server", () => {
  let server: ManagementServer;

  beforeAll(async () => {
    server = await startManagementServer({
      store: new MemoryStore(),
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      apiToken: undefined,
      insecureApi: true,
      logger: createLogger({ service: "test", level: "silent" }),
      registry,
      debounce: { quietMs: 10, maxDelayMs: 100 },
    });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("are counted (the server's xDS has the hooks)", async () => {
    const client = createClient(AggregatedDiscoveryService, `127.0.0.1:${server.xdsPort}`);
    const streams: grpc.ClientDuplexStream<unknown, unknown>[] = [];
    const ask = (names: string[]) => {
      const call = client.streamAggregatedResources({ metadata: new grpc.Metadata() });
      call.on("error", () => {});
      call.write({
        node: { id: "sidecar-1", metadata: { role: "sidecar" } },
        typeUrl: TypeUrl.secret,
        resourceNames: names,
      });
      streams.push(call as unknown as grpc.ClientDuplexStream<unknown, unknown>);
      return call;
    };
    try {
      ask(["default", "ROOTCA"]);
      await waitFor(async () => (await unserved()) === 1, { what: "the request to be counted" });
      ask(["ROOTCA"]);
      await waitFor(async () => (await unserved()) === 2, { what: "the second stream to be counted" });
    } finally {
      for (const s of streams) s.cancel();
      client.close();
    }
  });
});
