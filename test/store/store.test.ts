import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/lib/clock.js";
import { createRedis } from "../../src/lib/redis.js";
import {
  MemoryStore,
  RedisStore,
  type ResourceDocument,
  type ResourceStore,
  type StoreChange,
  StoreError,
} from "../../src/store/index.js";
import { freePort } from "../support/ports.js";
import { haveRedis, type RedisCluster, type RedisServer, startRedis, startRedisCluster } from "../support/redis.js";
import { waitFor } from "../support/wait.js";

function doc(kind: string, name: string, spec: unknown, namespace?: string): ResourceDocument {
  return { apiVersion: "gantry/v1", kind, metadata: { name, ...(namespace ? { namespace } : {}) }, spec };
}

/** The contract every store keeps; run against each implementation. */
function contract(name: string, open: () => Promise<ResourceStore>, dispose: () => Promise<void> = async () => {}) {
  describe(`${name}: the ResourceStore contract`, () => {
    let store: ResourceStore;
    const changes: StoreChange[] = [];

    beforeAll(async () => {
      store = await open();
      store.watch((change) => changes.push(change));
    });

    afterAll(async () => {
      await store.close();
      await dispose();
    });

    it("applies a batch, numbers it with one revision, and tells watchers", async () => {
      const before = (await store.snapshot()).revision;
      const result = await store.apply([
        doc("RouteTable", "shop", { hosts: ["shop.example"] }),
        doc("Destination", "cart", { ports: [8080] }, "team-a"),
      ]);
      expect(result.revision).toBe(before + 1);
      expect(result.changed.map((k) => `${k.kind}/${k.namespace}/${k.name}`).sort()).toEqual([
        "Destination/team-a/cart",
        "RouteTable/default/shop",
      ]);
      const got = await store.get({ kind: "RouteTable", namespace: "default", name: "shop" });
      expect(got?.document.spec).toEqual({ hosts: ["shop.example"] });
      expect(got?.revision).toBe(result.revision);
      await waitFor(() => changes.some((c) => c.revision === result.revision), { what: "the watch event" });
      const change = changes.find((c) => c.revision === result.revision);
      expect(change?.kind === "changed" && change.upserted).toHaveLength(2);
    });

    it("leaves identical documents alone: no new revision, no event", async () => {
      const { revision } = await store.snapshot();
      const eventsBefore = changes.length;
      const result = await store.apply([doc("RouteTable", "shop", { hosts: ["shop.example"] })]);
      expect(result).toEqual({ revision, changed: [] });
      // Key order does not make a document different.
      const reordered: ResourceDocument = {
        spec: { hosts: ["shop.example"] },
        metadata: { name: "shop" },
        kind: "RouteTable",
        apiVersion: "gantry/v1",
      };
      expect((await store.apply([reordered])).changed).toEqual([]);
      // A later write's event arrives; no event came for the no-op in between.
      const next = await store.apply([doc("RouteTable", "other", {})]);
      await waitFor(() => changes.some((c) => c.revision === next.revision), { what: "the next event" });
      expect(changes.slice(eventsBefore).map((c) => c.revision)).toEqual([next.revision]);
    });

    it("rejects a bad batch whole: nothing is written", async () => {
      const { revision } = await store.snapshot();
      await expect(store.apply([doc("RouteTable", "fine", {}), doc("RouteTable", "Not_Valid", {})])).rejects.toThrow(
        /document 2 \(RouteTable\): metadata.name "Not_Valid"/,
      );
      await expect(store.apply([doc("Route/Table", "slash", {})])).rejects.toThrow(
        /document 1: kind "Route\/Table" must not contain '\/'/,
      );
      await expect(store.apply([doc("RouteTable", "twice", {}), doc("RouteTable", "twice", {})])).rejects.toThrow(
        /RouteTable\/default\/twice appears twice/,
      );
      expect(await store.get({ kind: "RouteTable", namespace: "default", name: "fine" })).toBeUndefined();
      expect((await store.snapshot()).revision).toBe(revision);
    });

    it("lists sorted and filtered, and deletes only what exists", async () => {
      const all = await store.list();
      const names = all.map((r) => `${r.key.kind}/${r.key.namespace}/${r.key.name}`);
      expect(names).toEqual([...names].sort());
      expect((await store.list({ kind: "Destination" })).map((r) => r.key.name)).toEqual(["cart"]);
      expect(await store.list({ kind: "Destination", namespace: "default" })).toEqual([]);

      const result = await store.delete([
        { kind: "RouteTable", namespace: "default", name: "other" },
        { kind: "RouteTable", namespace: "default", name: "never-existed" },
      ]);
      expect(result.changed).toEqual([{ kind: "RouteTable", namespace: "default", name: "other" }]);
      await waitFor(
        () => changes.some((c) => c.kind === "changed" && c.revision === result.revision && c.deleted.length === 1),
        { what: "the delete event" },
      );
      const nothing = await store.delete([{ kind: "RouteTable", namespace: "default", name: "never-existed" }]);
      expect(nothing).toEqual({ revision: result.revision, changed: [] });
    });

    it("keys a resource by kind, namespace and name, whatever characters the name rule allows", async () => {
      const odd = { kind: "Destination", namespace: "team-1.eu", name: "0.api-v2.example" };
      const result = await store.apply([doc(odd.kind, odd.name, {}, odd.namespace)]);
      expect(result.changed).toEqual([odd]);
      expect((await store.get(odd))?.key).toEqual(odd);
      expect((await store.snapshot()).resources.map((r) => r.key)).toContainEqual(odd);
      await waitFor(
        () => changes.some((c) => c.kind === "changed" && c.revision === result.revision && c.upserted.length === 1),
        { what: "the write's event" },
      );
      const event = changes.find((c) => c.revision === result.revision);
      expect(event?.kind === "changed" && event.upserted).toEqual([odd]);
      expect((await store.delete([odd])).changed).toEqual([odd]);
    });

    it("returns copies: changing what it returned does not change the store", async () => {
      const got = await store.get({ kind: "RouteTable", namespace: "default", name: "shop" });
      expect(got).toBeDefined();
      (got as { document: { spec: { hosts: string[] } } }).document.spec.hosts.push("evil.example");
      const again = await store.get({ kind: "RouteTable", namespace: "default", name: "shop" });
      expect(again?.document.spec).toEqual({ hosts: ["shop.example"] });
    });
  });
}

contract("MemoryStore", async () => new MemoryStore());

describe("RedisStore.ready", () => {
  it("gives up once its clock passes the timeout, at the first look after it", async () => {
    const clock = new ManualClock(0);
    const store = new RedisStore({ url: `redis://127.0.0.1:${await freePort()}`, clock });
    try {
      let outcome = "waiting";
      const ready = store.ready(100).then(
        () => "ready",
        (err: Error) => err.message,
      );
      void ready.then((o) => {
        outcome = o;
      });
      const turn = () => new Promise((resolve) => setImmediate(resolve));
      // It looks every 20 ms: at 100 ms it is not yet past the deadline...
      for (let t = 0; t < 5; t++) {
        clock.advance(20);
        await turn();
      }
      expect(outcome).toBe("waiting");
      // ...at 120 ms it is.
      clock.advance(20);
      expect(await ready).toMatch(/^management Redis at redis:\/\/127\.0\.0\.1:\d+ not ready after 100 ms$/);
    } finally {
      await store.close();
    }
  });
});

describe.skipIf(!haveRedis())("RedisStore", () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.close();
  });

  const openOn = async (url: string) => {
    const store = new RedisStore({ url, commandTimeoutMs: 300 });
    await store.ready();
    return store;
  };

  contract("RedisStore (single node)", () => openOn(redis.url));

  it("two replicas on one Redis see each other's writes, and the same content", async () => {
    const a = await openOn(redis.url);
    const b = await openOn(redis.url);
    try {
      const seenByB: StoreChange[] = [];
      b.watch((change) => seenByB.push(change));
      const result = await a.apply([doc("Gateway", "edge", { listeners: [{ port: 8080 }] })]);
      await waitFor(() => seenByB.some((c) => c.revision === result.revision), { what: "replica b to see the write" });
      expect(await b.get({ kind: "Gateway", namespace: "default", name: "edge" })).toEqual(
        await a.get({ kind: "Gateway", namespace: "default", name: "edge" }),
      );
      expect(await b.snapshot()).toEqual(await a.snapshot());
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("refuses to read a field that is not a key, and resyncs watchers on an event it cannot read", async () => {
    const prefix = "{foreign}:";
    const store = new RedisStore({ url: redis.url, prefix, commandTimeoutMs: 300 });
    await store.ready();
    const raw = createRedis({ url: redis.url, connectionName: "test-foreign-writer" });
    const seen: StoreChange[] = [];
    store.watch((change) => seen.push(change));
    try {
      await raw.publish(`${prefix}events`, JSON.stringify({ revision: 9, upserted: ["Gateway/edge"], deleted: [] }));
      await waitFor(() => seen.some((c) => c.kind === "resync"), { what: "a resync" });
      expect(seen.filter((c) => c.kind === "changed")).toEqual([]);
      await raw.hset(`${prefix}docs`, "Gateway/edge", JSON.stringify(doc("Gateway", "edge", {})));
      await expect(store.snapshot()).rejects.toThrow(
        new StoreError(
          `management Redis at ${redis.url}: malformed resource key "Gateway/edge": expected Kind/namespace/name in ${prefix}docs`,
        ),
      );
    } finally {
      raw.disconnect();
      await store.close();
    }
  });

  it("with Redis down, a write fails within its bound with a clear error; after it returns, watchers resync", async () => {
    const store = await openOn(redis.url);
    const seen: StoreChange[] = [];
    store.watch((change) => seen.push(change));
    try {
      await redis.stop();
      const started = Date.now();
      const failure = await store.apply([doc("Gateway", "while-down", {})]).catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(StoreError);
      expect((failure as Error).message).toMatch(/store apply failed: management Redis at redis:\/\/127\.0\.0\.1:\d+/);
      expect(Date.now() - started).toBeLessThan(1_500);
      await redis.start();
      await waitFor(() => seen.some((c) => c.kind === "resync"), {
        timeoutMs: 15_000,
        what: "a resync after reconnect",
      });
      const result = await store.apply([doc("Gateway", "after", {})]);
      expect(result.changed).toHaveLength(1);
    } finally {
      await store.close();
    }
  });
});

describe.skipIf(!haveRedis())("RedisStore on a 3-master Redis Cluster", () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster(3);
  });
  afterAll(async () => {
    await cluster.close();
  });

  contract("RedisStore (cluster)", async () => {
    const store = new RedisStore({ url: cluster.url });
    await store.ready(10_000);
    return store;
  });
});
