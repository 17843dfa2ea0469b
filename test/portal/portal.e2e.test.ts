// The developer portal end to end, as users meet it: real processes (`gantry server`, `extauth`,
// `ratelimit`, `portal`), a real Redis, a real OpenID provider and a real browser (Chromium).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RouteConfiguration, RouteConfigurationSchema } from "../../src/gen/envoy/config/route/v3/route_pb.js";
import { Authorization } from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { RateLimitResponse_Code, RateLimitService } from "../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { createClient, createLogger } from "../../src/lib/index.js";
import { XdsClient } from "../../src/xds/index.js";
import { descriptorsFor, routeFor, type SampleRequest } from "../e2e/envoy.js";
import { findChromium, launchChromium, saveScreenshot } from "../support/browser.js";
import {
  fedServicePorts,
  freePort,
  haveRedis,
  type ManagedProcess,
  portForLater,
  type RedisServer,
  runGantry,
  serverPorts,
  startProcess,
  startRedis,
  waitFor,
} from "../support/index.js";
import { type OidcTestProvider, startOidcProvider } from "../support/oidc-provider.js";
import { portalFixture, portalResource } from "./fixture.js";

const bin = fileURLToPath(new URL("../../bin/gantry.js", import.meta.url));
const chromium = findChromium();
const token = "portal-e2e-token-0123456789abcdef";
const client = { id: "gantry-portal", secret: "portal-secret" };
const freePerMinute = 5;
const graceMs = 3_000;
const suite = "portal";

describe.skipIf(!haveRedis() || !chromium)("developer portal end to end", { timeout: 240_000 }, () => {
  const processes: ManagedProcess[] = [];
  let redis: RedisServer;
  let provider: OidcTestProvider;
  let browser: Browser;
  let dir: string;
  let portalOrigin: string;
  /** A second `gantry portal` replica on the same Redis and ext-auth, behind no balancer. */
  let replicaOrigin: string;
  let apiPort: number;
  let extauthPort: number;
  let ratelimitPort: number;
  let routes: RouteConfiguration | undefined;
  let gatewayProxy: XdsClient;
  const logger = createLogger({ service: "portal-e2e", level: "silent" });

  const gantry = async (name: string, args: string[], ready: () => Promise<unknown>) => {
    const proc = await startProcess({
      name,
      command: process.execPath,
      args: [bin, ...args],
      env: { ...process.env, GANTRY_LOG_LEVEL: "warn" },
      ready,
      readyTimeoutMs: 60_000,
    });
    processes.push(proc);
    return proc;
  };
  const ok = (url: string) => () =>
    fetch(url).then(
      (r) => r.ok,
      () => false,
    );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "gantry-portal-e2e-"));
    redis = await startRedis();
    // Named in the OIDC client's redirect URIs long before the portal listens on it.
    const portalPort = await portForLater();
    portalOrigin = `http://127.0.0.1:${portalPort}`;
    provider = await startOidcProvider({
      clients: [
        {
          client_id: client.id,
          client_secret: client.secret,
          redirect_uris: [`${portalOrigin}/oidc/callback`],
          post_logout_redirect_uris: [`${portalOrigin}/`],
          grant_types: ["authorization_code"],
        },
      ],
      groupsOf: (id) => (id === "admin" ? ["api-admins"] : ["developers"]),
    });
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, token);
    const resources = join(dir, "resources.yaml");
    writeFileSync(resources, portalFixture({ issuer: provider.issuer, portalOrigin, client, freePerMinute }));
    const server = await serverPorts();
    const xdsPort = server.xds;
    apiPort = server.api;
    const local = ["--host", "127.0.0.1"];
    await gantry(
      "gantry server",
      ["server", ...local, ...server.flags, "--api-token-file", tokenFile],
      ok(`http://127.0.0.1:${server.metrics}/readyz`),
    );
    const applied = await runGantry([
      "apply",
      "-f",
      resources,
      "--server",
      `http://127.0.0.1:${apiPort}`,
      "--token-file",
      tokenFile,
    ]);
    expect(applied.stderr + applied.stdout).not.toMatch(/Rejected/);
    expect(applied.code).toBe(0);
    const extauth = await fedServicePorts(xdsPort);
    extauthPort = extauth.grpc;
    await gantry(
      "gantry extauth",
      [
        ...["extauth", ...local, ...extauth.flags, "--workers", "1"],
        ...["--redis-url", redis.url, "--redis-timeout-ms", "2000"],
      ],
      ok(`http://127.0.0.1:${extauth.metrics}/readyz`),
    );
    const rls = await fedServicePorts(xdsPort);
    ratelimitPort = rls.grpc;
    const rlMetrics = rls.metrics;
    await gantry(
      "gantry ratelimit",
      ["ratelimit", ...local, ...rls.flags, "--workers", "1", "--response-headers"],
      ok(`http://127.0.0.1:${rlMetrics}/readyz`),
    );
    const portalArgs = (port: number) => [
      "portal",
      ...local,
      "--port",
      String(port),
      "--server",
      `http://127.0.0.1:${apiPort}`,
      "--token-file",
      tokenFile,
      "--extauth-address",
      `127.0.0.1:${extauthPort}`,
      "--auth-config",
      "e2e/portal",
      "--redis-url",
      redis.url,
      "--rotation-grace-ms",
      String(graceMs),
      "--ratelimit-metrics-url",
      `http://127.0.0.1:${rlMetrics}/metrics`,
      "--usage-interval-ms",
      "500",
      "--refresh-ms",
      "300",
    ];
    await gantry("gantry portal", portalArgs(portalPort), ok(`${portalOrigin}/portal/v1/portal`));
    const replicaPort = await freePort();
    replicaOrigin = `http://127.0.0.1:${replicaPort}`;
    await gantry("gantry portal (replica)", portalArgs(replicaPort), ok(`${replicaOrigin}/portal/v1/portal`));
    // The gateway: the route configuration Envoy would run, for the rate-limit actions it sends.
    gatewayProxy = new XdsClient({
      server: `127.0.0.1:${xdsPort}`,
      node: { id: "gateway-portal-e2e", cluster: "gateways", metadata: { labels: { gateway: "e2e" } } },
      logger,
    });
    gatewayProxy.subscribe(RouteConfigurationSchema, {
      names: ["e2e/edge/8080"],
      onUpdate: (configs) => {
        routes = [...configs.values()][0];
      },
    });
    gatewayProxy.start();
    await waitFor(() => routes, { what: "the gateway's routes", timeoutMs: 30_000 });
    browser = await launchChromium(chromium as string);
    // Connect the gateway's clients now, so the "within a second" bounds below time the servers, not dialling.
    expect(refused((await callApi("gak_warm-up-key-that-does-not-exist")).status)).toBe(true);
    // Four processes, a provider and a browser start here; a loaded machine takes its time.
  }, 180_000);

  afterAll(async () => {
    extauth?.close();
    ratelimit?.close();
    await browser?.close();
    await gatewayProxy?.stop();
    for (const proc of processes.reverse()) await proc.stop();
    await provider?.close();
    await redis?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  /** Requests the pages made to anywhere but this machine (refused): the portal must work offline. */
  const external: string[] = [];
  async function offlineContext(): Promise<BrowserContext> {
    const context = await browser.newContext();
    await context.route("**/*", (route) => {
      const url = new URL(route.request().url());
      if (url.hostname === "127.0.0.1") return route.continue();
      // The provider's own login pages load web fonts; only the portal's pages are held to this.
      if (route.request().frame().url().startsWith(portalOrigin)) external.push(url.href);
      return route.abort();
    });
    return context;
  }

  /** Signs in at the provider's own login and consent pages as `login`. */
  async function signIn(login: string): Promise<{ context: BrowserContext; page: Page }> {
    const context = await offlineContext();
    const page = await context.newPage();
    await page.goto(`${portalOrigin}/`);
    await Promise.all([
      page.waitForURL((url) => url.origin === provider.issuer),
      page.getByRole("link", { name: "Sign in" }).click(),
    ]);
    // The provider's own pages: a login form (any name is that user), then consent.
    for (let step = 0; step < 5 && !page.url().startsWith(portalOrigin); step++) {
      if (await page.locator("input[name=login]").count()) {
        await page.fill("input[name=login]", login);
        await page.fill("input[name=password]", "any");
      }
      await Promise.all([
        page.waitForNavigation({ timeout: 15_000 }),
        page.locator("button[type=submit]").first().click(),
      ]);
    }
    await page.getByTestId("signed-in-as").waitFor({ timeout: 15_000 });
    expect(await page.getByTestId("signed-in-as").textContent()).toBe(`${login}@example.test`);
    return { context, page };
  }

  const api = async (page: Page, method: string, path: string) => {
    const response = await page.request.fetch(`${portalOrigin}/portal/v1/${path}`, {
      method,
      ...(method === "POST" ? { headers: { "content-type": "application/json" }, data: "{}" } : {}),
    });
    return {
      status: response.status(),
      body: (await response.json().catch(() => undefined)) as Record<string, unknown>,
    };
  };

  // The gateway's two checks, as Envoy makes them for a request to the product's route.
  let extauth: ReturnType<typeof createClient<(typeof Authorization)["method"]>> | undefined;
  let ratelimit: ReturnType<typeof createClient<(typeof RateLimitService)["method"]>> | undefined;
  const request: SampleRequest = {
    host: "pets.example.com",
    path: "/v1/pets",
    headers: {},
    remoteAddress: "192.0.2.1",
  };
  /** ext-auth's answer to a key it does not accept: 401 (unknown key) or 403. */
  const refused = (status: number) => status === 401 || status === 403;
  async function callApi(key: string): Promise<{ status: number; headers?: Record<string, string> }> {
    extauth ??= createClient(Authorization, `127.0.0.1:${extauthPort}`);
    ratelimit ??= createClient(RateLimitService, `127.0.0.1:${ratelimitPort}`);
    const route = routeFor(routes as RouteConfiguration, request);
    const answer = await extauth.check({
      attributes: {
        contextExtensions: { config_id: "e2e/pets-keys" },
        request: { http: { method: "GET", host: request.host, path: request.path, headers: { "x-api-key": key } } },
      },
    });
    if (answer.httpResponse.case !== "okResponse")
      return {
        status: answer.httpResponse.case === "deniedResponse" ? (answer.httpResponse.value.status?.code ?? 403) : 403,
      };
    const dynamicMetadata = { "envoy.filters.http.ext_authz": answer.dynamicMetadata ?? {} };
    const descriptors = descriptorsFor(route.action.case === "route" ? route.action.value.rateLimits : [], {
      ...request,
      dynamicMetadata,
    });
    expect(descriptors).toHaveLength(1);
    const limited = await ratelimit.shouldRateLimit({
      domain: "gantry-portal",
      descriptors: descriptors.map((entries) => ({ entries })),
      hitsAddend: 1,
    });
    const headers = Object.fromEntries(limited.responseHeadersToAdd.map((h) => [h.key.toLowerCase(), h.value]));
    return { status: limited.overallCode === RateLimitResponse_Code.OVER_LIMIT ? 429 : 200, headers };
  }

  it("shows published products to anyone, and hides an unpublished one and its schema", async () => {
    const page = await (await offlineContext()).newPage();
    await page.goto(`${portalOrigin}/`);
    await page.getByRole("link", { name: "Pet store" }).waitFor();
    expect(await page.getByText("Internal inventory").count()).toBe(0);
    await waitFor(async () => (await page.title()) === "Example developers", { what: "the portal's branding" });
    await saveScreenshot(page, suite, "catalogue");
    const hidden = await fetch(`${portalOrigin}/portal/v1/apis/e2e%2Finternal/schema`);
    expect(hidden.status).toBe(404);
    const unknown = await fetch(`${portalOrigin}/portal/v1/apis/e2e%2Fnope/schema`);
    expect(await hidden.json()).toEqual({ error: "no API e2e/internal" });
    expect(unknown.status).toBe(404);
    const doc = await fetch(`${portalOrigin}/portal/v1/openapi.json`).then(
      (r) => r.json() as Promise<{ openapi: string }>,
    );
    expect(doc.openapi).toBe("3.0.3");
    await page.close();
  });

  let appId = "";
  let firstKey = "";

  it("signs a developer in, renders the product's API reference, and issues a key that works at the gateway within a second", async () => {
    const { page } = await signIn("alice");
    await page.getByRole("link", { name: "Pet store" }).click();
    const reference = page.getByTestId("api-reference");
    // Rendered by Scalar from the product's document: its title, and each operation (collapsed at first).
    await reference.getByRole("heading", { name: "Pet store" }).first().waitFor({ timeout: 60_000 });
    await reference.getByText("Show one pet").first().waitFor({ state: "attached" });
    await saveScreenshot(page, suite, "product");
    expect(external).toEqual([]);

    await page.getByRole("link", { name: "Create an app for this API" }).click();
    await page.getByLabel("Name").fill("alice-app");
    await page.getByLabel("Plan").selectOption("e2e/free");
    await page.getByRole("button", { name: "Create app" }).click();
    const card = page.getByTestId("app-alice-app");
    await card.getByRole("button", { name: "Create key" }).click();
    const secret = (await card.getByTestId("new-key").textContent()) ?? "";
    const created = Date.now();
    expect(secret).toMatch(/^gak_/);
    firstKey = secret;
    await waitFor(async () => (await callApi(secret)).status === 200, { timeoutMs: 1_000, what: "the new key works" });
    expect(Date.now() - created).toBeLessThan(1_000);
    await saveScreenshot(page, suite, "new-key");
    const apps = (await api(page, "GET", "apps")).body["apps"] as { id: string }[];
    appId = apps[0]?.id ?? "";
  });

  it("answers 429 with the rate-limit headers once the plan's limit is spent, and shows the usage", async () => {
    // The key was already used above, and a minute's window may end meanwhile: call until refused,
    // which takes at most the plan's limit plus one (two windows' worth if a window ends midway).
    const answers: Awaited<ReturnType<typeof callApi>>[] = [];
    while (answers.at(-1)?.status !== 429 && answers.length <= 2 * freePerMinute + 1)
      answers.push(await callApi(firstKey));
    expect(answers.slice(0, -1).every((a) => a.status === 200)).toBe(true);
    const last = answers.at(-1);
    expect(last?.status).toBe(429);
    expect(last?.headers?.["ratelimit-limit"]).toMatch(new RegExp(`^${freePerMinute}\\b`));
    expect(last?.headers?.["ratelimit-remaining"]).toBe("0");
    const { page } = await signIn("alice");
    await waitFor(
      async () => {
        const usage = (await api(page, "GET", `apps/${appId}/usage`)).body as {
          keys: { rejected: number; requests: number }[];
        };
        return usage.keys[0] && usage.keys[0].requests >= freePerMinute + 1 && usage.keys[0].rejected >= 1;
      },
      { timeoutMs: 15_000, what: "usage with the rejection" },
    );
    await page.goto(`${portalOrigin}/apps`);
    await page
      .getByText(/rejected in total/)
      .first()
      .waitFor();
    await saveScreenshot(page, suite, "usage");
  });

  it("rotates a key: old and new both work for the grace period, then only the new one; a revoked key stops within a second", async () => {
    const { page } = await signIn("alice");
    const keys = (await api(page, "GET", `apps/${appId}/keys`)).body["keys"] as { id: string }[];
    // Before the call: the portal starts the grace period while answering it (taken after, the old
    // key was seen to stop 2,870 ms into a 3,000 ms grace).
    const rotatedAt = Date.now();
    const rotated = await api(page, "POST", `apps/${appId}/keys/${keys[0]?.id}/rotate`);
    expect(rotated.status).toBe(201);
    const newKey = rotated.body["secret"] as string;
    const newKeyId = (rotated.body["key"] as { id: string }).id;
    await waitFor(async () => !refused((await callApi(newKey)).status), {
      timeoutMs: 1_000,
      what: "the new key works",
    });
    const old = await callApi(firstKey);
    expect(Date.now() - rotatedAt).toBeLessThan(graceMs);
    expect(refused(old.status)).toBe(false);
    await waitFor(async () => refused((await callApi(firstKey)).status), {
      timeoutMs: graceMs + 3_000,
      what: "the old key stops after the grace period",
    });
    expect(Date.now() - rotatedAt).toBeGreaterThanOrEqual(graceMs);
    expect(refused((await callApi(newKey)).status)).toBe(false);

    expect((await api(page, "DELETE", `apps/${appId}/keys/${newKeyId}`)).status).toBe(204);
    const revokedAt = Date.now();
    await waitFor(async () => refused((await callApi(newKey)).status), {
      timeoutMs: 1_000,
      what: "the revoked key is refused",
    });
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
  });

  it("never shows a developer another's apps", async () => {
    const { page } = await signIn("bob");
    expect((await api(page, "GET", "apps")).body).toEqual({ apps: [] });
    expect((await api(page, "GET", `apps/${appId}`)).status).toBe(404);
    expect((await api(page, "GET", `apps/${appId}/usage`)).status).toBe(404);
    expect((await api(page, "POST", `apps/${appId}/keys`)).status).toBe(404);
    expect((await api(page, "DELETE", `apps/${appId}`)).status).toBe(404);
  });

  it("serves the same sign-in, apps and usage from a second portal replica (no balancer: create on one, read on the other)", async () => {
    const { page } = await signIn("alice");
    const on = async (origin: string, method: string, path: string, data?: unknown) => {
      const response = await page.request.fetch(`${origin}/portal/v1/${path}`, {
        method,
        ...(data === undefined ? {} : { headers: { "content-type": "application/json" }, data: JSON.stringify(data) }),
      });
      return {
        status: response.status(),
        body: (await response.json().catch(() => undefined)) as Record<string, unknown>,
      };
    };
    // The session cookie the first replica's sign-in set is the developer's on the second.
    expect((await on(replicaOrigin, "GET", "me")).body).toMatchObject({ signedIn: true, id: "alice" });
    expect((await on(replicaOrigin, "GET", "apps")).body).toEqual((await on(portalOrigin, "GET", "apps")).body);
    const created = await on(replicaOrigin, "POST", "apps", {
      name: "replica-app",
      product: "e2e/pets",
      plan: "e2e/free",
    });
    expect(created.status).toBe(201);
    const id = (created.body as { id: string }).id;
    const key = await on(portalOrigin, "POST", `apps/${id}/keys`);
    expect(key.status).toBe(201);
    expect(((await on(replicaOrigin, "GET", `apps/${id}/keys`)).body["keys"] as unknown[]).length).toBe(1);
    // Usage history is in Redis: once the key is used, both replicas answer the same points.
    expect((await callApi(key.body["secret"] as string)).status).toBe(200);
    const usageOf = async (origin: string) => JSON.stringify((await on(origin, "GET", `apps/${id}/usage`)).body);
    await waitFor(
      async () => {
        const [a, b] = [await usageOf(portalOrigin), await usageOf(replicaOrigin)];
        return a === b && (JSON.parse(a) as { keys: { requests: number }[] }).keys[0]?.requests === 1;
      },
      { timeoutMs: 15_000, what: "the same usage from both replicas" },
    );
    expect((await on(replicaOrigin, "DELETE", `apps/${id}`)).status).toBe(204);
    expect((await on(portalOrigin, "GET", `apps/${id}`)).status).toBe(404);
  });

  it("holds a subscription to a plan that needs approval until an admin approves it", async () => {
    const { page: bob } = await signIn("bob");
    const created = await bob.request.post(`${portalOrigin}/portal/v1/apps`, {
      headers: { "content-type": "application/json" },
      data: JSON.stringify({ name: "bob-app", product: "e2e/pets", plan: "e2e/partner" }),
    });
    expect(created.status()).toBe(201);
    const app = (await created.json()) as { id: string; state: string };
    expect(app.state).toBe("pending");
    const refusedKey = await api(bob, "POST", `apps/${app.id}/keys`);
    expect(refusedKey).toEqual({
      status: 409,
      body: { error: `app ${app.id}: its subscription to e2e/partner awaits approval` },
    });
    expect((await api(bob, "POST", `admin/subscriptions/${app.id}/approve`)).status).toBe(403);
    const { page: admin } = await signIn("admin");
    expect((await api(admin, "POST", `admin/subscriptions/${app.id}/approve`)).body["state"]).toBe("approved");
    const key = await api(bob, "POST", `apps/${app.id}/keys`);
    expect(key.status).toBe(201);
    expect((await callApi(key.body["secret"] as string)).status).toBe(200);
  });

  it("shows a product once an admin publishes it", async () => {
    const { page } = await signIn("admin");
    const admin = await api(page, "GET", "admin/apis");
    expect(admin.status).toBe(200);
    await page.goto(`${portalOrigin}/admin`);
    await page.getByRole("heading", { name: "Internal inventory" }).waitFor();
    await saveScreenshot(page, suite, "admin");
    const file = join(dir, "portal.yaml");
    writeFileSync(file, portalResource(true));
    const applied = await runGantry([
      "apply",
      "-f",
      file,
      "--server",
      `http://127.0.0.1:${apiPort}`,
      "--token-file",
      join(dir, "token"),
    ]);
    expect(applied.code).toBe(0);
    const { page: alice } = await signIn("alice");
    await waitFor(
      async () =>
        (await api(alice, "GET", "apis")).body["apis"] &&
        JSON.stringify((await api(alice, "GET", "apis")).body).includes("e2e/internal"),
      {
        timeoutMs: 10_000,
        what: "the published product in the catalogue",
      },
    );
    await alice.goto(`${portalOrigin}/`);
    await alice.getByRole("link", { name: "Internal inventory" }).waitFor();
    expect((await api(alice, "GET", "apis/e2e%2Finternal/schema")).status).toBe(200);
    // Published to signed-in developers only: still hidden from anonymous callers.
    expect((await fetch(`${portalOrigin}/portal/v1/apis/e2e%2Finternal/schema`)).status).toBe(404);
    await saveScreenshot(alice, suite, "published");
  });
});
