import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeResource, TypeUrl, type XdsResource } from "../../src/envoy/index.js";
import { SecretSchema } from "../../src/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import { ClusterDiscoveryService } from "../../src/gen/envoy/service/cluster/v3/cds_pb.js";
import type {
  DeltaDiscoveryResponse,
  DiscoveryResponse,
} from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { EndpointDiscoveryService } from "../../src/gen/envoy/service/endpoint/v3/eds_pb.js";
import { ListenerDiscoveryService } from "../../src/gen/envoy/service/listener/v3/lds_pb.js";
import { RouteDiscoveryService } from "../../src/gen/envoy/service/route/v3/rds_pb.js";
import { SecretDiscoveryService } from "../../src/gen/envoy/service/secret/v3/sds_pb.js";
import { createClient, GrpcStatus } from "../../src/lib/grpc.js";
import { waitFor } from "../support/wait.js";
import { apiListener, edsCluster, endpoints, routes } from "./fixtures.js";
import { clusterIn, namesIn, probe, ResponseQueue, SotwClient, startTestServer, type TestServer } from "./harness.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.stop();
});

/** A consistent snapshot: listener l → routes r → cluster(s) → endpoints; routes point at `target`. */
async function metricValue(metric: string, series: string, typeUrl: string): Promise<number | undefined> {
  const json = await server.registry.getSingleMetric(metric)?.get();
  return json?.values.find(
    (v) => ((v as { metricName?: string }).metricName ?? metric) === series && v.labels["type_url"] === typeUrl,
  )?.value;
}

function fail(): never {
  throw new Error("missing response");
}

function view(clusters: string[], target: string, extra: XdsResource[] = []) {
  return [
    apiListener("l", "r"),
    routes("r", target),
    ...clusters.map((name) => edsCluster(name)),
    ...clusters.map((name) => endpoints(name, 9000)),
    probe("p"),
    ...extra,
  ];
}

/** Subscribes like Envoy (CDS/LDS wildcard, EDS/RDS by name) and ACKs everything until quiet. */
async function connectEnvoyLike(node: string, clusters: string[]): Promise<SotwClient> {
  const client = SotwClient.open(server, node);
  client.send({ typeUrl: TypeUrl.cluster });
  client.send({ typeUrl: TypeUrl.endpoint, resourceNames: clusters });
  client.send({ typeUrl: TypeUrl.listener });
  client.send({ typeUrl: TypeUrl.route, resourceNames: ["r"] });
  for (let i = 0; i < 4; i++) {
    const response = await client.next();
    client.ack(
      response,
      response.typeUrl === TypeUrl.endpoint ? clusters : response.typeUrl === TypeUrl.route ? ["r"] : [],
    );
  }
  await client.expectQuiet();
  return client;
}

describe("SotW ADS", () => {
  it("pushes CDS, EDS, LDS, RDS in that order once a snapshot appears, each with a nonce", async () => {
    server.cache.setSnapshot("order", [probe("p")]);
    const client = SotwClient.open(server, "order");
    client.send({ typeUrl: TypeUrl.route, resourceNames: ["r"] });
    client.send({ typeUrl: TypeUrl.listener });
    client.send({ typeUrl: TypeUrl.endpoint, resourceNames: ["a"] });
    client.send({ typeUrl: TypeUrl.cluster });
    // Full-state types are answered at once, empty; the partial ones wait for their names.
    const empty = [await client.next(), await client.next()];
    expect(empty.map((r) => `${r.typeUrl} ${r.resources.length}`).sort()).toEqual([
      `${TypeUrl.cluster} 0`,
      `${TypeUrl.listener} 0`,
    ]);
    client.ack(empty[0] ?? fail());
    client.ack(empty[1] ?? fail());
    await client.expectQuiet();
    server.cache.setSnapshot("order", view(["a"], "a"));
    const seen = [];
    for (let i = 0; i < 4; i++) seen.push(await client.next());
    expect(seen.map((r) => r.typeUrl)).toEqual([TypeUrl.cluster, TypeUrl.endpoint, TypeUrl.listener, TypeUrl.route]);
    expect(seen.map((r) => namesIn(r))).toEqual([["a"], ["a"], ["l"], ["r"]]);
    expect(new Set(seen.map((r) => r.nonce)).size).toBe(4);
    for (const r of seen) expect(r.versionInfo).toMatch(/^[0-9a-f]{16}$/);
    client.close();
  });

  it("answers nothing more once ACKed, and only the changed type after a change", async () => {
    server.cache.setSnapshot("acked", view(["a"], "a"));
    const client = await connectEnvoyLike("acked", ["a"]);
    server.cache.setSnapshot("acked", view(["a"], "a"));
    await client.expectQuiet();
    server.cache.setSnapshot("acked", [...view(["a", "b"], "a")]);
    const cds = await client.next();
    expect(cds.typeUrl).toBe(TypeUrl.cluster);
    expect(namesIn(cds)).toEqual(["a", "b"]);
    client.ack(cds);
    // A cluster added leaves cluster "a" as the client holds it: its endpoints are not sent again.
    await client.expectQuiet();
    client.close();
  });

  it("follows an update of a cluster the client holds with a fresh EDS response, as Envoy re-warms it", async () => {
    server.cache.setSnapshot("rewarm", view(["a", "b"], "a"));
    const client = await connectEnvoyLike("rewarm", ["a", "b"]);
    server.cache.setSnapshot(
      "rewarm",
      view(["a", "b"], "a").map((r) => (r.typeUrl === TypeUrl.cluster && r.name === "a" ? edsCluster("a", 5) : r)),
    );
    const cds = await client.next();
    expect(cds.typeUrl).toBe(TypeUrl.cluster);
    client.ack(cds);
    // Endpoints did not change, yet the whole subscribed set comes again for the re-created cluster.
    const eds = await client.next();
    expect(eds.typeUrl).toBe(TypeUrl.endpoint);
    expect(namesIn(eds)).toEqual(["a", "b"]);
    client.ack(eds, ["a", "b"]);
    await client.expectQuiet();
    client.close();
  });

  it("ignores a request whose nonce is stale, subscription changes included", async () => {
    server.cache.setSnapshot("stale", view(["a"], "a", [routes("r2", "a")]));
    const client = await connectEnvoyLike("stale", ["a"]);
    server.cache.setSnapshot("stale", view(["a"], "a", [routes("r2", "a", "other.example")]));
    server.cache.setSnapshot("stale", view(["a", "b"], "b", [routes("r2", "a", "other.example")]));
    const cds = await client.next();
    expect(cds.typeUrl).toBe(TypeUrl.cluster);
    client.ack(cds);
    const rds = await client.next();
    expect(rds.typeUrl).toBe(TypeUrl.route);
    // An old nonce: the server must neither treat it as an ACK nor act on its new names.
    client.send({ typeUrl: TypeUrl.endpoint, responseNonce: "stale-nonce", resourceNames: ["a", "b"] });
    client.send({ typeUrl: TypeUrl.route, responseNonce: cds.nonce, resourceNames: ["r", "r2"] });
    await client.expectQuiet();
    const seenStale = server.requests.filter((r) => r.node === "stale" && r.stale).map((r) => r.nonce);
    expect(seenStale).toEqual(["stale-nonce", cds.nonce]);
    const status = server.server.proxyStatus().find((p) => p.nodeId === "stale");
    expect(status?.types.find((t) => t.typeUrl === TypeUrl.route)?.acked?.nonce).not.toBe(rds.nonce);
    client.ack(rds, ["r", "r2"]);
    // The client holds "r" as it is: only the name it added is sent.
    const more = await client.next();
    expect(more.typeUrl).toBe(TypeUrl.route);
    expect(namesIn(more)).toEqual(["r2"]);
    client.close();
  });

  it("parks a NACKed version until the input changes, and records the error", async () => {
    server.cache.setSnapshot("nack", view(["a"], "a"));
    const client = await connectEnvoyLike("nack", ["a"]);
    const goodVersion = (await server.server.proxyStatus())
      .find((p) => p.nodeId === "nack")
      ?.types.find((t) => t.typeUrl === TypeUrl.cluster)?.acked?.version;
    expect(goodVersion).toBeDefined();
    const rejected = [...view(["a"], "a")].map((r) => (r.typeUrl === TypeUrl.cluster ? edsCluster("a", 99) : r));
    server.cache.setSnapshot("nack", rejected);
    const bad = await client.next();
    expect(bad.typeUrl).toBe(TypeUrl.cluster);
    const freshEndpoints = await client.next();
    expect(freshEndpoints.typeUrl).toBe(TypeUrl.endpoint);
    client.ack(freshEndpoints, ["a"]);
    client.nack(bad, goodVersion ?? "", "cluster a: connect_timeout above our limit");
    await client.expectQuiet();
    // Publishing the same rejected content again, or changing another type, does not re-send it.
    server.cache.setSnapshot("nack", rejected);
    await client.expectQuiet();
    const status = server.server.proxyStatus().find((p) => p.nodeId === "nack");
    const cds = status?.types.find((t) => t.typeUrl === TypeUrl.cluster);
    expect(cds?.lastNack?.error).toBe("cluster a: connect_timeout above our limit");
    expect(cds?.lastNack?.nonce).toBe(bad.nonce);
    expect(cds?.acked?.version).toBe(goodVersion);
    expect(await metricValue("gantry_xds_nacks_total", "gantry_xds_nacks_total", TypeUrl.cluster)).toBe(1);
    // A fixed input goes out.
    server.cache.setSnapshot(
      "nack",
      view(["a"], "a").map((r) => (r.typeUrl === TypeUrl.cluster ? edsCluster("a", 2) : r)),
    );
    const fixed = await client.next();
    expect(fixed.typeUrl).toBe(TypeUrl.cluster);
    expect(clusterIn(fixed).connectTimeout?.seconds).toBe(2n);
    client.close();
  });

  it("serves wildcard and named subscriptions apart, and answers names that appear later", async () => {
    server.cache.setSnapshot("names", view(["a"], "a"));
    const wildcard = SotwClient.open(server, "names");
    const named = SotwClient.open(server, "names");
    wildcard.send({ typeUrl: TypeUrl.cluster });
    named.send({ typeUrl: TypeUrl.cluster, resourceNames: ["a", "late"] });
    named.send({ typeUrl: TypeUrl.route, resourceNames: ["late-routes"] });
    const all = await wildcard.next();
    const some = await named.next();
    expect(namesIn(all)).toEqual(["a"]);
    expect(namesIn(some)).toEqual(["a"]);
    wildcard.ack(all);
    named.ack(some, ["a", "late"]);
    // No route configuration "late-routes" yet: nothing is sent for it.
    await named.expectQuiet();
    server.cache.setSnapshot("names", view(["a", "b", "late"], "a", [routes("late-routes", "late")]));
    expect(namesIn(await wildcard.next())).toEqual(["a", "b", "late"]);
    const appeared = await named.next();
    expect(appeared.typeUrl).toBe(TypeUrl.cluster);
    expect(namesIn(appeared)).toEqual(["a", "late"]);
    named.ack(appeared, ["a", "late"]);
    const lateRoutes = await named.next();
    expect(lateRoutes.typeUrl).toBe(TypeUrl.route);
    expect(namesIn(lateRoutes)).toEqual(["late-routes"]);
    named.ack(lateRoutes, ["late-routes"]);
    await named.expectQuiet();
    wildcard.close();
    named.close();
  });

  it("stops sending a resource once it is unsubscribed", async () => {
    server.cache.setSnapshot("unsub", view(["a", "b"], "a"));
    const client = SotwClient.open(server, "unsub");
    client.send({ typeUrl: TypeUrl.endpoint, resourceNames: ["a", "b"] });
    const both = await client.next();
    expect(namesIn(both)).toEqual(["a", "b"]);
    // The client drops "b" by itself: nothing is sent, since it holds "a" as it is.
    client.ack(both, ["a"]);
    await client.expectQuiet();
    server.cache.setSnapshot(
      "unsub",
      view(["a", "b"], "a").map((r) => (r.typeUrl === TypeUrl.endpoint && r.name === "b" ? endpoints("b", 9001) : r)),
    );
    await client.expectQuiet();
    client.close();
  });

  it("does not re-send to a reconnecting client the version it already runs", async () => {
    server.cache.setSnapshot("resume", view(["a"], "a"));
    const before = SotwClient.open(server, "resume");
    before.send({ typeUrl: TypeUrl.cluster });
    const held = await before.next();
    before.ack(held);
    before.close();

    const current = SotwClient.open(server, "resume");
    current.send({ typeUrl: TypeUrl.cluster, versionInfo: held.versionInfo });
    await current.expectQuiet();
    const outdated = SotwClient.open(server, "resume");
    outdated.send({ typeUrl: TypeUrl.cluster, versionInfo: "0000000000000000" });
    expect((await outdated.next()).versionInfo).toBe(held.versionInfo);
    server.cache.setSnapshot("resume", view(["a", "b"], "a"));
    expect(namesIn(await current.next())).toEqual(["a", "b"]);
    current.close();
    outdated.close();
  });

  it("sends only the changed endpoints and routes once the client holds its set, all again after a NACK", async () => {
    server.cache.setSnapshot("partial", view(["a", "b", "c"], "a"));
    const client = SotwClient.open(server, "partial");
    client.send({ typeUrl: TypeUrl.endpoint, resourceNames: ["a", "b", "c"] });
    const all = await client.next();
    expect(namesIn(all)).toEqual(["a", "b", "c"]);
    client.ack(all, ["a", "b", "c"]);
    const moved = (ports: Record<string, number>) =>
      view(["a", "b", "c"], "a").map((r) =>
        r.typeUrl === TypeUrl.endpoint ? endpoints(r.name, ports[r.name] ?? 9000) : r,
      );
    server.cache.setSnapshot("partial", moved({ b: 9001 }));
    const one = await client.next();
    expect(namesIn(one)).toEqual(["b"]);
    expect(one.versionInfo).not.toBe(all.versionInfo);
    // Rejected: the client still holds the old "b", so the next change carries "b" again with "c".
    client.nack(one, all.versionInfo, "endpoints b: rejected", ["a", "b", "c"]);
    server.cache.setSnapshot("partial", moved({ b: 9001, c: 9002 }));
    const again = await client.next();
    expect(namesIn(again)).toEqual(["b", "c"]);
    client.ack(again, ["a", "b", "c"]);
    // Names that only leave are not answered; a name asked for again is sent again, alone.
    const subscribe = (resourceNames: string[]) =>
      client.send({
        typeUrl: TypeUrl.endpoint,
        responseNonce: again.nonce,
        versionInfo: again.versionInfo,
        resourceNames,
      });
    subscribe(["a", "b"]);
    await client.expectQuiet();
    subscribe(["a", "b", "c"]);
    const back = await client.next();
    expect(namesIn(back)).toEqual(["c"]);
    client.close();
  });

  it("keeps at most one push unanswered per type, merging later updates into the next", async () => {
    server.cache.setSnapshot("merge", view(["a"], "a"));
    const client = SotwClient.open(server, "merge");
    client.send({ typeUrl: TypeUrl.cluster });
    const first = await client.next();
    for (const extra of ["b", "c", "d"]) server.cache.setSnapshot("merge", view(["a", extra], "a"));
    await client.expectQuiet();
    client.ack(first);
    const merged = await client.next();
    expect(namesIn(merged)).toEqual(["a", "d"]);
    client.ack(merged);
    await client.expectQuiet();
    client.close();
  });

  it("removes clusters routes no longer use only after the routes moved", async () => {
    server.cache.setSnapshot("stale-clusters", view(["a", "b"], "b"));
    const client = await connectEnvoyLike("stale-clusters", ["a", "b"]);
    server.cache.setSnapshot("stale-clusters", view(["a"], "a"));
    // Endpoints "a" did not change and a partial EDS response cannot remove "b": routes go first.
    const rds = await client.next();
    expect(rds.typeUrl).toBe(TypeUrl.route);
    await client.expectQuiet();
    client.ack(rds, ["r"]);
    const cds = await client.next();
    expect(cds.typeUrl).toBe(TypeUrl.cluster);
    expect(namesIn(cds)).toEqual(["a"]);
    client.ack(cds);
    // Cluster "a" is as the client holds it: no EDS response follows the removal of "b".
    await client.expectQuiet();
    client.close();
  });

  it("sends a client moving its watches by name (as Go gRPC does on a route change) only what it lacks", async () => {
    // One stream per target, as Go and C-core gRPC open them: LDS, RDS, CDS and EDS all by name.
    server.cache.setSnapshot("per-target", view(["a", "b"], "a"));
    const client = SotwClient.open(server, "per-target");
    const subscribe = (response: DiscoveryResponse, typeUrl: string, names: string[]) =>
      client.send({ typeUrl, responseNonce: response.nonce, versionInfo: response.versionInfo, resourceNames: names });
    const acked = new Map<string, DiscoveryResponse>();
    const take = async (typeUrl: string, names: string[]) => {
      const response = await client.next();
      expect(response.typeUrl).toBe(typeUrl);
      subscribe(response, typeUrl, names);
      acked.set(typeUrl, response);
      return response;
    };
    client.send({ typeUrl: TypeUrl.listener, resourceNames: ["l"] });
    await take(TypeUrl.listener, ["l"]);
    client.send({ typeUrl: TypeUrl.route, resourceNames: ["r"] });
    await take(TypeUrl.route, ["r"]);
    client.send({ typeUrl: TypeUrl.cluster, resourceNames: ["a"] });
    await take(TypeUrl.cluster, ["a"]);
    client.send({ typeUrl: TypeUrl.endpoint, resourceNames: ["a"] });
    await take(TypeUrl.endpoint, ["a"]);
    await client.expectQuiet();

    server.cache.setSnapshot("per-target", view(["a", "b"], "b"));
    const rds = await client.next();
    expect(rds.typeUrl).toBe(TypeUrl.route);
    // The route moved to "b": the client watches "b" beside "a", and drops "a" once "b" is ready. Its
    // route response stays unanswered meanwhile, so routes are still on their way while clusters move.
    subscribe(acked.get(TypeUrl.cluster) ?? fail(), TypeUrl.cluster, ["a", "b"]);
    const cdsAdded = await client.next();
    expect(cdsAdded.typeUrl).toBe(TypeUrl.cluster);
    // Clusters carry the whole subscribed set; cluster "a" did not change, so no endpoints follow.
    expect(namesIn(cdsAdded)).toEqual(["a", "b"]);
    subscribe(cdsAdded, TypeUrl.cluster, ["a", "b"]);
    await client.expectQuiet();
    subscribe(acked.get(TypeUrl.endpoint) ?? fail(), TypeUrl.endpoint, ["a", "b"]);
    const edsAdded = await client.next();
    expect(edsAdded.typeUrl).toBe(TypeUrl.endpoint);
    expect(namesIn(edsAdded)).toEqual(["b"]);
    subscribe(edsAdded, TypeUrl.endpoint, ["a", "b"]);
    subscribe(cdsAdded, TypeUrl.cluster, ["b"]);
    subscribe(edsAdded, TypeUrl.endpoint, ["b"]);
    await client.expectQuiet();
    // Asked for again, "a" is sent again: the client forgot it when it let it go.
    subscribe(cdsAdded, TypeUrl.cluster, ["a", "b"]);
    const again = await client.next();
    expect(namesIn(again)).toEqual(["a", "b"]);
    client.ack(rds, ["r"]);
    client.close();
  });

  it("serves one type on the per-type services, where type_url may be empty", async () => {
    server.cache.setSnapshot("cds-only", view(["a"], "a"));
    const cds = createClient(ClusterDiscoveryService, server.address);
    try {
      const call = cds.streamClusters();
      const responses = new ResponseQueue<Awaited<ReturnType<SotwClient["next"]>>>(call);
      call.write({ node: { id: "cds-only" } });
      const response = await responses.next();
      expect(response.typeUrl).toBe(TypeUrl.cluster);
      expect(namesIn(response)).toEqual(["a"]);
      call.write({ typeUrl: TypeUrl.route, responseNonce: response.nonce });
      await waitFor(() => responses.error, { what: "the stream to fail" });
      expect(responses.error).toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT });
      const fetched = await cds.fetchClusters({ node: { id: "cds-only" }, resourceNames: ["a", "missing"] });
      expect(namesIn(fetched)).toEqual(["a"]);
    } finally {
      cds.close();
    }
  });

  it("serves each type on its own service, SotW and delta", async () => {
    server.cache.setSnapshot("per-type", [...view(["a"], "a"), encodeResource(SecretSchema, { name: "s" })]);
    const cases = [
      {
        service: EndpointDiscoveryService,
        sotw: "streamEndpoints",
        delta: "deltaEndpoints",
        typeUrl: TypeUrl.endpoint,
        names: ["a"],
      },
      {
        service: ListenerDiscoveryService,
        sotw: "streamListeners",
        delta: "deltaListeners",
        typeUrl: TypeUrl.listener,
        names: [],
      },
      {
        service: RouteDiscoveryService,
        sotw: "streamRoutes",
        delta: "deltaRoutes",
        typeUrl: TypeUrl.route,
        names: ["r"],
      },
      {
        service: SecretDiscoveryService,
        sotw: "streamSecrets",
        delta: "deltaSecrets",
        typeUrl: TypeUrl.secret,
        names: ["s"],
      },
    ] as const;
    for (const { service, sotw, delta, typeUrl, names } of cases) {
      const client = createClient(service as typeof EndpointDiscoveryService, server.address);
      const methods = client as unknown as Record<
        string,
        () => NodeJS.EventEmitter & { write(m: unknown): void; end(): void }
      >;
      try {
        const sotwCall = methods[sotw]?.();
        const deltaCall = methods[delta]?.();
        if (!sotwCall || !deltaCall) throw new Error(`${sotw}/${delta} missing`);
        const sotwResponses = new ResponseQueue<DiscoveryResponse>(sotwCall);
        const deltaResponses = new ResponseQueue<DeltaDiscoveryResponse>(deltaCall);
        sotwCall.write({ node: { id: "per-type" }, resourceNames: [...names] });
        deltaCall.write({ node: { id: "per-type" }, resourceNamesSubscribe: [...names] });
        const sotwResponse = await sotwResponses.next();
        const deltaResponse = await deltaResponses.next();
        expect(sotwResponse.typeUrl).toBe(typeUrl);
        expect(sotwResponse.resources).toHaveLength(1);
        expect(deltaResponse.typeUrl).toBe(typeUrl);
        expect(deltaResponse.resources.map((r) => r.name)).toHaveLength(1);
        sotwCall.end();
        deltaCall.end();
      } finally {
        client.close();
      }
    }
    await waitFor(() => !server.server.proxyStatus().some((p) => p.nodeId === "per-type"), {
      what: "streams to close",
    });
  });

  it("rejects a stream whose first request has no node", async () => {
    const call = server.client.streamAggregatedResources();
    const responses = new ResponseQueue(call);
    call.write({ typeUrl: TypeUrl.cluster });
    await waitFor(() => responses.error, { what: "the stream to fail" });
    expect(responses.error).toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT });
    expect(responses.error?.message).toContain("node");
  });
});

describe("proxy status and metrics", () => {
  it("reports each connected proxy's node, kind and ACKed versions, and convergence time", async () => {
    server.cache.setSnapshot("status", view(["a"], "a"));
    const client = await connectEnvoyLike("status", ["a"]);
    const entry = server.server.proxyStatus().find((p) => p.nodeId === "status");
    expect(entry).toMatchObject({ kind: "ads-sotw", cluster: "test", metadata: { team: "edge" }, group: "status" });
    const cds = entry?.types.find((t) => t.typeUrl === TypeUrl.cluster);
    expect(cds?.acked?.version).toBe(cds?.sent?.version);
    expect(cds?.lastNack).toBeUndefined();

    server.cache.setSnapshot("status", view(["a", "b"], "a"));
    const push = await client.next();
    expect(push.typeUrl).toBe(TypeUrl.cluster);
    server.clock.advance(250);
    client.ack(push);
    await client.expectQuiet();
    expect(
      await metricValue("gantry_xds_convergence_seconds", "gantry_xds_convergence_seconds_sum", TypeUrl.cluster),
    ).toBe(0.25);
    const connected = await server.registry.getSingleMetricAsString("gantry_xds_connected_proxies");
    expect(connected).toMatch(/gantry_xds_connected_proxies\{kind="ads-sotw",service="xds-test"\} [1-9]/);
    client.close();
    await waitFor(() => !server.server.proxyStatus().some((p) => p.nodeId === "status"), {
      what: "the closed stream to leave the status",
    });
  });
});
