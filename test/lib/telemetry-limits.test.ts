import { once } from "node:events";
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createRegistry } from "../../src/lib/metrics.js";
import { startTelemetryServer, type TelemetryLimits } from "../../src/lib/telemetry.js";
import { waitFor } from "../support/wait.js";

describe("telemetry server bounds (it has no token, so it reads no body and holds no connection long)", () => {
  let stops: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const stop of stops.reverse()) await stop();
    stops = [];
  });

  const start = async (limits: Partial<TelemetryLimits>) => {
    const server = await startTelemetryServer({ registry: createRegistry("t"), port: 0, host: "127.0.0.1", limits });
    stops.push(() => server.close());
    return server.port;
  };

  const rawClient = async (port: number) => {
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
  };

  it("refuses a request with a body, unread, and closes the connection", async () => {
    const port = await start({});
    const client = await rawClient(port);
    client.socket.write("GET /metrics HTTP/1.1\r\nhost: x\r\ncontent-length: 134217728\r\n\r\n");
    client.socket.write(Buffer.alloc(64 * 1024));
    await waitFor(() => client.closed, { timeoutMs: 5_000, what: "the connection to close" });
    expect(client.received).toMatch(/^HTTP\/1\.1 413 /);
  });

  it("closes silent, half-sent and idle connections after their timeouts", async () => {
    const port = await start({ headersTimeoutMs: 200, requestTimeoutMs: 300, idleTimeoutMs: 200 });
    const silent = await rawClient(port);
    const half = await rawClient(port);
    half.socket.write("GET /metrics HTTP/1.1\r\nhost: x\r\n");
    const idle = await rawClient(port);
    idle.socket.write("GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n");
    await waitFor(() => idle.received.startsWith("HTTP/1.1 200 "), { timeoutMs: 5_000, what: "the answer" });
    await waitFor(() => silent.closed && half.closed && idle.closed, {
      timeoutMs: 5_000,
      what: "every connection to be closed",
    });
  });

  it("closes connections over the cap", async () => {
    const port = await start({ maxConnections: 2 });
    const held = [await rawClient(port), await rawClient(port)];
    const extra = await rawClient(port);
    await waitFor(() => extra.closed, { timeoutMs: 5_000, what: "the third connection to be closed" });
    expect(held.some((c) => c.closed)).toBe(false);
  });
});
