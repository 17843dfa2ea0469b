import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { codesMarkdown, docsAnchor, insightCodes, withCodes } from "../../src/insights/index.js";

const docs = readFileSync(new URL("../../docs/insights.md", import.meta.url), "utf8");
const categoryNumber = { config: "01", proxies: "02", security: "03", "data-plane": "04", platform: "05" };

describe("the insight code registry", () => {
  it("numbers each code GTY + its category's two digits + two, and names it once", () => {
    const names = new Set<string>();
    for (const [code, info] of insightCodes) {
      expect(info.code).toBe(code);
      expect(code).toMatch(new RegExp(`^GTY${categoryNumber[info.category]}\\d{2}$`));
      expect(info.name).toMatch(/^[A-Z][A-Za-z0-9]+$/);
      expect(names.has(info.name)).toBe(false);
      names.add(info.name);
      for (const text of [info.summary, info.details, info.resolution]) expect(text.length).toBeGreaterThan(10);
    }
  });

  it("docs/insights.md lists every code as the registry has it (run `node scripts/insights-docs.mjs` after a change)", () => {
    expect(withCodes(docs)).toBe(docs);
    for (const [code, info] of insightCodes) {
      expect(docs).toContain(`<a id="${docsAnchor(code)}"></a>`);
      expect(docs).toContain(info.resolution);
    }
    expect(codesMarkdown()).toContain("| [GTY0203](#gty0203) | ProxyRejectsConfig | proxies | ERROR |");
  });
});
