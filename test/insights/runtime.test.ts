// The runtime's I/O edges: Redis probes against a real redis-server, Prometheus' HTTP API, the
// services' counters, and proxies leaving (on a manual clock).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeSchema } from "../../src/gen/envoy/config/core/v3/base_pb.js";
import {
  InsightsRuntime,
  MemoryInsightHistory,
  PrometheusSource,
  parseExposition,
  promQuery,
  registrySource,
} from "../../src/insights/index.js";
import { Counter, createLogger, createRedis, ManualClock, Registry } from "../../src/lib/index.js";
import type { StreamInfo } from "../../src/xds/index.js";
import { haveRedis, type RedisServer, startRedis } from "../support/redis.js";

const logger = createLogger({ service: "test", level: "silent" });

function runtime(clock: ManualClock, extra: Partial<ConstructorParameters<typeof InsightsRuntime>[0]> = {}) {
  return new InsightsRuntime({
    clock,
    registry: new Registry(),
    logger,
    history: new MemoryInsightHistory(clock),
    proxyResources: () => [],
    ...extra,
  });
}

describe("agents, as the relay reports them", () => {
  it("GTY0505 for an agent gone past the grace, GTY0506 for one behind the published output; resolved when they catch up", async () => {
    const clock = new ManualClock(1_000_000);
    let agents = [
      {
        cluster: "east",
        connected: false,
        lastSeen: clock.now(),
        publishedVersion: "v2",
        agentVersion: "v1",
        publishedAt: clock.now(),
      },
      {
        cluster: "west",
        connected: true,
        lastSeen: clock.now(),
        publishedVersion: "v2",
        agentVersion: "v1",
        publishedAt: clock.now(),
      },
    ];
    const rt = runtime(clock, { agents: () => agents });
    await rt.tick();
    expect(rt.book.active()).toEqual([]);
    clock.advance(121_000);
    await rt.tick();
    expect(
      rt.book
        .active()
        .map((i) => [i.code, i.cluster])
        .sort(),
    ).toEqual([
      ["GTY0505", "east"],
      ["GTY0506", "west"],
    ]);
    agents = agents.map((a) => ({ ...a, connected: true, lastSeen: clock.now(), agentVersion: "v2" }));
    await rt.tick();
    expect(rt.book.active()).toEqual([]);
    await rt.stop();
  });
});

describe("proxies leaving", () => {
  it("GTY0201 once the grace passes, resolved when it comes back", async () => {
    const clock = new ManualClock(1_000_000);
    const rt = runtime(clock);
    const stream: StreamInfo = {
      id: 1,
      kind: "ads-delta",
      node: create(NodeSchema, { id: "edge-1", userAgentName: "envoy" }),
      group: "shop/edge",
      peer: "127.0.0.1:5000",
      openedAt: clock.now(),
    };
    rt.tracker.onStreamOpen(stream);
    rt.tracker.onStreamClose(stream);
    clock.advance(10_000);
    rt.analyzeProxies();
    expect(rt.book.active()).toEqual([]);
    clock.advance(25_000);
    rt.analyzeProxies();
    expect(rt.book.active().map((i) => [i.code, i.targets[0]?.name])).toEqual([["GTY0201", "edge-1"]]);
    rt.tracker.onStreamOpen({ ...stream, id: 2 });
    // The tracker schedules an analysis on the clock, half a second on; run it.
    clock.advance(499);
    expect(rt.book.active().map((i) => i.code)).toEqual(["GTY0201"]);
    clock.advance(1);
    expect(rt.book.active()).toEqual([]);
    await rt.stop();
    expect((await rt.book.history.list()).map((i) => i.code)).toEqual(["GTY0201"]);
  });
});

describe.skipIf(!haveRedis())("the management Redis probe", () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.close();
  });

  it("nothing while it answers; GTY0501 with the error when it stops; memory near maxmemory", async () => {
    const clock = new ManualClock(0);
    const client = createRedis({
      url: redis.url,
      commandTimeoutMs: 500,
      connectTimeoutMs: 500,
      connectionName: "test-probe",
    });
    const rt = runtime(clock, { redis: [{ role: "management", client }], redisTimeoutMs: 2_000 });
    try {
      await rt.tick();
      expect(rt.book.active()).toEqual([]);
      const used = Number(/used_memory:(\d+)/.exec(await redis.cli("INFO", "memory"))?.[1]);
      await redis.cli("CONFIG", "SET", "maxmemory", String(Math.ceil(used * 1.05)));
      await rt.tick();
      expect(rt.book.active().map((i) => i.code)).toEqual(["GTY0503"]);
      await redis.cli("CONFIG", "SET", "maxmemory", "0");
      await redis.stop();
      await rt.tick();
      const down = rt.book.active();
      expect(down.map((i) => [i.code, i.targets[0]?.name])).toEqual([["GTY0501", "management"]]);
      expect(down[0]?.evidence["error"]?.length).toBeGreaterThan(0);
      await redis.start();
    } finally {
      await rt.stop();
      client.disconnect();
    }
  });
});

describe("data-plane metric sources", () => {
  let prometheus: Server;
  const asked: string[] = [];
  beforeAll(async () => {
    // Prometheus' HTTP API as it answers instant queries (a vector of one sample, or none).
    prometheus = createServer((req, res) => {
      const query = new URL(req.url ?? "/", "http://x").searchParams.get("query") ?? "";
      asked.push(query);
      const value: Record<string, string> = {
        [promQuery("rlTotal", 300)]: "200",
        [promQuery("rlOver", 300)]: "90",
        [promQuery("rlRedisErrors", 300)]: "0",
      };
      const result = value[query] === undefined ? [] : [{ metric: {}, value: [1_700_000_000, value[query]] }];
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ status: "success", data: { resultType: "vector", result } }));
    });
    await new Promise<void>((resolve) => prometheus.listen(0, "127.0.0.1", resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => prometheus.close(resolve));
  });

  it("Prometheus: increases over the window; a service with no series reports nothing", async () => {
    const { port } = prometheus.address() as AddressInfo;
    const sample = await new PrometheusSource(`http://127.0.0.1:${port}`).sample();
    expect(sample).toEqual({ windowSeconds: 300, rateLimit: { total: 200, overLimit: 90, redisErrors: 0 } });
    expect(asked).toContain("sum(increase(gantry_ratelimit_rule_over_limit[300s]))");
    expect(asked).toContain('sum(increase(gantry_extauth_checks_total{result=~"error|unknown_config"}[300s]))');
    // A data-plane spike through the runtime: GTY0401.
    const clock = new ManualClock(0);
    const rt = runtime(clock, { metrics: new PrometheusSource(`http://127.0.0.1:${port}`) });
    await rt.tick();
    expect(rt.book.active().map((i) => [i.code, i.summary])).toEqual([
      ["GTY0401", "45% of rate-limited requests were over the limit in the last 300s"],
    ]);
    await rt.stop();
  });

  it("a Prometheus that does not answer rejects the sample (the runtime then keeps what it had)", async () => {
    await expect(new PrometheusSource("http://127.0.0.1:1").sample()).rejects.toThrow();
  });

  it("own registries: increases between two reads", async () => {
    const registry = new Registry();
    const checks = new Counter({
      name: "gantry_extauth_checks_total",
      help: "h",
      labelNames: ["config_id", "result"],
      registers: [registry],
    });
    let now = 0;
    const source = registrySource([registry], () => now);
    checks.inc({ config_id: "a", result: "allow" }, 5);
    await source.sample();
    checks.inc({ config_id: "a", result: "allow" }, 10);
    checks.inc({ config_id: "a", result: "error" }, 4);
    checks.inc({ config_id: "b", result: "deny" }, 6);
    now = 60_000;
    expect(await source.sample()).toEqual({ windowSeconds: 60, extAuth: { total: 20, errors: 4, denied: 6 } });
  });

  it("reads the Prometheus text format", () => {
    const text = [
      "# HELP gantry_extauth_checks_total Checks",
      "# TYPE gantry_extauth_checks_total counter",
      'gantry_extauth_checks_total{config_id="a/b",result="deny",service="extauth"} 3',
      "gantry_ratelimit_redis_errors_total 2",
    ].join("\n");
    expect(parseExposition(text)).toEqual([
      {
        name: "gantry_extauth_checks_total",
        labels: { config_id: "a/b", result: "deny", service: "extauth" },
        value: 3,
      },
      { name: "gantry_ratelimit_redis_errors_total", labels: {}, value: 2 },
    ]);
  });
});
