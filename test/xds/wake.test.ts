// Which streams a publish wakes: only those subscribed to a resource it changed. Streams are driven
// directly (no transport) with a byte budget that counts their push passes, so a stream woken for
// nothing shows even though it would write nothing.
import { create, fromBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { TypeUrl, type XdsResource } from "../../src/envoy/index.js";
import { NodeSchema } from "../../src/gen/envoy/config/core/v3/base_pb.js";
import {
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  DiscoveryRequestSchema,
  DiscoveryResponseSchema,
} from "../../src/gen/envoy/service/discovery/v3/discovery_pb.js";
import { ManualClock } from "../../src/lib/clock.js";
import { DeltaStream } from "../../src/xds/delta.js";
import { ResponseEncodings } from "../../src/xds/encoding.js";
import { Holdings } from "../../src/xds/holdings.js";
import { changesBetween, combineHooks, Snapshot, SnapshotCache } from "../../src/xds/index.js";
import { Selections } from "../../src/xds/selections.js";
import { SotwStream } from "../../src/xds/sotw.js";
import type { StreamContext, StreamTransport } from "../../src/xds/stream.js";
import type { BudgetedWriter, WriteBudget } from "../../src/xds/write-budget.js";
import { apiListener, edsCluster, endpoints, routes } from "./fixtures.js";

const targets = 20;

/** Target t's listener and routes (to cluster `to`); the clusters a and b with their endpoints. */
function fleetView(routeOf: (t: number) => string): XdsResource[] {
  return [
    ...Array.from({ length: targets }, (_, t) => [
      apiListener(`t${t}`, `t${t}-routes`),
      routes(`t${t}-routes`, routeOf(t)),
    ]).flat(),
    edsCluster("a"),
    edsCluster("b"),
    endpoints("a", 9001),
    endpoints("b", 9002),
  ];
}

/** A stream context whose budget counts each stream's push passes (every pass asks it first). */
function countingContext(cache: SnapshotCache) {
  const passes = new Map<BudgetedWriter, number>();
  const budget = {
    admit: (writer: BudgetedWriter) => {
      passes.set(writer, (passes.get(writer) ?? 0) + 1);
      return true;
    },
    hold: () => {},
    written: () => {},
    forget: () => {},
  } as unknown as WriteBudget;
  const context: StreamContext = {
    cache,
    hooks: combineHooks(),
    clock: new ManualClock(),
    logger: undefined,
    partialSotwUpdates: true,
    holdings: new Holdings(),
    selections: new Selections(),
    encodings: new ResponseEncodings(),
    budget,
  };
  return { context, passes };
}

/** Runs every push pass scheduled so far (streams push on setImmediate). */
const passesRun = () => new Promise((resolve) => setImmediate(resolve));

const node = create(NodeSchema, { id: "go-client", cluster: "bench" });

/** What a Go-gRPC-like client of target t names: that target's listener and routes, cluster a and its endpoints. */
function targetNames(t: number): Record<string, string[]> {
  return {
    [TypeUrl.listener]: [`t${t}`],
    [TypeUrl.route]: [`t${t}-routes`],
    [TypeUrl.cluster]: ["a"],
    [TypeUrl.endpoint]: ["a"],
  };
}

/** A transport that decodes and keeps what a stream writes. */
function recording<R>(decode: (bytes: Buffer) => R) {
  const written: R[] = [];
  const transport: StreamTransport = {
    write: (parts, done) => {
      written.push(decode(Buffer.concat(parts)));
      done();
    },
    drop: () => {},
  };
  return { written, transport };
}

/** A client of one target on a SotW stream, subscribed as `targetNames` says. */
function sotwTargetStream(context: StreamContext, t: number) {
  const { written, transport } = recording((bytes) => fromBinary(DiscoveryResponseSchema, bytes));
  const stream = new SotwStream(context, `peer-${t}`, undefined, transport);
  const names = targetNames(t);
  const send = (typeUrl: string, nonce = "", versionInfo = "") =>
    stream.handle(
      create(DiscoveryRequestSchema, {
        node,
        typeUrl,
        resourceNames: names[typeUrl] ?? [],
        responseNonce: nonce,
        versionInfo,
      }),
    );
  for (const typeUrl of Object.keys(names)) send(typeUrl);
  /** ACKs every response written so far, and forgets them. */
  const ackAll = () => {
    for (const response of written.splice(0)) send(response.typeUrl, response.nonce, response.versionInfo);
  };
  return { stream, written, ackAll };
}

/** The same client on a delta stream. */
function deltaTargetStream(context: StreamContext, t: number) {
  const { written, transport } = recording((bytes) => fromBinary(DeltaDiscoveryResponseSchema, bytes));
  const stream = new DeltaStream(context, `peer-${t}`, undefined, transport);
  for (const [typeUrl, subscribe] of Object.entries(targetNames(t))) {
    stream.handle(create(DeltaDiscoveryRequestSchema, { node, typeUrl, resourceNamesSubscribe: subscribe }));
  }
  const ackAll = () => {
    for (const response of written.splice(0)) {
      stream.handle(
        create(DeltaDiscoveryRequestSchema, { node, typeUrl: response.typeUrl, responseNonce: response.nonce }),
      );
    }
  };
  return { stream, written, ackAll };
}

describe("a publish wakes only the streams it concerns", () => {
  for (const [protocol, open] of [
    ["SotW", sotwTargetStream],
    ["delta", deltaTargetStream],
  ] as const) {
    it(`${protocol}: a change to target t3 wakes and writes only the stream subscribed to t3's routes`, async () => {
      const cache = new SnapshotCache();
      const { context, passes } = countingContext(cache);
      cache.setSnapshot(
        "go-client",
        fleetView(() => "a"),
      );
      const streams = Array.from({ length: targets }, (_, t) => open(context, t));
      await passesRun();
      for (const { written } of streams) {
        expect(written.map((r) => r.typeUrl).sort()).toEqual(
          [TypeUrl.cluster, TypeUrl.endpoint, TypeUrl.listener, TypeUrl.route].sort(),
        );
      }
      for (const s of streams) s.ackAll();
      await passesRun();
      expect(streams.every((s) => s.written.length === 0)).toBe(true);
      passes.clear();

      cache.setSnapshot(
        "go-client",
        fleetView((t) => (t === 3 ? "b" : "a")),
      );
      await passesRun();
      expect([...passes.keys()]).toEqual([streams[3]?.stream]);
      expect(streams.map((s) => s.written.map((r) => r.typeUrl))).toEqual(
        streams.map((_, t) => (t === 3 ? [TypeUrl.route] : [])),
      );

      // A change to the clusters every stream names wakes them all.
      passes.clear();
      for (const s of streams) s.ackAll();
      await passesRun();
      passes.clear();
      cache.setSnapshot("go-client", [
        ...fleetView((t) => (t === 3 ? "b" : "a")).filter((r) => r.name !== "a" || r.typeUrl !== TypeUrl.endpoint),
        endpoints("a", 9003),
      ]);
      await passesRun();
      expect(passes.size).toBe(targets);
      expect(streams.every((s) => s.written.length === 1 && s.written[0]?.typeUrl === TypeUrl.endpoint)).toBe(true);
    });
  }

  it("a publish's pass runs as soon as the publishing code returns, before the event loop reads more", async () => {
    const cache = new SnapshotCache();
    const { context, passes } = countingContext(cache);
    cache.setSnapshot(
      "go-client",
      fleetView(() => "a"),
    );
    const { stream, written, ackAll } = sotwTargetStream(context, 3);
    await passesRun();
    ackAll();
    await passesRun();
    passes.clear();
    cache.setSnapshot(
      "go-client",
      fleetView((t) => (t === 3 ? "b" : "a")),
    );
    expect(written).toHaveLength(0); // not within the publishing code itself
    await Promise.resolve(); // one microtask turn: no timer, no check phase
    expect(passes.get(stream)).toBe(1);
    expect(written.map((r) => r.typeUrl)).toEqual([TypeUrl.route]);
  });

  it("a stream whose snapshot is first published, or cleared, is woken whatever it subscribes to", async () => {
    const cache = new SnapshotCache();
    const { context, passes } = countingContext(cache);
    const { stream, written } = sotwTargetStream(context, 0);
    await passesRun();
    expect(passes.get(stream)).toBeUndefined();
    cache.setSnapshot(
      "go-client",
      fleetView(() => "a"),
    );
    await passesRun();
    expect(passes.get(stream)).toBe(1);
    expect(written).toHaveLength(4);
  });
});

describe("changesBetween", () => {
  it("names, per type whose version changed, what was added, removed or changed", () => {
    const before = Snapshot.of([routes("r1", "a"), routes("r2", "a"), edsCluster("a")]);
    const after = Snapshot.of([routes("r1", "b"), routes("r3", "a"), edsCluster("a")]);
    const changes = changesBetween(before, after);
    expect([...changes.keys()]).toEqual([TypeUrl.route]);
    expect([...(changes.get(TypeUrl.route) ?? [])].sort()).toEqual(["r1", "r2", "r3"]);
    expect(changesBetween(after, after).size).toBe(0);
  });

  it("is told to a group's watchers with each publish after the first", () => {
    const cache = new SnapshotCache();
    const seen: Array<ReadonlyMap<string, ReadonlySet<string>> | undefined> = [];
    cache.watch("g", (_published, changes) => seen.push(changes));
    cache.setSnapshot("g", [routes("r1", "a")]);
    cache.setSnapshot("g", [routes("r1", "b"), routes("r2", "a")]);
    cache.clearSnapshot("g");
    expect(seen[0]).toBeUndefined();
    expect([...(seen[1]?.get(TypeUrl.route) ?? [])].sort()).toEqual(["r1", "r2"]);
    expect(seen[2]).toBeUndefined();
  });
});
