import { create, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { rawResource } from "../../src/envoy/index.js";
import { AggregatedDiscoveryService } from "../../src/gen/envoy/service/discovery/v3/ads_pb.js";
import {
  DiscoveryRequestSchema,
  type DiscoveryResponse,
} from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { Flag, FrameType, Setting } from "../../src/lib/h2/frames.js";
import { encodeHeaders } from "../../src/lib/h2/hpack.js";
import { createClient } from "../../src/lib/index.js";
import { createRegistry, type Registry } from "../../src/lib/metrics.js";
import { SnapshotCache, startXdsServer, type XdsServer } from "../../src/xds/index.js";
import { RawH2Client } from "../lib/h2/raw-client.js";
import { waitFor } from "../support/wait.js";
import { logger, probeType, ResponseQueue } from "./harness.js";

// The xDS port's server-wide budget of response bytes encoded and not yet written: clients that do not
// read cannot make the server hold more, and the others keep being served.

let server: XdsServer | undefined;
const closers: (() => void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await server?.stop(0);
  server = undefined;
});

async function metric(registry: Registry, name: string, bound?: string): Promise<number> {
  const found = await registry.getSingleMetric(name)?.get();
  return found?.values.find((v) => bound === undefined || v.labels["bound"] === bound)?.value ?? 0;
}

/** Four resources of 64 KiB: one wildcard response is about 256 KiB. */
const resourceBytes = 64 * 1024;
const bigResources = Array.from({ length: 4 }, (_, i) =>
  rawResource(probeType, `big-${i}`, new Uint8Array(resourceBytes).fill(i + 1)),
);
const responseBytes = 4 * resourceBytes;

/**
 * A client that asks for everything and reads nothing: it announces a stream window of 0, so the
 * server cannot write a byte of its response, which stays encoded in the server.
 */
async function nonReader(port: number, nodeId: string): Promise<RawH2Client> {
  const raw = await RawH2Client.open(port, [[Setting.INITIAL_WINDOW_SIZE, 0]]);
  closers.push(() => raw.close());
  raw.sendFrame(
    FrameType.HEADERS,
    Flag.END_HEADERS,
    1,
    encodeHeaders([
      [":method", "POST"],
      [":scheme", "http"],
      [":path", `/${AggregatedDiscoveryService.typeName}/StreamAggregatedResources`],
      [":authority", "localhost"],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
    ]),
  );
  const request = toBinary(
    DiscoveryRequestSchema,
    create(DiscoveryRequestSchema, { node: { id: nodeId }, typeUrl: probeType }),
  );
  const message = Buffer.alloc(5 + request.length);
  message.writeUInt32BE(request.length, 1);
  message.set(request, 5);
  raw.sendFrame(FrameType.DATA, 0, 1, message);
  return raw;
}

describe("xDS response byte budget", () => {
  it("holds at most the budget (plus one response) for clients that do not read, and keeps serving the others", async () => {
    const registry = createRegistry("test", { processMetrics: false });
    const cache = new SnapshotCache({ nodeGroupOf: () => "all" });
    cache.setSnapshot("all", bigResources);
    const maxBufferedBytes = 600 * 1024;
    server = await startXdsServer({
      cache,
      host: "127.0.0.1",
      port: 0,
      logger,
      registry,
      limits: { maxBufferedBytes, writeStallMs: 500 },
    });
    let most = 0;
    const sample = async () => {
      most = Math.max(most, await metric(registry, "gantry_grpc_limit_in_use", "buffered_bytes"));
    };
    const nonReaders = await Promise.all([0, 1, 2, 3].map((i) => nonReader(server?.port ?? 0, `stuck-${i}`)));
    // Three responses fit before the budget is spent (two leave room for a third); the fourth waits.
    await waitFor(
      async () => {
        await sample();
        return (await metric(registry, "gantry_grpc_limit_reached_total", "buffered_bytes")) >= 1;
      },
      { what: "a stream to wait for the budget" },
    );
    await sample();
    expect(most).toBeGreaterThanOrEqual(2 * responseBytes);
    expect(most).toBeLessThanOrEqual(maxBufferedBytes + responseBytes + 1024);

    // A client that reads: served once the stalled clients are let go, with the bound kept meanwhile.
    const client = createClient(AggregatedDiscoveryService, `127.0.0.1:${server.port}`);
    closers.push(() => client.close());
    const call = client.streamAggregatedResources();
    const responses = new ResponseQueue<DiscoveryResponse>(call);
    call.write({ node: { id: "reader" }, typeUrl: probeType });
    let response: DiscoveryResponse | undefined;
    void responses.next(10_000).then((r) => {
      response = r;
    });
    await waitFor(
      async () => {
        await sample();
        return response;
      },
      { what: "the reading client's response", timeoutMs: 10_000 },
    );
    expect(response?.resources).toHaveLength(4);
    expect(most).toBeLessThanOrEqual(maxBufferedBytes + responseBytes + 1024);
    expect(await metric(registry, "gantry_xds_stalled_connections_closed_total")).toBeGreaterThanOrEqual(1);
    expect(nonReaders.some((raw) => raw.closed)).toBe(true);
    call.end();
  });

  it("serves everyone at once when the clients that do not read hold less than the budget", async () => {
    const registry = createRegistry("test", { processMetrics: false });
    const cache = new SnapshotCache({ nodeGroupOf: () => "all" });
    cache.setSnapshot("all", bigResources);
    server = await startXdsServer({ cache, host: "127.0.0.1", port: 0, logger, registry });
    const stuck = await nonReader(server.port, "stuck");
    await waitFor(async () => (await metric(registry, "gantry_grpc_limit_in_use", "buffered_bytes")) > 0, {
      what: "the non-reader's response to be held",
    });
    const client = createClient(AggregatedDiscoveryService, `127.0.0.1:${server.port}`);
    closers.push(() => client.close());
    const call = client.streamAggregatedResources();
    const responses = new ResponseQueue<DiscoveryResponse>(call);
    call.write({ node: { id: "reader" }, typeUrl: probeType });
    expect((await responses.next()).resources).toHaveLength(4);
    expect(await metric(registry, "gantry_grpc_limit_reached_total", "buffered_bytes")).toBe(0);
    expect(stuck.closed).toBe(false);
    call.end();
  });
});
