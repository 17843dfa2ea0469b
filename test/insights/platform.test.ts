import { describe, expect, it } from "vitest";
import { analyzeAgents, analyzeDataPlane, analyzeRedis, parseRedisInfo } from "../../src/insights/index.js";

describe("redis analyzer", () => {
  const ok = { reachable: true as const, pingMs: 1, usedMemory: 10, maxMemory: 0, evictedKeys: 3 };

  it("GTY0501 with the error when it does not answer", () => {
    const found = analyzeRedis("management", { reachable: false, error: "connect ECONNREFUSED" }, undefined);
    expect(found.map((f) => [f.code, f.args["error"]])).toEqual([["GTY0501", "connect ECONNREFUSED"]]);
    expect(found[0]?.targets).toEqual([{ kind: "Redis", namespace: "", name: "management" }]);
  });

  it("GTY0502 slow, GTY0503 memory near maxmemory, GTY0504 new evictions", () => {
    expect(analyzeRedis("management", ok, ok)).toEqual([]);
    const bad = { ...ok, pingMs: 250, usedMemory: 95 * 1_048_576, maxMemory: 100 * 1_048_576, evictedKeys: 10 };
    const found = analyzeRedis("management", bad, ok);
    expect(found.map((f) => f.code)).toEqual(["GTY0502", "GTY0503", "GTY0504"]);
    expect(found[1]?.args).toMatchObject({ percent: "95%", used: "95.0 MiB", max: "100.0 MiB" });
    expect(found[2]?.args["count"]).toBe("7");
    // A restarted Redis counts from zero: no evictions can be told.
    expect(analyzeRedis("management", { ...ok, evictedKeys: 0 }, bad)).toEqual([]);
  });

  it("reads INFO's fields", () => {
    const info =
      "# Memory\r\nused_memory:1024\r\nused_memory_human:1K\r\nmaxmemory:4096\r\n# Stats\r\nevicted_keys:5\r\n";
    expect(parseRedisInfo(info)).toEqual({ usedMemory: 1024, maxMemory: 4096, evictedKeys: 5 });
  });
});

describe("data-plane analyzer", () => {
  it("ratios need enough requests", () => {
    expect(analyzeDataPlane({ windowSeconds: 60, rateLimit: { total: 5, overLimit: 5, redisErrors: 0 } })).toEqual([]);
  });

  it("GTY0401 over-limit spike, GTY0404 Redis fallbacks, GTY0402 and GTY0403 ext-auth ratios", () => {
    const found = analyzeDataPlane({
      windowSeconds: 300,
      rateLimit: { total: 100, overLimit: 40, redisErrors: 3 },
      extAuth: { total: 200, errors: 20, denied: 150 },
    });
    expect(found.map((f) => [f.code, f.args["ratio"] ?? f.args["count"]])).toEqual([
      ["GTY0401", "40%"],
      ["GTY0404", "3"],
      ["GTY0402", "10%"],
      ["GTY0403", "75%"],
    ]);
    expect(found[0]?.args["window"]).toBe("300s");
  });

  it("nothing when the services do not report", () => {
    expect(analyzeDataPlane({ windowSeconds: 60 })).toEqual([]);
  });
});

describe("agents analyzer", () => {
  const now = 10_000_000;
  const base = {
    cluster: "east",
    connected: true,
    lastSeen: now,
    publishedVersion: "v2",
    agentVersion: "v2",
    publishedAt: now - 1_000_000,
  };

  it("GTY0505 after the grace; GTY0506 when behind long enough", () => {
    expect(analyzeAgents([base], now)).toEqual([]);
    expect(analyzeAgents([{ ...base, connected: false, lastSeen: now - 30_000 }], now)).toEqual([]);
    const gone = analyzeAgents([{ ...base, connected: false, lastSeen: now - 61_000 }], now);
    expect(gone.map((f) => [f.code, f.cluster])).toEqual([["GTY0505", "east"]]);
    const behind = analyzeAgents([{ ...base, agentVersion: "v1" }], now);
    expect(behind.map((f) => [f.code, f.args["agentVersion"], f.args["version"]])).toEqual([["GTY0506", "v1", "v2"]]);
    expect(analyzeAgents([{ ...base, agentVersion: "v1", publishedAt: now - 1_000 }], now)).toEqual([]);
  });

  it("GTY0507 for each discovered Destination a user's resource keeps out, naming both", () => {
    const conflicts = [{ stored: "Destination/shop/api.east", discovered: "Destination/shop/api" }];
    const found = analyzeAgents([{ ...base, conflicts }], now);
    expect(found.map((f) => [f.code, f.cluster, f.targets.map((t) => `${t.kind}/${t.namespace}/${t.name}`)])).toEqual([
      ["GTY0507", "east", ["Destination/shop/api.east", "Agent//east"]],
    ]);
    expect(found[0]?.args).toEqual({ cluster: "east", ...conflicts[0] });
  });
});
