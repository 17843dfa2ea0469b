import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import {
  Authorization,
  CheckRequestSchema,
  CheckResponseSchema,
} from "../../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { ManualClock } from "../../../src/lib/clock.js";
import { createClient } from "../../../src/lib/grpc.js";
import { Http2GrpcServer, type Http2GrpcServerOptions } from "../../../src/lib/grpc-server/index.js";
import { H2Connection } from "../../../src/lib/h2/connection.js";
import { ErrorCode, Flag, FrameType, frame, PREFACE, Setting } from "../../../src/lib/h2/frames.js";
import { encodeHeaders } from "../../../src/lib/h2/hpack.js";
import { createLogger } from "../../../src/lib/logger.js";
import { waitFor } from "../../support/wait.js";
import { RawH2Client, type ReceivedFrame } from "./raw-client.js";

// The HTTP/2 layer under the data-plane gRPC server, frame by frame: what h2spec (h2spec.test.ts) does
// not reach because it needs a gRPC application behind the connection.

const logger = createLogger({ service: "test", level: "silent" });
const checkPath = "/envoy.service.auth.v3.Authorization/Check";

let server: Http2GrpcServer | undefined;
const clients: RawH2Client[] = [];
/** Calls the "/park" path holds until the test lets them go. */
let parked: (() => void)[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const release of parked) release();
  parked = [];
  await server?.shutdown(200);
  server = undefined;
});

/** A Check server that echoes the request path back as the denial message, or parks on "/park". */
async function start(options: Http2GrpcServerOptions = {}): Promise<number> {
  server = new Http2GrpcServer({ logger, ...options });
  server.add(Authorization, {
    check: (request) => {
      const path = request.attributes?.request?.http?.path ?? "";
      if (path === "/park") {
        return new Promise((resolve) => parked.push(() => resolve({ status: { code: 0, message: "parked" } })));
      }
      return { status: { code: 0, message: `${path} (${request.attributes?.request?.http?.body.length ?? 0})` } };
    },
  });
  return server.listen("127.0.0.1", 0);
}

async function open(port: number, settings: ReadonlyArray<readonly [number, number]> = []): Promise<RawH2Client> {
  const client = await RawH2Client.open(port, settings);
  clients.push(client);
  return client;
}

function callHeaders(extra: [string, string][] = []): Buffer {
  return encodeHeaders([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", checkPath],
    [":authority", "localhost"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
    ...extra,
  ]);
}

function grpcMessage(path: string): Buffer {
  const bytes = toBinary(
    CheckRequestSchema,
    create(CheckRequestSchema, { attributes: { request: { http: { path } } } }),
  );
  const out = Buffer.alloc(5 + bytes.length);
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

/** Sends a whole Check call on stream `id`. */
function call(client: RawH2Client, id: number, path: string, extra: [string, string][] = []): void {
  client.sendFrame(FrameType.HEADERS, Flag.END_HEADERS, id, callHeaders(extra));
  client.sendFrame(FrameType.DATA, Flag.END_STREAM, id, grpcMessage(path));
}

/** Everything the server sent before it answered a PING sent now: it handles frames in order. */
async function settle(client: RawH2Client): Promise<void> {
  const opaque = Buffer.from(String(Math.random()).slice(2, 10).padEnd(8, "0"));
  client.sendFrame(FrameType.PING, 0, 0, opaque);
  await client.waitFor(
    "the PING ack",
    (f) => f.type === FrameType.PING && f.flags === Flag.ACK && f.payload.equals(opaque),
  );
}

const on = (id: number) => (f: ReceivedFrame) => f.id === id;
const isTrailers = (id: number) => (f: ReceivedFrame) =>
  f.id === id && f.type === FrameType.HEADERS && (f.flags & Flag.END_STREAM) !== 0;

describe("HTTP/2 connection", () => {
  it("answers a call as HEADERS, DATA and trailers, and announces its settings", async () => {
    const client = await open(await start({ maxConcurrentStreams: 50 }));
    call(client, 1, "/one");
    const trailers = await client.waitFor("trailers", isTrailers(1));
    expect(trailers.headers).toEqual({ "grpc-status": "0" });
    const frames = client.frames.filter(on(1));
    expect(frames.map((f) => f.type)).toEqual([FrameType.HEADERS, FrameType.DATA, FrameType.HEADERS]);
    expect(frames[0]?.headers).toEqual({ ":status": "200", "content-type": "application/grpc" });
    const answer = fromBinary(CheckResponseSchema, frames[1]?.payload.subarray(5) ?? Buffer.alloc(0));
    expect(answer.status?.message).toBe("/one (0)");

    const announced = await client.settings();
    expect(announced.get(Setting.MAX_CONCURRENT_STREAMS)).toBe(50);
    expect(announced.get(Setting.MAX_HEADER_LIST_SIZE)).toBe(64 * 1024);
  });

  it("holds the response body until the client's window opens, then sends body and trailers", async () => {
    const client = await open(await start(), [[Setting.INITIAL_WINDOW_SIZE, 0]]);
    call(client, 1, "/windowed");
    await client.waitFor("response headers", (f) => f.id === 1 && f.type === FrameType.HEADERS);
    await settle(client);
    expect(client.frames.filter(on(1)).map((f) => f.type)).toEqual([FrameType.HEADERS]);

    // Three bytes at a time: the body comes in window-sized DATA frames, the trailers after the last.
    const increment = Buffer.alloc(4);
    increment.writeUInt32BE(3);
    for (let i = 0; i < 100 && !client.frames.some(isTrailers(1)); i++) {
      client.sendFrame(FrameType.WINDOW_UPDATE, 0, 1, increment);
      await settle(client);
    }
    const data = client.frames.filter((f) => f.id === 1 && f.type === FrameType.DATA);
    expect(data.length).toBeGreaterThan(3);
    expect(data.every((f) => f.payload.length <= 3)).toBe(true);
    const body = Buffer.concat(data.map((f) => f.payload));
    expect(fromBinary(CheckResponseSchema, body.subarray(5)).status?.message).toBe("/windowed (0)");
    expect(client.frames.filter(on(1)).at(-1)?.headers).toEqual({ "grpc-status": "0" });
  });

  it("takes a request larger than its stream window, giving the window back as it reads", async () => {
    const port = await start({ maxReceiveMessageBytes: 8 * 1024 * 1024 });
    // grpc-js sends messages of any size; only receiving is limited by default.
    const client = createClient(Authorization, `127.0.0.1:${port}`);
    try {
      const body = "x".repeat(5 * 1024 * 1024);
      const answer = await client.check({ attributes: { request: { http: { path: "/big", body } } } });
      expect(answer.status?.message).toBe(`/big (${body.length})`);
    } finally {
      client.close();
    }
  });

  it("refuses streams beyond its concurrent stream limit and serves the ones within it", async () => {
    const client = await open(await start({ maxConcurrentStreams: 2 }));
    call(client, 1, "/park");
    call(client, 3, "/park");
    call(client, 5, "/park");
    const refused = await client.waitFor(
      "RST_STREAM on stream 5",
      (f) => f.id === 5 && f.type === FrameType.RST_STREAM,
    );
    expect(refused.payload.readUInt32BE(0)).toBe(ErrorCode.REFUSED_STREAM);
    for (const release of parked) release();
    await client.waitFor("stream 1 answered", isTrailers(1));
    await client.waitFor("stream 3 answered", isTrailers(3));
    // With the first two answered there is room again.
    call(client, 7, "/after");
    expect((await client.waitFor("stream 7 answered", isTrailers(7))).headers).toEqual({ "grpc-status": "0" });
  });

  it("answers 431 to a header list over the limit and keeps the connection in step", async () => {
    const client = await open(await start({ maxHeaderListBytes: 1024 }));
    // Indexed into the client's dynamic table by the encoder: the next block must still decode.
    call(client, 1, "/too-big", [["x-big", "y".repeat(2048)]]);
    const answer = await client.waitFor("the 431", (f) => f.id === 1 && f.type === FrameType.HEADERS);
    expect(answer.headers?.[":status"]).toBe("431");
    call(client, 3, "/fine");
    expect((await client.waitFor("stream 3 answered", isTrailers(3))).headers).toEqual({ "grpc-status": "0" });
  });

  it("ends the connection with ENHANCE_YOUR_CALM on an endless CONTINUATION flood", async () => {
    const client = await open(await start({ maxHeaderListBytes: 4096 }));
    client.sendFrame(FrameType.HEADERS, 0, 1, callHeaders());
    const filler = Buffer.alloc(16_384, 0x40);
    for (let i = 0; i < 4 && !client.closed; i++) client.sendFrame(FrameType.CONTINUATION, 0, 1, filler);
    expect((await client.goaway()).code).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    await client.waitForClose();
  });

  it("ends a connection that cancels far more calls than it lets finish (rapid reset)", async () => {
    const client = await open(await start());
    const cancel = Buffer.alloc(4);
    cancel.writeUInt32BE(ErrorCode.CANCEL);
    const openAndCancel = (from: number, count: number) => {
      const frames: Buffer[] = [];
      for (let id = from; id < from + 2 * count; id += 2) {
        frames.push(
          frame(FrameType.HEADERS, Flag.END_HEADERS, id, callHeaders()),
          frame(FrameType.RST_STREAM, 0, id, cancel),
        );
      }
      client.send(Buffer.concat(frames));
    };
    // A thousand cancelled calls are within what a connection may do; it still serves.
    openAndCancel(1, 1_000);
    call(client, 2_001, "/still-served");
    await client.waitFor("stream 2001 answered", isTrailers(2_001));
    expect(client.frames.some((f) => f.type === FrameType.GOAWAY)).toBe(false);
    // The answered call bought one more cancel; the second one after it is too many.
    openAndCancel(2_003, 2);
    expect((await client.goaway()).code).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    await client.waitForClose();
  });

  it("counts calls the server resets over what the client sent as cut short too", async () => {
    const client = await open(await start());
    const zero = Buffer.alloc(4);
    const frames: Buffer[] = [];
    // A WINDOW_UPDATE of 0 makes the server reset the stream: a reset the client provoked, not sent.
    for (let id = 1; id <= 2 * 1_001; id += 2) {
      frames.push(
        frame(FrameType.HEADERS, Flag.END_HEADERS, id, callHeaders()),
        frame(FrameType.WINDOW_UPDATE, 0, id, zero),
      );
    }
    client.send(Buffer.concat(frames));
    expect((await client.goaway()).code).toBe(ErrorCode.ENHANCE_YOUR_CALM);
  });

  it("ends the connection on a flood of empty CONTINUATION frames", async () => {
    const client = await open(await start());
    const frames = [frame(FrameType.HEADERS, 0, 1, callHeaders())];
    for (let i = 0; i < 100; i++) frames.push(frame(FrameType.CONTINUATION, 0, 1));
    client.send(Buffer.concat(frames));
    expect((await client.goaway()).code).toBe(ErrorCode.ENHANCE_YOUR_CALM);
  });

  it("resets a request whose message has not arrived 10 s after its headers, and announces 1000 streams by default", async () => {
    const clock = new ManualClock();
    const client = await open(await start({ timers: clock }));
    client.sendFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, callHeaders());
    client.sendFrame(FrameType.DATA, 0, 1, grpcMessage("/slow").subarray(0, 3));
    await settle(client);
    const isReset = (f: ReceivedFrame) => f.id === 1 && f.type === FrameType.RST_STREAM;
    clock.advance(9_999);
    await settle(client);
    expect(client.frames.some(isReset)).toBe(false);
    clock.advance(1);
    const reset = await client.waitFor("RST_STREAM on stream 1", isReset);
    expect(reset.payload.readUInt32BE(0)).toBe(ErrorCode.CANCEL);
    expect((await client.settings()).get(Setting.MAX_CONCURRENT_STREAMS)).toBe(1_000);
    // The connection itself is fine.
    call(client, 3, "/fast");
    await client.waitFor("stream 3 answered", isTrailers(3));
  });

  it("sweeps every connection's incomplete requests with one timer per server", async () => {
    const clock = new ManualClock();
    const port = await start({ timers: clock, keepaliveTimeMs: 0 });
    expect(clock.pendingTimers).toBe(0);
    const opened = [await open(port), await open(port), await open(port)];
    for (const client of opened) await settle(client);
    expect(clock.pendingTimers).toBe(1);
    for (const client of opened) client.close();
    await waitFor(() => clock.pendingTimers === 0, { what: "the sweep to stop with the last connection" });
  });

  it("pings an idle connection and drops it exactly when the ping goes unanswered for the timeout", async () => {
    const clock = new ManualClock();
    const port = await start({ timers: clock, keepaliveTimeMs: 30_000, keepaliveTimeoutMs: 10_000 });
    const answering = await open(port);
    const silent = await RawH2Client.open(port, [], { answerPings: false });
    clients.push(silent);
    await settle(answering);
    await settle(silent);
    const serverPing = (f: ReceivedFrame) =>
      f.type === FrameType.PING && f.flags === 0 && f.payload.equals(Buffer.alloc(8));
    clock.advance(30_000);
    await answering.waitFor("the server's PING", serverPing);
    await silent.waitFor("the server's PING", serverPing);
    // The ack is in before this PING's: the answering connection's ping is settled.
    await settle(answering);
    clock.advance(9_999);
    await settle(silent);
    expect(silent.closed).toBe(false);
    clock.advance(1);
    await silent.waitForClose();
    // A connection that answers lives on: its next ping is due 30 s after the last, and answered.
    clock.advance(19_999);
    await settle(answering);
    expect(answering.frames.filter(serverPing)).toHaveLength(1);
    clock.advance(1);
    await waitFor(() => answering.frames.filter(serverPing).length === 2, { what: "the second PING" });
    await settle(answering);
    clock.advance(10_000);
    await settle(answering);
    expect(answering.closed).toBe(false);
  });

  it("drops a connection that has ended its side 1 s later when the peer keeps its own open", async () => {
    const clock = new ManualClock();
    let accepted: Socket | undefined;
    const plain = createServer((socket) => {
      accepted = socket;
      new H2Connection(socket, () => {}, { timers: clock });
    });
    await new Promise<void>((resolve) => plain.listen(0, "127.0.0.1", resolve));
    const socket = connect({ port: (plain.address() as AddressInfo).port, host: "127.0.0.1", allowHalfOpen: true });
    try {
      socket.on("error", () => {});
      socket.on("data", () => {});
      const ended = new Promise<void>((resolve) => socket.on("end", () => resolve()));
      socket.write(
        Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0), frame(FrameType.GOAWAY, 0, 0, Buffer.alloc(8))]),
      );
      await ended;
      clock.advance(999);
      expect(accepted?.destroyed).toBe(false);
      clock.advance(1);
      expect(accepted?.destroyed).toBe(true);
    } finally {
      socket.destroy();
      await new Promise<void>((resolve) => plain.close(() => resolve()));
    }
  });

  it("ignores trailers that cross its reset of a stream, keeping HPACK in step", async () => {
    const client = await open(await start());
    // An unknown method is answered at once, and the rest of the request is refused (RST_STREAM NO_ERROR).
    client.sendFrame(
      FrameType.HEADERS,
      Flag.END_HEADERS,
      1,
      encodeHeaders([
        [":method", "POST"],
        [":scheme", "http"],
        [":path", "/no.Such/Method"],
        ["content-type", "application/grpc"],
      ]),
    );
    await client.waitFor("RST_STREAM on stream 1", (f) => f.id === 1 && f.type === FrameType.RST_STREAM);
    client.sendFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, encodeHeaders([["x-trailer", "late"]]));
    call(client, 3, "/after");
    await client.waitFor("stream 3 answered", isTrailers(3));
    expect(client.frames.some((f) => f.type === FrameType.GOAWAY)).toBe(false);
  });

  it("closes a connection whose client sent GOAWAY and then stays silent", async () => {
    const client = await open(await start());
    call(client, 1, "/one");
    await client.waitFor("stream 1 answered", isTrailers(1));
    client.sendFrame(FrameType.GOAWAY, 0, 0, Buffer.alloc(8));
    await client.waitForClose();
  });

  it("ends the connection with PROTOCOL_ERROR on a frame that breaks the protocol", async () => {
    const client = await open(await start());
    call(client, 3, "/first");
    await client.waitFor("stream 3 answered", isTrailers(3));
    // A new stream must have a higher id than every stream before it.
    call(client, 1, "/lower");
    const goaway = await client.goaway();
    expect(goaway).toMatchObject({ code: ErrorCode.PROTOCOL_ERROR, lastStreamId: 3 });
    await client.waitForClose();
  });

  it("closes a connection that does not open with the HTTP/2 preface", async () => {
    const port = await start();
    const client = await open(port);
    const other = await RawH2Client.open(port);
    clients.push(other);
    expect(client.closed).toBe(false);
    const garbage = connect(port, "127.0.0.1");
    const closed = new Promise<void>((resolve) => garbage.on("close", () => resolve()));
    garbage.on("error", () => {});
    garbage.resume();
    garbage.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await closed;
    // The others are not affected.
    call(client, 1, "/still");
    await client.waitFor("stream 1 answered", isTrailers(1));
  });

  it("on shutdown sends GOAWAY, refuses new streams and finishes the running call before closing", async () => {
    const client = await open(await start());
    call(client, 1, "/park");
    await waitForParked(1);
    const stopped = server?.shutdown(5_000);
    const goaway = await client.goaway();
    expect(goaway).toMatchObject({ code: ErrorCode.NO_ERROR, lastStreamId: 1 });
    call(client, 3, "/late");
    const refused = await client.waitFor(
      "RST_STREAM on stream 3",
      (f) => f.id === 3 && f.type === FrameType.RST_STREAM,
    );
    expect(refused.payload.readUInt32BE(0)).toBe(ErrorCode.REFUSED_STREAM);
    for (const release of parked) release();
    expect((await client.waitFor("stream 1 answered", isTrailers(1))).headers).toEqual({ "grpc-status": "0" });
    await client.waitForClose();
    await stopped;
  });

  it("answers what is not a gRPC request once the request has ended, with a text body", async () => {
    const client = await open(await start());
    const get = encodeHeaders([
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "localhost"],
    ]);
    client.sendFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, get);
    const body = await client.waitFor("the body", (f) => f.id === 1 && f.type === FrameType.DATA);
    expect(client.frames.find((f) => f.id === 1 && f.type === FrameType.HEADERS)?.headers?.[":status"]).toBe("405");
    expect(body.payload.toString()).toContain("gRPC");
    expect(body.flags & Flag.END_STREAM).toBe(Flag.END_STREAM);
  });
});

async function waitForParked(count: number): Promise<void> {
  await waitFor(() => parked.length >= count, { what: `${count} parked call(s)` });
}

describe("HTTP/2 connection window", () => {
  it("gives request bytes back to the connection window only when their request completes", async () => {
    const server = createServer((socket) => {
      new H2Connection(socket, () => {}, { connectionWindow: 100_000, streamWindow: 80_000, keepaliveTimeMs: 0 });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const client = await open(port);
    try {
      const windowUpdates = () => client.frames.filter((f) => f.type === FrameType.WINDOW_UPDATE && f.id === 0);
      await settle(client);
      const initial = windowUpdates().length;
      client.sendFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, callHeaders());
      for (let i = 0; i < 4; i++) client.sendFrame(FrameType.DATA, 0, 1, Buffer.alloc(15_000));
      await settle(client);
      // 60,000 bytes held by an open request: more than half the window, and nothing given back.
      expect(windowUpdates().length).toBe(initial);
      client.sendFrame(FrameType.DATA, Flag.END_STREAM, 1);
      const update = await client.waitFor(
        "the connection window given back",
        (f) => f.type === FrameType.WINDOW_UPDATE && f.id === 0 && windowUpdates().indexOf(f) >= initial,
      );
      expect(update.payload.readUInt32BE(0)).toBe(60_000);
    } finally {
      client.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
