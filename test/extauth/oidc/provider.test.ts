import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { type CryptoKey, exportJWK, exportPKCS8, generateKeyPair, type JWK, jwtVerify, SignJWT } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  IdTokenRejected,
  OidcProviderClient,
  ProviderUnavailableError,
  TokenRequestRefused,
} from "../../../src/extauth/evaluators/oidc/provider.js";
import { parseOidcSettings } from "../../../src/extauth/evaluators/oidc/settings.js";
import { OidcAuthorizationCodeSchema } from "../../../src/gen/gantry/extauth/v1/oidc_pb.js";
import { createLogger, ManualClock } from "../../../src/lib/index.js";
import { waitFor } from "../../support/wait.js";

type Settings = Exclude<MessageInitShape<typeof OidcAuthorizationCodeSchema>, { $typeName: string }>;

interface TokenCall {
  path: string | undefined;
  authorization: string | undefined;
  body: URLSearchParams;
}

/**
 * A provider whose answers the test writes: the cases a real provider never produces (forged,
 * expired or misaddressed ID tokens, rotated keys, outages, hangs) are exactly the ones to test.
 */
class CraftedProvider {
  issuer = "";
  keys: JWK[] = [];
  discoveryHits = 0;
  /** Requests held without an answer while the provider hung, and those the client gave up on. */
  held = 0;
  abandoned = 0;
  jwksHits = 0;
  down = false;
  hang = false;
  /** The answer to the next token request. */
  tokenAnswer: { status: number; body: unknown } = { status: 200, body: {} };
  tokenCalls: TokenCall[] = [];
  readonly #server: Server = createServer((req, res) => void this.#handle(req, res));

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    this.issuer = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.url === "/.well-known/openid-configuration") this.discoveryHits++;
    if (this.hang) {
      this.held++;
      res.on("close", () => this.abandoned++);
      return;
    }
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    };
    if (this.down) return json(500, { error: "server_error" });
    switch (req.url) {
      case "/.well-known/openid-configuration":
        return json(200, {
          issuer: this.issuer,
          authorization_endpoint: `${this.issuer}/authorize`,
          token_endpoint: `${this.issuer}/token`,
          jwks_uri: `${this.issuer}/jwks`,
          end_session_endpoint: `${this.issuer}/logout`,
          revocation_endpoint: `${this.issuer}/revoke`,
        });
      case "/jwks":
        this.jwksHits++;
        return json(200, { keys: this.keys });
      case "/token":
      case "/revoke":
        this.tokenCalls.push({
          path: req.url,
          authorization: req.headers.authorization,
          body: new URLSearchParams(Buffer.concat(chunks).toString()),
        });
        return json(this.tokenAnswer.status, this.tokenAnswer.body);
      default:
        return json(404, {});
    }
  }
}

describe("OidcProviderClient against a crafted provider", () => {
  const idp = new CraftedProvider();
  const logger = createLogger({ service: "test", level: "silent" });
  let signingKey: CryptoKey;
  let otherKey: CryptoKey;
  let clock: ManualClock;

  async function client(overrides: Settings = {}): Promise<OidcProviderClient> {
    const settings = await parseOidcSettings(
      create(OidcAuthorizationCodeSchema, {
        issuerUrl: idp.issuer,
        clientId: "app",
        clientAuthentication: { case: "clientSecret", value: { secret: "s3cret:with space&more" } },
        appUrl: "https://app.example",
        session: { store: { case: "redis", value: {} } },
        providerTimeout: durationFromMs(300),
        clockSkew: durationFromMs(10_000),
        ...overrides,
      }),
      "/",
      "oidc",
    );
    return new OidcProviderClient(settings, clock, logger);
  }

  function idToken(claims: Record<string, unknown> = {}, key: CryptoKey = signingKey, kid = "k1"): Promise<string> {
    const now = Math.floor(clock.now() / 1_000);
    return new SignJWT({ sub: "ada", nonce: "n1", ...claims })
      .setProtectedHeader({ alg: "RS256", kid })
      .setIssuer(String(claims["iss"] ?? idp.issuer))
      .setAudience((claims["aud"] as string | string[] | undefined) ?? "app")
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(key);
  }

  beforeAll(async () => {
    await idp.start();
    const pair = await generateKeyPair("RS256", { extractable: true });
    signingKey = pair.privateKey;
    otherKey = (await generateKeyPair("RS256", { extractable: true })).privateKey;
    idp.keys = [{ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "RS256" }];
  });

  beforeEach(() => {
    clock = new ManualClock(Date.now());
    idp.discoveryHits = 0;
    idp.held = 0;
    idp.abandoned = 0;
    idp.jwksHits = 0;
    idp.down = false;
    idp.hang = false;
    idp.tokenCalls = [];
  });

  afterAll(async () => {
    await idp.close();
  });

  it("accepts a good ID token and returns its claims", async () => {
    const provider = await client();
    const claims = await provider.validateIdToken(await idToken({ email: "ada@example.test" }), "n1");
    expect(claims).toMatchObject({ sub: "ada", email: "ada@example.test", iss: idp.issuer, aud: "app" });
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ["another nonce", { nonce: "n2" }, /nonce does not match/],
    ["another audience", { aud: "other-app" }, /ID token rejected: .*aud/],
    ["another issuer", { iss: "https://evil.example" }, /ID token rejected: .*iss/],
    ["several audiences without azp", { aud: ["app", "other"] }, /several audiences/],
  ])("rejects an ID token with %s", async (_what, claims, message) => {
    const provider = await client();
    await expect(provider.validateIdToken(await idToken(claims), "n1")).rejects.toThrow(message);
  });

  it("judges expiry by the injected clock, with the configured skew", async () => {
    const provider = await client();
    const token = await idToken();
    clock.advance(300_000 + 9_000);
    expect((await provider.validateIdToken(token, "n1"))["sub"]).toBe("ada");
    clock.advance(2_000);
    await expect(provider.validateIdToken(token, "n1")).rejects.toBeInstanceOf(IdTokenRejected);
  });

  it("re-reads the keys on an unknown key id after the cooldown, not before", async () => {
    const provider = await client();
    await provider.metadata();
    const forged = await idToken({}, otherKey, "k2");
    await expect(provider.validateIdToken(forged, "n1")).rejects.toThrow(/ID token rejected/);
    expect(idp.jwksHits).toBe(1);
    // The provider rotates in a new key; past the cooldown, the unknown kid triggers one re-read.
    const rotated = await generateKeyPair("RS256", { extractable: true });
    const savedKeys = idp.keys;
    idp.keys = [...savedKeys, { ...(await exportJWK(rotated.publicKey)), kid: "k3", alg: "RS256" }];
    try {
      clock.advance(30_000);
      const claims = await provider.validateIdToken(await idToken({}, rotated.privateKey, "k3"), "n1");
      expect(claims["sub"]).toBe("ada");
      expect(idp.jwksHits).toBe(2);
    } finally {
      idp.keys = savedKeys;
    }
  });

  it("caches discovery, refreshes it in the background on the interval, and serves the last copy through outages", async () => {
    const provider = await client({ discoveryRefreshInterval: durationFromMs(60_000) });
    const [a, b] = await Promise.all([provider.metadata(), provider.metadata()]);
    expect(a.tokenEndpoint).toBe(`${idp.issuer}/token`);
    expect(b).toBe(a);
    expect(idp.discoveryHits).toBe(1);
    clock.advance(59_999);
    expect(await provider.metadata()).toBe(a);
    expect(idp.discoveryHits).toBe(1);
    clock.advance(1);
    expect(await provider.metadata()).toBe(a);
    await waitFor(() => idp.discoveryHits === 2, { what: "the background reload" });
    await waitFor(async () => (await provider.metadata()) !== a, { what: "the reloaded copy to be served" });
    // The provider hangs: the stale copy is served at once (the clock stands still, so an answer
    // means nothing waited for the reload), and the failed reload is not retried on every request.
    idp.hang = true;
    clock.advance(60_000);
    expect((await provider.metadata()).endSessionEndpoint).toBe(`${idp.issuer}/logout`);
    await waitFor(() => idp.held === 1, { what: "the background reload to reach the provider" });
    expect(idp.abandoned).toBe(0);
    clock.advance(300);
    await waitFor(() => idp.abandoned === 1, { what: "the background reload to time out" });
    idp.hang = false;
    await provider.metadata();
    await provider.metadata();
    expect(idp.discoveryHits).toBe(3);
    clock.advance(30_000);
    await provider.metadata();
    await waitFor(() => idp.discoveryHits === 4, { what: "the retry after the pause" });
  });

  it("fails with ProviderUnavailableError on an outage, a hang (bounded) or the wrong issuer", async () => {
    idp.down = true;
    await expect((await client()).metadata()).rejects.toBeInstanceOf(ProviderUnavailableError);
    idp.down = false;
    idp.hang = true;
    const hung = (await client()).metadata().catch((err: Error) => err);
    await waitFor(() => idp.held === 1, { what: "the discovery request to reach the provider" });
    clock.advance(300);
    expect(await hung).toBeInstanceOf(ProviderUnavailableError);
    expect(String(await hung)).toMatch(/cannot fetch the discovery document.*timeout/);
    idp.hang = false;
    await expect((await client({ issuerUrl: `${idp.issuer}/` })).metadata()).rejects.toThrow(/names issuer/);
  });

  it("authenticates with client_secret_basic, form-encoding the credentials, and sends the extra params", async () => {
    idp.tokenAnswer = {
      status: 200,
      body: { id_token: "i", access_token: "a", refresh_token: "r", expires_in: 60, token_type: "Bearer" },
    };
    const provider = await client({ tokenEndpointQueryParams: { resource: "https://api.example" } });
    const tokens = await provider.exchangeCode("the-code", "the-verifier", AbortSignal.timeout(5_000));
    expect(tokens).toEqual({ idToken: "i", accessToken: "a", refreshToken: "r", expiresIn: 60 });
    const [call] = idp.tokenCalls;
    expect(call?.authorization).toBe(`Basic ${Buffer.from("app:s3cret%3Awith+space%26more").toString("base64")}`);
    expect(Object.fromEntries(call?.body ?? [])).toEqual({
      grant_type: "authorization_code",
      code: "the-code",
      redirect_uri: "https://app.example/oidc/callback",
      code_verifier: "the-verifier",
      resource: "https://api.example",
    });
  });

  it("authenticates with client_secret_post", async () => {
    idp.tokenAnswer = { status: 200, body: { access_token: "a" } };
    const provider = await client({
      clientAuthentication: { case: "clientSecret", value: { secret: "p", inBody: true } },
    });
    expect(await provider.refresh("rt", AbortSignal.timeout(5_000))).toEqual({
      idToken: undefined,
      accessToken: "a",
      refreshToken: undefined,
      expiresIn: undefined,
    });
    const [call] = idp.tokenCalls;
    expect(call?.authorization).toBeUndefined();
    expect(Object.fromEntries(call?.body ?? [])).toEqual({
      grant_type: "refresh_token",
      refresh_token: "rt",
      client_id: "app",
      client_secret: "p",
    });
  });

  it("authenticates with private_key_jwt: a short-lived assertion addressed to the token endpoint", async () => {
    const pair = await generateKeyPair("ES256", { extractable: true });
    idp.tokenAnswer = { status: 200, body: { access_token: "a" } };
    const provider = await client({
      clientAuthentication: {
        case: "privateKeyJwt",
        value: { privateKey: await exportPKCS8(pair.privateKey), algorithm: "ES256", keyId: "ck" },
      },
    });
    await provider.refresh("rt", AbortSignal.timeout(5_000));
    const body = idp.tokenCalls[0]?.body;
    expect(body?.get("client_assertion_type")).toBe("urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    expect(body?.get("client_id")).toBe("app");
    const { payload, protectedHeader } = await jwtVerify(body?.get("client_assertion") ?? "", pair.publicKey, {
      issuer: "app",
      subject: "app",
      audience: `${idp.issuer}/token`,
      currentDate: new Date(clock.now()),
    });
    expect(protectedHeader).toMatchObject({ alg: "ES256", kid: "ck" });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(60);
    expect(payload.jti).toMatch(/^[\w-]{22}$/);
  });

  it("tells a refusal (invalid_grant) from an outage", async () => {
    const provider = await client();
    idp.tokenAnswer = { status: 400, body: { error: "invalid_grant", error_description: "grant revoked" } };
    const refused = await provider.refresh("rt", AbortSignal.timeout(5_000)).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(TokenRequestRefused);
    expect(refused).toMatchObject({ error: "invalid_grant", status: 400 });
    idp.tokenAnswer = { status: 503, body: { error: "temporarily_unavailable" } };
    await expect(provider.refresh("rt", AbortSignal.timeout(5_000))).rejects.toBeInstanceOf(ProviderUnavailableError);
    idp.hang = true;
    const hung = provider.refresh("rt", new AbortController().signal).catch((err: unknown) => err);
    await waitFor(() => idp.held === 1, { what: "the token request to reach the provider" });
    clock.advance(300);
    expect(await hung).toBeInstanceOf(ProviderUnavailableError);
  });

  it("revokes a refresh token with the client's authentication", async () => {
    idp.tokenAnswer = { status: 200, body: {} };
    const provider = await client({
      clientAuthentication: { case: "clientSecret", value: { secret: "p", inBody: true } },
    });
    await provider.revoke("rt", "refresh_token", AbortSignal.timeout(5_000));
    const [call] = idp.tokenCalls;
    expect(call?.path).toBe("/revoke");
    expect(Object.fromEntries(call?.body ?? [])).toEqual({
      token: "rt",
      token_type_hint: "refresh_token",
      client_id: "app",
      client_secret: "p",
    });
    idp.tokenAnswer = { status: 503, body: {} };
    await expect(provider.revoke("rt", "refresh_token", AbortSignal.timeout(5_000))).rejects.toBeInstanceOf(
      ProviderUnavailableError,
    );
  });
});
