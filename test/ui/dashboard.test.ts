// The dashboard in a real Chromium (playwright-core, Debian's chromium) against a real management
// server: sign-in with a token and with OIDC (a real oidc-provider), every page browsed, checked
// by axe-core and photographed (test-artifacts/screenshots/ui/), a NACK from a real grpc-js xDS
// client and its insight appearing live, a route followed from the graph to its policies, and a
// viewer refused an apply by the API.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { XdsResource } from "../../src/envoy/index.js";
import { createLogger } from "../../src/lib/logger.js";
import { createRegistry } from "../../src/lib/metrics.js";
import { parseDocument, type Resource } from "../../src/resources/index.js";
import { buildGrpcBootstrap } from "../../src/server/bootstrap-grpc.js";
import { type ManagementServer, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { startClient } from "../interop/clients.js";
import { findChromium, launchChromium, saveScreenshot } from "../support/browser.js";
import { type OidcTestProvider, startOidcProvider } from "../support/oidc-provider.js";
import { overflowingSplit } from "../support/overflowing-split.js";
import { freePort } from "../support/ports.js";
import { meshDocuments, meshRoutes, nackerLabels, policiesExample } from "./fixtures.js";

const chromiumPath = findChromium();
const root = new URL("../../", import.meta.url);
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const adminToken = "ui-admin-token-0123456789abcdef";
const viewerToken = "ui-viewer-token-0123456789abcdef";
const oidcClient = { id: "gantry-ui", secret: "gantry-ui-secret-0123456789" };
let sendUnvalidated: (nodeId: string, resources: readonly XdsResource[] | undefined) => void = () => {};

function parsed(documents: readonly Record<string, unknown>[]): Resource[] {
  return documents.map((document) => {
    const resource = parseDocument(document as Parameters<typeof parseDocument>[0], "test");
    if ("errors" in resource) throw new Error(resource.errors.join("\n"));
    return resource;
  });
}

interface Violation {
  id: string;
  impact: string;
  nodes: string[];
}

/** axe-core in the page (evaluated through the DevTools protocol, which the page's CSP does not govern). */
async function axeViolations(page: Page): Promise<Violation[]> {
  await page.evaluate(axeSource);
  return (await page.evaluate(
    `axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")) })))`,
  )) as Violation[];
}

describe.skipIf(!chromiumPath)("the dashboard in Chromium", () => {
  let server: ManagementServer;
  let provider: OidcTestProvider;
  let browser: Browser;
  let base = "";

  async function api<T>(method: string, body: object, token = adminToken): Promise<T> {
    const response = await fetch(`http://127.0.0.1:${server.apiPort}/gantry.api.v1.ManagementService/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${method}: HTTP ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }

  async function signedInPage(token: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("pageerror", (err) => {
      throw err;
    });
    await page.goto(`${base}#/overview`);
    await page.getByLabel("API token").fill(token);
    await page.getByRole("button", { name: "Sign in with token" }).click();
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    return page;
  }

  async function check(page: Page, name: string): Promise<void> {
    const violations = await axeViolations(page);
    expect(violations, `axe on ${name}`).toEqual([]);
    await saveScreenshot(page, "ui", name);
  }

  beforeAll(async () => {
    execFileSync(process.execPath, ["scripts/build-ui.mjs"], { cwd: root, stdio: "pipe" });
    const apiPort = await freePort();
    base = `http://127.0.0.1:${apiPort}/ui/`;
    provider = await startOidcProvider({
      clients: [
        {
          client_id: oidcClient.id,
          client_secret: oidcClient.secret,
          redirect_uris: [`${base}oidc/callback`],
          grant_types: ["authorization_code"],
          response_types: ["code"],
        },
      ],
    });
    server = await startManagementServer({
      store: new MemoryStore(),
      host: "127.0.0.1",
      xdsPort: 0,
      apiPort,
      apiToken: adminToken,
      apiTokens: [{ name: "vera", role: "viewer", token: viewerToken }],
      ui: {
        oidc: {
          issuer: provider.issuer,
          clientId: oidcClient.id,
          clientSecret: oidcClient.secret,
          uiUrl: base,
          groupRoles: new Map([["staff", "editor"]]),
        },
      },
      logger: createLogger({ service: "test", level: "silent" }),
      registry: createRegistry("server", { processMetrics: false }),
      debounce: { quietMs: 10, maxDelayMs: 100 },
      unvalidatedResourcesForTests: (send) => {
        sendUnvalidated = send;
      },
    });
    await api("Apply", { documents: [...policiesExample(), ...meshDocuments, meshRoutes(1)] });
    await server.settle();
    browser = await launchChromium(chromiumPath as string);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await provider?.close();
  });

  it("serves the page under /ui without a token, with a strict CSP and cache headers", async () => {
    const index = await fetch(base);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(index.headers.get("cache-control")).toBe("no-cache");
    const script = /src="\.\/(app-[A-Z0-9]{8}\.js)"/.exec(await index.text())?.[1];
    const asset = await fetch(`${base}${script}`, { headers: { "accept-encoding": "gzip" } });
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(asset.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(
      (await fetch(`${base}${script}`, { headers: { "if-none-match": asset.headers.get("etag") ?? "" } })).status,
    ).toBe(304);
    expect((await fetch(`${base}nothing.js`)).status).toBe(404);
    // The API beside it still needs the token.
    const call = await fetch(`http://127.0.0.1:${server.apiPort}/gantry.api.v1.ManagementService/List`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(call.status).toBe(401);
  });

  it("signs in with the API token and browses every page, keyboard-labelled and axe-clean", async () => {
    const page = await signedInPage(adminToken);
    await check(page, "overview");
    // Every count links to its list: the route tables of the example.
    await page.getByRole("link", { name: "1" }).first().waitFor();

    await page.getByRole("link", { name: "Resources" }).click();
    await page.getByRole("heading", { name: "Resources" }).waitFor();
    await page.getByLabel("Kind").selectOption("RouteTable");
    await page.getByRole("link", { name: "store" }).waitFor();
    await check(page, "resources");

    await page.getByRole("link", { name: "store" }).click();
    await page.getByRole("heading", { name: "RouteTable policies/store" }).waitFor();
    await page.getByRole("heading", { name: "YAML" }).waitFor();
    expect(await page.locator("pre.yaml").textContent()).toContain("kind: RouteTable");
    await check(page, "resource");

    await page.getByRole("link", { name: "Proxies" }).click();
    await page.getByRole("heading", { name: "Proxies" }).waitFor();
    await check(page, "proxies");

    await page.getByRole("link", { name: "Insights" }).click();
    await page.getByRole("heading", { name: "Insights", exact: true }).waitFor();
    await check(page, "insights");

    await page.getByRole("link", { name: "Graph" }).click();
    await page.locator(".graph[data-rendered]").waitFor();
    await check(page, "graph");
    await page.close();
  });

  it("follows a route from the graph to its policies", async () => {
    const page = await signedInPage(adminToken);
    await page.goto(`${base}#/graph`);
    await page.locator(".graph[data-rendered]").waitFor();
    await page.getByLabel("Select a node").selectOption("RouteTable policies/store");
    const policy = page
      .getByRole("complementary")
      .getByRole("link", { name: "RateLimitPolicy policies/per-client" })
      .first();
    await policy.click();
    await page.getByRole("heading", { name: "RateLimitPolicy policies/per-client" }).waitFor();
    // The heading renders before the policy detail arrives: wait for the text, bounded by the locator timeout.
    await page.getByText("Rate-limit domain: store").waitFor({ state: "visible" });
    await page.close();
  });

  it("a viewer may browse but the API refuses its apply, naming the role", async () => {
    const page = await signedInPage(viewerToken);
    await page.goto(`${base}#/resources`);
    await page
      .getByLabel("YAML documents (gantry/v1)")
      .fill(
        "apiVersion: gantry/v1\nkind: Destination\nmetadata: { name: extra, namespace: shop }\nspec: { ports: [{ number: 80 }], endpoints: [{ address: 10.0.0.9 }] }\n",
      );
    await page.getByRole("button", { name: "Apply", exact: true }).click();
    await expect(page.getByRole("alert").textContent()).resolves.toBe(
      "permission_denied: role viewer may not call Apply: it needs role editor or above",
    );
    await saveScreenshot(page, "ui", "viewer-refused");
    await expect(api("Get", { ref: { kind: "Destination", namespace: "shop", name: "extra" } })).rejects.toThrow("404");
    await page.close();
  });

  it("a change applied through the API, then a client's NACK: both appear without a reload", async () => {
    const page = await signedInPage(adminToken);
    const nodeId = "ui-nacker";
    const client = await startClient(
      "grpc-js",
      buildGrpcBootstrap({ nodeId, labels: nackerLabels, xdsHost: "127.0.0.1", xdsPort: server.xdsPort }),
    );
    if (!client) throw new Error("the grpc-js client did not start");
    try {
      await client.run({ target: "xds:///nack.test", calls: 1, timeoutMs: 3_000 });
      await page.goto(`${base}#/proxies/${nodeId}`);
      await page.getByRole("heading", { name: `Proxy ${nodeId}` }).waitFor();
      await page.locator(".badge-in-sync").first().waitFor();
      // A change through the API (not the page), shown as a diff below. Then the client is sent that
      // route table with weights it must refuse (their sum overflows a uint32): Gantry refuses such a
      // table at apply, so the NACK needs the server's test seam.
      await api("Apply", { documents: [meshRoutes(2)] });
      await server.settle();
      sendUnvalidated(nodeId, [overflowingSplit(parsed([...meshDocuments, meshRoutes(2)]), "nack.test")]);
      const appliedAt = Date.now();
      await page.locator(".badge-nacked").first().waitFor({ timeout: 10_000 });
      const shownAfterMs = Date.now() - appliedAt;
      expect(await page.locator("tr:has(.badge-nacked) td.error-text").first().textContent()).not.toBe("");
      await saveScreenshot(page, "ui", "proxy-nack");
      await page.getByRole("link", { name: "Insights" }).click();
      await page.getByText("GTY0203").first().waitFor({ timeout: 10_000 });
      await saveScreenshot(page, "ui", "insight-nack");
      // The route table's page shows the change as a diff of its last two versions.
      await page.goto(`${base}#/resources/RouteTable/grpc/nack`);
      await page.locator("pre.diff .add", { hasText: "weight: 2" }).first().waitFor();
      expect(await page.locator("pre.diff .del", { hasText: "weight: 1" }).count()).toBeGreaterThan(0);
      await check(page, "resource-changes");
      console.log(`NACK shown ${shownAfterMs} ms after the resource was sent`);
      expect(shownAfterMs).toBeLessThan(1_000 + 1_000);
    } finally {
      await client.stop();
      await page.close();
    }
  });

  it("signs in with OIDC through the real provider; the groups claim gives the role", async () => {
    const page = await browser.newPage();
    await page.goto(`${base}#/signin`);
    await page.getByRole("link", { name: "Sign in with OIDC" }).click();
    await page.locator('input[name="login"]').fill("ada");
    await page.locator('input[name="password"]').fill("pw");
    await page.locator('button[type="submit"]').click();
    await page.locator('input[name="login"]').waitFor({ state: "detached" });
    await page.locator('button[type="submit"]').click(); // consent
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    expect(page.url()).toBe(`${base}#/overview`);
    const stored = (await page.evaluate('sessionStorage.getItem("gantry.token")')) as string | null;
    // A sealed session (not the ID token), out of the address bar.
    expect(stored?.startsWith("gs1.")).toBe(true);
    expect(page.url()).not.toContain("session=");
    // staff → editor: the API takes the session as bearer and lets the editor apply.
    const applied = await api<{ results?: unknown[] }>(
      "Apply",
      { documents: [meshRoutes(1)], dryRun: true },
      stored ?? "",
    );
    expect(applied.results).toHaveLength(1);
    await expect(api("AddCluster", { name: "east" }, stored ?? "")).rejects.toThrow(
      "role editor may not call AddCluster",
    );
    await saveScreenshot(page, "ui", "oidc-overview");
    await page.close();
  });
});
