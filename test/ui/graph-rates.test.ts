// Live rates on the graph's edges through a real Prometheus (Debian's) in a real Chromium. No
// Envoy can run here, so a small static exporter in this test stands in for Envoy's stats endpoint
// (/stats/prometheus): it serves Envoy's standard cluster counters under their Prometheus names
// (envoy_cluster_upstream_rq_total, envoy_cluster_upstream_rq_xx by envoy_cluster_name, the
// cluster name with `:` as `_`, as Envoy names it), and the ext-auth and rate-limit counters
// Gantry's services export, each growing at a fixed rate. Prometheus scrapes it every second; the
// server queries Prometheus (the browser never does), and the page labels the edges.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { type ManagementServer, PrometheusGraphRates, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { findChromium, launchChromium, saveScreenshot } from "../support/browser.js";
import { freePorts } from "../support/ports.js";
import { type ManagedProcess, startProcess } from "../support/process.js";
import { needTool } from "../support/tools.js";
import { waitFor } from "../support/wait.js";
import { policiesExample } from "./fixtures.js";

const chromiumPath = findChromium();
const prometheusBin = needTool("prometheus", "install with: sudo apt-get install --no-install-recommends prometheus");
const root = new URL("../../", import.meta.url);
const token = "rates-ui-token-0123456789abcdef";
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** Per second: 20 requests to the store destination, 2 of them 5xx; 10 checks, 1 denied; 8 hits, 2 over. */
function exposition(seconds: number): string {
  const n = (perSecond: number) => (perSecond * seconds).toFixed(3);
  const cluster = 'envoy_cluster_name="policies/store_8080"';
  return [
    "# TYPE envoy_cluster_upstream_rq_total counter",
    `envoy_cluster_upstream_rq_total{${cluster}} ${n(20)}`,
    "# TYPE envoy_cluster_upstream_rq_xx counter",
    `envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",${cluster}} ${n(18)}`,
    `envoy_cluster_upstream_rq_xx{envoy_response_code_class="5",${cluster}} ${n(2)}`,
    "# TYPE gantry_extauth_checks_total counter",
    `gantry_extauth_checks_total{config_id="policies/users",result="allow"} ${n(9)}`,
    `gantry_extauth_checks_total{config_id="policies/users",result="deny"} ${n(1)}`,
    "# TYPE gantry_ratelimit_rule_total_hits counter",
    `gantry_ratelimit_rule_total_hits{rule="store.api_key"} ${n(8)}`,
    "# TYPE gantry_ratelimit_rule_over_limit counter",
    `gantry_ratelimit_rule_over_limit{rule="store.api_key"} ${n(2)}`,
    "",
  ].join("\n");
}

describe.skipIf(!chromiumPath || !prometheusBin)("live rates on the graph's edges, through a real Prometheus", () => {
  let exporter: Server;
  let prometheus: ManagedProcess;
  let server: ManagementServer;
  let browser: Browser;
  let base = "";

  beforeAll(async () => {
    execFileSync(process.execPath, ["scripts/build-ui.mjs"], { cwd: root, stdio: "pipe" });
    const [exporterPort, promPort, apiPort] = (await freePorts(3)) as [number, number, number];
    const started = Date.now();
    exporter = createServer((_request, response) => {
      response.setHeader("content-type", "text/plain; version=0.0.4");
      response.end(exposition((Date.now() - started) / 1_000));
    });
    await new Promise<void>((resolve) => exporter.listen(exporterPort, "127.0.0.1", resolve));
    const dir = mkdtempSync(join(tmpdir(), "gantry-graph-rates-"));
    writeFileSync(
      join(dir, "prometheus.yml"),
      [
        "global: { scrape_interval: 1s, evaluation_interval: 1s }",
        "scrape_configs:",
        `  - { job_name: envoy-stand-in, static_configs: [{ targets: ["127.0.0.1:${exporterPort}"] }] }`,
        "",
      ].join("\n"),
    );
    prometheus = await startProcess({
      name: "prometheus",
      command: prometheusBin as string,
      args: [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "tsdb")}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ],
      ready: async () => (await fetch(`http://127.0.0.1:${promPort}/-/ready`)).ok,
      readyTimeoutMs: 60_000,
    });
    base = `http://127.0.0.1:${apiPort}/ui/`;
    server = await startManagementServer({
      store: new MemoryStore(),
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort,
      apiToken: token,
      // A 5 s window (the server's is a minute): rate() is exact once two scrapes span the window.
      graphRates: new PrometheusGraphRates(`http://127.0.0.1:${promPort}`, { windowSeconds: 5 }),
      logger: createLogger({ service: "test", level: "silent" }),
      registry: createRegistry("server", { processMetrics: false }),
      debounce: { quietMs: 10, maxDelayMs: 100 },
    });
    const applied = await fetch(`http://127.0.0.1:${apiPort}/gantry.api.v1.ManagementService/Apply`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ documents: policiesExample() }),
    });
    expect(applied.status).toBe(200);
    await server.settle();
    browser = await launchChromium(chromiumPath as string);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await prometheus?.stop();
    await new Promise<void>((resolve) => (exporter ? exporter.close(() => resolve()) : resolve()));
  });

  it("labels traffic and policy edges with requests/s and error ratios", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${base}#/signin`);
    await page.getByLabel("API token").fill(token);
    await page.getByRole("button", { name: "Sign in with token" }).click();
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await page.goto(`${base}#/graph`);
    await page.locator(".graph[data-rendered]").waitFor();
    // Prometheus needs two scrapes in the window before rate() answers, and the window filled to
    // be exact; the page reads every 5 s.
    const row = (from: string, to: string) =>
      page.locator("table.edge-rates tr", { has: page.getByText(from, { exact: true }) }).filter({
        has: page.getByText(to, { exact: true }),
      });
    const traffic = row("RouteTable policies/store", "Destination policies/store");
    await traffic.waitFor({ timeout: 60_000 });
    const numbers = async (locator: typeof traffic) => {
      const text = (await locator.locator("td").last().textContent()) ?? "";
      const match = /^([\d.]+) rps · ([\d.]+)% err$/.exec(text);
      if (!match) throw new Error(`unexpected rate label ${JSON.stringify(text)}`);
      return { rps: Number(match[1]), errorPercent: Number(match[2]) };
    };
    // Early reads extrapolate from a window not yet filled; wait (bounded) for a filled one.
    const store = await waitFor(
      async () => {
        const read = await numbers(traffic);
        return read.rps > 15 && read.rps < 25 ? read : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: "about 20 requests/s on the route table → destination edge" },
    );
    expect(store.errorPercent).toBeCloseTo(10, 0);
    const auth = await numbers(row("ExtAuthPolicy policies/require-login", "RouteTable policies/store"));
    expect(auth.rps).toBeGreaterThan(7);
    expect(auth.errorPercent).toBeCloseTo(10, 0);
    const limit = await numbers(row("RateLimitPolicy policies/per-client", "RouteTable policies/store"));
    expect(limit.rps).toBeGreaterThan(5);
    expect(limit.errorPercent).toBeCloseTo(25, 0);
    // The same rates are on the drawn edges (cytoscape's, counted by the page).
    expect(Number(await page.locator(".graph").getAttribute("data-rated"))).toBe(3);
    // The rates table and the labelled drawing stay accessible (axe-core, as on every page).
    await page.evaluate(axeSource);
    const violations = await page.evaluate(
      `axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations.map((v) => v.id))`,
    );
    expect(violations).toEqual([]);
    await saveScreenshot(page, "ui", "graph-rates");
    await page.close();
  }, 120_000);

  it("says Prometheus is unreachable when it stops answering, and keeps the graph", async () => {
    await prometheus.stop();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${base}#/signin`);
    await page.getByLabel("API token").fill(token);
    await page.getByRole("button", { name: "Sign in with token" }).click();
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await page.goto(`${base}#/graph`);
    await page.locator(".graph[data-rendered]").waitFor();
    await page
      .getByText(/^Edge rates: Prometheus unreachable at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED$/)
      .waitFor({ timeout: 30_000 });
    await page.close();
  }, 60_000);
});
