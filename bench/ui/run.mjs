#!/usr/bin/env node
// The dashboard's budgets: first page interactive (< 1 s) with 1,000 routes and 200 proxies, and
// the graph of 500 nodes drawn (< 2 s), in Debian's Chromium against a real management server on
// loopback; plus the JavaScript the first page loads, gzipped (< 250 KB).
//   node bench/ui/run.mjs [--rounds N] [--quick]      (build first: npm run build)
// Writes bench/results/ui.md (--quick: ui.quick.md).
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { chromium } from "playwright-core";
import { createLogger } from "../../dist/lib/logger.js";
import { createRegistry } from "../../dist/lib/metrics.js";
import { startManagementServer } from "../../dist/server/index.js";
import { MemoryStore } from "../../dist/store/index.js";
import { findTool, freePort, median } from "../common.mjs";
import { destinations, documents, gateways, policies, routesPerTable, routeTables, startProxies } from "./world.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const quick = process.argv.includes("--quick");
const roundsFlag = process.argv.indexOf("--rounds");
const rounds = roundsFlag > 0 ? Number(process.argv[roundsFlag + 1]) : quick ? 2 : 7;
const proxyCount = 200;
const token = "bench-ui-token-0123456789abcdef";

execFileSync(process.execPath, [join(root, "scripts/build-pages.mjs"), "ui"], { stdio: "inherit" });
const manifest = JSON.parse(readFileSync(join(root, "dist/ui/manifest.json"), "utf8"));
const gz = (files) =>
  files.reduce((sum, f) => sum + gzipSync(readFileSync(join(root, "dist/ui", f)), { level: 9 }).length, 0);
const initialKb = gz(manifest.initial) / 1024;
const lazyKb = gz(manifest.lazy) / 1024;

const apiPort = await freePort();
const server = await startManagementServer({
  store: new MemoryStore(),
  host: "127.0.0.1",
  xdsPort: 0,
  apiPort,
  apiToken: token,
  logger: createLogger({ service: "bench", level: "silent" }),
  registry: createRegistry("server", { processMetrics: false }),
});
const call = async (method, body) => {
  const response = await fetch(`http://127.0.0.1:${apiPort}/gantry.api.v1.ManagementService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method}: HTTP ${response.status} ${await response.text()}`);
  return response.json();
};
await call("Apply", { documents: documents() });
await server.settle();
const stopProxies = startProxies(server.xdsPort, proxyCount);
for (let i = 0; ; i++) {
  const { clients = [] } = await call("ListProxies", {});
  if (clients.length === proxyCount && clients.every((c) => !c.pending && !c.nacked)) break;
  if (i > 600) throw new Error(`only ${clients.length} proxies connected and in sync after 60 s`);
  await new Promise((resolve) => setTimeout(resolve, 100));
}

const executablePath = findTool("chromium");
if (!executablePath) throw new Error("chromium not found (apt-get install chromium)");
const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
const base = `http://127.0.0.1:${apiPort}/ui/`;
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
await context.addInitScript((t) => sessionStorage.setItem("gantry.token", t), token);

// First page: from navigation (cold cache: a new context per round) to the overview's numbers shown.
const overviewMs = [];
for (let round = 0; round < rounds; round++) {
  const cold = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await cold.addInitScript((t) => sessionStorage.setItem("gantry.token", t), token);
  const page = await cold.newPage();
  const started = Date.now();
  await page.goto(`${base}#/overview`);
  await page
    .locator(".stat-value", { hasText: String(proxyCount) })
    .first()
    .waitFor();
  overviewMs.push(Date.now() - started);
  await cold.close();
}

// Graph: from navigation to cytoscape's layout done (the page marks data-rendered), and the draw alone.
const graphMs = [];
const drawMs = [];
let nodes = 0;
for (let round = 0; round < rounds; round++) {
  const page = await context.newPage();
  const started = Date.now();
  await page.goto(`${base}#/graph`);
  await page.locator(".graph[data-rendered]").waitFor({ timeout: 120_000 });
  graphMs.push(Date.now() - started);
  nodes = Number(await page.locator(".graph").getAttribute("data-rendered"));
  const text = (await page.getByText(/drawn in \d+ ms/).textContent()) ?? "";
  drawMs.push(Number(/drawn in (\d+) ms/.exec(text)?.[1]));
  await page.close();
}
await browser.close();
stopProxies();
await server.stop();

const [l1, l5] = loadavg();
const ms = (values) => `${median(values)} ms (${Math.min(...values)}–${Math.max(...values)})`;
const report = `# Dashboard budgets

Run: \`node bench/ui/run.mjs\` (build first). ${new Date().toISOString()}, load average ${l1.toFixed(2)} / ${l5.toFixed(2)}
(1 / 5 min) on ${process.platform} ${process.arch}, Node ${process.version}; ${rounds} rounds, medians with min–max.
The machine is shared with other work: re-run on a quiet one for absolute numbers.

World: ${gateways} gateways, ${routeTables} route tables × ${routesPerTable} routes = ${routeTables * routesPerTable} routes, ${destinations} destinations,
${policies} fault policies; ${proxyCount} proxies (raw SotW ADS streams, LDS and CDS wildcard, every response ACKed), all in sync.
Server and Chromium (Debian's, headless, playwright-core) on the same machine, loopback.

| measure | budget | result |
|---|---|---|
| JavaScript of the first page, gzipped | < 250 KB | ${initialKb.toFixed(1)} KB (the graph page adds ${lazyKb.toFixed(1)} KB, loaded lazily) |
| first page interactive: navigation (cold cache) → overview numbers shown | < 1 s | ${ms(overviewMs)} |
| graph of ${nodes} nodes: navigation → layout done | < 2 s | ${ms(graphMs)} |
| of which cytoscape + dagre draw (chunk load, layout, render) | | ${ms(drawMs)} |
`;
const out = join(root, "bench/results", quick ? "ui.quick.md" : "ui.md");
writeFileSync(out, report);
console.log(report);
