// The management server translates each apply once, even when the store's event for the write
// arrives after the translation it triggered has started (as Redis delivers it, by pub/sub).
import type { JsonObject } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManagementService } from "../../src/gen/gantry/api/v1/management_pb.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry, type Registry } from "../../src/lib/metrics.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore, type ResourceDocument, type StoreChange } from "../../src/store/index.js";
import { waitFor } from "../support/wait.js";

/** A memory store whose watchers hear of a write only once a later write or `deliver()` lets them. */
class LateEventStore extends MemoryStore {
  readonly #held: Array<() => void> = [];

  override watch(listener: (change: StoreChange) => void): () => void {
    return super.watch((change) => this.#held.push(() => listener(change)));
  }

  get heldEvents(): number {
    return this.#held.length;
  }

  deliver(): void {
    for (const event of this.#held.splice(0)) event();
  }
}

const destination = (name: string, address: string): JsonObject => ({
  apiVersion: "gantry/v1",
  kind: "Destination",
  metadata: { name, namespace: "shop" },
  spec: { ports: [{ number: 8080 }], endpoints: [{ address }] },
});

async function translations(registry: Registry): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric("gantry_translations_total")?.get();
  return Object.fromEntries((metric?.values ?? []).map((v) => [String(v.labels["result"]), v.value]));
}

describe("gantry server: one translation per apply", () => {
  const store = new LateEventStore();
  const registry = createRegistry("server", { processMetrics: false });
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
      registry,
      debounce: { quietMs: 10, maxDelayMs: 100 },
    });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("finds nothing new to translate when the apply's store event comes after its translation", async () => {
    const client = createClient(
      ManagementService,
      createConnectTransport({ baseUrl: `http://127.0.0.1:${server.apiPort}`, httpVersion: "1.1" }),
    );
    const before = await translations(registry);
    const result = await client.apply({ documents: [destination("cart", "10.0.0.1")] });
    await server.settle();
    expect(server.publishedRevision).toBe(Number(result.revision));
    expect(store.heldEvents).toBe(1);
    store.deliver();
    await server.settle();
    const after = await translations(registry);
    expect((after["ok"] ?? 0) - (before["ok"] ?? 0)).toBe(1);
    expect((after["unchanged"] ?? 0) - (before["unchanged"] ?? 0)).toBe(1);
    // A write the server did not make itself (another replica) is still translated from its event.
    await store.apply([destination("orders", "10.0.0.2") as unknown as ResourceDocument]);
    store.deliver();
    await waitFor(() => server.publishedRevision === Number(result.revision) + 1, {
      what: "the write to be published",
    });
  });
});
