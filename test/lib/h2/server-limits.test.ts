import { create, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { Authorization, CheckRequestSchema } from "../../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { ManualClock } from "../../../src/lib/clock.js";
import { Http2GrpcServer, type Http2GrpcServerOptions } from "../../../src/lib/grpc-server/index.js";
import { ErrorCode, Flag, FrameType } from "../../../src/lib/h2/frames.js";
import { encodeHeaders } from "../../../src/lib/h2/hpack.js";
import { createLogger } from "../../../src/lib/logger.js";
import { createRegistry, type Registry } from "../../../src/lib/metrics.js";
import { waitFor } from "../../support/wait.js";
import { RawH2Client } from "./raw-client.js";

// The bounds one data-plane server keeps across all its connections (connections, streams in flight,
// request bytes held), each pushing back instead of growing, and each counted in the metrics.

const logger = createLogger({ service: "test", level: "silent" });

let server: Http2GrpcServer | undefined;
const clients: RawH2Client[] = [];
let parked: (() => void)[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const release of parked) release();
  parked = [];
  await server?.shutdown(200);
  server = undefined;
});

/** A Check server that answers at once, or holds calls for "/park" until the test lets them go. */
async function start(options: Http2GrpcServerOptions): Promise<number> {
  server = new Http2GrpcServer({ logger, ...options });
  server.add(Authorization, {
    check: (request) => {
      const path = request.attributes?.request?.http?.path ?? "";
      if (path === "/park") return new Promise((resolve) => parked.push(() => resolve({ status: { code: 0 } })));
      return { status: { code: 0, message: path } };
    },
  });
  return server.listen("127.0.0.1", 0);
}

async function open(port: number): Promise<RawH2Client> {
  const client = await RawH2Client.open(port);
  clients.push(client);
  return client;
}

const headers = encodeHeaders([
  [":method", "POST"],
  [":scheme", "http"],
  [":path", "/envoy.service.auth.v3.Authorization/Check"],
  [":authority", "localhost"],
  ["content-type", "application/grpc"],
  ["te", "trailers"],
]);

function message(path: string, bodyBytes = 0): Buffer {
  const request = create(CheckRequestSchema, {
    attributes: { request: { http: { path, body: "x".repeat(bodyBytes) } } },
  });
  const bytes = toBinary(CheckRequestSchema, request);
  const out = Buffer.alloc(5 + bytes.length);
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

/** One whole call on stream `id`. */
function call(client: RawH2Client, id: number, path: string): void {
  client.sendFrame(FrameType.HEADERS, Flag.END_HEADERS, id, headers);
  client.sendFrame(FrameType.DATA, Flag.END_STREAM, id, message(path));
}

const answered = (client: RawH2Client, id: number) =>
  client.waitFor(`the answer on stream ${id}`, (f) => f.type === FrameType.HEADERS && f.id === id);

async function reached(registry: Registry, bound: string): Promise<number> {
  const metric = await registry.getSingleMetric("gantry_grpc_limit_reached_total")?.get();
  return metric?.values.find((v) => v.labels["bound"] === bound)?.value ?? 0;
}

describe("server-wide bounds of the data-plane gRPC server", () => {
  it("tells a connection over the cap to go away, and takes one again when another closes", async () => {
    const registry = createRegistry("test", { processMetrics: false });
    const port = await start({ maxConnections: 2, registry });
    const [a, b] = [await open(port), await open(port)];
    call(a, 1, "/a");
    call(b, 1, "/b");
    await answered(a, 1);
    await answered(b, 1);

    const c = await open(port);
    expect(await c.goaway()).toEqual({ lastStreamId: 0, code: ErrorCode.NO_ERROR, debug: "connection limit reached" });
    await c.waitForClose();
    expect(await reached(registry, "connections")).toBe(1);
    expect(server?.limits.connections).toBe(2);

    a.close();
    await waitFor(() => server?.limits.connections === 1, { what: "the closed connection to be counted out" });
    const d = await open(port);
    call(d, 1, "/d");
    expect((await answered(d, 1)).headers?.[":status"]).toBe("200");
  });

  it("refuses a stream over the total across connections (REFUSED_STREAM), then serves again", async () => {
    const registry = createRegistry("test", { processMetrics: false });
    const port = await start({ maxTotalStreams: 2, registry });
    const [a, b] = [await open(port), await open(port)];
    call(a, 1, "/park");
    call(b, 1, "/park");
    await waitFor(() => parked.length === 2, { what: "two calls in flight" });

    call(a, 3, "/a");
    const reset = await a.waitFor("RST_STREAM on stream 3", (f) => f.type === FrameType.RST_STREAM && f.id === 3);
    expect(reset.payload.readUInt32BE(0)).toBe(ErrorCode.REFUSED_STREAM);
    expect(await reached(registry, "streams")).toBe(1);

    for (const release of parked.splice(0)) release();
    await waitFor(() => server?.limits.streams === 0, { what: "the parked calls to end" });
    call(a, 5, "/a");
    expect((await answered(a, 5)).headers?.[":status"]).toBe("200");
  });

  it("stops reading while the request bytes held are over the budget, and reads again once they are given back", async () => {
    const registry = createRegistry("test", { processMetrics: false });
    const clock = new ManualClock();
    const port = await start({
      maxBufferedBytes: 32 * 1024,
      maxReceiveMessageBytes: 24 * 1024,
      requestTimeoutMs: 1_000,
      timers: clock,
      registry,
    });
    const a = await open(port);
    // Two uploads that never end hold 40 KiB between them: over the budget.
    const upload = message("/upload", 20 * 1024);
    for (const id of [1, 3]) {
      a.sendFrame(FrameType.HEADERS, Flag.END_HEADERS, id, headers);
      for (let at = 0; at < upload.length - 1; at += 16 * 1024) {
        a.sendFrame(FrameType.DATA, 0, id, upload.subarray(at, Math.min(at + 16 * 1024, upload.length - 1)));
      }
    }
    await waitFor(() => (server?.limits.bufferedBytes ?? 0) >= 32 * 1024, { what: "the uploads to be held" });
    await waitFor(async () => (await reached(registry, "buffered_bytes")) >= 1, { what: "reading to pause" });

    // A call sent now is not read while the budget is spent: it is answered only after the uploads are
    // reset by the request timeout, which gives their bytes back.
    call(a, 5, "/after");
    clock.advance(2_000);
    const done = await answered(a, 5);
    for (const id of [1, 3]) {
      const resetAt = a.frames.findIndex((f) => f.type === FrameType.RST_STREAM && f.id === id);
      expect(resetAt).toBeGreaterThanOrEqual(0);
      expect(a.frames[resetAt]?.payload.readUInt32BE(0)).toBe(ErrorCode.CANCEL);
      expect(a.frames.indexOf(done)).toBeGreaterThan(resetAt);
    }
    expect(server?.limits.bufferedBytes).toBe(0);
  });
});
