import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManagementService } from "../../src/gen/gantry/api/v1/management_pb.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore, type ResourceStore } from "../../src/store/index.js";
import { waitFor } from "../support/wait.js";

/**
 * A store whose change events do not arrive, as when the management Redis' watch subscription is
 * being re-established: an apply reported stored must still be translated and served.
 */
function storeWithoutEvents(): ResourceStore {
  const inner = new MemoryStore();
  return {
    apply: (documents) => inner.apply(documents),
    delete: (keys) => inner.delete(keys),
    get: (key) => inner.get(key),
    list: (filter) => inner.list(filter),
    snapshot: () => inner.snapshot(),
    watch: () => () => {},
    close: () => inner.close(),
  };
}

describe("an apply reported stored is served", () => {
  let server: ManagementServer;

  beforeAll(async () => {
    server = await startManagementServer({
      store: storeWithoutEvents(),
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort: 0,
      apiToken: undefined,
      insecureApi: true,
      logger: createLogger({ service: "server-test", level: "silent" }),
      registry: createRegistry("server", { processMetrics: false }),
      debounce: { quietMs: 20, maxDelayMs: 200 },
    });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("translates and publishes it even when the store's change event is lost", async () => {
    const api = createClient(
      ManagementService,
      createConnectTransport({ baseUrl: `http://127.0.0.1:${server.apiPort}`, httpVersion: "1.1" }),
    );
    const applied = await api.apply({
      documents: [
        {
          apiVersion: "gantry/v1",
          kind: "Destination",
          metadata: { name: "cart", namespace: "shop" },
          spec: { ports: [{ number: 8080 }], endpoints: [{ address: "10.0.0.1" }] },
        },
      ],
    });
    expect(applied.changed).toHaveLength(1);
    await waitFor(() => server.publishedRevision === Number(applied.revision), {
      what: "the applied revision to be published",
    });
  });
});
