import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { encodeResource, inPushOrder, ResourceError, rawResource, TypeUrl } from "../../src/envoy/index.js";
import { NodeSchema } from "../../src/gen/envoy/config/core/v3/base_pb.js";
import { ListenerSchema } from "../../src/gen/envoy/config/listener/v3/listener_pb.js";
import { ManualClock } from "../../src/lib/clock.js";
import {
  consistencyProblems,
  type PublishedSnapshot,
  Snapshot,
  SnapshotCache,
  SnapshotError,
} from "../../src/xds/index.js";
import { apiListener, edsCluster, endpoints, portListener, routes, service } from "./fixtures.js";

describe("resources", () => {
  it("versions a resource by its bytes: equal content, equal version", () => {
    expect(edsCluster("a").version).toBe(edsCluster("a").version);
    expect(edsCluster("a", 2).version).not.toBe(edsCluster("a").version);
    expect(endpoints("a", 1).name).toBe("a");
    expect(edsCluster("a").typeUrl).toBe(TypeUrl.cluster);
  });

  it("serves any type URL from raw bytes, and names what is missing", () => {
    const custom = rawResource("type.googleapis.com/gantry.extauth.v1.AuthConfig", "cfg", new Uint8Array([1, 2]));
    expect(custom.version).toMatch(/^[0-9a-f]{16}$/);
    expect(() => rawResource("", "x", new Uint8Array())).toThrow(ResourceError);
    expect(() => encodeResource(ListenerSchema, {})).toThrow(/envoy.config.listener.v3.Listener: resource has no name/);
  });

  it("orders pushes CDS, EDS, LDS, RDS, then the rest by name", () => {
    expect(
      inPushOrder(["z.Custom", TypeUrl.route, TypeUrl.listener, "a.Custom", TypeUrl.endpoint, TypeUrl.cluster]),
    ).toEqual([TypeUrl.cluster, TypeUrl.endpoint, TypeUrl.listener, TypeUrl.route, "a.Custom", "z.Custom"]);
  });
});

describe("Snapshot", () => {
  it("rejects a name given twice within a type", () => {
    expect(() => Snapshot.of([edsCluster("a"), edsCluster("a", 3)])).toThrow(/Cluster "a" is given twice/);
  });

  it("has a version per type that ignores order and changes with any resource", () => {
    const one = Snapshot.of([edsCluster("a"), edsCluster("b")]);
    const same = Snapshot.of([edsCluster("b"), edsCluster("a")]);
    const other = Snapshot.of([edsCluster("a"), edsCluster("b", 9)]);
    expect(one.version(TypeUrl.cluster)).toBe(same.version(TypeUrl.cluster));
    expect(one.version(TypeUrl.cluster)).not.toBe(other.version(TypeUrl.cluster));
    expect(one.version(TypeUrl.route)).toBe(Snapshot.of([]).version(TypeUrl.route));
  });
});

describe("SnapshotCache", () => {
  it("accepts a consistent snapshot and tells watchers of its group only", () => {
    const cache = new SnapshotCache();
    const seen: Array<PublishedSnapshot | undefined> = [];
    const stop = cache.watch("g", (published) => seen.push(published));
    cache.watch("other", () => {
      throw new Error("wrong group told");
    });
    cache.setSnapshot("g", service("svc", 1));
    expect(seen).toHaveLength(1);
    expect([...(seen[0]?.snapshot.resources(TypeUrl.listener).keys() ?? [])]).toEqual(["svc"]);
    cache.clearSnapshot("g");
    expect(seen).toHaveLength(2);
    expect(seen[1]).toBeUndefined();
    expect(cache.snapshot("g")).toBeUndefined();
    stop();
    cache.setSnapshot("g", service("svc", 2));
    expect(seen).toHaveLength(2);
    expect(cache.groups).toEqual(["g"]);
  });

  it("names what makes a snapshot inconsistent: a listener's missing routes, a cluster's missing endpoints", () => {
    const bad = Snapshot.of([
      portListener("web", 8080, "missing-routes"),
      apiListener("api", "also-missing"),
      edsCluster("lonely"),
    ]);
    expect(consistencyProblems(bad)).toEqual([
      'listener "web" names route configuration "missing-routes", which is missing',
      'listener "api" names route configuration "also-missing", which is missing',
      'cluster "lonely" loads endpoints "lonely" by EDS, which are missing',
    ]);
    expect(consistencyProblems(Snapshot.of(service("svc", 1)))).toEqual([]);
    const junk = Snapshot.of([rawResource(TypeUrl.cluster, "junk", new Uint8Array([0xff, 0xff]))]);
    expect(consistencyProblems(junk)).toEqual([expect.stringMatching(/^cluster "junk" cannot be decoded/)]);
  });

  it("serves what it is given: validation and consistency are the publisher's job", () => {
    const cache = new SnapshotCache();
    // Inconsistent, and a cluster a client would NACK (connect_timeout 0).
    const unchecked = [portListener("web", 8080, "missing-routes"), edsCluster("lonely", 0)];
    cache.setSnapshot("g", unchecked);
    expect([...(cache.snapshot("g")?.snapshot.resources(TypeUrl.cluster).keys() ?? [])]).toEqual(["lonely"]);
    // A name twice within a type is still no snapshot at all.
    expect(() => cache.setSnapshot("g", [edsCluster("a"), edsCluster("a", 2)])).toThrow(SnapshotError);
  });

  it("replaces one type and keeps when each type last changed", () => {
    const clock = new ManualClock(1_000);
    const cache = new SnapshotCache({ clock });
    cache.setSnapshot("g", service("svc", 1));
    clock.advance(500);
    cache.setResources("g", TypeUrl.route, [routes("svc-routes", "elsewhere")]);
    const published = cache.snapshot("g");
    expect(published?.changedAt.get(TypeUrl.route)).toBe(1_500);
    expect(published?.changedAt.get(TypeUrl.cluster)).toBe(1_000);
    expect(published?.snapshot.resources(TypeUrl.cluster).has("svc-cluster")).toBe(true);
    const custom = "type.googleapis.com/gantry.extauth.v1.AuthConfig";
    cache.setResources("g", custom, [rawResource(custom, "c1", new Uint8Array([1]))]);
    expect(cache.snapshot("g")?.snapshot.typeUrls).toContain(custom);
    expect(() => cache.setResources("g", custom, [edsCluster("x")])).toThrow(/expected type.googleapis.com\/gantry/);
  });

  it("groups nodes with the given function", () => {
    const cache = new SnapshotCache({ nodeGroupOf: (node) => node.cluster });
    expect(cache.groupOf(create(NodeSchema, { id: "a", cluster: "gateways" }))).toBe("gateways");
  });
});
