// The product page's API reference as a browser lays it out: Scalar gets a full-width container of
// its own, so its content column is wide and every operation is listed (it once rendered squeezed
// into the page's column, one letter per line), and it offers no way to send a request.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, createRedis, type RedisClient } from "../../src/lib/index.js";
import { defaultIdentityHeaders, type Portal, startPortal } from "../../src/portal/index.js";
import { parseResources } from "../../src/resources/index.js";
import { findChromium, launchChromium, saveScreenshot } from "../support/browser.js";
import { haveRedis, type RedisServer, startRedis } from "../support/redis.js";
import { petsDocument } from "./fixture.js";

const pagesDir = fileURLToPath(new URL("../../dist/portal/pages", import.meta.url));
const chromium = findChromium();
const indent = (text: string) =>
  text
    .split("\n")
    .map((line) => (line === "" ? line : `      ${line}`))
    .join("\n");

const resources = parseResources(
  `apiVersion: gantry/v1
kind: UsagePlan
metadata: { name: free, namespace: shop }
spec: { title: Free, description: For trying things out, limits: { perMinute: 5 } }
---
apiVersion: gantry/v1
kind: UsagePlan
metadata: { name: partner, namespace: shop }
spec: { title: Partner, limits: { perSecond: 50, perMonth: 1000000 }, approvalRequired: true }
---
apiVersion: gantry/v1
kind: ApiProduct
metadata: { name: pets, namespace: shop }
spec:
  title: Pet store
  version: "1.0"
  description: Pets and their visits.
  usagePlans: [{ name: free }, { name: partner }]
  openapi:
    inline: |
${indent(petsDocument)}
---
apiVersion: gantry/v1
kind: Portal
metadata: { name: developers, namespace: shop }
spec:
  branding: { title: Example developers, primaryColor: "#0b6e4f", backgroundColor: "#f7faf9" }
  products: [{ product: { name: pets }, visibility: PUBLIC }]
`,
  "portal.yaml",
).resources;

/** A box's geometry in CSS pixels, or undefined when the element is not laid out. */
async function box(page: Page, selector: string) {
  return (await page.locator(selector).first().boundingBox()) ?? undefined;
}

describe.skipIf(!haveRedis() || !chromium)("the product page's API reference layout", { timeout: 120_000 }, () => {
  let redisServer: RedisServer;
  let redis: RedisClient;
  let portal: Portal;
  let browser: Browser;
  let dir: string;

  beforeAll(async () => {
    redisServer = await startRedis();
    redis = createRedis({ url: redisServer.url });
    dir = mkdtempSync(join(tmpdir(), "gantry-portal-layout-"));
    portal = await startPortal({
      host: "127.0.0.1",
      port: 0,
      readState: async () => ({ resources, statuses: new Map() }),
      refreshMs: 60_000,
      // Anonymous visitors only: no ext-auth call is made for them.
      identity: {
        extAuthAddress: "127.0.0.1:1",
        configId: "portal",
        sessionCookie: "__session",
        headers: defaultIdentityHeaders,
        timeoutMs: 500,
      },
      authPaths: [],
      redis,
      rotationGraceMs: 1_000,
      usageIntervalMs: 1_000,
      pagesDir,
      baseDir: dir,
      logger: createLogger({ service: "portal-layout-test", level: "silent" }),
    });
    browser = await launchChromium(chromium as string);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await portal?.stop();
    redis?.disconnect();
    await redisServer?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("gives Scalar the page's full width: a wide content column, every operation listed, nothing overflowing", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`http://127.0.0.1:${portal.port}/apis/shop/pets`);
    const reference = page.getByTestId("api-reference");
    await reference.getByRole("heading", { name: "Pet store" }).first().waitFor({ timeout: 60_000 });
    // Each operation of the document, by its summary, in the reference's navigation.
    for (const summary of ["List pets", "Show one pet"]) {
      await reference.getByText(summary).first().waitFor({ timeout: 30_000 });
    }
    const host = await box(page, '[data-testid="api-reference"]');
    expect(host?.width).toBeGreaterThanOrEqual(1200);
    // The document's description: a block as wide as its column, its text on one line (squeezed,
    // it was a few pixels wide, a letter per line).
    const description = reference.getByText("Pets and their visits.").first();
    const text = await description.boundingBox();
    expect(text?.width).toBeGreaterThanOrEqual(300);
    expect(text?.height).toBeLessThan(60);
    // The reference's content column (Scalar's <main>, beside its sidebar): most of the page's width.
    const content = await reference.locator("main").first().boundingBox();
    expect(content?.width).toBeGreaterThanOrEqual(900);
    // The first "Show one pet" is the sidebar's entry: left of the content.
    const sidebar = await reference.getByText("Show one pet").first().boundingBox();
    expect((sidebar?.x ?? 0) + (sidebar?.width ?? 0)).toBeLessThanOrEqual(content?.x ?? 0);
    // Each operation has its section in the content column.
    for (const summary of ["List pets", "Show one pet"]) {
      const heading = await reference.getByRole("heading", { name: summary }).first().boundingBox();
      expect(heading?.x).toBeGreaterThanOrEqual(content?.x ?? Number.POSITIVE_INFINITY);
    }
    expect(await page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(1280);
    // The page's own part keeps its column and styles.
    const plans = await box(page, ".page table");
    expect(plans?.width).toBeGreaterThan(600);
    expect(plans?.width).toBeLessThanOrEqual(72 * 16);
    await saveScreenshot(page, "portal", "product");
    await page.close();
  });

  it('sends no request from the browser: no "Test Request" button, no API client', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`http://127.0.0.1:${portal.port}/apis/shop/pets`);
    const reference = page.getByTestId("api-reference");
    // Each operation's request example (its curl sample) is where Scalar puts the button.
    await reference.getByRole("heading", { name: "Show one pet" }).first().waitFor({ timeout: 60_000 });
    await reference.getByText("curl", { exact: false }).first().waitFor({ timeout: 30_000 });
    expect(await reference.getByText("Test Request").count()).toBe(0);
    expect(await page.locator(".show-api-client-button").count()).toBe(0);
    await page.close();
  });
});
