import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { DiscoverySchema } from "../../../src/gen/gantry/relay/v1/relay_pb.js";
import {
  applyDiscovery,
  type DiscoveredSet,
  DiscoveryError,
  discoveredDocument,
  discoveryMessage,
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
  });
});
