// Streams that hold the same set share one record of it: a fleet of Envoys subscribed alike costs
// one map of its 2,000 clusters and endpoints, not one per stream.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TypeUrl } from "../../src/envoy/index.js";
import { AggregatedDiscoveryService } from "../../src/gen/envoy/service/discovery/v3/ads_pb.js";
import { createClient } from "../../src/lib/grpc.js";
import { type Push, SnapshotCache, type StreamInfo, startXdsServer, type XdsServer } from "../../src/xds/index.js";
import { waitFor } from "../support/wait.js";
import { edsCluster } from "./fixtures.js";
import { logger, SotwClient, type TestServer } from "./harness.js";

describe("what SotW clients hold", () => {
  const cache = new SnapshotCache({ nodeGroupOf: () => "fleet" });
  const pushes: Array<{ stream: number; push: Push }> = [];
  let server: XdsServer;
  let client: ReturnType<typeof createClient<(typeof AggregatedDiscoveryService)["method"]>>;

  beforeAll(async () => {
    server = await startXdsServer({
      cache,
      host: "127.0.0.1",
      port: 0,
      logger,
      hooks: { onPush: (stream: StreamInfo, push: Push) => void pushes.push({ stream: stream.id, push }) },
    });
    client = createClient(AggregatedDiscoveryService, `127.0.0.1:${server.port}`);
  });

  afterAll(async () => {
    client.close();
    await server.stop(200);
  });

  it("is one shared record per set, whichever stream holds it", async () => {
    cache.setSnapshot(
      "fleet",
      ["a", "b", "c"].map((name) => edsCluster(name)),
    );
    const streams = ["one", "two"].map((node) => SotwClient.open({ client } as unknown as TestServer, node));
    for (const stream of streams) stream.send({ typeUrl: TypeUrl.cluster });
    for (const stream of streams) stream.ack(await stream.next());
    await waitFor(() => pushes.length === 2, { what: "both pushes" });
    const [first, second] = pushes;
    expect(first?.stream).not.toBe(second?.stream);
    expect([...(first?.push.holds.keys() ?? [])]).toEqual(["a", "b", "c"]);
    expect(first?.push.holds).toBe(second?.push.holds);
    for (const stream of streams) stream.close();
  });
});
