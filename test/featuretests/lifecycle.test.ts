// Changes over time: what a connected proxy receives when resources are added, updated and deleted,
// on SotW and delta ADS, and what happens when it NACKs.
import { describe, expect, it } from "vitest";
import {
  edsCluster,
  endpoint,
  listener,
  loadAssignment,
  locality,
  prefix,
  route,
  routeConfig,
  toCluster,
  virtualHost,
} from "./envoy.js";
import { CDS, EDS, envoyNode, featureServer, LDS, RDS } from "./harness.js";
import { destination, forward, gateway, httpRoute, prefixMatch, routeTable } from "./resources.js";

const ft = featureServer();

/** A gateway on 8080 and a route table in namespace `ns`, routing each path prefix to the destination named. */
function site(ns: string, routes: Record<string, string>) {
  return [
    gateway(`${ns}/public`, { gateway: ns }, [{ port: 8080 }]),
    routeTable(
      `${ns}/site`,
      [`${ns}.example.com`],
      ["public"],
      Object.entries(routes).map(([path, to]) => httpRoute(to, [prefixMatch(path)], forward([to]))),
    ),
  ];
}

/** The route configuration `site` gives, routes in the order written (all prefixes of one length). */
function siteRoutes(ns: string, routes: Record<string, string>) {
  return routeConfig(`${ns}/public/8080`, [
    virtualHost(
      `${ns}/site`,
      [`${ns}.example.com`],
      Object.entries(routes).map(([path, to]) => route(`${ns}/site/${to}`, prefix(path), toCluster(`${ns}/${to}:80`))),
    ),
  ]);
}

const endpoints = (cluster: string, ...addresses: string[]) =>
  loadAssignment(cluster, [
    locality(
      {},
      addresses.map((a) => endpoint(a, 80)),
    ),
  ]);

describe("lifecycle on SotW ADS", () => {
  it("sends adds, then only what changed, then deletions by absence from the full-state types", async () => {
    const ns = "life-sotw";
    await ft.apply(...site(ns, { "/a": "a" }), destination(`${ns}/a`, 80, ["10.1.0.1"]));

    const envoy = ft.sotw(envoyNode(`${ns}-1`, { gateway: ns }));
    envoy.subscribe(CDS);
    await envoy.expect(CDS, [edsCluster(`${ns}/a:80`)]);
    envoy.subscribe(EDS, [`${ns}/a:80`]);
    await envoy.expect(EDS, [endpoints(`${ns}/a:80`, "10.1.0.1")]);
    envoy.subscribe(LDS);
    await envoy.expect(LDS, [listener(`${ns}/public/8080`, 8080)]);
    envoy.subscribe(RDS, [`${ns}/public/8080`]);
    await envoy.expect(RDS, [siteRoutes(ns, { "/a": "a" })]);
    await envoy.expectQuiet();

    // Add a route and its destination: the full cluster set, the changed routes; cluster "a" did not
    // change, so its endpoints are not sent again, and the new cluster's come when they are asked for.
    await ft.apply(...site(ns, { "/a": "a", "/b": "b" }), destination(`${ns}/b`, 80, ["10.1.0.2"]));
    await envoy.expect(CDS, [edsCluster(`${ns}/a:80`), edsCluster(`${ns}/b:80`)]);
    await envoy.expect(RDS, [siteRoutes(ns, { "/a": "a", "/b": "b" })]);
    envoy.subscribe(EDS, [`${ns}/a:80`, `${ns}/b:80`]);
    await envoy.expect(EDS, [endpoints(`${ns}/b:80`, "10.1.0.2")]);
    await envoy.expectQuiet();

    // Change one destination's endpoints: only its endpoints are sent again; nothing else moves.
    const versions = { cds: envoy.version(CDS), lds: envoy.version(LDS), rds: envoy.version(RDS) };
    await ft.apply(destination(`${ns}/b`, 80, ["10.1.0.2", "10.1.0.3"]));
    await envoy.expect(EDS, [endpoints(`${ns}/b:80`, "10.1.0.2", "10.1.0.3")]);
    await envoy.expectQuiet();
    expect({ cds: envoy.version(CDS), lds: envoy.version(LDS), rds: envoy.version(RDS) }).toEqual(versions);

    // Applying the same documents again changes nothing on the wire.
    await ft.apply(...site(ns, { "/a": "a", "/b": "b" }), destination(`${ns}/b`, 80, ["10.1.0.2", "10.1.0.3"]));
    await envoy.expectQuiet();

    // Delete the route and its destination: the routes first; the cluster leaves the full set after.
    await ft.apply(...site(ns, { "/a": "a" }));
    await ft.delete(`Destination/${ns}/b`);
    await envoy.expect(RDS, [siteRoutes(ns, { "/a": "a" })]);
    await envoy.expect(CDS, [edsCluster(`${ns}/a:80`)]);
    await envoy.expectQuiet();

    // Delete the gateway: the node is selected by nothing, so its listeners go, then its clusters
    // (and with them their endpoints: a partial EDS response could not say so).
    await ft.delete(`Gateway/${ns}/public`);
    await envoy.expect(LDS, []);
    await envoy.expect(CDS, []);
    await envoy.expectQuiet();
  });
});

describe("lifecycle on delta ADS", () => {
  it("sends adds, then only the resources whose version changed, then removed_resources", async () => {
    const ns = "life-delta";
    await ft.apply(
      ...site(ns, { "/a": "a", "/b": "b" }),
      destination(`${ns}/a`, 80, ["10.2.0.1"]),
      destination(`${ns}/b`, 80, ["10.2.0.2"]),
    );

    const envoy = ft.delta(envoyNode(`${ns}-1`, { gateway: ns }));
    envoy.subscribe(CDS);
    await envoy.expect(CDS, [edsCluster(`${ns}/a:80`), edsCluster(`${ns}/b:80`)]);
    envoy.subscribe(EDS, [`${ns}/a:80`, `${ns}/b:80`]);
    await envoy.expect(EDS, [endpoints(`${ns}/a:80`, "10.2.0.1"), endpoints(`${ns}/b:80`, "10.2.0.2")]);
    envoy.subscribe(LDS);
    await envoy.expect(LDS, [listener(`${ns}/public/8080`, 8080)]);
    envoy.subscribe(RDS, [`${ns}/public/8080`]);
    await envoy.expect(RDS, [siteRoutes(ns, { "/a": "a", "/b": "b" })]);
    await envoy.expectQuiet();

    // One destination's endpoints change: that resource alone, with a new version; the others keep theirs.
    const before = { cds: envoy.versions(CDS), eds: envoy.versions(EDS), rds: envoy.versions(RDS) };
    await ft.apply(destination(`${ns}/a`, 80, ["10.2.0.1", "10.2.0.3"]));
    await envoy.expect(EDS, [endpoints(`${ns}/a:80`, "10.2.0.1", "10.2.0.3")]);
    await envoy.expectQuiet();
    const after = { cds: envoy.versions(CDS), eds: envoy.versions(EDS), rds: envoy.versions(RDS) };
    expect(after.eds[`${ns}/a:80`]).not.toBe(before.eds[`${ns}/a:80`]);
    expect({ ...after, eds: { ...after.eds, [`${ns}/a:80`]: "" } }).toEqual({
      ...before,
      eds: { ...before.eds, [`${ns}/a:80`]: "" },
    });

    // A route goes: the route first; its cluster, then its endpoints, are removed once the routes no
    // longer name them (make before break). Deleting the destination afterwards changes nothing on the wire.
    await ft.apply(...site(ns, { "/a": "a" }));
    await envoy.expect(RDS, [siteRoutes(ns, { "/a": "a" })]);
    await envoy.expect(CDS, [], [`${ns}/b:80`]);
    await envoy.expect(EDS, [], [`${ns}/b:80`]);
    await ft.delete(`Destination/${ns}/b`);
    await envoy.expectQuiet();
    expect(Object.keys(envoy.versions(CDS))).toEqual([`${ns}/a:80`]);

    // Unsubscribing is quiet; subscribing again sends the resource again.
    envoy.unsubscribe(EDS, [`${ns}/a:80`]);
    await envoy.expectQuiet();
    envoy.subscribe(EDS, [`${ns}/a:80`]);
    await envoy.expect(EDS, [endpoints(`${ns}/a:80`, "10.2.0.1", "10.2.0.3")]);

    // The gateway goes: everything the node held is removed, the clusters and their endpoints last.
    await ft.delete(`Gateway/${ns}/public`);
    await envoy.expect(LDS, [], [`${ns}/public/8080`]);
    await envoy.expect(RDS, [], [`${ns}/public/8080`]);
    await envoy.expect(CDS, [], [`${ns}/a:80`]);
    await envoy.expect(EDS, [], [`${ns}/a:80`]);
    await envoy.expectQuiet();
  });
});

/** The API's view follows the ACKs a client sent a moment ago: poll it, within bounds. */
const polling = { timeout: 5_000, interval: 20 };

/** Where the API says one node stands: per type, what it ACKed last and its last NACK. */
async function proxyView(nodeId: string) {
  const { proxies } = await ft.api.listProxies({});
  const proxy = proxies.find((p) => p.nodeId === nodeId);
  if (!proxy) throw new Error(`${nodeId} is not among the connected proxies`);
  return {
    stream: proxy.stream,
    types: Object.fromEntries(
      proxy.types.map((t) => [t.typeUrl, { ackedVersion: t.ackedVersion, lastNackError: t.lastNackError }]),
    ),
  };
}

/** How `describe` of a resource reports one node serving it. */
async function servedBy(key: string, nodeId: string) {
  const [kind = "", namespace = "", name = ""] = key.split("/");
  const described = await ft.api.describe({ ref: { kind, namespace, name } });
  return described.servedBy
    .filter((p) => p.nodeId === nodeId)
    .map(({ nodeId, role, stream, gateways, acked, pendingTypes, lastNackError }) => ({
      nodeId,
      role,
      stream,
      gateways,
      acked,
      pendingTypes,
      lastNackError,
    }));
}

describe("NACKs", () => {
  it("SotW: a NACKed response shows in proxy status and describe, is not sent again, and the next change still arrives", async () => {
    const ns = "nack-sotw";
    const node = `${ns}-1`;
    await ft.apply(
      ...site(ns, { "/a": "a" }),
      destination(`${ns}/a`, 80, ["10.3.0.1"]),
      destination(`${ns}/b`, 80, ["10.3.0.2"]),
      destination(`${ns}/c`, 80, ["10.3.0.3"]),
    );
    const envoy = ft.sotw(envoyNode(node, { gateway: ns }));
    envoy.subscribe(LDS);
    await envoy.expect(LDS, [listener(`${ns}/public/8080`, 8080)]);
    envoy.subscribe(RDS, [`${ns}/public/8080`]);
    await envoy.expect(RDS, [siteRoutes(ns, { "/a": "a" })]);
    const good = envoy.version(RDS);

    await ft.apply(...site(ns, { "/a": "a", "/b": "b" }));
    await envoy.nack(RDS, [siteRoutes(ns, { "/a": "a", "/b": "b" })], "route /b: no such cluster");
    await envoy.expectQuiet();

    await expect
      .poll(() => proxyView(node), polling)
      .toEqual({
        stream: "ads-sotw",
        types: {
          [LDS]: { ackedVersion: envoy.version(LDS), lastNackError: "" },
          [RDS]: { ackedVersion: good, lastNackError: "route /b: no such cluster" },
        },
      });
    await expect
      .poll(() => servedBy(`RouteTable/${ns}/site`, node), polling)
      .toEqual([
        {
          nodeId: node,
          role: "proxy",
          stream: "ads-sotw",
          gateways: [`${ns}/public`],
          acked: false,
          pendingTypes: [RDS],
          lastNackError: "RouteConfiguration: route /b: no such cluster",
        },
      ]);

    await ft.apply(...site(ns, { "/a": "a", "/c": "c" }));
    await envoy.expect(RDS, [siteRoutes(ns, { "/a": "a", "/c": "c" })]);
    await envoy.expectQuiet();
    await expect
      .poll(() => servedBy(`RouteTable/${ns}/site`, node), polling)
      .toEqual([
        {
          nodeId: node,
          role: "proxy",
          stream: "ads-sotw",
          gateways: [`${ns}/public`],
          acked: true,
          pendingTypes: [],
          // The last NACK stays visible after later ACKs.
          lastNackError: "RouteConfiguration: route /b: no such cluster",
        },
      ]);
  });

  it("delta: a NACKed response shows in proxy status, and the next change still arrives", async () => {
    const ns = "nack-delta";
    const node = `${ns}-1`;
    await ft.apply(...site(ns, { "/a": "a" }), destination(`${ns}/a`, 80, ["10.4.0.1"]));
    const envoy = ft.delta(envoyNode(node, { gateway: ns }));
    envoy.subscribe(CDS);
    await envoy.expect(CDS, [edsCluster(`${ns}/a:80`)]);
    const versionBefore = envoy.systemVersion(CDS);

    await ft.apply(destination(`${ns}/a`, 80, ["10.4.0.1"], { connectTimeout: "1s" }));
    await envoy.nack(CDS, [edsCluster(`${ns}/a:80`, { connectTimeout: "1s" })], "cluster a: refused");
    await envoy.expectQuiet();
    await expect
      .poll(async () => (await proxyView(node)).types[CDS], polling)
      .toEqual({ ackedVersion: versionBefore, lastNackError: "cluster a: refused" });

    await ft.apply(destination(`${ns}/a`, 80, ["10.4.0.1"], { connectTimeout: "2s" }));
    await envoy.expect(CDS, [edsCluster(`${ns}/a:80`, { connectTimeout: "2s" })]);
    await envoy.expectQuiet();
    await expect
      .poll(() => servedBy(`Destination/${ns}/a`, node), polling)
      .toEqual([
        {
          nodeId: node,
          role: "proxy",
          stream: "ads-delta",
          gateways: [`${ns}/public`],
          acked: true,
          pendingTypes: [],
          lastNackError: "Cluster: cluster a: refused",
        },
      ]);
  });
});
