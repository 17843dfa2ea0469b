import type * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { AggregatedDiscoveryService } from "../../src/gen/envoy/service/discovery/v3/ads_pb.js";
import { ErrorCode } from "../../src/lib/h2/frames.js";
import { createClient, GrpcStatus } from "../../src/lib/index.js";
import { createRegistry, type Registry } from "../../src/lib/metrics.js";
import { SnapshotCache, startXdsServer, type XdsServer } from "../../src/xds/index.js";
import { RawH2Client } from "../lib/h2/raw-client.js";
import { waitFor } from "../support/wait.js";
import { logger } from "./harness.js";

// The xDS port's bounds across all its client connections (it runs on grpc-js, which has none of its own).

let server: XdsServer | undefined;
const closers: (() => void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await server?.stop(0);
  server = undefined;
});

async function reached(registry: Registry, bound: string): Promise<number> {
  const metric = await registry.getSingleMetric("gantry_grpc_limit_reached_total")?.get();
  return metric?.values.find((v) => v.labels["bound"] === bound)?.value ?? 0;
}

async function inUse(registry: Registry, bound: string): Promise<number> {
  const metric = await registry.getSingleMetric("gantry_grpc_limit_in_use")?.get();
  return metric?.values.find((v) => v.labels["bound"] === bound)?.value ?? -1;
}

/** An ADS stream from a new client; resolves once the server counts it. */
function adsStream(port: number) {
  const client = createClient(AggregatedDiscoveryService, `127.0.0.1:${port}`);
  closers.push(() => client.close());
  const stream = client.streamAggregatedResources();
  const errors: grpc.ServiceError[] = [];
  stream.on("error", (err: grpc.ServiceError) => errors.push(err));
  stream.write({ node: { id: "n" }, typeUrl: "type.googleapis.com/gantry.test.Probe" });
  return { client, stream, errors };
}

describe("xDS server bounds", () => {
  it("ends a stream over the total UNAVAILABLE, and takes one again when another ends", async () => {
    const registry = createRegistry("test", { processMetrics: false });
    server = await startXdsServer({
      cache: new SnapshotCache(),
      host: "127.0.0.1",
      port: 0,
      logger,
      registry,
      limits: { maxTotalStreams: 1 },
    });
    const port = server.port;
    const first = adsStream(port);
    await waitFor(async () => (await inUse(registry, "streams")) === 1, { what: "the first stream to be counted" });
    const second = adsStream(port);
    await waitFor(() => second.errors.length === 1, { what: "the second stream to be refused" });
    expect(second.errors[0]?.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(second.errors[0]?.details).toBe("xDS stream limit reached (1 streams)");
    expect(await reached(registry, "streams")).toBe(1);

    first.stream.cancel();
    await waitFor(async () => (await inUse(registry, "streams")) === 0, { what: "the first stream to be let go" });
    const third = adsStream(port);
    await waitFor(async () => (await inUse(registry, "streams")) === 1, { what: "a new stream to be taken" });
    expect(third.errors).toEqual([]);
  });

  it("tells a connection over the cap to go away", async () => {
    const registry = createRegistry("test", { processMetrics: false });
    server = await startXdsServer({
      cache: new SnapshotCache(),
      host: "127.0.0.1",
      port: 0,
      logger,
      registry,
      limits: { maxConnections: 1 },
    });
    adsStream(server.port);
    await waitFor(async () => (await inUse(registry, "connections")) === 1, { what: "the first connection" });
    const raw = await RawH2Client.open(server.port);
    closers.push(() => raw.close());
    expect(await raw.goaway()).toEqual({
      lastStreamId: 0,
      code: ErrorCode.NO_ERROR,
      debug: "connection limit reached",
    });
    await raw.waitForClose();
    expect(await reached(registry, "connections")).toBe(1);
  });
});

describe("xDS request bounds", () => {
  it("ends a stream whose request is over maxRequestBytes RESOURCE_EXHAUSTED, and serves the next", async () => {
    const registry = createRegistry("test", { processMetrics: false });
    server = await startXdsServer({
      cache: new SnapshotCache(),
      host: "127.0.0.1",
      port: 0,
      logger,
      registry,
      limits: { maxRequestBytes: 64 * 1024 },
    });
    const client = createClient(AggregatedDiscoveryService, `127.0.0.1:${server.port}`);
    closers.push(() => client.close());
    const big = client.streamAggregatedResources();
    const errors: grpc.ServiceError[] = [];
    big.on("error", (err: grpc.ServiceError) => errors.push(err));
    // 2,000 names of 40 bytes: about 86 KB, over the 64 KiB bound.
    const resourceNames = Array.from({ length: 2_000 }, (_, i) => `cluster-${String(i).padStart(32, "0")}`);
    big.write({ node: { id: "n" }, typeUrl: "type.googleapis.com/gantry.test.Probe", resourceNames });
    await waitFor(() => errors.length === 1, { what: "the oversized request to be refused" });
    expect(errors[0]?.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);

    const small = adsStream(server.port);
    await waitFor(async () => (await inUse(registry, "streams")) === 1, { what: "a small request's stream" });
    expect(small.errors).toEqual([]);
  });
});
