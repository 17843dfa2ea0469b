import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisSessionStore } from "../../../src/extauth/sessions/index.js";
import { createRedis, type RedisClient, waitForRedis } from "../../../src/lib/index.js";
import { haveRedis, type RedisCluster, type RedisServer, startRedis, startRedisCluster } from "../../support/redis.js";
import { waitFor } from "../../support/wait.js";

describe.skipIf(!haveRedis())("RedisSessionStore", () => {
  let server: RedisServer;
  let redis: RedisClient;

  beforeAll(async () => {
    server = await startRedis();
    redis = createRedis({ url: server.url, commandTimeoutMs: 300 });
    await waitForRedis(redis);
  });

  afterAll(async () => {
    redis?.disconnect();
    await server?.close();
  });

  it("keeps the value under the hash of a random id, with the TTL asked for", async () => {
    const store = new RedisSessionStore(redis, "t1:");
    const id = await store.set(undefined, "value", 90_000);
    expect(id).toMatch(/^[\w-]{43}$/);
    const key = `t1:${createHash("sha256").update(id).digest("base64url")}`;
    expect(await redis.get(key)).toBe("value");
    expect(await redis.pttl(key)).toBeGreaterThan(89_000);
    expect(await redis.keys(`*${id}*`)).toEqual([]);
    expect(await store.get(id)).toBe("value");
  });

  it("rewrites in place with the new TTL, and deletes", async () => {
    const store = new RedisSessionStore(redis, "t2:");
    const id = await store.set(undefined, "one", 90_000);
    expect(await store.set(id, "two", 5_000)).toBe(id);
    expect(await store.get(id)).toBe("two");
    const [key = ""] = await redis.keys("t2:*");
    expect(await redis.pttl(key)).toBeLessThanOrEqual(5_000);
    await store.delete(id);
    expect(await store.get(id)).toBeUndefined();
  });

  it("grants one claim at a time, released only by its holder, and lapsing after its TTL", async () => {
    const store = new RedisSessionStore(redis, "t4:");
    const id = await store.set(undefined, "v", 90_000);
    const release = await store.claim(id, 60_000);
    expect(release).toBeInstanceOf(Function);
    expect(await store.claim(id, 60_000)).toBe(false);
    if (release) await release();
    const again = await store.claim(id, 60_000);
    expect(again).toBeInstanceOf(Function);
    const [claimKey = ""] = await redis.keys("t4:*:claim");
    expect(await redis.pttl(claimKey)).toBeGreaterThan(59_000);
    // A lapsed claim taken over by someone else is not released by the first holder.
    await redis.del(claimKey);
    const other = await store.claim(id, 60_000);
    if (again) await again();
    expect(await store.claim(id, 60_000)).toBe(false);
    if (other) await other();
    const short = await store.claim(id, 1);
    expect(short).toBeInstanceOf(Function);
    await waitFor(async () => (await redis.exists(claimKey)) === 0, { what: "the claim to lapse" });
    expect(await store.claim(id, 60_000)).toBeInstanceOf(Function);
  });

  it("lets Redis failures reach the caller", async () => {
    const broken = createRedis({ url: "redis://127.0.0.1:9", commandTimeoutMs: 100, connectTimeoutMs: 100 });
    try {
      await expect(new RedisSessionStore(broken, "t3:").get("id")).rejects.toThrow();
    } finally {
      broken.disconnect();
    }
  });
});

describe.skipIf(!haveRedis())("RedisSessionStore on Redis Cluster", () => {
  let cluster: RedisCluster;
  let redis: RedisClient;

  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    redis = createRedis({ url: cluster.url, commandTimeoutMs: 1_000 });
    await waitForRedis(redis, 10_000);
  });

  afterAll(async () => {
    redis?.disconnect();
    await cluster?.close();
  });

  it("stores, claims and deletes sessions spread over the slots", async () => {
    const store = new RedisSessionStore(redis, "oidc:session:");
    const ids = await Promise.all(Array.from({ length: 12 }, (_, i) => store.set(undefined, `v${i}`, 60_000)));
    expect(await Promise.all(ids.map((id) => store.get(id)))).toEqual(ids.map((_, i) => `v${i}`));
    const releases = await Promise.all(ids.map((id) => store.claim(id, 10_000)));
    expect(releases.every((release) => release !== false)).toBe(true);
    for (const release of releases) if (release) await release();
    await Promise.all(ids.map((id) => store.delete(id)));
    expect(await Promise.all(ids.map((id) => store.get(id)))).toEqual(ids.map(() => undefined));
  });
});
