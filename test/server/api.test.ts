import { create, type JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApplyResult_Action, ManagementService, type WatchEvent } from "../../src/gen/gantry/api/v1/management_pb.js";
import { ResourceStatus_State, ResourceStatusSchema } from "../../src/gen/gantry/v1/status_pb.js";
import { startManagementApi } from "../../src/server/api/index.js";
import { DesiredState } from "../../src/server/desired-state.js";
import { storedDocument } from "../../src/server/relay/index.js";
import { MemoryStore, type ResourceDocument } from "../../src/store/index.js";
import { waitFor } from "../support/wait.js";
import { noDescription } from "./api-deps.js";

const token = "test-token-0123456789abcdef";

const describedAs = (kind: string, namespace: string, name: string) => ({
  publishedRevision: 7,
  description: {
    ...noDescription,
    gateways: [{ kind: "Gateway", namespace, name: `gw-of-${kind}-${name}` }],
    servedBy: [
      {
        nodeId: "gw-1",
        role: "proxy" as const,
        stream: "ads-delta",
        gateways: [`${namespace}/gw`],
        acked: true,
        pendingTypes: [],
        lastNackError: "",
      },
    ],
  },
});

const cart: JsonObject = {
  apiVersion: "gantry/v1",
  kind: "Destination",
  metadata: { name: "cart", namespace: "shop" },
  spec: { ports: [{ number: 8080 }], endpoints: [{ address: "10.0.0.1" }] },
};

describe("management API", () => {
  const store = new MemoryStore();
  let api: Awaited<ReturnType<typeof startManagementApi>>;
  let baseUrl = "";

  beforeAll(async () => {
    api = await startManagementApi({
      host: "127.0.0.1",
      port: 0,
      token,
      deps: {
        store,
        desired: new DesiredState(store),
        status: (key) =>
          key.name === "cart" ? create(ResourceStatusSchema, { state: ResourceStatus_State.ACCEPTED }) : undefined,
        proxies: () => [
          {
            nodeId: "gw-1",
            metadata: { role: "gateway" },
            stream: "delta",
            connectedAtMs: Date.UTC(2026, 10, 23),
            server: "replica-a",
            types: [
              {
                typeUrl: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
                ackedVersion: "abc",
                ackedNonce: "7",
                lastNackError: "bad cluster",
                lastNackAtMs: Date.UTC(2026, 10, 23, 1),
              },
            ],
          },
        ],
        describe: describedAs,
      },
    });
    baseUrl = `http://127.0.0.1:${api.port}`;
  });

  afterAll(async () => {
    await api.close();
  });

  const client = (withToken = true, protocol: "connect" | "grpc" = "connect") => {
    const interceptors = withToken
      ? [
          (next: Parameters<import("@connectrpc/connect").Interceptor>[0]) =>
            async (req: Parameters<Parameters<import("@connectrpc/connect").Interceptor>[0]>[0]) => {
              req.header.set("authorization", `Bearer ${token}`);
              return next(req);
            },
        ]
      : [];
    const transport =
      protocol === "grpc"
        ? createGrpcTransport({ baseUrl, interceptors })
        : createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors });
    return createClient(ManagementService, transport);
  };

  it("refuses calls without the bearer token, and with a wrong one", async () => {
    const noToken = await client(false)
      .list({})
      .catch((e: unknown) => e);
    expect(ConnectError.from(noToken).code).toBe(Code.Unauthenticated);
    const wrong = await fetch(`${baseUrl}/gantry.api.v1.ManagementService/List`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer nope" },
      body: "{}",
    });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).not.toContain(token);
  });

  it("applies documents, reports what changed, and serves them back with status", async () => {
    const first = await client().apply({ documents: [cart] });
    expect(first.changed.map((r) => `${r.kind}/${r.namespace}/${r.name}`)).toEqual(["Destination/shop/cart"]);
    const again = await client().apply({ documents: [cart] });
    expect(again.changed).toEqual([]);
    expect(again.unchanged).toHaveLength(1);
    expect(again.revision).toBe(first.revision);

    const got = await client().get({ ref: { kind: "Destination", namespace: "shop", name: "cart" } });
    expect(got.resource?.document).toEqual(cart);
    expect(got.resource?.status?.state).toBe(ResourceStatus_State.ACCEPTED);
    const listed = await client().list({ kind: "Destination" });
    expect(listed.resources.map((r) => r.ref?.name)).toEqual(["cart"]);
    await expect(client().get({ ref: { kind: "Destination", name: "nope" } })).rejects.toMatchObject({
      code: Code.NotFound,
    });
  });

  it("rejects a batch with one bad document whole, naming the document, resource and field", async () => {
    const bad: JsonObject = {
      apiVersion: "gantry/v1",
      kind: "Destination",
      metadata: { name: "broken" },
      spec: { ports: [{ number: "eighty" }], colour: "blue" },
    };
    const fine: JsonObject = { ...cart, metadata: { name: "fine" } };
    const err = ConnectError.from(
      await client()
        .apply({ documents: [fine, bad] })
        .catch((e: unknown) => e),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toContain("nothing was applied");
    expect(err.rawMessage).toMatch(/document 2.*Destination default\/broken.*spec/);
    expect(await store.get({ kind: "Destination", namespace: "default", name: "fine" })).toBeUndefined();
  });

  it("takes documents as JSON text (documents_json), checked the same way, and refuses both forms at once", async () => {
    const text: JsonObject = { ...cart, metadata: { name: "as-text", namespace: "shop" } };
    const applied = await client().apply({ documentsJson: [JSON.stringify(text)] });
    expect(applied.changed.map((r) => r.name)).toEqual(["as-text"]);
    expect(
      (await client().get({ ref: { kind: "Destination", namespace: "shop", name: "as-text" } })).resource?.document,
    ).toEqual(text);

    const bad = ConnectError.from(
      await client()
        .apply({ documentsJson: [JSON.stringify({ ...cart, metadata: { name: "t2" } }), "{not json", "[1]"] })
        .catch((e: unknown) => e),
    );
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(bad.rawMessage).toContain("nothing was applied");
    expect(bad.rawMessage).toMatch(/document 2: not valid JSON/);
    expect(bad.rawMessage).toMatch(/document 3: expected a JSON object \(one resource\), got an array/);
    expect(await store.get({ kind: "Destination", namespace: "default", name: "t2" })).toBeUndefined();

    const both = ConnectError.from(
      await client()
        .apply({ documents: [cart], documentsJson: [JSON.stringify(cart)] })
        .catch((e: unknown) => e),
    );
    expect(both.code).toBe(Code.InvalidArgument);
    expect(both.rawMessage).toMatch(/documents and documents_json/);
  });

  it("refuses with FAILED_PRECONDITION an apply over a cluster's discovered Destination, naming both", async () => {
    const theirs = { ...cart, metadata: { name: "taken", namespace: "shop" } } as unknown as ResourceDocument;
    await store.apply([storedDocument("east", theirs)]);
    const mine: JsonObject = { ...cart, metadata: { name: "taken.east", namespace: "shop" } };
    const err = ConnectError.from(
      await client()
        .apply({ documents: [mine] })
        .catch((e: unknown) => e),
    );
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toContain("Destination/shop/taken.east: the name is cluster east's Destination shop/taken");
  });

  it("dry-run validates without writing", async () => {
    const draft: JsonObject = { ...cart, metadata: { name: "draft" } };
    await client().apply({ documents: [draft], dryRun: true });
    expect(await store.get({ kind: "Destination", namespace: "default", name: "draft" })).toBeUndefined();
  });

  it("answers an apply with each resource's action, status after translation and warnings, over gRPC too", async () => {
    const route: JsonObject = {
      apiVersion: "gantry/v1",
      kind: "RouteTable",
      metadata: { name: "front", namespace: "shop" },
      spec: { http: [{ name: "all", forwardTo: { destinations: [{ destination: { name: "gone" } }] } }] },
    };
    const bad: JsonObject = {
      apiVersion: "gantry/v1",
      kind: "RetryTimeoutPolicy",
      metadata: { name: "retry", namespace: "shop" },
      spec: { applyToRoutes: [{ route: { labels: { a: "b" } } }], retry: { attempts: 2 } },
    };
    for (const [protocol, dryRun] of [
      ["grpc", true],
      ["connect", false],
    ] as const) {
      const answer = await client(true, protocol).apply({ documents: [cart, route, bad], dryRun });
      expect(answer.dryRun).toBe(dryRun);
      expect(
        answer.results.map((r) => [
          `${r.ref?.kind}/${r.ref?.namespace}/${r.ref?.name}`,
          ApplyResult_Action[r.action],
          ResourceStatus_State[r.status?.state ?? 0],
          r.rejected,
        ]),
      ).toEqual([
        ["Destination/shop/cart", "UNCHANGED", "ACCEPTED", false],
        ["RouteTable/shop/front", "CREATED", "ACCEPTED", false],
        ["RetryTimeoutPolicy/shop/retry", "CREATED", "INVALID", true],
      ]);
      expect(answer.results[1]?.warnings).toEqual([
        "spec.http[0].forwardTo.destinations[0].destination: Destination shop/gone does not exist",
      ]);
      expect(answer.results[2]?.status?.messages).toEqual(["spec.retry.retryOn: at least one condition is required"]);
      expect(answer.results[2]?.warnings).toEqual([]);
    }
    expect(await store.get({ kind: "RouteTable", namespace: "shop", name: "front" })).toBeDefined();
    await store.delete([
      { kind: "RouteTable", namespace: "shop", name: "front" },
      { kind: "RetryTimeoutPolicy", namespace: "shop", name: "retry" },
    ]);
  });

  it("streams changes to watchers, over gRPC too", async () => {
    const controller = new AbortController();
    const events: WatchEvent[] = [];
    const watching = (async () => {
      try {
        for await (const event of client(true, "grpc").watch({ kind: "Destination" }, { signal: controller.signal })) {
          events.push(event);
        }
      } catch {
        // cancelled
      }
    })();
    // The watch is registered once the server has the stream; retry the write until an event is seen.
    let attempt = 0;
    await waitFor(
      async () => {
        attempt += 1;
        await client().apply({ documents: [{ ...cart, spec: { ports: [{ number: 9000 + attempt }] } }] });
        return events.length > 0;
      },
      { what: "a watch event", intervalMs: 100 },
    );
    expect(events[0]?.upserted.map((r) => r.name)).toEqual(["cart"]);
    const deleted = await client().delete({ refs: [{ kind: "Destination", namespace: "shop", name: "cart" }] });
    expect(deleted.deleted).toHaveLength(1);
    await waitFor(() => events.some((e) => e.deleted.length === 1), { what: "the delete event" });
    controller.abort();
    await watching;
  });

  it("lists proxies with their ACKed versions and NACK errors", async () => {
    const { proxies } = await client().listProxies({});
    expect(proxies).toHaveLength(1);
    expect(proxies[0]?.nodeId).toBe("gw-1");
    expect(proxies[0]?.types[0]).toMatchObject({ ackedVersion: "abc", lastNackError: "bad cluster" });
  });

  it("describes a stored resource: the document with its status, and what the server computed for it", async () => {
    const orders: JsonObject = { ...cart, metadata: { name: "orders", namespace: "shop" } };
    await client().apply({ documents: [orders] });
    const described = await client().describe({ ref: { kind: "Destination", namespace: "shop", name: "orders" } });
    expect(described.resource?.document).toEqual(orders);
    expect(described.publishedRevision).toBe(7n);
    expect(described.gateways.map((g) => g.name)).toEqual(["gw-of-Destination-orders"]);
    expect(described.servedBy.map((p) => [p.nodeId, p.role, p.acked])).toEqual([["gw-1", "proxy", true]]);
  });

  it("answers NOT_FOUND for an unknown kind or name, naming them, and INVALID_ARGUMENT without a name", async () => {
    const missing = ConnectError.from(
      await client()
        .describe({ ref: { kind: "Destination", namespace: "shop", name: "nope" } })
        .catch((e: unknown) => e),
    );
    expect(missing.code).toBe(Code.NotFound);
    expect(missing.rawMessage).toBe("Destination shop/nope not found");
    const kind = ConnectError.from(
      await client()
        .describe({ ref: { kind: "Widget", name: "w" } })
        .catch((e: unknown) => e),
    );
    expect(kind.code).toBe(Code.NotFound);
    expect(kind.rawMessage).toMatch(/^unknown kind "Widget" \(known: Gateway, RouteTable/);
    const noName = ConnectError.from(
      await client()
        .describe({ ref: { kind: "Gateway" } })
        .catch((e: unknown) => e),
    );
    expect(noName.code).toBe(Code.InvalidArgument);
    expect(noName.rawMessage).toBe("ref.name is required");
  });

  it("answers plain Connect JSON over HTTP/1.1 (curl-friendly)", async () => {
    const response = await fetch(`${baseUrl}/gantry.api.v1.ManagementService/List`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ kind: "Destination" }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toHaveProperty("revision");
  });

  it("will not start without a token unless told it is insecure", async () => {
    const deps = {
      store,
      desired: new DesiredState(store),
      status: () => undefined,
      proxies: () => [],
      describe: describedAs,
    };
    await expect(startManagementApi({ host: "127.0.0.1", port: 0, token: undefined, deps })).rejects.toThrow(
      /needs a token/,
    );
    await expect(startManagementApi({ host: "127.0.0.1", port: 0, token: "short", deps })).rejects.toThrow(
      /at least 16/,
    );
    const open = await startManagementApi({ host: "127.0.0.1", port: 0, token: undefined, insecure: true, deps });
    try {
      const c = createClient(
        ManagementService,
        createConnectTransport({ baseUrl: `http://127.0.0.1:${open.port}`, httpVersion: "1.1" }),
      );
      expect((await c.list({})).revision).toBeGreaterThan(0n);
    } finally {
      await open.close();
    }
  });
});
