// The management API's TLS handshake is bounded like its headers (--api-headers-timeout-ms): a
// client that connects and stops before or during its handshake does not hold a socket for
// Node's default 120 s.
import { once } from "node:events";
import { type AddressInfo, connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { createTlsServer, TlsFileWatch } from "../../src/lib/tls.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { makeTlsFiles } from "../support/certs.js";

const headersTimeoutMs = 300;

/** Connects, sends `bytes`, and resolves with how long the server took to close the connection. */
async function closedAfter(port: number, bytes: Buffer): Promise<number> {
  const socket: Socket = connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  const started = performance.now();
  socket.write(bytes);
  socket.resume();
  // Bounded: a server that waits longer than 5 s fails the test.
  const guard = setTimeout(() => socket.destroy(new Error("still open after 5 s")), 5_000);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("close", () => resolve());
      socket.once("error", (err) => (err.message.includes("still open") ? reject(err) : undefined));
    });
  } finally {
    clearTimeout(guard);
  }
  return performance.now() - started;
}

describe("a TLS port's handshake timeout (createTlsServer, every TLS port)", () => {
  it("closes the socket: with a tlsClientError listener Node itself does not", async () => {
    const files = await makeTlsFiles();
    const watch = new TlsFileWatch({ certFile: files.certFile, keyFile: files.keyFile });
    const tls = createTlsServer(watch, ["h2"], () => undefined, undefined, 200);
    tls.listen(0, "127.0.0.1");
    await once(tls, "listening");
    try {
      expect(await closedAfter((tls.address() as AddressInfo).port, Buffer.alloc(0))).toBeLessThan(2_200);
    } finally {
      watch.stop();
      await new Promise((resolve) => tls.close(resolve));
    }
  });
});

describe("the management API's TLS handshake timeout", () => {
  let server: ManagementServer;

  beforeAll(async () => {
    const files = await makeTlsFiles();
    server = await startManagementServer({
      store: new MemoryStore(),
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      apiToken: "handshake-test-token-0123456789",
      logger: createLogger({ service: "test", level: "silent" }),
      registry: createRegistry("server", { processMetrics: false }),
      apiTls: { certFile: files.certFile, keyFile: files.keyFile },
      apiLimits: { headersTimeoutMs, requestTimeoutMs: 1_000, idleTimeoutMs: 1_000 },
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("closes a connection that sends nothing within the headers timeout", async () => {
    const ms = await closedAfter(server.apiPort, Buffer.alloc(0));
    expect(ms).toBeGreaterThanOrEqual(headersTimeoutMs - 50);
    expect(ms).toBeLessThan(headersTimeoutMs + 2_000);
  });

  it("closes a connection that stops half-way through its ClientHello", async () => {
    // A TLS record header announcing a 512-byte handshake message, and then nothing.
    const ms = await closedAfter(server.apiPort, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    expect(ms).toBeLessThan(headersTimeoutMs + 2_000);
  });
});
