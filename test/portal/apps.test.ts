// Apps and keys as two portal replicas sharing the ext-auth Redis change them: no change is lost.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listApiKeys } from "../../src/extauth/index.js";
import { createRedis, ManualClock, type RedisClient } from "../../src/lib/index.js";
import { AppStore } from "../../src/portal/index.js";
import { haveRedis, type RedisServer, startRedis } from "../support/redis.js";

describe.skipIf(!haveRedis())("apps shared by portal replicas", () => {
  let server: RedisServer;
  let redis: [RedisClient, RedisClient];
  const clock = new ManualClock(Date.parse("2026-01-01T00:00:00Z"));

  beforeAll(async () => {
    server = await startRedis();
    redis = [createRedis({ url: server.url }), createRedis({ url: server.url })];
  });

  afterAll(async () => {
    for (const client of redis ?? []) client.disconnect();
    await server?.close();
  });

  const newApp = (store: AppStore) =>
    store.create({
      name: "app",
      owner: "alice",
      ownerEmail: "alice@example.test",
      product: "ns/pets",
      plan: "ns/free",
      approvalRequired: false,
    });

  it("keeps every key two replicas make for one app at the same time, and each one works", async () => {
    const [a, b] = [new AppStore(redis[0], clock), new AppStore(redis[1], clock)];
    const app = await newApp(a);
    const made = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? a : b).createKey(app.id).then((r) => r.key.id)),
    );
    const listed = (await b.get(app.id))?.keys.map((k) => k.id).sort();
    expect(listed).toEqual([...made].sort());
    // No key is left in ext-auth that its app does not list (a lost race revokes the key it made).
    const inExtAuth = (await listApiKeys(redis[0])).filter((k) => k.metadata["app"] === app.id).map((k) => k.id);
    expect(inExtAuth.sort()).toEqual([...made].sort());
  });

  it("revokes on one replica while the other rotates, and deletes with every key revoked", async () => {
    const [a, b] = [new AppStore(redis[0], clock), new AppStore(redis[1], clock)];
    const app = await newApp(a);
    const first = await a.createKey(app.id);
    const second = await b.createKey(app.id);
    const [rotated] = await Promise.all([
      a.rotateKey(app.id, first.key.id, 60_000),
      b.revokeKey(app.id, second.key.id),
    ]);
    const keys = (await a.get(app.id))?.keys ?? [];
    expect(keys.map((k) => k.id).sort()).toEqual([first.key.id, rotated.key.id].sort());
    expect(keys.find((k) => k.id === first.key.id)?.expiresAt).toBe(new Date(clock.now() + 60_000).toISOString());
    await b.delete(app.id);
    expect(await a.get(app.id)).toBeUndefined();
    expect((await listApiKeys(redis[0])).filter((k) => k.metadata["app"] === app.id)).toEqual([]);
  });
});
