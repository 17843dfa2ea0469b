// The dashboard's files on the API port (no token, strict CSP, caching), the OIDC ID tokens the
// API accepts as bearer tokens, and Watch's status events that keep the dashboard live.
import { mkdtempSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManagementService, WatchRequestSchema } from "../../src/gen/gantry/api/v1/management_pb.js";
import { systemClock } from "../../src/lib/clock.js";
import { createLogger } from "../../src/lib/logger.js";
import { startManagementApi } from "../../src/server/api/index.js";
import { DesiredState } from "../../src/server/desired-state.js";
import { contentSecurityPolicy, createUi } from "../../src/server/ui/index.js";
import { MemoryStore } from "../../src/store/index.js";
import { type OidcTestProvider, startOidcProvider } from "../support/oidc-provider.js";
import { noDescription } from "./api-deps.js";

const token = "ui-test-token-0123456789abcdef";
const logger = createLogger({ service: "test", level: "silent" });

function rawStatus(port: number, path: string): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path }, (response) => {
      response.resume();
      resolve(response.statusCode);
    }).on("error", reject);
  });
}

function deps(listeners: Set<(what: "proxies" | "insights") => void>) {
  const store = new MemoryStore();
  return {
    store,
    desired: new DesiredState(store),
    status: () => undefined,
    proxies: () => [],
    describe: () => ({ publishedRevision: 1, description: noDescription }),
    onStatusChange: (listener: (what: "proxies" | "insights") => void) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

describe("the dashboard's files and live events on the API port", () => {
  const listeners = new Set<(what: "proxies" | "insights") => void>();
  let provider: OidcTestProvider;
  let port = 0;
  let close: () => Promise<void> = async () => {};
  const base = () => `http://127.0.0.1:${port}`;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "gantry-ui-"));
    writeFileSync(join(dir, "index.html"), '<!doctype html><script type="module" src="./app-ABCDEFGH.js"></script>');
    writeFileSync(join(dir, "app-ABCDEFGH.js"), `console.log(${JSON.stringify("x".repeat(4_000))});`);
    provider = await startOidcProvider({
      clients: [
        { client_id: "ui", client_secret: "ui-secret", redirect_uris: ["http://127.0.0.1:1/ui/oidc/callback"] },
      ],
    });
    const ui = createUi(
      {
        dir,
        oidc: {
          issuer: provider.issuer,
          clientId: "ui",
          clientSecret: "ui-secret",
          uiUrl: "http://127.0.0.1:1/ui/",
          groupRoles: new Map([["staff", "viewer"]]),
        },
      },
      { logger, timers: systemClock },
    );
    const api = await startManagementApi({
      host: "127.0.0.1",
      port: 0,
      token,
      deps: deps(listeners),
      ui: ui.handler,
      ...(ui.oidc ? { oidc: ui.oidc } : {}),
      limits: { authFailuresPerMinute: 1_000 },
    });
    port = api.port;
    close = () => api.close();
  });
  afterAll(async () => {
    await close();
    await provider?.close();
  });

  it("serves index.html without a token, no-cache, with the CSP", async () => {
    const response = await fetch(`${base()}/ui/`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(response.headers.get("cache-control")).toBe("no-cache");
    expect(response.headers.get("content-security-policy")).toBe(contentSecurityPolicy);
    expect(contentSecurityPolicy).toContain("script-src 'self'");
    expect(contentSecurityPolicy).not.toContain("unsafe-inline");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect((await fetch(`${base()}/ui`, { redirect: "manual" })).headers.get("location")).toBe("/ui/");
  });

  it("serves hashed bundles immutable and gzipped, revalidates with the ETag, refuses writes", async () => {
    const asset = await fetch(`${base()}/ui/app-ABCDEFGH.js`, { headers: { "accept-encoding": "gzip" } });
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(asset.headers.get("content-encoding")).toBe("gzip");
    expect(await asset.text()).toContain("console.log");
    const etag = asset.headers.get("etag") ?? "";
    expect((await fetch(`${base()}/ui/app-ABCDEFGH.js`, { headers: { "if-none-match": etag } })).status).toBe(304);
    // Sent as is (fetch would normalize the dots away): the files are looked up by name, never on disk.
    expect(await rawStatus(port, "/ui/../package.json")).toBe(404);
    expect(await rawStatus(port, "/ui/..%2f..%2fpackage.json")).toBe(404);
    expect((await fetch(`${base()}/ui/nothing.js`)).status).toBe(404);
    expect((await fetch(`${base()}/ui/`, { method: "POST", body: "x" })).status).toBe(405);
    expect(await (await fetch(`${base()}/ui/config.json`)).json()).toEqual({ oidc: true });
  });

  it("still guards the API beside the files", async () => {
    const response = await fetch(`${base()}/gantry.api.v1.ManagementService/List`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(response.status).toBe(401);
  });

  it("refuses an ID token the provider did not sign, saying why", async () => {
    const { privateKey } = await generateKeyPair("RS256");
    const forged = await new SignJWT({ groups: ["staff"] })
      .setProtectedHeader({ alg: "RS256", kid: "test-signing-key" })
      .setIssuer(provider.issuer)
      .setAudience("ui")
      .setSubject("mallory")
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(privateKey);
    const response = await fetch(`${base()}/gantry.api.v1.ManagementService/List`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${forged}` },
      body: "{}",
    });
    expect(response.status).toBe(401);
    const body = (await response.json()) as { code: string; message: string };
    expect(body.code).toBe("unauthenticated");
    expect(body.message).toMatch(/^the ID token is not valid: /);
    expect(body.message).not.toContain(forged);
  });

  it("the OIDC login starts at the provider with PKCE, state and nonce", async () => {
    const response = await fetch(`${base()}/ui/oidc/login`, { redirect: "manual" });
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get("location") ?? "");
    expect(location.origin).toBe(provider.issuer);
    expect(location.searchParams.get("redirect_uri")).toBe("http://127.0.0.1:1/ui/oidc/callback");
    expect(location.searchParams.get("code_challenge_method")).toBe("S256");
    expect(location.searchParams.get("state")).toMatch(/^[\w-]{32}$/);
    // The login is bound to this browser by a cookie holding its state, sealed (any replica with
    // the session key can finish it; nothing is kept in this one's memory).
    const state = location.searchParams.get("state") ?? "";
    const cookie = (response.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    expect(response.headers.get("set-cookie")).toMatch(
      /^gantry_ui_login=gs1\.[\w-]+\.[\w-]+; Path=\/ui\/oidc\/; Max-Age=600; HttpOnly; SameSite=Lax$/,
    );
    expect(cookie).not.toContain(state);
    const callback = (query: string, headers: Record<string, string> = {}) =>
      fetch(`${base()}/ui/oidc/callback?${query}`, { redirect: "manual", headers }).then((r) =>
        decodeURIComponent(r.headers.get("location") ?? ""),
      );
    // Another browser's state (login CSRF), a cookie this server never sealed, or a cookie for
    // another login: back to sign-in, with the reason.
    const notHere = "http://127.0.0.1:1/ui/#/signin?error=the sign-in was not started in this browser";
    expect(await callback(`code=x&state=${state}`)).toBe(notHere);
    expect(await callback("code=x&state=forged", { cookie: "gantry_ui_login=forged" })).toBe(notHere);
    expect(await callback("code=x&state=forged", { cookie })).toBe(notHere);
    // With its cookie, the login goes on to the code exchange (which refuses this made-up code).
    expect(await callback(`code=made-up&state=${state}`, { cookie })).toMatch(
      /^http:\/\/127\.0\.0\.1:1\/ui\/#\/signin\?error=the sign-in failed: token endpoint refused the request: invalid_grant/,
    );
  });

  it("Watch with status: proxies' and insights' changes arrive as events, coalesced", async () => {
    const client = createClient(
      ManagementService,
      createConnectTransport({
        baseUrl: base(),
        httpVersion: "1.1",
        interceptors: [
          (next) => (req) => {
            req.header.set("authorization", `Bearer ${token}`);
            return next(req);
          },
        ],
      }),
    );
    const abort = new AbortController();
    const stream = client.watch(create(WatchRequestSchema, { status: true }), { signal: abort.signal });
    const iterator = stream[Symbol.asyncIterator]();
    // The first event comes at once, empty: the stream is open.
    expect((await iterator.next()).value).toMatchObject({
      proxiesChanged: false,
      insightsChanged: false,
      upserted: [],
    });
    expect(listeners.size).toBe(1);
    for (const listener of listeners) {
      listener("proxies");
      listener("proxies");
      listener("insights");
    }
    // Coalesced: the three changes, made before the watcher read, are one event.
    expect((await iterator.next()).value).toMatchObject({ proxiesChanged: true, insightsChanged: true });
    abort.abort();
    await expect.poll(() => listeners.size).toBe(0);
  });
});
