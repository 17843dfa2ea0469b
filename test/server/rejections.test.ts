import { describe, expect, it } from "vitest";
import { rejectionTimes } from "../../src/server/rejections.js";
import { State, type Status } from "../../src/translate/index.js";

const statuses = (entries: Record<string, Status>) => new Map(Object.entries(entries));
const rejected = (...messages: string[]): Status => ({ state: State.INVALID, messages });

describe("rejectionTimes: since when a resource is rejected", () => {
  it("keeps the first time while the reason stays; a new reason or a new rejection starts now", () => {
    const first = rejectionTimes(new Map(), statuses({ "RouteTable/a/t": rejected("bad regex") }), 100);
    expect(first.get("RouteTable/a/t")).toEqual({ reason: "bad regex", since: 100 });
    const same = rejectionTimes(
      first,
      statuses({ "RouteTable/a/t": rejected("bad regex"), "Gateway/a/g": rejected("no port") }),
      200,
    );
    expect(same.get("RouteTable/a/t")?.since).toBe(100);
    expect(same.get("Gateway/a/g")?.since).toBe(200);
    const changed = rejectionTimes(same, statuses({ "RouteTable/a/t": rejected("other regex") }), 300);
    expect(changed.get("RouteTable/a/t")?.since).toBe(300);
    expect(changed.has("Gateway/a/g")).toBe(false);
  });

  it("counts INVALID and FAILED only: accepted and warned resources have no time", () => {
    const times = rejectionTimes(
      new Map(),
      statuses({
        "Destination/a/d": { state: State.WARNING, messages: ["unused"] },
        "Destination/a/e": { state: State.ACCEPTED, messages: [] },
        "Gateway/a/g": { state: State.FAILED, messages: ["store"] },
      }),
      5,
    );
    expect([...times.keys()]).toEqual(["Gateway/a/g"]);
  });
});
