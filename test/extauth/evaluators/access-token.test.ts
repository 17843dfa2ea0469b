import { generateKeyPairSync } from "node:crypto";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Evaluator, Verdict } from "../../../src/extauth/evaluator.js";
import { createOAuth2Evaluator } from "../../../src/extauth/evaluators/oauth2.js";
import { OAuth2Schema } from "../../../src/gen/gantry/extauth/v1/oauth2_pb.js";
import { ManualClock } from "../../../src/lib/index.js";
import { waitFor } from "../../support/index.js";
import { context, quietLogger } from "../helpers.js";

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

/** A real HTTP server on loopback whose behaviour a test can change, counting requests. */
async function httpServer(
  initial: Handler,
): Promise<{ url: string; requests: () => number; handle(h: Handler): void; close(): Promise<void> }> {
  let handler = initial;
  let count = 0;
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on("end", () => {
      count++;
      handler(req, body, res);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => count,
    handle: (h) => {
      handler = h;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const json = (res: ServerResponse, status: number, value: unknown) =>
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value));

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const start = Date.UTC(2026, 0, 1) / 1000;

interface SigningKey {
  kid: string;
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
  jwk: JWK;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair("RS256");
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" } };
}

function sign(key: SigningKey, claims: JWTPayload, iat = start): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "RS256", kid: key.kid })
    .setIssuer("https://idp.test")
    .setAudience("shop")
    .setIssuedAt(iat)
    .setExpirationTime(iat + 300)
    .sign(key.privateKey);
}

const deps = (clock: ManualClock) => ({ clock, logger: quietLogger, redis: undefined, baseDir: "." });
const verdict = async (e: Evaluator, headers: Record<string, string>): Promise<Verdict> =>
  e.evaluate(context({ headers }));

describe("JWT access tokens", () => {
  let key: SigningKey;
  let other: SigningKey;
  beforeAll(async () => {
    key = await signingKey("k1");
    other = await signingKey("k2");
  });

  const localEvaluator = (clock: ManualClock, extra: Record<string, unknown> = {}) =>
    createOAuth2Evaluator(
      create(OAuth2Schema, {
        oauth2: {
          case: "accessTokenValidation",
          value: {
            validation: {
              case: "jwt",
              value: {
                issuer: "https://idp.test",
                audiences: ["shop", "admin"],
                jwks: {
                  case: "localJwks",
                  value: { source: { case: "inline", value: JSON.stringify({ keys: [key.jwk] }) } },
                },
              },
            },
            requiredScopes: ["orders:read"],
            claimsToHeaders: { sub: "X-User", groups: "x-groups" },
            claimsToMetadata: { sub: "user", tier: "tier" },
            ...extra,
          },
        },
      }),
      deps(clock),
      "configs[0].oauth2",
    );

  it("allows a valid token and maps claims to headers and metadata", async () => {
    const clock = new ManualClock(start * 1000);
    const e = await localEvaluator(clock);
    const token = await sign(key, { sub: "u1", scope: "orders:read orders:write", groups: ["a", "b"], tier: "gold" });
    expect(await verdict(e, bearer(token))).toEqual({
      kind: "allow",
      headers: [
        { name: "x-user", value: "u1" },
        { name: "x-groups", value: '["a","b"]' },
      ],
      dynamicMetadata: { user: "u1", tier: "gold" },
    });
    const scp = await sign(key, { sub: "u2", scp: ["orders:read"] });
    expect((await verdict(e, bearer(scp))).kind).toBe("allow");
  });

  it("trusts a verified token without a new signature check until it expires", async () => {
    const clock = new ManualClock(start * 1000);
    const e = await localEvaluator(clock);
    const token = await sign(key, { sub: "u9", scope: "orders:read" });
    const first = context({ headers: bearer(token) });
    expect(await e.evaluate(first)).toMatchObject({ kind: "allow" });
    // The next use answers from the remembered claims (the same object), not from a new check of the token.
    const again = context({ headers: bearer(token) });
    expect(e.evaluate(again)).toMatchObject({ kind: "allow", headers: [{ value: "u9" }] });
    expect(again.state.get("claims")).toBe(first.state.get("claims"));
    const elsewhere = context({ headers: bearer(token) });
    await (await localEvaluator(clock)).evaluate(elsewhere);
    expect(elsewhere.state.get("claims")).toEqual(first.state.get("claims"));
    expect(elsewhere.state.get("claims")).not.toBe(first.state.get("claims"));
    // Scopes are still checked on every request, against the remembered claims.
    const narrow = await localEvaluator(clock, { requiredScopes: ["admin"] });
    await verdict(narrow, bearer(token));
    expect(narrow.evaluate(context({ headers: bearer(token) }))).toMatchObject({ kind: "deny", status: 403 });
    clock.set((start + 300 + 60) * 1000);
    expect(await verdict(e, bearer(token))).toMatchObject({ kind: "deny", reason: "token expired" });
  });

  it("checks exp, nbf and iat with the clock skew", async () => {
    const clock = new ManualClock(start * 1000);
    const e = await localEvaluator(clock);
    const token = await sign(key, { scope: "orders:read" });
    clock.set((start + 300 + 59) * 1000);
    expect((await verdict(e, bearer(token))).kind).toBe("allow");
    clock.set((start + 300 + 61) * 1000);
    expect(await verdict(e, bearer(token))).toMatchObject({ kind: "deny", status: 401, reason: "token expired" });
    const later = await new SignJWT({ scope: "orders:read" })
      .setProtectedHeader({ alg: "RS256", kid: "k1" })
      .setIssuer("https://idp.test")
      .setAudience("shop")
      .setNotBefore(start + 120)
      .sign(key.privateKey);
    clock.set(start * 1000);
    expect(await verdict(e, bearer(later))).toMatchObject({ kind: "deny", reason: expect.stringContaining('"nbf"') });
    const future = await sign(key, { scope: "orders:read" }, start + 61);
    expect(await verdict(e, bearer(future))).toMatchObject({
      kind: "deny",
      reason: 'token claim "iat" invalid: check_failed',
    });
    expect((await verdict(e, bearer(await sign(key, { scope: "orders:read" }, start + 59)))).kind).toBe("allow");
  });

  it("denies wrong issuers, audiences, keys, scopes and missing or garbled tokens", async () => {
    const clock = new ManualClock(start * 1000);
    const e = await localEvaluator(clock);
    const wrongIssuer = await new SignJWT({ scope: "orders:read" })
      .setProtectedHeader({ alg: "RS256", kid: "k1" })
      .setIssuer("https://evil.test")
      .setAudience("shop")
      .setExpirationTime(start + 60)
      .sign(key.privateKey);
    expect(await verdict(e, bearer(wrongIssuer))).toMatchObject({
      kind: "deny",
      reason: 'token claim "iss" invalid: check_failed',
    });
    const wrongAudience = await new SignJWT({ scope: "orders:read" })
      .setProtectedHeader({ alg: "RS256", kid: "k1" })
      .setIssuer("https://idp.test")
      .setAudience("billing")
      .setExpirationTime(start + 60)
      .sign(key.privateKey);
    expect(await verdict(e, bearer(wrongAudience))).toMatchObject({
      kind: "deny",
      reason: expect.stringContaining('"aud"'),
    });
    expect(await verdict(e, bearer(await sign(other, { scope: "orders:read" })))).toMatchObject({
      kind: "deny",
      reason: "token signed with an unknown key",
    });
    expect(await verdict(e, bearer(await sign(key, { scope: "orders:write" })))).toMatchObject({
      kind: "deny",
      status: 403,
      reason: "token lacks required scopes: orders:read",
    });
    expect(await verdict(e, {})).toMatchObject({ kind: "deny", status: 401, reason: "missing bearer token" });
    expect(await verdict(e, bearer("not.a.jwt"))).toMatchObject({ kind: "deny", status: 401 });
  });

  it("names bad settings", async () => {
    const clock = new ManualClock();
    const bad = (value: unknown) =>
      createOAuth2Evaluator(
        create(OAuth2Schema, { oauth2: { case: "accessTokenValidation", value: value as never } }),
        deps(clock),
        "configs[3].oauth2",
      );
    await expect(bad({})).rejects.toThrow("configs[3].oauth2.accessTokenValidation: set jwt or introspection");
    await expect(
      bad({
        validation: {
          case: "jwt",
          value: { jwks: { case: "localJwks", value: { source: { case: "inline", value: "{}" } } } },
        },
      }),
    ).rejects.toThrow(
      'configs[3].oauth2.accessTokenValidation.jwt.localJwks.inline: not a JWKS (expected an object with a "keys" list)',
    );
    await expect(
      bad({ validation: { case: "jwt", value: { jwks: { case: "remoteJwks", value: { url: "ftp://x" } } } } }),
    ).rejects.toThrow("jwt.remoteJwks.url: must be an http(s) URL");
    await expect(
      bad({
        validation: {
          case: "jwt",
          value: { algorithms: ["none"], jwks: { case: "remoteJwks", value: { url: "http://x" } } },
        },
      }),
    ).rejects.toThrow('jwt.algorithms[0]: "none" is not one of');
    await expect(bad({ validation: { case: "introspection", value: { url: "http://x" } } })).rejects.toThrow(
      "introspection.clientId: is required",
    );
  });
});

describe("remote JWKS", () => {
  let k1: SigningKey;
  let k2: SigningKey;
  let k3: SigningKey;
  let jwks: Awaited<ReturnType<typeof httpServer>>;
  let published: JWK[];

  beforeAll(async () => {
    [k1, k2, k3] = await Promise.all([signingKey("k1"), signingKey("k2"), signingKey("k3")]);
    published = [k1.jwk];
    jwks = await httpServer((_req, _body, res) => json(res, 200, { keys: published }));
  });
  afterAll(() => jwks?.close());

  const remoteEvaluator = (clock: ManualClock) =>
    createOAuth2Evaluator(
      create(OAuth2Schema, {
        oauth2: {
          case: "accessTokenValidation",
          value: {
            validation: {
              case: "jwt",
              value: {
                jwks: {
                  case: "remoteJwks",
                  value: {
                    url: `${jwks.url}/jwks.json`,
                    refreshInterval: { seconds: 300n },
                    minRefetchInterval: { seconds: 10n },
                    timeout: { seconds: 1n },
                  },
                },
              },
            },
          },
        },
      }),
      deps(clock),
      "configs[0].oauth2",
    );

  it("fetches once, refetches for an unknown kid at most once per interval, and picks up rotated keys", async () => {
    const clock = new ManualClock(start * 1000);
    published = [k1.jwk];
    const e = await remoteEvaluator(clock);
    const before = jwks.requests();
    expect((await verdict(e, bearer(await sign(k1, {})))).kind).toBe("allow");
    expect((await verdict(e, bearer(await sign(k1, {})))).kind).toBe("allow");
    expect(jwks.requests() - before).toBe(1);

    // The IdP rotates in k2; a token with kid k2 triggers one refetch.
    published = [k1.jwk, k2.jwk];
    clock.advance(10_000);
    expect((await verdict(e, bearer(await sign(k2, {})))).kind).toBe("allow");
    expect(jwks.requests() - before).toBe(2);

    // Made-up kids cannot make us hammer the IdP: no refetch within the minimum interval.
    published = [k1.jwk, k2.jwk, k3.jwk];
    expect(await verdict(e, bearer(await sign(k3, {})))).toMatchObject({
      kind: "deny",
      reason: "token signed with an unknown key",
    });
    expect(jwks.requests() - before).toBe(2);
    clock.advance(10_000);
    expect((await verdict(e, bearer(await sign(k3, {})))).kind).toBe("allow");
    expect(jwks.requests() - before).toBe(3);
  });

  it("refetches for a token without kid that no held key fits, and verifies it with the new keys", async () => {
    const clock = new ManualClock(start * 1000);
    published = [k1.jwk];
    const e = await remoteEvaluator(clock);
    const before = jwks.requests();
    expect((await verdict(e, bearer(await sign(k1, {})))).kind).toBe("allow");
    const ec = generateKeyPairSync("ec", { namedCurve: "P-384" });
    const es384 = await new SignJWT({})
      .setProtectedHeader({ alg: "ES384" })
      .setIssuedAt(start)
      .setExpirationTime(start + 300)
      .sign(ec.privateKey);
    // No EC key yet: one refetch, still none, refused; the IdP then publishes it.
    clock.advance(10_000);
    expect(await verdict(e, bearer(es384))).toMatchObject({ reason: "token signed with an unknown key" });
    expect(jwks.requests() - before).toBe(2);
    published = [k1.jwk, { ...(ec.publicKey.export({ format: "jwk" }) as JWK), kid: "ec", use: "sig" }];
    clock.advance(10_000);
    expect(await verdict(e, bearer(es384))).toMatchObject({ kind: "allow" });
    expect(jwks.requests() - before).toBe(3);
    // Keys of the earlier version still verify, from the new version.
    expect((await verdict(e, bearer(await sign(k1, { sub: "again" })))).kind).toBe("allow");
    expect(jwks.requests() - before).toBe(3);
  });

  it("keeps the cached keys when a refresh fails, and is a backend failure when it has none", async () => {
    const clock = new ManualClock(start * 1000);
    published = [k1.jwk];
    const e = await remoteEvaluator(clock);
    expect((await verdict(e, bearer(await sign(k1, {})))).kind).toBe("allow");
    jwks.handle((_req, _body, res) => res.writeHead(503).end());
    try {
      clock.advance(301_000);
      const before = jwks.requests();
      // Stale keys trigger a background refresh; the answer still comes from the cached keys.
      expect((await verdict(e, bearer(await sign(k1, {}, start + 301)))).kind).toBe("allow");
      await expect.poll(() => jwks.requests()).toBe(before + 1);
      expect((await verdict(e, bearer(await sign(k1, {}, start + 301)))).kind).toBe("allow");
      // While the IdP fails, stale keys are retried at most once per minimum refetch interval.
      expect(jwks.requests()).toBe(before + 1);
      clock.advance(10_000);
      await verdict(e, bearer(await sign(k1, {}, start + 311)));
      await expect.poll(() => jwks.requests()).toBe(before + 2);

      const cold = await remoteEvaluator(clock);
      expect(await verdict(cold, bearer(await sign(k1, {}, start + 301)))).toEqual({
        kind: "error",
        reason: `no keys from ${jwks.url}/jwks.json`,
      });
      // The cold evaluator's one fetch, and no refetch beyond the ones counted above.
      expect(jwks.requests()).toBe(before + 3);
    } finally {
      jwks.handle((_req, _body, res) => json(res, 200, { keys: published }));
    }
  });
});

describe("token introspection (RFC 7662)", () => {
  let idp: Awaited<ReturnType<typeof httpServer>>;
  const tokens: Record<string, Record<string, unknown>> = {
    good: { active: true, sub: "u1", scope: "orders:read", exp: start + 120 },
    other: { active: true, sub: "u2", scope: "profile" },
  };
  const clientAuth = `Basic ${Buffer.from("gantry:s%3Acret").toString("base64")}`;

  beforeAll(async () => {
    idp = await httpServer((req, body, res) => {
      if (req.method !== "POST" || req.headers.authorization !== clientAuth) {
        json(res, 401, { error: "invalid_client" });
      } else {
        json(res, 200, tokens[new URLSearchParams(body).get("token") ?? ""] ?? { active: false });
      }
    });
  });
  afterAll(() => idp?.close());

  const introspecting = (clock: ManualClock) =>
    createOAuth2Evaluator(
      create(OAuth2Schema, {
        oauth2: {
          case: "accessTokenValidation",
          value: {
            validation: {
              case: "introspection",
              value: {
                url: `${idp.url}/introspect`,
                clientId: "gantry",
                clientSecret: "s:cret",
                cacheTimeout: { seconds: 600n },
              },
            },
            requiredScopes: ["orders:read"],
            claimsToHeaders: { sub: "x-user" },
          },
        },
      }),
      deps(clock),
      "configs[0].oauth2",
    );

  it("allows active tokens with the scopes, denies inactive ones and ones without", async () => {
    const clock = new ManualClock(start * 1000);
    const e = await introspecting(clock);
    expect(await verdict(e, bearer("good"))).toEqual({ kind: "allow", headers: [{ name: "x-user", value: "u1" }] });
    expect(await verdict(e, bearer("unknown"))).toMatchObject({ kind: "deny", status: 401, reason: "token inactive" });
    expect(await verdict(e, bearer("other"))).toMatchObject({ kind: "deny", status: 403 });
  });

  it("caches answers, never past the token's expiry", async () => {
    const clock = new ManualClock(start * 1000);
    const e = await introspecting(clock);
    const before = idp.requests();
    await verdict(e, bearer("good"));
    expect(e.evaluate(context({ headers: bearer("good") }))).toMatchObject({ kind: "allow" });
    expect(idp.requests() - before).toBe(1);
    clock.advance(120_000);
    const after = e.evaluate(context({ headers: bearer("good") }));
    expect(after).toBeInstanceOf(Promise);
    expect(await after).toMatchObject({ kind: "deny", reason: "token expired" });
    expect(idp.requests() - before).toBe(2);
  });

  it("is a backend failure when the IdP does not answer within the timeout, on the injected clock", async () => {
    const clock = new ManualClock(start * 1000);
    const e = await introspecting(clock);
    const held: ServerResponse[] = [];
    idp.handle((_req, _body, res) => held.push(res));
    try {
      const pending = verdict(e, bearer("slow"));
      await waitFor(() => held.length === 1, { what: "the introspection call to arrive" });
      clock.advance(2_000);
      expect(await pending).toEqual({
        kind: "error",
        reason: "introspection failed: The operation was aborted due to timeout",
      });
    } finally {
      for (const res of held) res.destroy();
      idp.handle((_req, _body, res) => json(res, 200, { active: false }));
    }
  });

  it("is a backend failure when the IdP fails or is gone", async () => {
    const clock = new ManualClock(start * 1000);
    const e = await introspecting(clock);
    idp.handle((_req, _body, res) => res.writeHead(500).end());
    try {
      expect(await verdict(e, bearer("fresh"))).toEqual({ kind: "error", reason: "introspection answered HTTP 500" });
    } finally {
      idp.handle((_req, _body, res) => json(res, 200, { active: false }));
    }
    const gone = await createOAuth2Evaluator(
      create(OAuth2Schema, {
        oauth2: {
          case: "accessTokenValidation",
          value: {
            validation: { case: "introspection", value: { url: "http://127.0.0.1:1/introspect", clientId: "x" } },
          },
        },
      }),
      deps(clock),
      "configs[0].oauth2",
    );
    expect(await verdict(gone, bearer("t"))).toMatchObject({
      kind: "error",
      reason: expect.stringMatching(/^introspection failed/),
    });
  });
});
