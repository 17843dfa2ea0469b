#!/usr/bin/env node
// Writes deploy/crds/: one CustomResourceDefinition per kind of the kinds registry (src/resources/kinds.ts),
// its schema made from the kind's proto by src/kube/crds.ts. Runs after tsc (it reads dist/), as part of the
// build; test/kube/crds.test.ts fails when the committed files differ from what the protos give.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "deploy", "crds");
const { crdFiles } = await import(join(root, "dist", "kube", "crds.js"));

mkdirSync(out, { recursive: true });
const files = crdFiles();
for (const { file, text } of files) writeFileSync(join(out, file), text);
// A kind that left the registry leaves no CRD behind.
const made = new Set(files.map((f) => f.file));
for (const file of readdirSync(out)) if (file.endsWith(".gantry.dev.yaml") && !made.has(file)) rmSync(join(out, file));
console.log(`crds: wrote ${files.length} CustomResourceDefinitions to deploy/crds/`);
