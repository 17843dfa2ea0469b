import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Finding,
  InsightBook,
  type InsightHistory,
  MemoryInsightHistory,
  RedisInsightHistory,
  registerInsightMetric,
} from "../../src/insights/index.js";
import { createRedis, ManualClock, Registry } from "../../src/lib/index.js";
import { haveRedis, type RedisServer, startRedis } from "../support/redis.js";

const route = { kind: "RouteTable", namespace: "shop", name: "web" };

function shadowed(subject: string): Finding {
  return { code: "GTY0103", targets: [route], subject, args: { route: subject, by: "shop/web/all" }, evidence: {} };
}

function nack(node: string): Finding {
  return {
    code: "GTY0203",
    targets: [{ kind: "Proxy", namespace: "", name: node }],
    args: { node, type: "Cluster", resources: "c", error: "boom" },
    evidence: { error: "boom" },
  };
}

describe("InsightBook", () => {
  it("tells subscribers when an insight appears or resolves or a silence changes, not on the same findings again", async () => {
    const clock = new ManualClock(1_000);
    const book = new InsightBook(clock, new MemoryInsightHistory(clock));
    let told = 0;
    const unsubscribe = book.subscribe(() => {
      told += 1;
    });
    book.report("proxies", [nack("n1")]);
    expect(told).toBe(1);
    book.report("proxies", [nack("n1")]);
    expect(told).toBe(1);
    book.report("proxies", []);
    expect(told).toBe(2);
    await book.silence({ code: "GTY0203", createdAt: 1_000, reason: "" });
    expect(told).toBe(3);
    unsubscribe();
    book.report("proxies", [nack("n2")]);
    expect(told).toBe(3);
  });

  it("keeps first seen, moves last seen, and resolves what a source no longer reports", async () => {
    const clock = new ManualClock(1_000);
    const book = new InsightBook(clock, new MemoryInsightHistory(clock));
    book.report("config", [shadowed("shop/web/a")]);
    clock.advance(500);
    book.report("config", [shadowed("shop/web/a"), shadowed("shop/web/b")]);
    book.report("proxies", [nack("n1")]);
    const active = book.active();
    // Worst first: the ERROR NACK, then the two warnings by id.
    expect(active.map((i) => [i.code, i.subject, i.firstSeen, i.lastSeen])).toEqual([
      ["GTY0203", "", 1_500, 1_500],
      ["GTY0103", "shop/web/a", 1_000, 1_500],
      ["GTY0103", "shop/web/b", 1_500, 1_500],
    ]);
    expect(active[1]?.summary).toBe(
      "route shop/web/a is never reached: shop/web/all matches every request it would match",
    );
    clock.advance(100);
    book.report("config", [shadowed("shop/web/b")]);
    await book.flushed();
    expect(book.active().map((i) => i.subject)).toEqual(["", "shop/web/b"]);
    const history = await book.history.list();
    expect(history.map((i) => [i.subject, i.firstSeen, i.resolvedAt])).toEqual([["shop/web/a", 1_000, 1_600]]);
  });

  it("silences by code, or by code and target, and the metric leaves silenced ones out", async () => {
    const clock = new ManualClock(0);
    const book = new InsightBook(clock, new MemoryInsightHistory(clock));
    const registry = new Registry();
    registerInsightMetric(registry, book);
    book.report("proxies", [nack("n1"), nack("n2")]);
    book.report("config", [shadowed("shop/web/a")]);
    const series = async () =>
      (await registry.getSingleMetric("gantry_insight")?.get())?.values.map(
        (v) => `${v.labels["code"]} ${v.labels["target_name"]} ${v.value}`,
      ) ?? [];
    expect((await series()).sort()).toEqual(["GTY0103 web 1", "GTY0203 n1 1", "GTY0203 n2 1"]);
    await book.silence({
      code: "GTY0203",
      target: { kind: "Proxy", namespace: "", name: "n1" },
      createdAt: 0,
      reason: "",
    });
    expect((await series()).sort()).toEqual(["GTY0103 web 1", "GTY0203 n2 1"]);
    await book.silence({ code: "GTY0103", createdAt: 0, reason: "known" });
    expect(await series()).toEqual(["GTY0203 n2 1"]);
    expect(await book.unsilence("GTY0103", undefined)).toBe(true);
    expect(await book.unsilence("GTY0103", undefined)).toBe(false);
    expect((await series()).sort()).toEqual(["GTY0103 web 1", "GTY0203 n2 1"]);
    await expect(book.silence({ code: "GTY9999", createdAt: 0, reason: "" })).rejects.toThrow(
      /unknown insight code GTY9999/,
    );
  });

  it("the metric keeps its series bounded: past the cap, targets fold into one series per code", async () => {
    const clock = new ManualClock(0);
    const book = new InsightBook(clock, new MemoryInsightHistory(clock));
    const registry = new Registry();
    registerInsightMetric(registry, book, 3);
    book.report("proxies", ["a", "b", "c", "d", "e"].map(nack));
    const values = (await registry.getSingleMetric("gantry_insight")?.get())?.values ?? [];
    expect(values).toHaveLength(4);
    expect(values.find((v) => v.labels["target_name"] === "")?.value).toBe(2);
  });
});

async function historyContract(make: (clock: ManualClock) => InsightHistory) {
  const clock = new ManualClock(10 * 86_400_000);
  const history = make(clock);
  const insight = (n: number) => ({
    id: `GTY0203|||${n}`,
    code: "GTY0203",
    severity: "ERROR" as const,
    category: "proxies" as const,
    summary: "s",
    targets: [],
    cluster: "",
    subject: String(n),
    evidence: { error: "x" },
    firstSeen: clock.now(),
    lastSeen: clock.now(),
    resolvedAt: clock.now(),
  });
  for (let n = 0; n < 5; n++) await history.append(insight(n));
  // Retention: at most 3 entries, newest first.
  expect((await history.list()).map((i) => i.subject)).toEqual(["4", "3", "2"]);
  clock.advance(2 * 86_400_000);
  expect(await history.list()).toEqual([]);
  await history.addSilence({ code: "GTY0203", createdAt: 1, reason: "r" });
  await history.addSilence({
    code: "GTY0203",
    target: { kind: "Proxy", namespace: "", name: "n" },
    createdAt: 2,
    reason: "",
  });
  expect((await history.silences()).length).toBe(2);
  expect(await history.removeSilence("GTY0203", { kind: "Proxy", namespace: "", name: "n" })).toBe(true);
  expect(await history.silences()).toEqual([{ code: "GTY0203", createdAt: 1, reason: "r" }]);
}

const retention = { maxEntries: 3, maxAgeMs: 86_400_000 };

describe("insight history", () => {
  it("in memory: bounded by count and age; silences", async () => {
    await historyContract((clock) => new MemoryInsightHistory(clock, retention));
  });

  describe.skipIf(!haveRedis())("in Redis", () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => {
      await redis?.close();
    });

    it("bounded by count and age; silences; shared by two readers", async () => {
      const client = createRedis({ url: redis.url, connectionName: "test-insights" });
      try {
        await historyContract((clock) => new RedisInsightHistory(client, clock, retention));
        const other = new RedisInsightHistory(client, new ManualClock(0), retention);
        expect((await other.silences()).map((s) => s.code)).toEqual(["GTY0203"]);
        expect(await redis.cli("TYPE", "{gantry}:insights:history")).toBe("list");
      } finally {
        client.disconnect();
      }
    });
  });
});
