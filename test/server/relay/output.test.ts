import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { rawResource } from "../../../src/envoy/index.js";
import { OutputSchema } from "../../../src/gen/gantry/relay/v1/relay_pb.js";
import type { Publication, PublishedGroup } from "../../../src/server/index.js";
import {
  applyOutputMessage,
  clusterOutput,
  entryVersions,
  OutputError,
  outputMessage,
  publicationOf,
} from "../../../src/server/relay/index.js";

const listener = "type.googleapis.com/envoy.config.listener.v3.Listener";
const route = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
const bytes = (text: string) => new TextEncoder().encode(text);

function group(
  name: string,
  labels: Record<string, string>,
  resources: [string, string, string][],
  clusters?: string[],
): PublishedGroup {
  return {
    name,
    proxies: { labels, nodeIds: [], ...(clusters ? { clusters } : {}) },
    resources: resources.map(([typeUrl, n, value]) => rawResource(typeUrl, n, bytes(value))),
  };
}

function publication(routeValue = "r1"): Publication<PublishedGroup> {
  return {
    groups: [
      group("mc/everywhere", { app: "mc" }, [
        [listener, "l", "l1"],
        [route, "r", routeValue],
      ]),
      // Placed as translation places it (metadata.clusters, or the gantry.io/cluster selector label).
      group("mc/east-only", { app: "mc" }, [[listener, "east-l", "e1"]], ["east"]),
    ],
    authConfigs: [rawResource("type.googleapis.com/gantry.extauth.v1.AuthConfig", "mc/auth", bytes("a1"))],
    rateLimitConfigs: [],
  };
}

describe("a cluster's output", () => {
  it("places a gateway placed in a cluster there only, and sends its selection without the placement", () => {
    const east = clusterOutput(publication(), "east");
    const west = clusterOutput(publication(), "west");
    expect(east.groups.map((g) => g.name)).toEqual(["mc/east-only", "mc/everywhere"]);
    expect(west.groups.map((g) => g.name)).toEqual(["mc/everywhere"]);
    expect(east.groups[0]?.labels).toEqual({ app: "mc" });
    expect([...west.entries.keys()].sort()).toEqual([
      "extauth/mc/auth",
      `group/mc/everywhere/${listener}/l`,
      `group/mc/everywhere/${route}/r`,
    ]);
  });

  it("is versioned by content: equal publications give equal versions, as on another replica", () => {
    expect(clusterOutput(publication(), "west").version).toBe(clusterOutput(publication(), "west").version);
    expect(clusterOutput(publication("r2"), "west").version).not.toBe(clusterOutput(publication(), "west").version);
  });

  it("sends a reconnecting agent only the entries that differ, and nothing when it holds the same", () => {
    const before = clusterOutput(publication(), "west");
    const after = clusterOutput(publication("r2"), "west");
    const delta = outputMessage(after, before.version, entryVersions(before), "s1");
    expect(delta?.full).toBe(false);
    expect(delta?.upserted.map((e) => e.key)).toEqual([`group/mc/everywhere/${route}/r`]);
    expect(delta?.removed).toEqual([]);
    expect(outputMessage(after, after.version, entryVersions(after), "s1")).toBeUndefined();
    // A new stream is always answered, so the agent learns that what it holds is current.
    expect(outputMessage(after, after.version, entryVersions(after), "s1", true)?.upserted).toEqual([]);
    expect(outputMessage(after, "", new Map(), "s1")?.full).toBe(true);
  });

  it("is rebuilt by the agent from full and delta messages into the same publication", () => {
    const before = clusterOutput(publication(), "east");
    const after = clusterOutput(publication("r2"), "east");
    const full = applyOutputMessage(undefined, create(OutputSchema, outputMessage(before, "", new Map(), "s1")));
    expect(full.version).toBe(before.version);
    const next = applyOutputMessage(
      full,
      create(OutputSchema, outputMessage(after, full.version, entryVersions(full), "s1")),
    );
    expect(next.version).toBe(after.version);
    const rebuilt = publicationOf(next);
    expect(rebuilt.groups.map((g) => [g.name, g.resources.map((r) => r.name)])).toEqual([
      ["mc/east-only", ["east-l"]],
      ["mc/everywhere", ["l", "r"]],
    ]);
    expect(rebuilt.authConfigs.map((r) => r.name)).toEqual(["mc/auth"]);
  });

  it("refuses a delta on another base, and entries that do not add up to the version announced", () => {
    const before = clusterOutput(publication(), "west");
    const after = clusterOutput(publication("r2"), "west");
    const delta = create(OutputSchema, outputMessage(after, before.version, entryVersions(before), "s1"));
    expect(() => applyOutputMessage(after, delta)).toThrow(OutputError);
    expect(() => applyOutputMessage(after, delta)).toThrow(/is a delta on/);
    const lying = create(OutputSchema, { ...outputMessage(after, "", new Map(), "s1"), version: "0000" });
    expect(() => applyOutputMessage(undefined, lying)).toThrow(/hash to/);
  });
});
