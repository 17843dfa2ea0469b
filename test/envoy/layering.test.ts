import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const src = fileURLToPath(new URL("../../src", import.meta.url));

/** Every `src/<folder>` (or `src/<folder>/index.js` door) a folder's files import from outside it. */
function importsOf(folder: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const visit = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (entry.name.endsWith(".ts")) {
        const text = readFileSync(path, "utf8");
        for (const [, spec] of text.matchAll(/from "(\.[^"]+)"/g)) {
          const target = relative(src, join(dir, spec ?? "")).split("/");
          if (target[0] === folder) continue;
          const door = target[0] === "gen" || target[0] === "lib" ? (target[0] ?? "") : target.join("/");
          const file = relative(src, path);
          out.set(door, (out.get(door) ?? new Set()).add(file));
        }
      }
    }
  };
  visit(join(src, folder));
  return out;
}

/** The doors a folder imports that `allowed` rejects, each with the files that import it. */
function offending(folder: string, allowed: (door: string) => boolean): string[] {
  return [...importsOf(folder)]
    .filter(([door]) => !allowed(door))
    .map(([door, files]) => `${door} ← ${[...files].join(", ")}`);
}

describe("layering of the Envoy-resource core", () => {
  it("src/envoy depends only on src/gen and src/lib", () => {
    expect(offending("envoy", (d) => d === "gen" || d === "lib")).toEqual([]);
  });

  it("translate and xds reach it only through its door, and xds knows nothing of Gantry's domain", () => {
    for (const folder of ["translate", "xds"]) {
      expect(offending(folder, (d) => !d.startsWith("envoy/") || d === "envoy/index.js")).toEqual([]);
      expect([...importsOf(folder).keys()]).toContain("envoy/index.js");
    }
    expect(offending("xds", (d) => ["gen", "lib", "envoy/index.js"].includes(d))).toEqual([]);
  });
});
