import { describe, expect, it } from "vitest";
import { Health } from "../../src/gen/grpc/health/v1/health_pb.js";
import { createClient } from "../../src/lib/grpc.js";
import { ServingStatus } from "../../src/lib/health.js";
import { createLogger } from "../../src/lib/logger.js";
import { SnapshotCache, startXdsServer } from "../../src/xds/index.js";
import { expectHealthServed } from "../lib/health-checks.js";
import { waitFor } from "../support/wait.js";

const logger = createLogger({ service: "test", level: "silent" });
const ads = "envoy.service.discovery.v3.AggregatedDiscoveryService";

describe("gRPC health on the xDS port", () => {
  it("serves Check and Watch for the server and ADS, and reports NOT_SERVING as it stops", async () => {
    const server = await startXdsServer({ cache: new SnapshotCache(), host: "127.0.0.1", port: 0, logger });
    const address = `127.0.0.1:${server.port}`;
    const client = createClient(Health, address);
    let stopped = false;
    try {
      expect((await client.check({ service: ads })).status).toBe(ServingStatus.SERVING);
      await expectHealthServed(address, server.health, "custom");

      const seen: ServingStatus[] = [];
      const watch = client.watch({ service: "" });
      watch.on("data", (response) => seen.push(response.status));
      watch.on("error", () => {});
      await waitFor(() => seen.length === 1, { what: "the first status" });
      const stopping = server.stop(1_000);
      await waitFor(() => seen.includes(ServingStatus.NOT_SERVING), { what: "NOT_SERVING while stopping" });
      expect(seen).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
      await stopping;
      stopped = true;
    } finally {
      client.close();
      if (!stopped) await server.stop(200);
    }
  });
});
