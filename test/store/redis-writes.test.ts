import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedis, type RedisClient } from "../../src/lib/redis.js";
import { RedisStore, type ResourceDocument, type StoreChange, StoreError } from "../../src/store/index.js";
import {
  applyScript,
  parseOutcome,
  RedisClockEstimate,
  resolveScript,
  writeRecordTtlMs,
} from "../../src/store/redis-writes.js";
import { haveRedis, type RedisServer, startRedis } from "../support/redis.js";
import { waitFor } from "../support/wait.js";

function doc(name: string, port: number): ResourceDocument {
  return { apiVersion: "gantry/v1", kind: "Gateway", metadata: { name }, spec: { listeners: [{ port }] } };
}
const key = (name: string) => ({ kind: "Gateway", namespace: "default", name });

describe("RedisClockEstimate", () => {
  it("places the offset mid-way through the round trip and fences on Redis' clock", () => {
    // Sent at 1,000, answered at 1,040 (our clock); Redis said 5,020.
    const estimate = new RedisClockEstimate(1_000, 1_040, 5_020);
    expect(estimate.offsetMs).toBe(4_000);
    expect(estimate.uncertaintyMs).toBe(21);
    expect(estimate.fence(2_000, 300)).toBe(6_300);
    // Redis' clock is surely past 6,300 once ours is past 2,300 plus the uncertainty.
    expect(estimate.surelyPast(6_300)).toBe(2_322);
  });

  it("reads outcomes, empty field lists included (cjson writes them as {})", () => {
    expect(parseOutcome("refused")).toEqual({ kind: "refused" });
    expect(parseOutcome('{"revision":7,"fields":{}}')).toEqual({ kind: "done", revision: 7, fields: [] });
    expect(parseOutcome('{"revision":8,"fields":["Gateway/default/a"]}')).toEqual({
      kind: "done",
      revision: 8,
      fields: ["Gateway/default/a"],
    });
  });
});

describe.skipIf(!haveRedis())("writes to the management Redis are truthful", () => {
  let redis: RedisServer;
  let raw: RedisClient;
  beforeAll(async () => {
    redis = await startRedis();
    raw = createRedis({ url: redis.url, connectionName: "test-raw" });
  });
  afterAll(async () => {
    raw.disconnect();
    await redis.close();
  });

  const open = async (prefix: string) => {
    const store = new RedisStore({ url: redis.url, prefix, commandTimeoutMs: 300 });
    await store.ready();
    return store;
  };
  const keys = (prefix: string, id: string) => [
    `${prefix}docs`,
    `${prefix}revs`,
    `${prefix}revision`,
    `${prefix}write:${id}`,
  ];
  const farFence = () => Date.now() + 3_600_000;

  it("a write and its resolution agree, whichever runs first", async () => {
    const prefix = "{order}:";
    // Resolved first: the write, arriving later, refuses and changes nothing.
    expect(await raw.eval(resolveScript, 1, `${prefix}write:late`, writeRecordTtlMs)).toBe("refused");
    const [late] = (await raw.eval(
      applyScript,
      4,
      ...keys(prefix, "late"),
      `${prefix}events`,
      farFence(),
      60_000,
      "Gateway/default/a",
      "{}",
    )) as [string];
    expect(late).toBe("refused");
    expect(await raw.hgetall(`${prefix}docs`)).toEqual({});
    // Written first: the resolution reads the outcome back; a replay of the write answers the same.
    const args = [`${prefix}events`, farFence(), 60_000, "Gateway/default/a", "{}"];
    const [first] = (await raw.eval(applyScript, 4, ...keys(prefix, "early"), ...args)) as [string];
    expect(parseOutcome(first)).toEqual({ kind: "done", revision: 1, fields: ["Gateway/default/a"] });
    expect(await raw.eval(resolveScript, 1, `${prefix}write:early`, writeRecordTtlMs)).toBe(first);
    const [replayed] = (await raw.eval(applyScript, 4, ...keys(prefix, "early"), ...args)) as [string];
    expect(replayed).toBe(first);
    expect(await raw.get(`${prefix}revision`)).toBe("1");
  });

  it("a write that reaches Redis after its fence refuses", async () => {
    const prefix = "{fence}:";
    const past = Date.now() - 60_000;
    const [outcome] = (await raw.eval(
      applyScript,
      4,
      ...keys(prefix, "w"),
      `${prefix}events`,
      past,
      60_000,
      "Gateway/default/a",
      "{}",
    )) as [string];
    expect(outcome).toBe("refused");
    expect(await raw.exists(`${prefix}docs`, `${prefix}revision`)).toBe(0);
  });

  it("with Redis hung past the deadline, apply reports failure, and nothing changes when Redis resumes", async () => {
    const prefix = "{hung}:";
    const store = await open(prefix);
    const changes: StoreChange[] = [];
    store.watch((change) => changes.push(change));
    try {
      const before = await store.apply([doc("edge", 80)]);
      redis.pause();
      const started = Date.now();
      let failure: unknown;
      try {
        failure = await store.apply([doc("edge", 81), doc("new", 82)]).catch((err: unknown) => err);
      } finally {
        redis.resume();
      }
      expect(failure).toBeInstanceOf(StoreError);
      expect((failure as Error).message).toMatch(
        /^store apply failed: management Redis at redis:\/\/127\.0\.0\.1:\d+ .*nothing was changed/,
      );
      // About twice the 300 ms deadline; the slack is for a busy machine, far below "hangs".
      expect(Date.now() - started).toBeLessThan(2_500);
      // Redis now runs what it was sent while frozen; a read on the same connection is answered after it.
      expect(await store.get(key("new"))).toBeUndefined();
      expect((await store.get(key("edge")))?.document).toEqual(doc("edge", 80));
      expect((await store.snapshot()).revision).toBe(before.revision);
      expect(changes.filter((c) => c.kind === "changed" && c.revision > before.revision)).toEqual([]);
      // And the store goes on: the next write is stored and announced.
      const after = await store.apply([doc("new", 83)]);
      expect(after.revision).toBe(before.revision + 1);
      await waitFor(() => changes.some((c) => c.revision === after.revision), { what: "the next write's event" });
    } finally {
      await store.close();
    }
  });

  it("with Redis hung for less than the deadline, apply waits and reports success: stored and announced", async () => {
    const prefix = "{blip}:";
    const store = await open(prefix);
    const changes: StoreChange[] = [];
    store.watch((change) => changes.push(change));
    try {
      redis.pause();
      // The fault is scheduled, not waited for: Redis thaws 100 ms into a 300 ms deadline.
      const thaw = setTimeout(() => redis.resume(), 100);
      let result: Awaited<ReturnType<RedisStore["apply"]>>;
      try {
        result = await store.apply([doc("blip", 90)]);
      } finally {
        clearTimeout(thaw);
        redis.resume();
      }
      expect(result.changed).toEqual([key("blip")]);
      expect((await store.get(key("blip")))?.revision).toBe(result.revision);
      await waitFor(() => changes.some((c) => c.revision === result.revision), { what: "the write's event" });
    } finally {
      await store.close();
    }
  });

  it("a delete while Redis is hung is truthful too", async () => {
    const prefix = "{del}:";
    const store = await open(prefix);
    try {
      await store.apply([doc("keep", 70)]);
      redis.pause();
      let failure: unknown;
      try {
        failure = await store.delete([key("keep")]).catch((err: unknown) => err);
      } finally {
        redis.resume();
      }
      expect((failure as Error).message).toMatch(/^store delete failed: .*nothing was changed/);
      expect(await store.get(key("keep"))).toBeDefined();
    } finally {
      await store.close();
    }
  });

  it("ping fails within the deadline while Redis is hung, and passes once it resumes", async () => {
    const store = await open("{ping}:");
    try {
      redis.pause();
      try {
        await expect(store.ping()).rejects.toThrow(/store ping failed: .*300 ms/);
      } finally {
        redis.resume();
      }
      await store.ping();
    } finally {
      await store.close();
    }
  });
});
