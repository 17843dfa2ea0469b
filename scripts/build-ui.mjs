#!/usr/bin/env node
// Builds the dashboard (ui/) into dist/ui with esbuild: one entry, code split so the graph's
// cytoscape loads only on the graph page, names hashed by content (served as immutable), and
// dist/ui/manifest.json listing what the first page loads and what loads later (the budget test
// reads it). Runs from `prepare` (npm install / npm ci) next to codegen and tsc, so a fresh
// install serves the UI; `npm run build:ui` alone rebuilds it.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outdir = join(root, "dist", "ui");

export async function buildUi() {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: { app: "ui/src/main.tsx" },
    bundle: true,
    splitting: true,
    format: "esm",
    outdir,
    entryNames: "[name]-[hash]",
    chunkNames: "chunk-[hash]",
    assetNames: "[name]-[hash]",
    minify: true,
    sourcemap: false,
    target: ["es2022", "chrome111", "firefox111", "safari16"],
    jsx: "automatic",
    jsxImportSource: "preact",
    metafile: true,
    legalComments: "linked",
    logLevel: "warning",
  });
  const outputs = result.metafile.outputs;
  const name = (path) => relative(outdir, join(root, path)).split("\\").join("/");
  const entry = Object.keys(outputs).find((path) => outputs[path].entryPoint === "ui/src/main.tsx");
  if (!entry) throw new Error("build-ui: esbuild produced no output for ui/src/main.tsx");
  // What the first page loads: the entry and what it imports statically, transitively.
  const initial = new Set();
  const visit = (path) => {
    if (initial.has(path)) return;
    initial.add(path);
    for (const imported of outputs[path].imports) if (imported.kind === "import-statement") visit(imported.path);
  };
  visit(entry);
  const css = outputs[entry].cssBundle;
  const js = Object.keys(outputs).filter((path) => path.endsWith(".js"));
  const manifest = {
    entry: name(entry),
    css: css ? name(css) : undefined,
    initial: [...initial].map(name),
    lazy: js.filter((path) => !initial.has(path)).map(name),
  };
  writeFileSync(join(outdir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  const html = readFileSync(join(root, "ui", "index.html"), "utf8")
    .replace("%JS%", manifest.entry)
    .replace("%CSS%", manifest.css ?? "");
  writeFileSync(join(outdir, "index.html"), html);
  return manifest;
}

if (process.argv[1] && basename(process.argv[1]) === "build-ui.mjs") {
  const manifest = await buildUi();
  console.log(
    `gantry: dashboard built in dist/ui (${manifest.initial.length} initial, ${manifest.lazy.length} lazy files)`,
  );
}
