#!/usr/bin/env node
// The dashboard alone, for the callers that run this path (test/ui). The build itself is
// scripts/build-pages.mjs, which `prepare` and `npm run build:ui` run.
import { buildPages } from "./build-pages.mjs";

await buildPages(["ui"]);
