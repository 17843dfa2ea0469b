// The whole management server: an apply through the API parses each document once, in a worker
// thread, and the translation that follows reads that parse. Every parse entry of the resources
// module on this thread is counted: there is none, since the one parse is the worker's.
import type { JsonObject } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ManagementService } from "../../src/gen/gantry/api/v1/management_pb.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { State } from "../../src/translate/index.js";

const parses = vi.hoisted(() => ({ count: 0 }));

vi.mock("../../src/resources/load.js", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../../src/resources/load.js")>();
  return {
    ...actual,
    parseDocument: (...args: Parameters<typeof actual.parseDocument>) => {
      parses.count += 1;
      return actual.parseDocument(...args);
    },
    parseResources: (...args: Parameters<typeof actual.parseResources>) => {
      parses.count += 1;
      return actual.parseResources(...args);
    },
  };
});

const destination = (name: string): JsonObject => ({
  apiVersion: "gantry/v1",
  kind: "Destination",
  metadata: { name, namespace: "shop" },
  spec: { ports: [{ number: 8080 }], endpoints: [{ address: "10.0.0.1" }] },
});

describe("gantry server: apply parses each document once, off the event loop", () => {
  const store = new MemoryStore();
  let server: ManagementServer;

  beforeAll(async () => {
    server = await startManagementServer({
      store,
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      apiToken: undefined,
      insecureApi: true,
      logger: createLogger({ service: "test", level: "silent" }),
      registry: createRegistry("server", { processMetrics: false }),
      debounce: { quietMs: 10, maxDelayMs: 100 },
    });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("counts one parse per document from the API request to the published translation", async () => {
    const client = createClient(
      ManagementService,
      createConnectTransport({ baseUrl: `http://127.0.0.1:${server.apiPort}`, httpVersion: "1.1" }),
    );
    parses.count = 0;
    const names = ["cart", "orders", "payments"];
    const result = await client.apply({ documents: names.map(destination) });
    await server.settle();
    expect(server.publishedRevision).toBe(Number(result.revision));
    for (const name of names) {
      expect(server.status({ kind: "Destination", namespace: "shop", name })?.state).toBe(State.ACCEPTED);
    }
    expect(parses.count).toBe(0);
  });
});
