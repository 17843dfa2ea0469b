#!/usr/bin/env node
// Builds the developer portal's pages (portal/) into dist/portal/pages with esbuild: one Preact bundle,
// its stylesheet and entry page, and Scalar's standalone API-reference renderer copied beside them
// (loaded only by product pages, so the portal works offline from its own files).
//
// Skipped when nothing that feeds it changed: a stamp holds a hash of every input.
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
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "portal");
// Beside (not over) tsc's output for src/portal, which is dist/portal itself.
const out = join(root, "dist", "portal", "pages");
const stampFile = join(root, ".cache", "portal-build.stamp");

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

// Some packages export no package.json, so their folders are found where npm puts them.
const packageDir = (name) => join(root, "node_modules", name);
const scalarStandalone = join(packageDir("@scalar/api-reference"), "dist", "browser", "standalone.js");
const hash = createHash("sha256");
for (const file of files(source).sort()) hash.update(file).update(readFileSync(file));
for (const pkg of ["preact", "esbuild", "@scalar/api-reference"]) {
  hash.update(`${pkg}@${JSON.parse(readFileSync(join(packageDir(pkg), "package.json"), "utf8")).version}`);
}
hash.update(readFileSync(fileURLToPath(import.meta.url)));
const stamp = hash.digest("hex");
if (existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp && existsSync(join(out, "index.html"))) {
  process.exit(0);
}

const { build } = await import("esbuild");
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "assets", "scalar"), { recursive: true });
await build({
  entryPoints: [join(source, "src", "main.tsx")],
  outfile: join(out, "assets", "main.js"),
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: true,
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "linked",
  logLevel: "warning",
});
copyFileSync(join(source, "src", "style.css"), join(out, "assets", "main.css"));
copyFileSync(join(source, "index.html"), join(out, "index.html"));
if (!existsSync(scalarStandalone)) throw new Error(`Scalar's standalone renderer is missing: ${scalarStandalone}`);
copyFileSync(scalarStandalone, join(out, "assets", "scalar", "standalone.js"));
mkdirSync(dirname(stampFile), { recursive: true });
writeFileSync(stampFile, stamp);
console.log(`portal pages built into ${out}`);
