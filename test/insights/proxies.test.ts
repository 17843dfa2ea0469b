import { describe, expect, it } from "vitest";
import { analyzeProxies, defaultProxyThresholds, type ProxyInput } from "../../src/insights/index.js";
import type { ClientResourceStatus } from "../../src/xds/index.js";

const cds = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const now = 1_000_000;

function row(partial: Partial<ClientResourceStatus>): ClientResourceStatus {
  return {
    nodeId: "n1",
    typeUrl: cds,
    name: "c1",
    state: "in-sync",
    version: "v2",
    clientVersion: "v2",
    sent: false,
    error: "",
    since: undefined,
    streams: 1,
    ...partial,
  };
}

function input(partial: Partial<ProxyInput>): ProxyInput {
  return { now, connected: [], departed: [], resources: [], ...partial };
}

describe("proxy analyzers", () => {
  it("nothing for proxies in sync", () => {
    expect(analyzeProxies(input({ resources: [row({})] }))).toEqual([]);
  });

  it("GTY0203: one finding per node and type, naming every refused resource and the error", () => {
    const error = "Proto constraint validation failed: bad cluster";
    const found = analyzeProxies(
      input({
        resources: [
          row({ name: "c2", state: "nacked", error, since: now - 5_000, clientVersion: "v1" }),
          row({ name: "c1", state: "nacked", error, since: now - 9_000, clientVersion: "v1" }),
          row({ name: "c3" }),
        ],
      }),
    );
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({
      code: "GTY0203",
      targets: [{ kind: "Proxy", namespace: "", name: "n1" }],
      subject: cds,
      args: { node: "n1", type: "Cluster", resources: "c1, c2", error },
      evidence: { error, refusedVersion: "v2", runningVersion: "v1", since: new Date(now - 9_000).toISOString() },
    });
  });

  it("GTY0202: a version sent and unanswered past the threshold, and not before", () => {
    const sent = (ago: number) => input({ resources: [row({ state: "pending", sent: true, since: now - ago })] });
    expect(analyzeProxies(sent(defaultProxyThresholds.staleAfterMs - 1))).toEqual([]);
    const found = analyzeProxies(sent(90_000));
    expect(found.map((f) => [f.code, f.args["age"]])).toEqual([["GTY0202", "90s"]]);
    // Not sent yet is the server's doing (a debounce), not the proxy's.
    expect(analyzeProxies(input({ resources: [row({ state: "pending", sent: false })] }))).toEqual([]);
  });

  it("GTY0201: departed past the grace, forgotten after an hour", () => {
    const gone = (ago: number) => input({ departed: [{ nodeId: "n9", since: now - ago }] });
    expect(analyzeProxies(gone(10_000))).toEqual([]);
    expect(analyzeProxies(gone(31_000)).map((f) => f.code)).toEqual(["GTY0201"]);
    expect(analyzeProxies(gone(3_600_000))).toEqual([]);
  });

  it("GTY0204: the proxies off the most common version of their user agent", () => {
    const connected = [
      { nodeId: "a", userAgent: "envoy", version: "1.31.0" },
      { nodeId: "b", userAgent: "envoy", version: "1.31.0" },
      { nodeId: "c", userAgent: "envoy", version: "1.28.2" },
      { nodeId: "g", userAgent: "gRPC Node", version: "1.14.0" },
    ];
    const found = analyzeProxies(input({ connected }));
    expect(found.map((f) => [f.code, f.targets[0]?.name, f.args["expected"]])).toEqual([["GTY0204", "c", "1.31.0"]]);
    // A tie: the higher version is where the rollout goes.
    const tie = analyzeProxies(input({ connected: connected.filter((p) => p.nodeId !== "b") }));
    expect(tie.map((f) => f.targets[0]?.name)).toEqual(["c"]);
  });
});
