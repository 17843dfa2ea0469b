import { describe, expect, it } from "vitest";
import { Snapshot, versionOfSet } from "../../src/xds/index.js";
import { Selections } from "../../src/xds/selections.js";
import { probe, probeType } from "./harness.js";

describe("Selections: what a fleet asks for, once", () => {
  it("interns name lists: equal lists give the one set, other lists another", () => {
    const selections = new Selections();
    const a = selections.names(["x", "y"]);
    expect(selections.names(["x", "y"])).toBe(a);
    expect([...a]).toEqual(["x", "y"]);
    expect(selections.names(["y", "x"])).not.toBe(a);
    expect(selections.names(["x"])).not.toBe(a);
  });

  it("works out what a set selects once per snapshot type, in the set's order, without missing names", () => {
    const selections = new Selections();
    const snapshot = Snapshot.of([probe("a"), probe("b"), probe("c")]);
    const all = snapshot.resources(probeType);
    const names = selections.names(["c", "missing", "a"]);
    const selection = selections.select(all, names);
    expect(selection.resources.map((r) => r.name)).toEqual(["c", "a"]);
    expect(selection.version).toBe(versionOfSet([probe("a"), probe("c")]));
    expect(selections.select(all, selections.names(["c", "missing", "a"]))).toBe(selection);
    // Another snapshot of the type is worked out again.
    const next = Snapshot.of([probe("a"), probe("c")]).resources(probeType);
    expect(selections.select(next, names)).not.toBe(selection);
    expect(selections.every(all)).toBe(selections.every(all));
    expect(selections.every(all).map((r) => r.name)).toEqual(["a", "b", "c"]);
  });
});
