// The dashboard's JavaScript budget: what the first page loads is under 250 KB gzipped, and the
// graph library (cytoscape, dagre) is a lazy chunk that only the graph page loads.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";

const dist = new URL("../../dist/ui/", import.meta.url);

interface Manifest {
  entry: string;
  css?: string;
  initial: string[];
  lazy: string[];
}

const gzipped = (file: string) => gzipSync(readFileSync(new URL(file, dist)), { level: 9 }).length;

describe("the dashboard's JavaScript budget", () => {
  let manifest: Manifest;
  beforeAll(() => {
    execFileSync(process.execPath, ["scripts/build-ui.mjs"], {
      cwd: new URL("../../", import.meta.url),
      stdio: "pipe",
    });
    manifest = JSON.parse(readFileSync(new URL("manifest.json", dist), "utf8")) as Manifest;
  });

  it("loads under 250 KB gzipped on the first page, the graph library later", () => {
    const initial = manifest.initial.reduce((sum, file) => sum + gzipped(file), 0);
    const lazy = manifest.lazy.reduce((sum, file) => sum + gzipped(file), 0);
    console.log(
      `dashboard JavaScript, gzipped: first page ${(initial / 1024).toFixed(1)} KB, graph page adds ${(lazy / 1024).toFixed(1)} KB`,
    );
    expect(initial).toBeLessThan(250 * 1024);
    const text = (files: string[]) => files.map((f) => readFileSync(new URL(f, dist), "utf8")).join("\n");
    expect(text(manifest.initial)).not.toContain("cytoscape");
    expect(text(manifest.lazy)).toContain("cytoscape");
  });
});
