import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { exportJWK, exportPKCS8, generateKeyPair } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type ExtAuthServer, startExtAuthServer } from "../../../src/extauth/index.js";
import { AuthConfigSchema } from "../../../src/gen/gantry/extauth/v1/auth_config_pb.js";
import type { OidcAuthorizationCodeSchema } from "../../../src/gen/gantry/extauth/v1/oidc_pb.js";
import { createLogger, createRedis, ManualClock, type RedisClient, waitForRedis } from "../../../src/lib/index.js";
import { type OidcTestProvider, startOidcProvider } from "../../support/oidc-provider.js";
import { haveRedis, type RedisServer, startRedis } from "../../support/redis.js";
import { waitFor } from "../../support/wait.js";
import { Browser } from "./browser.js";

const app = "https://app.test";
const callback = `${app}/oidc/callback`;
const afterLogout = `${app}/bye`;
const accessTokenTtlS = 300;
const refreshBufferMs = 30_000;
const maxAgeMs = 2 * 60 * 60_000;
const cookieKey = Buffer.alloc(32, 7).toString("base64");
const webClient = { id: "gantry-web", secret: "web-secret" };

/**
 * Lets `clock` follow real time until `work` settles. For races between replicas: the one that
 * waits for another's refresh polls the store on the injected clock while the other does real I/O.
 */
async function followingRealTime<T>(clock: ManualClock, work: Promise<T>): Promise<T> {
  let done = false;
  const settled = work.finally(() => {
    done = true;
  });
  let last = Date.now();
  while (!done) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    const now = Date.now();
    clock.advance(now - last);
    last = now;
  }
  return settled;
}

/** Settings as a plain init object (not a built message), so overrides spread over the defaults. */
type Settings = Exclude<MessageInitShape<typeof OidcAuthorizationCodeSchema>, { $typeName: string }>;

describe.skipIf(!haveRedis())("OIDC login through the ext-auth server against a real provider", () => {
  let provider: OidcTestProvider;
  let redisServer: RedisServer;
  let redis: RedisClient;
  let extauth: ExtAuthServer;
  const clock = new ManualClock(Date.now());
  const logger = createLogger({ service: "test-oidc", level: "silent" });
  const browsers: Browser[] = [];

  function settings(overrides: Settings = {}): Settings {
    return {
      issuerUrl: provider.issuer,
      clientId: webClient.id,
      clientAuthentication: { case: "clientSecret", value: { secret: webClient.secret } },
      appUrl: app,
      logoutPath: "/logout",
      afterLogoutUrl: afterLogout,
      scopes: ["email", "profile"],
      session: {
        store: { case: "redis", value: {} },
        refreshBuffer: durationFromMs(refreshBufferMs),
        cookieOptions: { maxAge: durationFromMs(maxAgeMs) },
      },
      forwardTokens: { idTokenHeader: "x-id-token", accessTokenHeader: "authorization", bearer: true },
      claimsToHeaders: [{ claim: "email", header: "x-user-email" }],
      dynamicMetadataFromClaims: { user: "sub", email: "email" },
      allowCorsPreflight: true,
      providerTimeout: durationFromMs(2_000),
      ...overrides,
    };
  }

  function loginCookies(b: Browser): string[] {
    return b.cookieNames("app.test").filter((name) => name.startsWith("__session-login-"));
  }

  /** An auth config with one step: the OIDC login with these settings. */
  function oidcConfig(id: string, overrides: Settings, failOnRedirect = false) {
    return create(AuthConfigSchema, {
      id,
      failOnRedirect,
      configs: [
        {
          name: "login",
          evaluator: {
            case: "oauth2",
            value: { oauth2: { case: "oidcAuthorizationCode", value: settings(overrides) } },
          },
        },
      ],
    });
  }

  function browser(configId: string): Browser {
    const b = new Browser(`127.0.0.1:${extauth.grpcPort}`, app, configId);
    browsers.push(b);
    return b;
  }

  async function sessionRecord(b: Browser): Promise<Record<string, unknown>> {
    const keys = await redis.keys("oidc:session:*");
    expect(b.cookie("app.test", "__session")).toBeDefined();
    expect(keys).toHaveLength(1);
    return JSON.parse((await redis.get(keys[0] ?? "")) ?? "{}") as Record<string, unknown>;
  }

  beforeAll(async () => {
    const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
    provider = await startOidcProvider({
      ttl: { accessToken: accessTokenTtlS },
      clients: [
        {
          client_id: webClient.id,
          client_secret: webClient.secret,
          redirect_uris: [callback],
          post_logout_redirect_uris: [afterLogout],
          grant_types: ["authorization_code", "refresh_token"],
          response_types: ["code"],
        },
        {
          client_id: "gantry-short",
          client_secret: "short-secret",
          redirect_uris: [callback],
          grant_types: ["authorization_code"],
          response_types: ["code"],
        },
        {
          client_id: "gantry-keyjwt",
          token_endpoint_auth_method: "private_key_jwt",
          jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: "client-key", alg: "RS256", use: "sig" }] },
          redirect_uris: [callback],
          grant_types: ["authorization_code"],
          response_types: ["code"],
        },
      ],
    });
    redisServer = await startRedis();
    redis = createRedis({ url: redisServer.url, commandTimeoutMs: 300, connectTimeoutMs: 300 });
    await waitForRedis(redis);
    extauth = await startExtAuthServer({
      host: "127.0.0.1",
      grpcPort: 0,
      metricsPort: 0,
      redisUrl: redisServer.url,
      redisCommandTimeoutMs: 300,
      checkTimeoutMs: 5_000,
      clock,
      logger,
      configs: [
        oidcConfig("redis", {}),
        oidcConfig("api", {}, true),
        oidcConfig("cookie", {
          session: {
            store: { case: "cookie", value: { encryptionKey: cookieKey } },
            refreshBuffer: durationFromMs(refreshBufferMs),
          },
        }),
        oidcConfig("short", {
          clientId: "gantry-short",
          clientAuthentication: { case: "clientSecret", value: { secret: "short-secret", inBody: true } },
        }),
        oidcConfig("keyjwt", {
          clientId: "gantry-keyjwt",
          clientAuthentication: {
            case: "privateKeyJwt",
            value: { privateKey: await exportPKCS8(privateKey), keyId: "client-key" },
          },
        }),
        oidcConfig("unreachable", { issuerUrl: "http://127.0.0.1:9" }),
      ],
    });
  });

  afterEach(async () => {
    for (const b of browsers.splice(0)) b.close();
    clock.set(Date.now());
    if (redis.status === "ready") await redis.flushdb();
  });

  afterAll(async () => {
    await extauth?.stop();
    redis?.disconnect();
    await redisServer?.close();
    await provider?.close();
  });

  it("sends an unauthenticated browser to the provider with PKCE S256, state and nonce", async () => {
    const b = browser("redis");
    const page = await b.request(`${app}/orders?page=2`);
    expect(page.status).toBe(302);
    const location = new URL(page.location ?? "");
    expect(location.origin + location.pathname).toBe(`${provider.issuer}/auth`);
    expect(location.searchParams.get("response_type")).toBe("code");
    expect(location.searchParams.get("client_id")).toBe(webClient.id);
    expect(location.searchParams.get("redirect_uri")).toBe(callback);
    expect(location.searchParams.get("scope")).toBe("openid email profile");
    expect(location.searchParams.get("code_challenge_method")).toBe("S256");
    expect(location.searchParams.get("code_challenge")).toMatch(/^[\w-]{43}$/);
    expect(location.searchParams.get("state")).toMatch(/^[\w-]{43}$/);
    expect(location.searchParams.get("nonce")).toMatch(/^[\w-]{43}$/);
    const loginCookie = page.setCookies.find((c) => /^__session-login-[\w-]{16}=/.test(c));
    expect(loginCookie).toMatch(/; Max-Age=600; Path=\/oidc\/callback; Secure; HttpOnly; SameSite=Lax$/);
    expect(await redis.keys("oidc:login:*")).toHaveLength(1);
  });

  it("logs in through the provider's pages and forwards tokens and claims upstream", async () => {
    const b = browser("redis");
    const page = await b.logIn(`${app}/orders?page=2`, "ada");
    expect(page.url).toBe(`${app}/orders?page=2`);
    expect(page.upstream?.headers["x-user-email"]).toBe("ada@example.test");
    expect(page.upstream?.headers["authorization"]).toMatch(/^Bearer \S+$/);
    expect(page.upstream?.headers["x-id-token"]).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    expect(page.upstream?.dynamicMetadata).toEqual({ user: "ada", email: "ada@example.test" });
    // The cookie is a random id; the tokens stay in Redis, which expires the session at maxAge.
    const sessionId = b.cookie("app.test", "__session") ?? "";
    expect(sessionId).toMatch(/^[\w-]{43}$/);
    const record = await sessionRecord(b);
    expect(record["refreshToken"]).toEqual(expect.any(String));
    const [key = ""] = await redis.keys("oidc:session:*");
    expect(key).not.toContain(sessionId);
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(maxAgeMs - 60_000);
    expect(ttl).toBeLessThanOrEqual(maxAgeMs);
    expect(await redis.keys("oidc:login:*")).toHaveLength(0);
    expect(loginCookies(b)).toEqual([]);
    // The next request is served from the session without going to the provider.
    const again = await b.request(`${app}/profile`);
    expect(again.upstream?.headers["x-user-email"]).toBe("ada@example.test");
  });

  it("refreshes tokens before they expire and writes them back, keeping the session's end", async () => {
    const b = browser("redis");
    const first = await b.logIn(`${app}/`, "grace");
    const before = await sessionRecord(b);
    const [key = ""] = await redis.keys("oidc:session:*");
    clock.advance(accessTokenTtlS * 1_000 - refreshBufferMs + 1_000);
    const page = await b.request(`${app}/later`);
    expect(page.upstream).toBeDefined();
    expect(page.upstream?.headers["authorization"]).not.toBe(first.upstream?.headers["authorization"]);
    const after = await sessionRecord(b);
    expect(after["accessToken"]).not.toBe(before["accessToken"]);
    expect(after["refreshToken"]).not.toBe(before["refreshToken"]);
    expect(after["endsAt"]).toBe(before["endsAt"]);
    expect(page.upstream?.headers["authorization"]).toBe(`Bearer ${after["accessToken"]}`);
    // Written back with the remaining lifetime, not a fresh maxAge.
    expect(await redis.pttl(key)).toBeLessThanOrEqual(maxAgeMs - (accessTokenTtlS * 1_000 - refreshBufferMs));
    const next = await b.request(`${app}/later`);
    expect(next.upstream?.headers["authorization"]).toBe(`Bearer ${after["accessToken"]}`);
  });

  it("refreshes once when requests race, on one replica and across two sharing Redis", async () => {
    const replica = await startExtAuthServer({
      host: "127.0.0.1",
      grpcPort: 0,
      metricsPort: 0,
      redisUrl: redisServer.url,
      redisCommandTimeoutMs: 300,
      checkTimeoutMs: 5_000,
      clock,
      logger,
      configs: [oidcConfig("redis", {})],
    });
    try {
      const b = browser("redis");
      await b.logIn(`${app}/`, "hedy");
      const before = await sessionRecord(b);
      const other = new Browser(`127.0.0.1:${replica.grpcPort}`, app, "redis");
      browsers.push(other);
      other.setCookie("app.test", "__session", b.cookie("app.test", "__session") ?? "");
      clock.advance(accessTokenTtlS * 1_000 - refreshBufferMs + 1_000);
      const pages = await followingRealTime(
        clock,
        Promise.all([
          b.request(`${app}/a`),
          b.request(`${app}/b`),
          other.request(`${app}/c`),
          other.request(`${app}/d`),
        ]),
      );
      const after = await sessionRecord(b);
      expect(after["accessToken"]).not.toBe(before["accessToken"]);
      for (const page of pages) {
        expect(page.upstream, page.reason).toBeDefined();
      }
      // Whoever lost the race ended up with the winner's tokens, and the session lives on.
      expect((await b.request(`${app}/e`)).upstream?.headers["authorization"]).toBe(`Bearer ${after["accessToken"]}`);
      // One refresh token was spent once: the provider (which revokes the grant when a used refresh
      // token comes back) still honours the next refresh.
      clock.advance(accessTokenTtlS * 1_000);
      const later = await other.request(`${app}/f`);
      expect(later.upstream, later.reason).toBeDefined();
      expect((await sessionRecord(b))["accessToken"]).not.toBe(after["accessToken"]);
    } finally {
      await replica.stop();
    }
  });

  it("ends the session cleanly when the provider answers invalid_grant on refresh", async () => {
    const b = browser("redis");
    await b.logIn(`${app}/`, "linus");
    const record = await sessionRecord(b);
    await provider.revoke(String(record["refreshToken"]), webClient);
    clock.advance(accessTokenTtlS * 1_000);
    const page = await b.request(`${app}/after-revoke`);
    expect(page.status).toBe(302);
    expect(page.location).toContain(`${provider.issuer}/auth?`);
    expect(page.reason).toContain("refresh refused: invalid_grant");
    expect(page.setCookies).toContainEqual(expect.stringMatching(/^__session=; Max-Age=0/));
    expect(b.cookie("app.test", "__session")).toBeUndefined();
    expect(await redis.keys("oidc:session:*")).toHaveLength(0);
  });

  it("ends a session whose tokens expired without a refresh token, and one past its maxAge", async () => {
    const b = browser("short");
    const page = await b.logIn(`${app}/`, "alan");
    expect(page.upstream).toBeDefined();
    expect((await sessionRecord(b))["refreshToken"]).toBeUndefined();
    clock.advance(accessTokenTtlS * 1_000 - refreshBufferMs + 1_000);
    expect((await b.request(`${app}/x`)).upstream).toBeDefined();
    clock.advance(refreshBufferMs);
    const expired = await b.request(`${app}/x`);
    expect(expired.status).toBe(302);
    expect(expired.reason).toContain("tokens expired");
    expect(await redis.keys("oidc:session:*")).toHaveLength(0);

    const c = browser("redis");
    await c.logIn(`${app}/`, "barbara");
    clock.advance(maxAgeMs);
    const old = await c.request(`${app}/x`);
    expect(old.status).toBe(302);
    expect(old.reason).toContain("max age");
    expect(await redis.keys("oidc:session:*")).toHaveLength(0);
  });

  it("logs out: the session is deleted, the cookie cleared, the refresh token revoked and the provider's session ended", async () => {
    const b = browser("redis");
    await b.logIn(`${app}/`, "edsger");
    const record = await sessionRecord(b);
    const page = await b.request(`${app}/logout`);
    expect(page.status).toBe(302);
    const location = new URL(page.location ?? "");
    expect(location.origin + location.pathname).toBe(`${provider.issuer}/session/end`);
    expect(location.searchParams.get("id_token_hint")).toBe(record["idToken"]);
    expect(location.searchParams.get("post_logout_redirect_uri")).toBe(afterLogout);
    expect(await redis.keys("oidc:session:*")).toHaveLength(0);
    expect(b.cookie("app.test", "__session")).toBeUndefined();
    // The refresh token was revoked at the provider.
    const reuse = await fetch(`${provider.issuer}/token`, {
      method: "POST",
      headers: { authorization: `Basic ${Buffer.from(`${webClient.id}:${webClient.secret}`).toString("base64")}` },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: String(record["refreshToken"]) }),
    });
    expect(reuse.status).toBe(400);
    expect(((await reuse.json()) as { error: string }).error).toBe("invalid_grant");
    const confirm = await b.navigate(page.location ?? "");
    const done = await b.submitForm(confirm, { logout: "yes" });
    expect(b.history).toContain(afterLogout);
    // afterLogoutUrl is protected here too, and the provider's session is gone: its login page, not a silent login.
    expect(done.body).toContain('name="prompt" value="login"');
  });

  it("denies a callback whose state was forged, and the real login still completes", async () => {
    const b = browser("redis");
    const loginPage = await b.navigate(`${app}/`);
    expect(loginCookies(b)).toHaveLength(1);
    const page = await b.request(`${callback}?code=stolen&state=forged`);
    expect(page.status).toBe(401);
    expect(page.reason).toContain("callback without a login started by this browser for its state");
    expect(page.setCookies.some((c) => c.startsWith("__session="))).toBe(false);
    expect(await redis.keys("oidc:session:*")).toHaveLength(0);
    const noState = await b.request(`${callback}?code=stolen`);
    expect(noState.status).toBe(401);
    expect(noState.reason).toBe("callback without a state");
    // The forged callbacks did not spend the browser's own login.
    const consent = await b.submitForm(loginPage, { login: "ada", password: "pw" });
    const done = await b.submitForm(consent);
    expect(done.upstream?.headers["x-user-email"]).toBe("ada@example.test");
  });

  it("completes two logins started at once in two tabs, each back to its own URL", async () => {
    const b = browser("redis");
    const first = await b.navigate(`${app}/first`);
    const second = await b.navigate(`${app}/second`);
    expect(loginCookies(b)).toHaveLength(2);
    const secondDone = await b.submitForm(await b.submitForm(second, { login: "ada", password: "pw" }));
    expect(secondDone.url).toBe(`${app}/second`);
    expect(secondDone.upstream).toBeDefined();
    // The provider remembers the sign-in, so the first tab's login finishes at once.
    let firstDone = await b.submitForm(first, { login: "ada", password: "pw" });
    if (firstDone.upstream === undefined) firstDone = await b.submitForm(firstDone);
    expect(firstDone.url).toBe(`${app}/first`);
    expect(firstDone.upstream).toBeDefined();
    expect(loginCookies(b)).toEqual([]);
  });

  it("denies a replayed callback and a replayed code", async () => {
    const b = browser("redis");
    await b.logIn(`${app}/`, "barbara");
    const callbackUrl = b.history.find((url) => url.startsWith(`${callback}?`)) ?? "";
    expect(callbackUrl).toContain("code=");
    const replay = await b.request(callbackUrl);
    expect(replay.status).toBe(401);
    expect(replay.reason).toContain("without a login started by this browser");

    // Another browser starts its own login and feeds the old code with its own, valid state.
    const attacker = browser("redis");
    const start = await attacker.request(`${app}/`);
    const state = new URL(start.location ?? "").searchParams.get("state") ?? "";
    const code = new URL(callbackUrl).searchParams.get("code") ?? "";
    const stolen = await attacker.request(`${callback}?code=${encodeURIComponent(code)}&state=${state}`);
    expect(stolen.status).toBe(401);
    expect(stolen.reason).toContain("code exchange refused: invalid_grant");
    expect(attacker.cookie("app.test", "__session")).toBeUndefined();
  });

  it("answers error while Redis is down, within the command timeout, and recovers", async () => {
    const b = browser("redis");
    await b.logIn(`${app}/`, "ken");
    await redisServer.stop();
    try {
      const started = Date.now();
      const page = await b.request(`${app}/x`);
      // An error, which the step's failureModeAllow (off) turns into a denial.
      expect(page.status).toBe(403);
      expect(page.reason).toContain("OIDC");
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await redisServer.start();
    }
    await waitFor(() => redis.status === "ready", { what: "the test's Redis client to reconnect" });
    // The restarted Redis lost the session: once the server has reconnected, the browser is sent to log in again.
    const page = await waitFor(
      async () => {
        const answer = await b.request(`${app}/x`);
        return answer.status === 302 ? answer : undefined;
      },
      { what: "the ext-auth server to use Redis again" },
    );
    expect(page.location).toContain(`${provider.issuer}/auth?`);
  });

  it("answers 401 instead of redirecting when the auth config has failOnRedirect", async () => {
    const b = browser("api");
    const page = await b.request(`${app}/api/items`);
    expect(page.status).toBe(401);
    expect(page.location).toBeUndefined();
    expect(page.reason).toContain("login required: no session");
  });

  it("lets CORS preflights through without a session", async () => {
    const b = browser("redis");
    const preflight = await b.request(`${app}/api`, {
      method: "OPTIONS",
      headers: { origin: "https://other.test", "access-control-request-method": "POST" },
    });
    expect(preflight.upstream).toBeDefined();
    const plainOptions = await b.request(`${app}/api`, { method: "OPTIONS" });
    expect(plainOptions.status).toBe(302);
  });

  it("keeps sessions in encrypted cookies: tokens sealed, refresh rewrites the cookie, tampering logs out", async () => {
    const b = browser("cookie");
    const page = await b.logIn(`${app}/`, "ada");
    expect(page.upstream?.headers["x-user-email"]).toBe("ada@example.test");
    const sealed = b.cookie("app.test", "__session") ?? "";
    expect(sealed).toMatch(/^v1\./);
    expect(sealed).not.toContain(page.upstream?.headers["authorization"]?.slice(7) ?? "none");
    expect(await redis.keys("oidc:*")).toHaveLength(0);

    clock.advance(accessTokenTtlS * 1_000 - refreshBufferMs + 1_000);
    const refreshed = await b.request(`${app}/later`);
    expect(refreshed.upstream?.headers["authorization"]).not.toBe(page.upstream?.headers["authorization"]);
    expect(refreshed.setCookies).toHaveLength(1);
    expect(b.cookie("app.test", "__session")).not.toBe(sealed);

    const current = b.cookie("app.test", "__session") ?? "";
    const last = current.at(-2) === "A" ? "B" : "A";
    b.setCookie("app.test", "__session", `${current.slice(0, -2)}${last}${current.at(-1)}`);
    const tampered = await b.request(`${app}/later`);
    expect(tampered.status).toBe(302);
    expect(tampered.reason).toContain("session unknown or expired");
  });

  it("logs out a cookie session: an old copy of the cookie dies at its next refresh", async () => {
    const b = browser("cookie");
    await b.logIn(`${app}/`, "grace");
    const copy = b.cookie("app.test", "__session") ?? "";
    const page = await b.request(`${app}/logout`);
    expect(page.status).toBe(302);
    expect(page.location).toContain(`${provider.issuer}/session/end?`);
    expect(b.cookie("app.test", "__session")).toBeUndefined();
    // Someone kept the cookie: it works until the tokens need refreshing, which the revoked grant refuses.
    const thief = browser("cookie");
    thief.setCookie("app.test", "__session", copy);
    expect((await thief.request(`${app}/x`)).upstream).toBeDefined();
    clock.advance(accessTokenTtlS * 1_000 - refreshBufferMs + 1_000);
    const refused = await thief.request(`${app}/x`);
    expect(refused.status).toBe(302);
    expect(refused.reason).toContain("refresh refused: invalid_grant");
  });

  it("authenticates the client with private_key_jwt", async () => {
    const b = browser("keyjwt");
    const page = await b.logIn(`${app}/`, "margaret");
    expect(page.upstream?.headers["x-user-email"]).toBe("margaret@example.test");
  });

  it("answers error when the provider cannot be reached", async () => {
    const b = browser("unreachable");
    const page = await b.request(`${app}/`);
    expect(page.status).toBe(403);
    expect(page.reason).toContain("OIDC provider: cannot fetch the discovery document");
  });
});
