// OIDC sign-in across two real `gantry server` replicas sharing a Redis and a session key file:
// a login started on one replica finishes on the other (the login state is a sealed cookie), the
// session it ends with is accepted by both (sealed with the shared key, checked without the
// provider), and signing out on one is refused by the other (the sign-out is in the shared Redis).
// Driven in Debian's Chromium against the real oidc-provider.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findChromium, launchChromium, saveScreenshot } from "../support/browser.js";
import { type OidcTestProvider, startOidcProvider } from "../support/oidc-provider.js";
import { freePorts } from "../support/ports.js";
import { type ManagedProcess, startProcess } from "../support/process.js";
import { haveRedis, type RedisServer, startRedis } from "../support/redis.js";
import { waitFor } from "../support/wait.js";

const chromiumPath = findChromium();
const root = fileURLToPath(new URL("../../", import.meta.url));
const client = { id: "gantry-ui", secret: "gantry-ui-secret-0123456789" };

describe.skipIf(!chromiumPath || !haveRedis())("OIDC sessions across two server replicas", () => {
  let redis: RedisServer;
  let provider: OidcTestProvider;
  let browser: Browser;
  const replicas: Array<{ process: ManagedProcess; apiPort: number }> = [];

  beforeAll(async () => {
    execFileSync(process.execPath, ["scripts/build-ui.mjs"], { cwd: root, stdio: "pipe" });
    const ports = await freePorts(6);
    const dir = mkdtempSync(join(tmpdir(), "gantry-ui-replicas-"));
    writeFileSync(join(dir, "client-secret"), client.secret, { mode: 0o600 });
    // Two keys: the replicas seal with the first and open with either (rotation).
    writeFileSync(
      join(dir, "session-keys"),
      `# sealing key first\n${"a1".repeat(32)}\n${Buffer.alloc(32, 7).toString("base64")}\n`,
      { mode: 0o600 },
    );
    redis = await startRedis();
    // Both replicas send users back to the second one (the address a load balancer would give).
    const [xdsA, apiA, metricsA, xdsB, apiB, metricsB] = ports as [number, number, number, number, number, number];
    const uiUrl = `http://127.0.0.1:${apiB}/ui/`;
    provider = await startOidcProvider({
      clients: [
        {
          client_id: client.id,
          client_secret: client.secret,
          redirect_uris: [`${uiUrl}oidc/callback`],
          grant_types: ["authorization_code"],
          response_types: ["code"],
        },
      ],
    });
    const sides = [
      { name: "a", xdsPort: xdsA, apiPort: apiA, metricsPort: metricsA },
      { name: "b", xdsPort: xdsB, apiPort: apiB, metricsPort: metricsB },
    ];
    for (const { name, xdsPort, apiPort, metricsPort } of sides) {
      const process_ = await startProcess({
        name: `gantry server ${name}`,
        command: process.execPath,
        args: [
          join(root, "bin/gantry.js"),
          "server",
          ...["--host", "127.0.0.1", "--xds-port", `${xdsPort}`, "--api-port", `${apiPort}`],
          ...["--metrics-port", `${metricsPort}`, "--redis-url", redis.url, "--server-name", name],
          ...["--ui-url", uiUrl, "--ui-oidc-issuer", provider.issuer, "--ui-oidc-client-id", client.id],
          ...["--ui-oidc-client-secret-file", join(dir, "client-secret"), "--ui-oidc-roles", "staff=editor"],
          ...["--ui-session-key-file", join(dir, "session-keys"), "--log-level", "warn"],
        ],
        ready: async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).ok,
        readyTimeoutMs: 60_000,
      });
      replicas.push({ process: process_, apiPort });
    }
    browser = await launchChromium(chromiumPath as string);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    for (const r of replicas) await r.process.stop();
    await provider?.close();
    await redis?.close();
  });

  const overview = async (apiPort: number, token: string) =>
    fetch(`http://127.0.0.1:${apiPort}/gantry.api.v1.ManagementService/Overview`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: "{}",
    });

  it("a login started on one replica finishes on the other; both accept the session; sign-out holds on both", async () => {
    const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
    expect(a.apiPort).not.toBe(b.apiPort);
    const page = await browser.newPage();
    // Started on replica a: its sealed login cookie goes with the browser to b's callback.
    await page.goto(`http://127.0.0.1:${a.apiPort}/ui/#/signin`);
    await page.getByRole("link", { name: "Sign in with OIDC" }).click();
    await page.locator('input[name="login"]').fill("ada");
    await page.locator('input[name="password"]').fill("pw");
    await page.locator('button[type="submit"]').click();
    await page.locator('input[name="login"]').waitFor({ state: "detached" });
    await page.locator('button[type="submit"]').click(); // consent
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    expect(page.url()).toBe(`http://127.0.0.1:${b.apiPort}/ui/#/overview`);
    const session = (await page.evaluate('sessionStorage.getItem("gantry.token")')) as string;
    expect(session.startsWith("gs1.")).toBe(true);
    await saveScreenshot(page, "ui", "oidc-replica-b");

    // Replica a never saw this login finish; the shared key opens the session there too.
    expect((await overview(a.apiPort, session)).status).toBe(200);
    expect((await overview(b.apiPort, session)).status).toBe(200);

    // Signing out on b (the page's button) reaches a through the shared Redis.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in to Gantry" }).waitFor();
    // The page's sign-out call is sent as it leaves: wait (bounded) until a refuses the copy.
    const refused = await waitFor(
      async () => {
        const response = await overview(a.apiPort, session);
        return response.status === 401 ? ((await response.json()) as { message: string }) : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: "replica a to refuse the signed-out session" },
    );
    expect(refused.message).toBe("the session was signed out: sign in again");
    expect((await overview(b.apiPort, session)).status).toBe(401);
    await page.close();
  });
});
