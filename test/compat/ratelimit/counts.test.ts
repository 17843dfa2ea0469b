// The README and the migration guides say how many cases run side by side with envoyproxy/ratelimit;
// counted here from the table itself, so the numbers cannot drift from the suite. Needs no peer.
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { cases, xdsCases } from "./cases.js";

const root = new URL("../../../", import.meta.url);
/** A document's text with its line breaks as spaces: sentences are wrapped anywhere. */
const read = (path: string) => readFileSync(new URL(path, root), "utf8").replace(/\s+/g, " ");
const documents = [
  "README.md",
  ...readdirSync(new URL("docs/", root))
    .filter((name) => /^migrating-.*\.md$/.test(name))
    .map((name) => `docs/${name}`),
];

describe("the side-by-side case counts the docs state", () => {
  it("are the rate-limit table's: every case by files, those the anchor's xDS proto can carry by xDS", () => {
    const byFiles = cases.length;
    const byXds = xdsCases.length;
    expect(read("README.md")).toContain(`on ${byFiles} cases by files and ${byXds} by xDS`);
    expect(read("docs/migrating-from-envoy-ratelimit.md")).toContain(
      `one table of ${byFiles} cases against envoyproxy/ratelimit's own`,
    );
    expect(read("docs/migrating-from-envoy-ratelimit.md")).toContain(`(the ${byXds} whose config`);
  });

  it("are the only case counts there (a new one needs its count checked above)", () => {
    const counts = documents.flatMap((file) =>
      [...read(file).matchAll(/\b(\d+) (cases|scenarios)\b/g)].map((m) => `${file}: ${m[0]}`),
    );
    expect(counts).toEqual([
      `README.md: ${cases.length} cases`,
      `docs/migrating-from-envoy-ratelimit.md: ${cases.length} cases`,
    ]);
  });
});
