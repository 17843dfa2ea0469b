import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { DiscoverySchema } from "../../../src/gen/gantry/relay/v1/relay_pb.js";
import {
  applyDiscovery,
  type DiscoveredSet,
  DiscoveryError,
  discoveredDocument,
  discoveryMessage,
  isDiscoveredBy,
  planDiscoveryWrite,
  storedDocument,
} from "../../../src/server/relay/index.js";

const doc = (name: string, port: number) => ({
  apiVersion: "gantry/v1",
  kind: "Destination",
  metadata: { name, namespace: "mc" },
  spec: { endpoints: [{ address: "127.0.0.1", port }] },
});
const set = (...docs: ReturnType<typeof doc>[]): DiscoveredSet =>
  new Map(
    docs.map((d) => [`Destination/mc/${d.metadata.name}`, discoveredDocument(`Destination/mc/${d.metadata.name}`, d)]),
  );

describe("a cluster's discovery", () => {
  it("goes up whole, then as changes the server adds up to the same set", () => {
    const first = set(doc("a", 1), doc("b", 2));
    const second = set(doc("a", 1), doc("c", 3));
    const atServer = applyDiscovery(undefined, create(DiscoverySchema, discoveryMessage(undefined, first, 1n)));
    const change = discoveryMessage(first, second, 2n);
    expect(change.upserted.map((u) => u.key)).toEqual(["Destination/mc/c"]);
    expect(change.removed).toEqual(["Destination/mc/b"]);
    const next = applyDiscovery(atServer, create(DiscoverySchema, change));
    expect([...next.keys()].sort()).toEqual(["Destination/mc/a", "Destination/mc/c"]);
  });

  it("refuses a change on a base the server does not hold, so the agent sends it whole", () => {
    const change = create(DiscoverySchema, discoveryMessage(set(doc("a", 1)), set(doc("a", 2)), 2n));
    expect(() => applyDiscovery(undefined, change)).toThrow(DiscoveryError);
    expect(() => applyDiscovery(set(doc("z", 9)), change)).toThrow(/changes .* but the server holds/);
  });

  it("refuses a document that does not match its hash", () => {
    const message = create(DiscoverySchema, discoveryMessage(undefined, set(doc("a", 1)), 1n));
    const first = message.upserted[0];
    if (first) first.documentJson = JSON.stringify(doc("a", 666));
    expect(() => applyDiscovery(undefined, message)).toThrow(/does not match its hash/);
  });

  it("is stored namespaced by cluster: two clusters' `a` do not clash", () => {
    const east = storedDocument("east", doc("a", 1));
    const west = storedDocument("west", doc("a", 2));
    expect([east.metadata.name, west.metadata.name]).toEqual(["a.east", "a.west"]);
    expect(east.metadata.namespace).toBe("mc");
    expect(east.metadata.labels).toEqual({ "gantry.io/cluster": "east", "gantry.io/discovered-name": "a" });
    // Placed in its cluster, so that it is a VirtualDestination member as it is.
    expect(east.metadata["clusters"]).toEqual(["east"]);
  });

  it("tells a cluster's own stored documents from a user's of the same name", () => {
    const east = storedDocument("east", doc("a", 1));
    expect(isDiscoveredBy(east, "east")).toBe(true);
    expect(isDiscoveredBy(east, "west")).toBe(false);
    // A user's `a.east`, even labelled with the cluster (the older placement spelling), is not east's.
    const user = { ...east, metadata: { name: "a.east", namespace: "mc", labels: { "gantry.io/cluster": "east" } } };
    expect(isDiscoveredBy(user, "east")).toBe(false);
  });
});

describe("storing a cluster's discovery", () => {
  const user = {
    apiVersion: "gantry/v1",
    kind: "Destination",
    metadata: { name: "b.east", namespace: "mc" },
    spec: {},
  };
  const held = (...documents: { metadata: { name: string; namespace?: string } }[]) =>
    new Map(documents.map((d) => [`Destination/mc/${d.metadata.name}`, d as never]));

  it("writes what changed, but never a name a user's resource holds, and says which", () => {
    const plan = planDiscoveryWrite({
      cluster: "east",
      held: held(user, storedDocument("east", doc("a", 1))),
      previous: set(doc("a", 1)),
      next: set(doc("a", 1), doc("b", 2), doc("c", 3)),
      full: false,
      retry: new Map(),
    });
    expect(plan.writes.map((w) => w.document.metadata.name)).toEqual(["c.east"]);
    expect([...plan.conflicts]).toEqual([["Destination/mc/b.east", "Destination/mc/b"]]);
    expect(plan.gone).toEqual([]);
  });

  it("removes only the cluster's own documents it no longer has, whole or by change", () => {
    const stored = held(user, storedDocument("east", doc("a", 1)), storedDocument("west", doc("z", 1)));
    const whole = planDiscoveryWrite({
      cluster: "east",
      held: stored,
      previous: undefined,
      next: set(),
      full: true,
      retry: new Map(),
    });
    expect(whole.gone).toEqual([{ kind: "Destination", namespace: "mc", name: "a.east" }]);
    const change = planDiscoveryWrite({
      cluster: "east",
      held: stored,
      previous: set(doc("a", 1), doc("b", 2)),
      next: set(),
      full: false,
      retry: new Map(),
    });
    expect(change.gone).toEqual([{ kind: "Destination", namespace: "mc", name: "a.east" }]);
  });

  it("tries a left-out document again, and writes it once the name is free", () => {
    const plan = planDiscoveryWrite({
      cluster: "east",
      held: held(),
      previous: set(doc("b", 2)),
      next: set(doc("b", 2)),
      full: false,
      retry: new Map([["Destination/mc/b.east", "Destination/mc/b"]]),
    });
    expect(plan.writes.map((w) => w.document.metadata.name)).toEqual(["b.east"]);
    expect(plan.conflicts.size).toBe(0);
  });
});
