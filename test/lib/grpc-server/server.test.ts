import { connect, type IncomingHttpHeaders } from "node:http2";
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HeaderValueOptionSchema } from "../../../src/gen/envoy/config/core/v3/base_pb.js";
import {
  Authorization,
  CheckRequestSchema,
  CheckResponseSchema,
} from "../../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { Health } from "../../../src/gen/grpc/health/v1/health_pb.js";
import { ManualClock } from "../../../src/lib/clock.js";
import { createClient, GrpcError, GrpcStatus } from "../../../src/lib/grpc.js";
import {
  encodeGrpcMessage,
  encodeOnce,
  Http2GrpcServer,
  parseGrpcTimeout,
} from "../../../src/lib/grpc-server/index.js";
import { HealthService } from "../../../src/lib/health.js";
import { createLogger } from "../../../src/lib/logger.js";
import { waitFor } from "../../support/wait.js";
import { expectHealthServed } from "../health-checks.js";

const logger = createLogger({ service: "test", level: "silent" });
const checkPath = "/envoy.service.auth.v3.Authorization/Check";

function frame(bytes: Uint8Array, compressed = false): Buffer {
  const out = Buffer.alloc(5 + bytes.byteLength);
  out[0] = compressed ? 1 : 0;
  out.writeUInt32BE(bytes.byteLength, 1);
  out.set(bytes, 5);
  return out;
}

function checkRequestBytes(path: string): Uint8Array {
  return toBinary(
    CheckRequestSchema,
    create(CheckRequestSchema, { attributes: { request: { http: { path, method: "GET" } } } }),
  );
}

interface RawAnswer {
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  body: Buffer;
  /** The gRPC status, from the trailers or a trailers-only response. */
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
}

/** One call by a bare HTTP/2 client, to send what grpc-js never would. */
async function rawCall(
  port: number,
  options: { path?: string; headers?: Record<string, string>; body?: Buffer; method?: string },
): Promise<RawAnswer> {
  const session = connect(`http://127.0.0.1:${port}`);
  try {
    const stream = session.request({
      ":method": options.method ?? "POST",
      ":path": options.path ?? checkPath,
      "content-type": "application/grpc",
      te: "trailers",
      ...options.headers,
    });
    const chunks: Buffer[] = [];
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    stream.on("response", (h) => {
      headers = h;
    });
    stream.on("trailers", (t) => {
      trailers = t;
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    // node's client ends a GET's request side itself.
    if (options.method === undefined || options.method === "POST") stream.end(options.body ?? Buffer.alloc(0));
    await new Promise<void>((resolve, reject) => {
      stream.on("close", resolve);
      stream.on("error", reject);
    });
    const status = trailers["grpc-status"] ?? headers["grpc-status"];
    const message = trailers["grpc-message"] ?? headers["grpc-message"];
    return {
      headers,
      trailers,
      body: Buffer.concat(chunks),
      grpcStatus: status === undefined ? undefined : String(status),
      grpcMessage: message === undefined ? undefined : decodeURIComponent(String(message)),
    };
  } finally {
    session.close();
  }
}

describe("grpc-timeout and grpc-message encoding", () => {
  it("parses every unit and refuses malformed values", () => {
    expect(parseGrpcTimeout("2H")).toBe(7_200_000);
    expect(parseGrpcTimeout("3M")).toBe(180_000);
    expect(parseGrpcTimeout("20S")).toBe(20_000);
    expect(parseGrpcTimeout("200m")).toBe(200);
    expect(parseGrpcTimeout("1500u")).toBe(1.5);
    expect(parseGrpcTimeout("1000000n")).toBe(1);
    for (const bad of ["", "10", "m", "123456789m", "1.5S", "-1S", "10x"])
      expect(parseGrpcTimeout(bad)).toBeUndefined();
  });

  it("percent-encodes what is not printable ASCII, and % itself", () => {
    expect(encodeGrpcMessage("plain text: ok")).toBe("plain text: ok");
    expect(encodeGrpcMessage("100% über\n")).toBe("100%25 %C3%BCber%0A");
  });
});

describe("Http2GrpcServer", () => {
  const server = new Http2GrpcServer({ logger, maxReceiveMessageBytes: 64 * 1024 });
  const health = new HealthService();
  let port = 0;
  let address = "";
  /** Calls parked by the "/park" path until the test lets them go; their abort signals are watched. */
  const parked: { release: () => void; signal: AbortSignal }[] = [];
  let lastHeaders: IncomingHttpHeaders = {};
  let lastPeer = "";
  /** An answer encoded once; its nested header list is changed afterwards to show the bytes are reused. */
  const repeated = encodeOnce(
    CheckResponseSchema,
    create(CheckResponseSchema, {
      status: { code: 0 },
      httpResponse: { case: "okResponse", value: { headers: [{ header: { key: "x-way", value: "once" } }] } },
    }),
  );

  beforeAll(async () => {
    server.add(Authorization, {
      check: (request, call) => {
        lastHeaders = call.headers;
        lastPeer = call.peer;
        const path = request.attributes?.request?.http?.path ?? "";
        if (path === "/once") return repeated;
        if (path === "/throw") throw new Error("a bug in a handler, with a secret");
        if (path === "/bad") throw new GrpcError(GrpcStatus.INVALID_ARGUMENT, "path is bad: ünïcode");
        if (path === "/reject") return Promise.reject(new GrpcError(GrpcStatus.PERMISSION_DENIED, "later no"));
        if (path === "/park") {
          return new Promise((resolve) => {
            parked.push({ release: () => resolve({ status: { code: 0 } }), signal: call.signal });
          });
        }
        const body = path === "/async" ? "async" : "sync";
        const response = {
          status: { code: 0 },
          httpResponse: {
            case: "okResponse" as const,
            value: { headers: [{ header: { key: "x-way", value: body } }] },
          },
        };
        return path === "/async" ? Promise.resolve(response) : response;
      },
    });
    health.register(server);
    port = await server.listen("127.0.0.1", 0);
    address = `127.0.0.1:${port}`;
  });

  afterAll(async () => {
    for (const call of parked) call.release();
    await server.shutdown(1_000);
  });

  const okHeader = (
    response: Awaited<ReturnType<ReturnType<typeof createClient<typeof Authorization.method>>["check"]>>,
  ) =>
    response.httpResponse.case === "okResponse" ? response.httpResponse.value.headers[0]?.header?.value : undefined;

  it("answers grpc-js clients, from sync and async handlers, with the call's metadata and peer", async () => {
    const client = createClient(Authorization, address);
    try {
      const sync = await client.check({ attributes: { request: { http: { path: "/sync" } } } });
      expect(okHeader(sync)).toBe("sync");
      const async = await client.check({ attributes: { request: { http: { path: "/async" } } } });
      expect(okHeader(async)).toBe("async");
      expect(lastHeaders["content-type"]).toBe("application/grpc");
      expect(lastHeaders["user-agent"]).toMatch(/grpc-node-js/);
      expect(lastPeer).toMatch(/^127\.0\.0\.1:\d+$/);
    } finally {
      client.close();
    }
  });

  it("sends a response encoded once as the same bytes every time", async () => {
    expect(Object.isFrozen(repeated)).toBe(true);
    if (repeated.httpResponse.case === "okResponse") {
      repeated.httpResponse.value.headers.push(
        create(HeaderValueOptionSchema, { header: { key: "x-late", value: "ignored" } }),
      );
    }
    const client = createClient(Authorization, address);
    try {
      for (let i = 0; i < 2; i++) {
        const response = await client.check({ attributes: { request: { http: { path: "/once" } } } });
        expect(response.httpResponse.case === "okResponse" && response.httpResponse.value.headers.length).toBe(1);
        expect(okHeader(response)).toBe("once");
      }
    } finally {
      client.close();
    }
  });

  it("answers a GrpcError with its code and message, any other error with INTERNAL, and keeps serving", async () => {
    const client = createClient(Authorization, address);
    try {
      await expect(client.check({ attributes: { request: { http: { path: "/bad" } } } })).rejects.toMatchObject({
        code: GrpcStatus.INVALID_ARGUMENT,
        details: "path is bad: ünïcode",
      });
      await expect(client.check({ attributes: { request: { http: { path: "/reject" } } } })).rejects.toMatchObject({
        code: GrpcStatus.PERMISSION_DENIED,
        details: "later no",
      });
      await expect(client.check({ attributes: { request: { http: { path: "/throw" } } } })).rejects.toMatchObject({
        code: GrpcStatus.INTERNAL,
        details: "internal error",
      });
      expect(okHeader(await client.check({}))).toBe("sync");
    } finally {
      client.close();
    }
  });

  it("reads gzip-compressed requests from grpc-js", async () => {
    const client = createClient(Authorization, address, {
      channelOptions: { "grpc.default_compression_algorithm": 2 },
    });
    try {
      const response = await client.check({ attributes: { request: { http: { path: "/async" } } } });
      expect(okHeader(response)).toBe("async");
    } finally {
      client.close();
    }
    const raw = await rawCall(port, {
      headers: { "grpc-encoding": "gzip" },
      body: frame(gzipSync(checkRequestBytes("/sync")), true),
    });
    expect(raw.grpcStatus).toBe("0");
  });

  it("refuses what is not a well-formed call with the status gRPC prescribes", async () => {
    const unknown = await rawCall(port, { path: "/no.such.Service/Method", body: frame(new Uint8Array()) });
    expect(unknown.headers[":status"]).toBe(200);
    expect(unknown.grpcStatus).toBe(String(GrpcStatus.UNIMPLEMENTED));
    expect(unknown.grpcMessage).toBe("unknown method /no.such.Service/Method");

    const garbage = await rawCall(port, { body: frame(Buffer.from([0x0a, 0x7f, 0x01])) });
    expect(garbage.grpcStatus).toBe(String(GrpcStatus.INVALID_ARGUMENT));
    expect(garbage.grpcMessage).toBe("the request is not a valid envoy.service.auth.v3.CheckRequest");

    const truncated = await rawCall(port, { body: frame(checkRequestBytes("/sync")).subarray(0, 8) });
    expect(truncated.grpcStatus).toBe(String(GrpcStatus.INTERNAL));

    const two = Buffer.concat([frame(checkRequestBytes("/a")), frame(checkRequestBytes("/b"))]);
    const twoMessages = await rawCall(port, { body: two });
    expect(twoMessages.grpcStatus).toBe(String(GrpcStatus.INTERNAL));
    expect(twoMessages.grpcMessage).toContain("takes one request message");

    const empty = await rawCall(port, { body: Buffer.alloc(0) });
    expect(empty.grpcStatus).toBe(String(GrpcStatus.INTERNAL));

    const unflagged = await rawCall(port, { body: frame(gzipSync(checkRequestBytes("/sync")), true) });
    expect(unflagged.grpcStatus).toBe(String(GrpcStatus.INTERNAL));
    expect(unflagged.grpcMessage).toBe("a compressed message arrived without a grpc-encoding");

    const snappy = await rawCall(port, { headers: { "grpc-encoding": "snappy" }, body: frame(new Uint8Array()) });
    expect(snappy.grpcStatus).toBe(String(GrpcStatus.UNIMPLEMENTED));
    expect(snappy.headers["grpc-accept-encoding"]).toBe("identity,gzip,deflate");

    const badTimeout = await rawCall(port, { headers: { "grpc-timeout": "soon" }, body: frame(new Uint8Array()) });
    expect(badTimeout.grpcStatus).toBe(String(GrpcStatus.INVALID_ARGUMENT));
    expect(badTimeout.grpcMessage).toBe('malformed grpc-timeout "soon"');

    const json = await rawCall(port, { headers: { "content-type": "application/json" }, body: Buffer.from("{}") });
    expect(json.headers[":status"]).toBe(415);

    const get = await rawCall(port, { method: "GET" });
    expect(get.headers[":status"]).toBe(405);

    const client = createClient(Authorization, address);
    try {
      expect(okHeader(await client.check({}))).toBe("sync");
    } finally {
      client.close();
    }
  });

  it("refuses requests over the size limit with RESOURCE_EXHAUSTED, compressed or not", async () => {
    const big = create(CheckRequestSchema, {
      attributes: { request: { http: { path: "/sync", body: "x".repeat(100 * 1024) } } },
    });
    const bytes = toBinary(CheckRequestSchema, big);
    const plain = await rawCall(port, { body: frame(bytes) });
    expect(plain.grpcStatus).toBe(String(GrpcStatus.RESOURCE_EXHAUSTED));
    expect(plain.grpcMessage).toBe("request larger than 65536 bytes");
    // 100 KiB of one letter compresses to a few hundred bytes: the limit applies after decompression.
    const bomb = await rawCall(port, { headers: { "grpc-encoding": "gzip" }, body: frame(gzipSync(bytes), true) });
    expect(bomb.grpcStatus).toBe(String(GrpcStatus.RESOURCE_EXHAUSTED));
  });

  it("aborts the handler's signal when the caller cancels", async () => {
    const before = parked.length;
    const session = connect(`http://127.0.0.1:${port}`);
    try {
      const stream = session.request({ ":method": "POST", ":path": checkPath, "content-type": "application/grpc" });
      stream.on("error", () => {});
      stream.end(frame(checkRequestBytes("/park")));
      const call = await waitFor(() => parked[before], { what: "the parked call" });
      expect(call.signal.aborted).toBe(false);
      stream.close();
      await waitFor(() => call.signal.aborted, { what: "the handler's signal to abort" });
      call.release();
    } finally {
      session.close();
    }
  });

  it("serves the gRPC health service with watch", async () => {
    await expectHealthServed(address, health, "gantry.h2");
  });
});

describe("Http2GrpcServer lifecycle", () => {
  it("answers DEADLINE_EXCEEDED exactly when grpc-timeout passes, and aborts the handler's signal", async () => {
    const clock = new ManualClock();
    const server = new Http2GrpcServer({ logger, timers: clock });
    const waiting: { signal: AbortSignal; deadline: number | undefined }[] = [];
    server.add(Authorization, {
      check: (_request, call) => {
        waiting.push(call);
        return new Promise(() => {});
      },
    });
    const port = await server.listen("127.0.0.1", 0);
    try {
      const answer = rawCall(port, { headers: { "grpc-timeout": "50m" }, body: frame(checkRequestBytes("/park")) });
      const call = await waitFor(() => waiting[0], { what: "the call to reach its handler" });
      expect(call.deadline).toBe(clock.now() + 50);
      clock.advance(49);
      expect(call.signal.aborted).toBe(false);
      clock.advance(1);
      expect(call.signal.aborted).toBe(true);
      expect((await answer).grpcStatus).toBe(String(GrpcStatus.DEADLINE_EXCEEDED));
      // The deadline sweep stopped with the last waiting call; the connection's timers with the connection.
      await waitFor(() => clock.pendingTimers === 0, { what: "every timer to stop" });
    } finally {
      const stopped = server.shutdown(0);
      clock.advance(0);
      await stopped;
    }
  });

  it("lets running calls finish on shutdown, refuses new ones and ends health watches", async () => {
    const server = new Http2GrpcServer({ logger });
    const health = new HealthService();
    health.register(server);
    let release: (() => void) | undefined;
    server.add(Authorization, {
      check: () =>
        new Promise((resolve) => {
          release = () => resolve({ status: { code: 0 } });
        }),
    });
    const port = await server.listen("127.0.0.1", 0);
    const client = createClient(Authorization, `127.0.0.1:${port}`);
    const healthClient = createClient(Health, `127.0.0.1:${port}`);
    try {
      const watch = healthClient.watch({ service: "" });
      const watchError = new Promise<{ code?: number }>((resolve) => watch.on("error", resolve));
      watch.on("data", () => {});
      const running = client.check({});
      await waitFor(() => release, { what: "the call to start" });
      const stopped = server.shutdown(5_000);
      expect((await watchError).code).toBe(GrpcStatus.UNAVAILABLE);
      release?.();
      expect((await running).status?.code).toBe(0);
      await stopped;
      await expect(client.check({}, { timeoutMs: 1_000 })).rejects.toMatchObject({});
    } finally {
      client.close();
      healthClient.close();
    }
  });
});
