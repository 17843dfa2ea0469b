import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/lib/clock.js";
import { DeadlineError } from "../../src/lib/deadline.js";
import { createRedis, parseRedisUrl, type RedisClient, waitForRedis } from "../../src/lib/redis.js";
import { pingRedis } from "../../src/lib/redis-probe.js";
import { freePort } from "../support/ports.js";
import { haveRedis, type RedisCluster, type RedisServer, startRedis, startRedisCluster } from "../support/redis.js";

describe("parseRedisUrl", () => {
  it("reads single-node URLs with credentials, database and TLS", () => {
    expect(parseRedisUrl("redis://127.0.0.1:6380/2")).toEqual({
      kind: "single",
      node: { host: "127.0.0.1", port: 6380 },
      db: 2,
      tls: false,
    });
    expect(parseRedisUrl("rediss://user:p%40ss@cache.example:6379")).toEqual({
      kind: "single",
      node: { host: "cache.example", port: 6379 },
      db: 0,
      tls: true,
      username: "user",
      password: "p@ss",
    });
    expect(parseRedisUrl("redis://:secret@localhost")).toMatchObject({ password: "secret", node: { port: 6379 } });
  });

  it("reads Sentinel and Cluster URLs", () => {
    expect(parseRedisUrl("redis+sentinel://s1:26379,s2:26380/mymaster/1")).toEqual({
      kind: "sentinel",
      sentinels: [
        { host: "s1", port: 26379 },
        { host: "s2", port: 26380 },
      ],
      masterName: "mymaster",
      db: 1,
      tls: false,
    });
    expect(parseRedisUrl("redis+cluster://a:7000,b:7001")).toEqual({
      kind: "cluster",
      nodes: [
        { host: "a", port: 7000 },
        { host: "b", port: 7001 },
      ],
      tls: false,
    });
  });

  it("rejects bad URLs with the problem named and the password hidden", () => {
    expect(() => parseRedisUrl("http://x")).toThrow(/unknown scheme "http"/);
    expect(() => parseRedisUrl("redis://:hunter2@a:99999")).toThrow(/port 99999 is out of range/);
    expect(() => parseRedisUrl("redis://:hunter2@a:99999")).not.toThrow(/hunter2/);
    expect(() => parseRedisUrl("redis+sentinel://a:1")).toThrow(/master name/);
    expect(() => parseRedisUrl("redis+cluster://a:1/0")).toThrow(/no path/);
    expect(() => parseRedisUrl("redis://a/x")).toThrow(/database "x" is not a number/);
    expect(() => parseRedisUrl("redis://a,b")).toThrow(/one host/);
  });
});

describe("waitForRedis", () => {
  it("gives up exactly when the timeout passes on its clock", async () => {
    const client = createRedis({ url: `redis://127.0.0.1:${await freePort()}`, connectTimeoutMs: 50 });
    const clock = new ManualClock(0);
    try {
      let outcome = "waiting";
      const waited = waitForRedis(client, 500, clock).then(
        () => "ready",
        (err: Error) => err.message,
      );
      void waited.then((o) => {
        outcome = o;
      });
      clock.advance(499);
      await new Promise((resolve) => setImmediate(resolve));
      expect(outcome).toBe("waiting");
      clock.advance(1);
      expect(await waited).toBe("redis not ready after 500 ms");
    } finally {
      client.disconnect();
    }
  });
});

describe.skipIf(!haveRedis())("createRedis against a real redis-server", () => {
  let server: RedisServer;
  let client: RedisClient;

  beforeAll(async () => {
    server = await startRedis();
    client = createRedis({ url: server.url, commandTimeoutMs: 200, keyPrefix: "t:" });
    await waitForRedis(client);
  });

  afterAll(async () => {
    client.disconnect();
    await server.close();
  });

  it("reads and writes, with the key prefix applied", async () => {
    await client.set("greeting", "hello");
    expect(await client.get("greeting")).toBe("hello");
    expect(await server.cli("GET", "t:greeting")).toBe("hello");
  });

  it("fails a command within its timeout while Redis is down, and heals when it returns", async () => {
    await server.stop();
    const started = Date.now();
    await expect(client.get("greeting")).rejects.toThrow();
    // The bound is the command timeout (200 ms); allow scheduling slack on a busy machine.
    expect(Date.now() - started).toBeLessThan(1_000);
    await server.start();
    await waitForRedis(client, 10_000);
    await client.set("back", "yes");
    expect(await client.get("back")).toBe("yes");
  });

  it("bounds commands and PING while Redis hangs (SIGSTOP), and answers again once it resumes", async () => {
    await waitForRedis(client, 10_000);
    await pingRedis(client, 200);
    server.pause();
    try {
      const started = Date.now();
      await expect(client.get("greeting")).rejects.toThrow(/timed out/i);
      await expect(pingRedis(client, 100)).rejects.toThrow(DeadlineError);
      // Both bounds are ≤ 200 ms; the slack is for a busy machine, far below "hangs".
      expect(Date.now() - started).toBeLessThan(1_500);
    } finally {
      server.resume();
    }
    await pingRedis(client, 1_000);
  });
});

describe.skipIf(!haveRedis())("createRedis against a real 3-master Redis Cluster", () => {
  let cluster: RedisCluster;
  let client: RedisClient;

  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    client = createRedis({ url: cluster.url });
    await waitForRedis(client, 10_000);
  });

  afterAll(async () => {
    client.disconnect();
    await cluster.close();
  });

  it("spreads keys over the masters and reads them back", async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `key-${i}`);
    for (const key of keys) await client.set(key, key.toUpperCase());
    for (const key of keys) expect(await client.get(key)).toBe(key.toUpperCase());
    expect(cluster.nodes).toHaveLength(3);
  });

  it("runs multi-key commands when keys share a hash slot", async () => {
    await client.mset("{user:1}:a", "1", "{user:1}:b", "2");
    expect(await client.mget("{user:1}:a", "{user:1}:b")).toEqual(["1", "2"]);
  });
});
