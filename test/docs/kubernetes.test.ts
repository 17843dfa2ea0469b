import { describe, expect, it } from "vitest";
import { pluralOf } from "../../src/kube/index.js";
import { kinds } from "../../src/resources/index.js";
import { codeSpans, parseMarkdown } from "./markdown.js";

/** docs/kubernetes.md's table of CRDs names every kind and the resource (plural) kubectl knows it by. */
describe("docs/kubernetes.md: the CRDs", () => {
  const table = parseMarkdown("docs/kubernetes.md").tables.find((t) => t.header[0] === "kind");

  it("lists every kind, each with its plural", () => {
    const listed = new Map<string, string>();
    for (const row of table?.rows ?? []) {
      const rowKinds = (row[0] ?? "").split(",").map((k) => k.trim());
      const plurals = codeSpans(row[1] ?? "");
      rowKinds.forEach((kind, i) => {
        // "`…policies`" stands for each kind's own plural.
        listed.set(kind, plurals.length === rowKinds.length ? (plurals[i] ?? "") : pluralOf(kind));
      });
    }
    expect([...listed.keys()].sort()).toEqual([...kinds].sort());
    for (const [kind, plural] of listed) expect(plural, kind).toBe(pluralOf(kind));
  });
});
