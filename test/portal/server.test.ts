import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, createRedis, type RedisClient } from "../../src/lib/index.js";
import { defaultIdentityHeaders, type Portal, startPortal } from "../../src/portal/index.js";
import { parseResources } from "../../src/resources/index.js";
import { haveRedis, type RedisServer, startRedis } from "../support/redis.js";

const resources = parseResources(
  `apiVersion: gantry/v1
kind: ApiProduct
metadata: { name: open, namespace: ns }
spec: { openapi: { inline: "openapi: 3.0.3\\ninfo: { title: t, version: '1' }\\npaths: {}\\n" } }
---
apiVersion: gantry/v1
kind: ApiProduct
metadata: { name: hidden, namespace: ns }
spec: { openapi: { inline: "openapi: 3.0.3\\ninfo: { title: t, version: '1' }\\npaths: {}\\n" } }
---
apiVersion: gantry/v1
kind: Portal
metadata: { name: p, namespace: ns }
spec: { products: [{ product: { name: open } }] }
`,
  "portal.yaml",
).resources;

/** The portal's HTTP surface for callers without a session: no ext-auth call is made for them. */
describe.skipIf(!haveRedis())("gantry portal, anonymous callers", () => {
  let redisServer: RedisServer;
  let redis: RedisClient;
  let portal: Portal;
  let dir: string;
  let base: string;

  beforeAll(async () => {
    redisServer = await startRedis();
    redis = createRedis({ url: redisServer.url });
    dir = mkdtempSync(join(tmpdir(), "gantry-portal-"));
    mkdirSync(join(dir, "pages"));
    writeFileSync(join(dir, "pages", "index.html"), "<!doctype html><title>portal</title>");
    writeFileSync(join(dir, "secret.txt"), "not to be served");
    portal = await startPortal({
      host: "127.0.0.1",
      port: 0,
      readState: async () => ({ resources, statuses: new Map() }),
      refreshMs: 60_000,
      // Unreachable: anonymous requests must not need it.
      identity: {
        extAuthAddress: "127.0.0.1:1",
        configId: "portal",
        sessionCookie: "__session",
        headers: defaultIdentityHeaders,
        timeoutMs: 500,
      },
      authPaths: ["/oidc/callback"],
      redis,
      rotationGraceMs: 1_000,
      usageIntervalMs: 1_000,
      pagesDir: join(dir, "pages"),
      baseDir: dir,
      logger: createLogger({ service: "portal-test", level: "silent" }),
    });
    base = `http://127.0.0.1:${portal.port}`;
  });

  afterAll(async () => {
    await portal?.stop();
    redis?.disconnect();
    await redisServer?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("lists published products only, and answers a hidden product's schema as an unknown one", async () => {
    expect(await (await fetch(`${base}/portal/v1/apis`)).json()).toEqual({
      apis: [{ id: "ns/open", title: "open", version: "", description: "", plans: [] }],
    });
    expect((await fetch(`${base}/portal/v1/apis/ns%2Fopen/schema`)).status).toBe(200);
    const hidden = await fetch(`${base}/portal/v1/apis/ns%2Fhidden/schema`);
    expect(hidden.status).toBe(404);
    expect(await hidden.json()).toEqual({ error: "no API ns/hidden" });
  });

  it("asks anonymous callers to sign in for apps, and says who they are", async () => {
    expect(await (await fetch(`${base}/portal/v1/me`)).json()).toEqual({ signedIn: false });
    const apps = await fetch(`${base}/portal/v1/apps`);
    expect(apps.status).toBe(401);
    expect(await apps.json()).toEqual({ error: "sign in first (/login)" });
  });

  it("refuses writes from another origin before anything else", async () => {
    const response = await fetch(`${base}/portal/v1/apps`, {
      method: "POST",
      headers: { origin: "https://evil.example", "content-type": "application/json" },
      body: "{}",
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({ error: "cross-origin request from https://evil.example refused" });
    const malformed = await fetch(`${base}/portal/v1/apps`, {
      method: "POST",
      headers: { origin: "null" },
      body: "{}",
    });
    expect(malformed.status).toBe(403);
  });

  it("serves the pages' entry for client routes and nothing outside the pages folder", async () => {
    const page = await fetch(`${base}/apis/ns/open`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<title>portal</title>");
    const outside = await fetch(`${base}/..%2Fsecret.txt`);
    expect(await outside.text()).not.toContain("not to be served");
  });

  it("answers 503, not a crash, when ext-auth cannot be reached for a session", async () => {
    const response = await fetch(`${base}/portal/v1/me`, { headers: { cookie: "__session=abc" } });
    expect(response.status).toBe(503);
    expect((await fetch(`${base}/portal/v1/me`)).status).toBe(200);
  });
});
