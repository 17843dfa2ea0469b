import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { expectGolden, updatingGoldens } from "./golden.js";

describe("golden files", () => {
  const dirs: string[] = [];
  const scratch = () => {
    const dir = mkdtempSync(join(tmpdir(), "golden-"));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("fails on a missing golden, and does not write it", () => {
    const file = join(scratch(), "missing.json");
    expect(() => expectGolden(file, { a: 1 }, {})).toThrow(/missing\.json is missing: .*UPDATE_GOLDENS=1/);
    expect(existsSync(file)).toBe(false);
  });

  it("compares as data, and fails on a difference", () => {
    const file = join(scratch(), "g.json");
    writeFileSync(file, '{ "b": [1, 2], "a": "x" }');
    expectGolden(file, { a: "x", b: [1, 2] }, {});
    expect(() => expectGolden(file, { a: "y", b: [1, 2] }, {})).toThrow();
  });

  it("writes goldens only with UPDATE_GOLDENS=1", () => {
    const file = join(scratch(), "g.json");
    expect(updatingGoldens({ UPDATE_GOLDENS: "true" })).toBe(false);
    expect(updatingGoldens({ UPDATE_GOLDEN: "1" })).toBe(false);
    expectGolden(file, { a: 1 }, { UPDATE_GOLDENS: "1" });
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ a: 1 });
    expectGolden(file, { a: 2 }, { UPDATE_GOLDENS: "1" });
    expectGolden(file, { a: 2 }, {});
  });
});
