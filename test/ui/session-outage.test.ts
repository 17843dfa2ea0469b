// The dashboard while the management Redis holding the sign-outs is down: the API cannot check the
// signed-in session and answers 503 (`gantry-auth: unavailable`). The page shows one banner instead
// of raw 503 errors, keeps the user signed in, and recovers by itself once Redis is back. Driven in
// Debian's Chromium against a real management server and a real redis-server that is stopped.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../src/lib/clock.js";
import { createLogger, createRedis, createRegistry, type RedisClient } from "../../src/lib/index.js";
import { type ManagementServer, RedisSignOuts, SealingKeys, startManagementServer } from "../../src/server/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { findChromium, launchChromium, saveScreenshot } from "../support/browser.js";
import { freePort } from "../support/ports.js";
import { haveRedis, type RedisServer, startRedis } from "../support/redis.js";

const chromiumPath = findChromium();
const root = new URL("../../", import.meta.url);
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const keys = new SealingKeys([Buffer.alloc(32, 5)]);
const banner = "The management server cannot check sessions right now; retrying.";

/** axe-core's violations on the page as it stands (impact and where). */
async function axeViolations(page: Page): Promise<unknown[]> {
  await page.evaluate(axeSource);
  return (await page.evaluate(
    `axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations.map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target.join(" ")) })))`,
  )) as unknown[];
}

describe.skipIf(!chromiumPath || !haveRedis())(
  "the dashboard while sessions cannot be checked",
  {
    timeout: 180_000,
  },
  () => {
    let redisServer: RedisServer;
    let redis: RedisClient;
    let server: ManagementServer;
    let browser: Browser;
    let base = "";

    beforeAll(async () => {
      execFileSync(process.execPath, ["scripts/build-pages.mjs", "ui"], { cwd: root, stdio: "pipe" });
      redisServer = await startRedis();
      redis = createRedis({ url: redisServer.url, commandTimeoutMs: 500 });
      const apiPort = await freePort();
      base = `http://127.0.0.1:${apiPort}/ui/`;
      server = await startManagementServer({
        store: new MemoryStore(),
        host: "127.0.0.1",
        xdsPort: 0,
        apiPort,
        apiToken: "outage-admin-token-0123456789abcdef",
        ui: {
          oidc: {
            // Sessions are opened with the key alone: the provider is never asked (nothing listens here).
            issuer: `http://127.0.0.1:${await freePort()}/`,
            clientId: "gantry-ui",
            clientSecret: "gantry-ui-secret-0123456789",
            uiUrl: base,
            groupRoles: new Map([["staff", "viewer"]]),
            sessionKeys: keys,
            signOuts: new RedisSignOuts(redis, systemClock),
          },
        },
        logger: createLogger({ service: "test", level: "silent" }),
        registry: createRegistry("server", { processMetrics: false }),
        debounce: { quietMs: 10, maxDelayMs: 100 },
      });
      await server.settle();
      browser = await launchChromium(chromiumPath as string);
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await server?.stop();
      redis?.disconnect();
      await redisServer?.close();
    });

    it("shows one banner instead of 503 errors, keeps the user signed in, and recovers when Redis is back", async () => {
      const session = keys.seal("ui-session", { sid: "s1", sub: "ada", role: "viewer", exp: Date.now() + 600_000 });
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.on("pageerror", (err) => {
        throw err;
      });
      // As the OIDC callback hands a session over: in the fragment.
      await page.goto(`${base}#/signin?session=${encodeURIComponent(session)}`);
      await page.getByRole("heading", { name: "Proxies", exact: true }).waitFor();
      expect(await page.getByText(banner).count()).toBe(0);

      await redisServer.stop();
      // A fresh load asks the API for everything again: every call meets the outage.
      await page.reload();
      await page.getByText(banner).waitFor({ timeout: 60_000 });
      await page.getByRole("link", { name: "Resources", exact: true }).click();
      await page.getByRole("heading", { name: "Resources", level: 1 }).waitFor();
      expect(await page.getByText(banner).count()).toBe(1);
      expect(await page.locator(".error").count()).toBe(0);
      expect(await page.locator("body").textContent()).not.toMatch(/unavailable|cannot check the session's sign-out/);
      // Still signed in: the session is kept, the sign-out button is there.
      expect(await page.evaluate('sessionStorage.getItem("gantry.token")')).toBe(session);
      await page.getByRole("button", { name: "Sign out" }).waitFor();
      expect(await axeViolations(page)).toEqual([]);
      await saveScreenshot(page, "ui", "session-outage");

      await redisServer.start();
      // The probe finds the session checkable again: the banner goes and the waiting calls are answered.
      await page.getByText(banner).waitFor({ state: "detached", timeout: 60_000 });
      await page.getByRole("link", { name: "Overview", exact: true }).click();
      await page.getByRole("heading", { name: "Proxies", exact: true }).waitFor({ timeout: 60_000 });
      expect(await page.locator(".error").count()).toBe(0);
      expect(await page.evaluate('sessionStorage.getItem("gantry.token")')).toBe(session);
      await page.close();
    });
  },
);
