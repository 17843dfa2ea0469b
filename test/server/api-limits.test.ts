import { once } from "node:events";
import { connect as connectHttp2, constants } from "node:http2";
import { connect } from "node:net";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { ManagementService } from "../../src/gen/gantry/api/v1/management_pb.js";
import { ManualClock } from "../../src/lib/clock.js";
import { type ApiLimits, startManagementApi } from "../../src/server/api/index.js";
import { DesiredState } from "../../src/server/desired-state.js";
import { MemoryStore } from "../../src/store/index.js";
import { waitFor } from "../support/wait.js";

const token = "test-token-0123456789abcdef";
const listPath = "/gantry.api.v1.ManagementService/List";

const destination = {
  apiVersion: "gantry/v1",
  kind: "Destination",
  metadata: { name: "a", namespace: "default" },
  spec: { ports: [{ number: 8080 }], endpoints: [{ address: "10.0.0.1" }] },
};

const deps = () => {
  const store = new MemoryStore();
  return {
    store,
    desired: new DesiredState(store),
    status: () => undefined,
    proxies: () => [],
    describe: () => {
      throw new Error("not used");
    },
  };
};

let stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.reverse()) await stop();
  stops = [];
});

async function start(limits: Partial<ApiLimits> = {}, clock?: ManualClock) {
  const api = await startManagementApi({
    host: "127.0.0.1",
    port: 0,
    token,
    limits,
    deps: deps(),
    ...(clock ? { timers: clock } : {}),
  });
  stops.push(() => api.close());
  return api.port;
}

/** A raw TCP client that keeps what it received and knows when the server closed. */
async function rawClient(port: number) {
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  const state = { received: "", closed: false, socket };
  socket.on("data", (chunk: Buffer) => {
    state.received += chunk.toString("latin1");
  });
  socket.on("error", () => {});
  socket.on("close", () => {
    state.closed = true;
  });
  stops.push(async () => {
    socket.destroy();
  });
  return state;
}

const requestHead = (headers: Record<string, string>) =>
  `POST ${listPath} HTTP/1.1\r\nhost: x\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n`;

describe("management API: the body is never read before the caller is known", () => {
  it("answers an unauthenticated 128 MiB request before the client has sent it, without buffering it", async () => {
    const port = await start();
    const client = await rawClient(port);
    const size = 128 * 1024 * 1024;
    const rssBefore = process.memoryUsage().rss;
    client.socket.write(requestHead({ "content-type": "application/json", "content-length": String(size) }));
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    let sentWhenAnswered = -1;
    // Send with back-pressure until the answer arrives (or everything was sent, which fails below).
    while (sent < size && !client.closed) {
      if (client.received.includes("\r\n\r\n")) {
        sentWhenAnswered = sent;
        break;
      }
      if (!client.socket.write(chunk)) {
        // The server may close while we wait: that ends the wait, it is not a failure.
        await new Promise<void>((resolve) => {
          client.socket.once("drain", resolve);
          client.socket.once("close", resolve);
        });
      }
      sent += chunk.length;
    }
    await waitFor(() => client.received.includes("\r\n\r\n"), { timeoutMs: 5_000, what: "the answer" });
    if (sentWhenAnswered < 0) sentWhenAnswered = sent;
    expect(client.received).toMatch(/^HTTP\/1\.1 401 /);
    expect(client.received).toContain('"code":"unauthenticated"');
    // Answered long before the client could finish: the server did not wait for (or keep) the body.
    expect(sentWhenAnswered).toBeLessThan(16 * 1024 * 1024);
    await waitFor(() => client.closed, { timeoutMs: 5_000, what: "the server to close the connection" });
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 1024 * 1024);
  });

  it("refuses a declared body over the limit with 413 before reading it, even with a good token", async () => {
    const port = await start({ maxBodyBytes: 1024 });
    const client = await rawClient(port);
    client.socket.write(
      requestHead({ "content-type": "application/json", "content-length": "2048", authorization: `Bearer ${token}` }),
    );
    await waitFor(() => client.received.includes("\r\n\r\n"), { timeoutMs: 5_000, what: "the answer" });
    expect(client.received).toMatch(/^HTTP\/1\.1 413 /);
    expect(client.received).toContain('"code":"resource_exhausted"');
    expect(client.received).toContain("--api-max-body-bytes");
    await waitFor(() => client.closed, { timeoutMs: 5_000, what: "the connection to close" });
  });

  it("does not invite the body of an unauthenticated Expect: 100-continue request", async () => {
    const port = await start();
    const client = await rawClient(port);
    client.socket.write(
      requestHead({ "content-type": "application/json", "content-length": "1000000", expect: "100-continue" }),
    );
    await waitFor(() => client.received.includes("\r\n\r\n"), { timeoutMs: 5_000, what: "the answer" });
    expect(client.received).toMatch(/^HTTP\/1\.1 401 /);
    expect(client.received).not.toContain("100 Continue");
  });

  it("counts a body sent without a length and refuses it past the limit", async () => {
    const port = await start({ maxBodyBytes: 1024 });
    const response = await fetch(`http://127.0.0.1:${port}${listPath}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(`{"kind":"${"x".repeat(4096)}"}`));
          controller.close();
        },
      }),
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(429); // Connect's HTTP status for resource_exhausted
    expect(((await response.json()) as { code: string }).code).toBe("resource_exhausted");
  });

  it("answers gRPC over h2c with UNAUTHENTICATED and RESOURCE_EXHAUSTED, and resets the stream unread", async () => {
    const port = await start({ maxBodyBytes: 1024 });
    const session = connectHttp2(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    stops.push(async () => {
      session.destroy();
    });
    const call = async (headers: Record<string, string>) => {
      const stream = session.request({
        ":method": "POST",
        ":path": listPath,
        "content-type": "application/grpc",
        te: "trailers",
        ...headers,
      });
      stream.on("error", () => {});
      // Start sending a large body; the answer must not wait for it.
      stream.write(Buffer.alloc(32 * 1024));
      const [responseHeaders] = (await once(stream, "response")) as [Record<string, string>];
      const closed = once(stream, "close");
      stream.resume();
      await closed;
      return { headers: responseHeaders, rstCode: stream.rstCode };
    };
    const unauthenticated = await call({ "content-length": String(128 * 1024 * 1024) });
    expect(unauthenticated.headers["grpc-status"]).toBe("16");
    expect(unauthenticated.rstCode).toBe(constants.NGHTTP2_NO_ERROR);
    const tooLarge = await call({ "content-length": "65536", authorization: `Bearer ${token}` });
    expect(tooLarge.headers["grpc-status"]).toBe("8");
    expect(decodeURIComponent(tooLarge.headers["grpc-message"] ?? "")).toContain("over the limit of 1024 bytes");
  });
});

describe("management API: connections are bounded in time and number", () => {
  const quick: Partial<ApiLimits> = { headersTimeoutMs: 200, requestTimeoutMs: 400, idleTimeoutMs: 300 };

  it("closes a connection that sends nothing, or half its headers", async () => {
    const port = await start(quick);
    const silent = await rawClient(port);
    const halfHeaders = await rawClient(port);
    halfHeaders.socket.write(`POST ${listPath} HTTP/1.1\r\nhost: x\r\n`);
    await waitFor(() => silent.closed && halfHeaders.closed, { timeoutMs: 5_000, what: "both to be closed" });
  });

  it("closes a connection whose request body stops half-way", async () => {
    const port = await start(quick);
    const client = await rawClient(port);
    client.socket.write(
      requestHead({ "content-type": "application/json", "content-length": "100", authorization: `Bearer ${token}` }),
    );
    client.socket.write("{");
    await waitFor(() => client.closed, { timeoutMs: 5_000, what: "the half-sent request to be cut" });
  });

  it("closes a kept-alive connection once idle", async () => {
    const port = await start(quick);
    const client = await rawClient(port);
    client.socket.write(
      requestHead({ "content-type": "application/json", "content-length": "2", authorization: `Bearer ${token}` }),
    );
    client.socket.write("{}");
    await waitFor(() => client.received.startsWith("HTTP/1.1 200 "), { timeoutMs: 5_000, what: "the answer" });
    expect(client.closed).toBe(false);
    await waitFor(() => client.closed, { timeoutMs: 5_000, what: "the idle connection to be closed" });
  });

  it("over h2c: closes a session with no stream, and resets a stream whose body stops", async () => {
    const port = await start(quick);
    const idle = connectHttp2(`http://127.0.0.1:${port}`);
    idle.on("error", () => {});
    const idleClosed = once(idle, "close");
    stops.push(async () => {
      idle.destroy();
    });
    await idleClosed;

    const session = connectHttp2(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    stops.push(async () => {
      session.destroy();
    });
    await once(session, "remoteSettings");
    expect(session.remoteSettings.maxConcurrentStreams).toBe(100);
    const stream = session.request({
      ":method": "POST",
      ":path": listPath,
      "content-type": "application/json",
      authorization: `Bearer ${token}`,
    });
    stream.on("error", () => {});
    stream.write("{");
    const closed = once(stream, "close");
    stream.resume();
    await closed;
    expect(stream.rstCode).toBe(constants.NGHTTP2_CANCEL);
  });

  it("closes connections over the cap, and takes new ones once others leave", async () => {
    const port = await start({ maxConnections: 3 });
    const held = [await rawClient(port), await rawClient(port), await rawClient(port)];
    // Each is accepted and kept (they are within every timeout).
    await waitFor(() => held.every((c) => !c.closed), { timeoutMs: 1_000 });
    const extra = await rawClient(port);
    await waitFor(() => extra.closed, { timeoutMs: 5_000, what: "the connection over the cap to be closed" });
    expect(held.some((c) => c.closed)).toBe(false);
    held[0]?.socket.destroy();
    await waitFor(() => held[0]?.closed, { timeoutMs: 5_000 });
    const later = await rawClient(port);
    later.socket.write(
      requestHead({ "content-type": "application/json", "content-length": "2", authorization: `Bearer ${token}` }),
    );
    later.socket.write("{}");
    await waitFor(() => later.received.startsWith("HTTP/1.1 200 "), { timeoutMs: 5_000, what: "a served answer" });
  });
});

describe("management API: a Watch is a request in flight", () => {
  it("outlives the request and idle timeouts once its request is received (h2c, gRPC)", async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 3));
    const d = deps();
    const api = await startManagementApi({
      host: "127.0.0.1",
      port: 0,
      token,
      limits: { headersTimeoutMs: 1_000, requestTimeoutMs: 1_000, idleTimeoutMs: 1_000 },
      deps: d,
      timers: clock,
    });
    stops.push(() => api.close());
    const auth: Interceptor = (next) => async (req) => {
      req.header.set("authorization", `Bearer ${token}`);
      return next(req);
    };
    const client = createClient(
      ManagementService,
      createGrpcTransport({ baseUrl: `http://127.0.0.1:${api.port}`, interceptors: [auth] }),
    );
    const abort = new AbortController();
    stops.push(async () => abort.abort());
    const events = client.watch({}, { signal: abort.signal })[Symbol.asyncIterator]();
    // Writes until the watcher sees one: then the stream is open; then time passes beyond every timeout.
    let opened = false;
    void events.next().then(() => {
      opened = true;
    });
    let n = 0;
    await waitFor(async () => {
      if (!opened) await d.store.apply([{ ...destination, metadata: { name: `a${n++}`, namespace: "default" } }]);
      return opened;
    });
    clock.advance(60_000);
    await d.store.apply([{ ...destination, metadata: { name: "b", namespace: "default" } }]);
    let names: string[] = [];
    while (!names.includes("b")) {
      const event = await events.next();
      expect(event.done).toBe(false);
      names = event.value?.upserted.map((r: { name: string }) => r.name) ?? [];
    }
  });
});

describe("management API: failed authentications are limited per client address", () => {
  it("turns an address away after its budget, without comparing its token, until time refills it", async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 3));
    const port = await start({ authFailuresPerMinute: 3 }, clock);
    const list = (authorization: string) =>
      fetch(`http://127.0.0.1:${port}${listPath}`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization },
        body: "{}",
      });
    for (let i = 0; i < 3; i++) expect((await list("Bearer wrong-guess-0000000000")).status).toBe(401);
    // The right token is not even compared now: the address is out of failures.
    const refused = await list(`Bearer ${token}`);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("20");
    expect(((await refused.json()) as { code: string }).code).toBe("resource_exhausted");
    clock.advance(20_000);
    expect((await list(`Bearer ${token}`)).status).toBe(200);
    // One failure refilled, one spent: turned away again at once.
    expect((await list("Bearer wrong-guess-0000000000")).status).toBe(401);
    expect((await list(`Bearer ${token}`)).status).toBe(429);
  });
});
