import { PassThrough } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { TypeUrl } from "../../src/envoy/index.js";
import { NodeSchema } from "../../src/gen/envoy/config/core/v3/base_pb.js";
import { createLogger } from "../../src/lib/logger.js";
import { clusterOf, Publisher, selects } from "../../src/server/publish.js";
import type { ProxyGroup } from "../../src/translate/index.js";
import { SnapshotCache } from "../../src/xds/index.js";
import { edsCluster, portListener, service } from "../xds/fixtures.js";

function group(name: string, resources: ProxyGroup["resources"]): ProxyGroup {
  return {
    name,
    kind: "envoy",
    proxies: { labels: { gateway: "edge" }, nodeIds: [] },
    resources,
    origins: new Set(),
    listeners: [],
  };
}

describe("Publisher", () => {
  it("checks each merged snapshot's consistency before the cache sees it; the node keeps what it has", () => {
    const lines: string[] = [];
    const destination = new PassThrough();
    destination.on("data", (chunk: Buffer) => lines.push(...chunk.toString().trim().split("\n")));
    const cache = new SnapshotCache();
    const publisher = new Publisher(cache, createLogger({ service: "test", level: "error", destination }));
    const node = create(NodeSchema, { id: "envoy-1", metadata: { labels: { gateway: "edge" } } });

    publisher.update({ groups: [group("default/edge", service("svc", 8080))], authConfigs: [], rateLimitConfigs: [] });
    publisher.nodeConnected(node);
    const good = cache.snapshot("envoy-1");
    expect([...(good?.snapshot.resources(TypeUrl.listener).keys() ?? [])]).toEqual(["svc"]);

    const inconsistent = [portListener("web", 8080, "missing-routes"), edsCluster("lonely")];
    publisher.update({ groups: [group("default/edge", inconsistent)], authConfigs: [], rateLimitConfigs: [] });
    expect(cache.snapshot("envoy-1")).toBe(good);
    const logged = lines.map((line) => JSON.parse(line) as { msg: string; node: string; problems: string[] });
    expect(logged).toEqual([
      expect.objectContaining({
        msg: "snapshot refused; the proxy keeps its last configuration",
        node: "envoy-1",
        problems: [
          'listener "web" names route configuration "missing-routes", which is missing',
          'cluster "lonely" loads endpoints "lonely" by EDS, which are missing',
        ],
      }),
    ]);
  });

  it("gives a node no snapshot before the first publication, so its streams wait instead of seeing nothing", () => {
    const cache = new SnapshotCache();
    const publisher = new Publisher(cache, createLogger({ service: "test", level: "silent" }));
    const proxy = create(NodeSchema, { id: "gw-1", metadata: { labels: { app: "web" } } });
    const rateLimiter = create(NodeSchema, { id: "rl-1", metadata: { role: "ratelimit" } });
    publisher.nodeConnected(proxy);
    publisher.nodeConnected(rateLimiter);
    expect(cache.snapshot("gw-1")).toBeUndefined();
    expect(cache.snapshot("rl-1")).toBeUndefined();
    publisher.update({ groups: [], authConfigs: [], rateLimitConfigs: [] });
    // Published, even if empty: from now on an empty state is the truth, not a server that has not translated yet.
    expect(cache.snapshot("gw-1")).toBeDefined();
    expect(cache.snapshot("rl-1")).toBeDefined();
    const late = create(NodeSchema, { id: "gw-2" });
    publisher.nodeConnected(late);
    expect(cache.snapshot("gw-2")).toBeDefined();
  });
});

describe("Publisher across workload clusters", () => {
  const endpoints = (version: string) => ({
    typeUrl: TypeUrl.endpoint,
    name: "virtual:mc/svc:80",
    value: new Uint8Array([1]),
    version,
  });

  it("reads a node's cluster from metadata `cluster`, else from the node's own cluster field", () => {
    expect(clusterOf(create(NodeSchema, { id: "a", cluster: "gantry-grpc", metadata: { cluster: "east" } }))).toBe(
      "east",
    );
    expect(clusterOf(create(NodeSchema, { id: "b", cluster: "west" }))).toBe("west");
    expect(clusterOf(create(NodeSchema, { id: "c" }))).toBe("");
  });

  it("selects only nodes of a placed gateway's clusters", () => {
    const selection = { labels: { gateway: "edge" }, nodeIds: ["by-id"], clusters: ["east"] };
    const node = (id: string, cluster: string) =>
      create(NodeSchema, { id, metadata: { cluster, labels: { gateway: "edge" } } });
    expect(selects(selection, node("e", "east"))).toBe(true);
    expect(selects(selection, node("w", "west"))).toBe(false);
    expect(selects(selection, node("by-id", "west"))).toBe(false);
    expect(selects({ ...selection, clusters: [] }, node("w", "west"))).toBe(true);
  });

  it("gives a node its cluster's particular resources in place of the general ones", () => {
    const cache = new SnapshotCache();
    const publisher = new Publisher(cache, createLogger({ service: "test", level: "silent" }));
    const general = service("svc", 8080);
    const edge: ProxyGroup = {
      ...group("default/edge", [...general, endpoints("general")]),
      byCallerCluster: new Map([["west", [endpoints("west")]]]),
    };
    publisher.update({ groups: [edge], authConfigs: [], rateLimitConfigs: [] });
    const node = (id: string, cluster: string) =>
      create(NodeSchema, { id, metadata: { cluster, labels: { gateway: "edge" } } });
    for (const [id, cluster] of [
      ["e", "east"],
      ["w", "west"],
      ["none", ""],
    ]) {
      publisher.nodeConnected(node(id ?? "", cluster ?? ""));
    }
    const version = (id: string) =>
      cache.snapshot(id)?.snapshot.resources(TypeUrl.endpoint).get("virtual:mc/svc:80")?.version;
    expect([version("e"), version("w"), version("none")]).toEqual(["general", "west", "general"]);
    // Nodes whose view is the same still share one merged snapshot.
    expect(cache.snapshot("e")?.snapshot).toBe(cache.snapshot("none")?.snapshot);
  });
});
