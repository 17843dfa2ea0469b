// A request body that is not valid binary protobuf is the caller's fault: 400 / INVALID_ARGUMENT
// naming the message type, never 500 / INTERNAL (connect-es's own answer).
import { connect as connectHttp2 } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";

const token = "malformed-test-token-0123456789";
/** Field 1, wire type 2 (bytes), length 100, then 3 bytes: ends before its length. */
const truncated = Buffer.from([0x0a, 0x64, 0x01, 0x02, 0x03]);

describe("a malformed binary protobuf body on the management API", () => {
  let server: ManagementServer;

  beforeAll(async () => {
    server = await startManagementServer({
      store: new MemoryStore(),
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      apiToken: token,
      logger: createLogger({ service: "test", level: "silent" }),
      registry: createRegistry("server", { processMetrics: false }),
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("Connect (application/proto): 400 invalid_argument naming the message", async () => {
    const response = await fetch(`http://127.0.0.1:${server.apiPort}/gantry.api.v1.ManagementService/Apply`, {
      method: "POST",
      headers: { "content-type": "application/proto", authorization: `Bearer ${token}` },
      body: truncated,
    });
    expect(response.status).toBe(400);
    const error = (await response.json()) as { code: string; message: string };
    expect(error.code).toBe("invalid_argument");
    expect(error.message).toMatch(/^the request body is not a valid gantry\.api\.v1\.ApplyRequest message/);
  });

  it("gRPC over h2c: grpc-status 3 (INVALID_ARGUMENT) naming the message", async () => {
    const session = connectHttp2(`http://127.0.0.1:${server.apiPort}`);
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": "/gantry.api.v1.ManagementService/Get",
        "content-type": "application/grpc",
        te: "trailers",
        authorization: `Bearer ${token}`,
      });
      const envelope = Buffer.alloc(5);
      envelope.writeUInt32BE(truncated.length, 1);
      stream.end(Buffer.concat([envelope, truncated]));
      stream.resume();
      const trailers = await new Promise<Record<string, unknown>>((resolve, reject) => {
        let headers: Record<string, unknown> = {};
        stream.on("response", (h) => {
          headers = h;
        });
        stream.on("trailers", (t) => resolve(t));
        stream.on("end", () => resolve(headers));
        stream.on("error", reject);
      });
      expect(trailers["grpc-status"]).toBe("3");
      expect(decodeURIComponent(String(trailers["grpc-message"]))).toMatch(
        /^the request body is not a valid gantry\.api\.v1\.GetRequest message/,
      );
    } finally {
      session.close();
    }
  });

  it("a good call still works", async () => {
    const response = await fetch(`http://127.0.0.1:${server.apiPort}/gantry.api.v1.ManagementService/List`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: "{}",
    });
    expect(response.status).toBe(200);
  });
});
