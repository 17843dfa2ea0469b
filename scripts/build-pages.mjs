#!/usr/bin/env node
// Builds Gantry's two web apps, both Preact + TypeScript bundled by esbuild. Runs from `prepare`
// (npm install / npm ci) next to codegen and tsc, so a fresh install serves them.
// - the dashboard (ui/) into dist/ui: one entry, code split so the graph's cytoscape loads only on
//   the graph page, names hashed by content (served as immutable), and dist/ui/manifest.json listing
//   what the first page loads and what loads later (the budget test reads it);
// - the developer portal (portal/) into dist/portal/pages (beside, not over, tsc's output for
//   src/portal): one bundle, its stylesheet and entry page, and Scalar's standalone API-reference
//   renderer copied beside them (loaded only by product pages, so the portal works offline from its
//   own files). Skipped when nothing that feeds it changed: a stamp holds a hash of every input.
//
// `node scripts/build-pages.mjs` builds both; `node scripts/build-pages.mjs ui` (npm run build:ui) or
// `... portal` (npm run build:portal) builds one.
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** What both apps are bundled with; each adds its own entry, output and targets. */
const preactBundle = {
  absWorkingDir: root,
  bundle: true,
  format: "esm",
  minify: true,
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "linked",
  logLevel: "warning",
};

// esbuild is loaded only when something is built, so a skipped portal build stays quick.
const esbuild = () => import("esbuild");

export async function buildUi() {
  const outdir = join(root, "dist", "ui");
  const entryPoint = "ui/src/main.tsx";
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const { build } = await esbuild();
  const result = await build({
    ...preactBundle,
    entryPoints: { app: entryPoint },
    splitting: true,
    outdir,
    entryNames: "[name]-[hash]",
    chunkNames: "chunk-[hash]",
    assetNames: "[name]-[hash]",
    sourcemap: false,
    target: ["es2022", "chrome111", "firefox111", "safari16"],
    metafile: true,
  });
  const outputs = result.metafile.outputs;
  const name = (path) => relative(outdir, join(root, path)).split("\\").join("/");
  const entry = Object.keys(outputs).find((path) => outputs[path].entryPoint === entryPoint);
  if (!entry) throw new Error(`build-pages: esbuild produced no output for ${entryPoint}`);
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
  console.log(
    `gantry: dashboard built in dist/ui (${manifest.initial.length} initial, ${manifest.lazy.length} lazy files)`,
  );
  return manifest;
}

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

// Some packages export no package.json, so their folders are found where npm puts them.
const packageDir = (name) => join(root, "node_modules", name);

export async function buildPortal() {
  const source = join(root, "portal");
  const out = join(root, "dist", "portal", "pages");
  const stampFile = join(root, ".cache", "portal-build.stamp");
  const scalarStandalone = join(packageDir("@scalar/api-reference"), "dist", "browser", "standalone.js");
  const hash = createHash("sha256");
  for (const file of files(source).sort()) hash.update(file).update(readFileSync(file));
  for (const pkg of ["preact", "esbuild", "@scalar/api-reference"]) {
    hash.update(`${pkg}@${JSON.parse(readFileSync(join(packageDir(pkg), "package.json"), "utf8")).version}`);
  }
  hash.update(readFileSync(fileURLToPath(import.meta.url)));
  const stamp = hash.digest("hex");
  if (existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp && existsSync(join(out, "index.html"))) {
    return;
  }
  const { build } = await esbuild();
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, "assets", "scalar"), { recursive: true });
  await build({
    ...preactBundle,
    entryPoints: [join(source, "src", "main.tsx")],
    outfile: join(out, "assets", "main.js"),
    target: "es2022",
    sourcemap: true,
  });
  copyFileSync(join(source, "src", "style.css"), join(out, "assets", "main.css"));
  copyFileSync(join(source, "index.html"), join(out, "index.html"));
  if (!existsSync(scalarStandalone)) throw new Error(`Scalar's standalone renderer is missing: ${scalarStandalone}`);
  copyFileSync(scalarStandalone, join(out, "assets", "scalar", "standalone.js"));
  mkdirSync(dirname(stampFile), { recursive: true });
  writeFileSync(stampFile, stamp);
  console.log(`gantry: portal pages built in ${relative(root, out)}`);
}

const apps = { ui: buildUi, portal: buildPortal };

/** Builds the apps named (all when none is), one after the other. */
export async function buildPages(names) {
  const unknown = names.filter((name) => !Object.hasOwn(apps, name));
  if (unknown.length > 0) {
    throw new Error(
      `build-pages: unknown app ${unknown.join(", ")} (expected one of: ${Object.keys(apps).join(", ")})`,
    );
  }
  for (const name of names.length > 0 ? names : Object.keys(apps)) await apps[name]();
}

if (process.argv[1] && basename(process.argv[1]) === "build-pages.mjs") {
  await buildPages(process.argv.slice(2));
}
