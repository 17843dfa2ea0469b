// The guard of issue 14's "the feature tests cover every kind": each kind Gantry accepts
// (src/resources/kinds.ts) must be applied by some feature test, so a new kind cannot be added
// without one. A test applies a kind through a builder of resources.ts (`gateway(...)`,
// `virtualDestination(...)`) or by name (`resource("Kind", ...)`, `policy("Kind", ...)`).
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { kinds } from "../../src/resources/kinds.js";

const folder = new URL("./", import.meta.url);
const read = (file: string) => readFileSync(new URL(file, folder), "utf8");

/** The builders of resources.ts that make one kind, by function name: those calling `resource("Kind"`. */
function builderKinds(): Map<string, string> {
  const out = new Map<string, string>();
  for (const body of read("resources.ts").split(/\n(?=export )/)) {
    const name = /^export function (\w+)\(/.exec(body)?.[1];
    const kind = /\bresource\(\s*"(\w+)"/.exec(body)?.[1];
    if (name && kind) out.set(name, kind);
  }
  return out;
}

/** The kinds a test file applies: by a builder's name, or named in `resource(`/`policy(`. */
function kindsApplied(source: string, builders: ReadonlyMap<string, string>): Set<string> {
  const used = new Set<string>();
  for (const match of source.matchAll(/\b(?:resource|policy)\(\s*"(\w+)"/g)) used.add(match[1] ?? "");
  for (const [builder, kind] of builders) {
    if (new RegExp(`\\b${builder}\\(`).test(source)) used.add(kind);
  }
  return used;
}

describe("feature test coverage", () => {
  it("every kind is applied by some feature test", () => {
    const builders = builderKinds();
    // The parse found the builders (a refactor of resources.ts must keep this test honest).
    expect(builders.get("gateway")).toBe("Gateway");
    expect(builders.get("virtualDestination")).toBe("VirtualDestination");
    const applied = new Set<string>();
    for (const file of readdirSync(folder).filter((f) => f.endsWith(".test.ts") && f !== "kinds.test.ts")) {
      for (const kind of kindsApplied(read(file), builders)) applied.add(kind);
    }
    const uncovered = kinds.filter((kind) => !applied.has(kind));
    expect(uncovered, "kinds no feature test applies (add one in test/featuretests)").toEqual([]);
  });
});
