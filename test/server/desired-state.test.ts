import type { JsonObject } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManagementService } from "../../src/gen/gantry/api/v1/management_pb.js";
import { parseDocument, resourceKey } from "../../src/resources/index.js";
import { startManagementApi } from "../../src/server/api/index.js";
import { DesiredState, type DocumentParser } from "../../src/server/desired-state.js";
import { resourceToDocument } from "../../src/server/documents.js";
import { MemoryStore, type ResourceDocument } from "../../src/store/index.js";

const destination = (name: string, port = 8080): JsonObject => ({
  apiVersion: "gantry/v1",
  kind: "Destination",
  metadata: { name, namespace: "shop" },
  spec: { ports: [{ number: port }], endpoints: [{ address: "10.0.0.1" }] },
});

/** The same JSON as the store's document type, for writes that bypass the API. */
const asStored = (document: JsonObject) => document as unknown as ResourceDocument;

describe("DesiredState: each document parsed once on the apply path", () => {
  const store = new MemoryStore();
  const parsed: string[] = [];
  const countingParser: DocumentParser = (value, where) => {
    parsed.push(where);
    return parseDocument(value, where);
  };
  const desired = new DesiredState(store, countingParser);
  let api: Awaited<ReturnType<typeof startManagementApi>>;
  let client: ReturnType<typeof createClient<typeof ManagementService>>;

  beforeAll(async () => {
    api = await startManagementApi({
      host: "127.0.0.1",
      port: 0,
      token: undefined,
      insecure: true,
      deps: {
        store,
        desired,
        status: () => undefined,
        proxies: () => [],
        describe: () => {
          throw new Error("not used here");
        },
      },
    });
    client = createClient(
      ManagementService,
      createConnectTransport({ baseUrl: `http://127.0.0.1:${api.port}`, httpVersion: "1.1" }),
    );
  });

  afterAll(async () => {
    await api.close();
  });

  it("parses an applied document once: that parse is checked, stored and read for translation", async () => {
    parsed.length = 0;
    const result = await client.apply({ documents: [destination("cart"), destination("orders")] });
    expect(result.changed.map((r) => r.name)).toEqual(["cart", "orders"]);
    const { resources, rejected } = desired.read(await store.snapshot());
    expect(parsed).toEqual(["document 1", "document 2"]);
    expect(rejected).toEqual([]);
    expect(resources.map(resourceKey)).toEqual(["Destination/shop/cart", "Destination/shop/orders"]);
    // What is stored is the parsed result in canonical form.
    const stored = await store.get({ kind: "Destination", namespace: "shop", name: "cart" });
    expect(stored?.document).toEqual(resources[0] && resourceToDocument(resources[0]));
  });

  it("checks unchanged documents again on apply, but never parses a stored revision twice", async () => {
    parsed.length = 0;
    const again = await client.apply({ documents: [destination("cart"), destination("orders", 9090)] });
    expect(again.unchanged.map((r) => r.name)).toEqual(["cart"]);
    desired.read(await store.snapshot());
    desired.read(await store.snapshot());
    expect(parsed).toEqual(["document 1", "document 2"]);
  });

  it("parses a document another writer stored once, when first read at its revision", async () => {
    const payments = { ...destination("payments"), spec: { ports: [{ number: 443 }] } };
    await store.apply([asStored(payments)]);
    parsed.length = 0;
    desired.read(await store.snapshot());
    desired.read(await store.snapshot());
    expect(parsed).toEqual(["store:Destination/shop/payments"]);
  });

  it("reports a stored document that no longer parses as rejected, naming its key and field", async () => {
    await store.apply([asStored({ ...destination("legacy"), spec: { portz: [] } })]);
    const { rejected } = desired.read(await store.snapshot());
    expect(rejected).toEqual([
      {
        file: "store:Destination/shop/legacy",
        line: 1,
        ref: { kind: "Destination", namespace: "shop", name: "legacy" },
        errors: [
          expect.stringMatching(
            /^store:Destination\/shop\/legacy:1: Destination shop\/legacy: spec\.portz: unknown field/,
          ),
        ],
      },
    ]);
  });

  it("rejects a bad batch before anything is parsed into the store", async () => {
    const before = (await store.snapshot()).revision;
    const failure = await client
      .apply({ documents: [destination("fine"), { ...destination("bad"), spec: { colour: "blue" } }] })
      .catch((err: unknown) => err as Error);
    expect(String(failure)).toMatch(/document 2:1: Destination shop\/bad: spec\.colour: unknown field/);
    expect((await store.snapshot()).revision).toBe(before);
  });

  it("refuses a batch that names one resource twice, naming both documents, and applies nothing", async () => {
    const before = (await store.snapshot()).revision;
    const failure = await client
      .apply({ documents: [destination("twice"), destination("other"), destination("twice", 9090)] })
      .then(
        () => undefined,
        (err: unknown) => err as { code: number; message: string },
      );
    expect(failure).toMatchObject({ code: Code.InvalidArgument });
    expect(failure?.message).toContain(
      "document 3: Destination shop/twice: also in document 1; an apply names each resource once",
    );
    expect((await store.snapshot()).revision).toBe(before);
  });
});
