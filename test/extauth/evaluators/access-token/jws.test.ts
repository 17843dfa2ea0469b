import {
  createPublicKey,
  generateKeyPairSync,
  type JsonWebKeyInput,
  type KeyObject,
  sign as nodeSign,
} from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { type JWK, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import type { Evaluator, Verdict } from "../../../../src/extauth/evaluator.js";
import { createOAuth2Evaluator } from "../../../../src/extauth/evaluators/oauth2.js";
import { OAuth2Schema } from "../../../../src/gen/gantry/extauth/v1/oauth2_pb.js";
import { ManualClock } from "../../../../src/lib/index.js";
import { context, quietLogger } from "../../helpers.js";

// Tokens are signed by jose (an independent implementation) or, for tokens jose refuses to make,
// assembled here with node:crypto; the evaluator under test verifies them with its own code.

const start = Date.UTC(2026, 0, 1) / 1000;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const b64url = (value: unknown) =>
  Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

interface KeyPair {
  privateKey: KeyObject;
  publicJwk: JWK;
}

function keyPair(alg: string): KeyPair {
  const pair =
    alg.startsWith("RS") || alg.startsWith("PS")
      ? generateKeyPairSync("rsa", { modulusLength: 2048 })
      : alg === "EdDSA"
        ? generateKeyPairSync("ed25519")
        : generateKeyPairSync("ec", { namedCurve: { ES256: "P-256", ES384: "P-384", ES512: "P-521" }[alg] ?? "" });
  return { privateKey: pair.privateKey, publicJwk: pair.publicKey.export({ format: "jwk" }) as JWK };
}

const claims = { sub: "u1", scope: "orders:read" };

function jwt(alg: string, key: KeyObject, header: Record<string, unknown> = {}, iat = start): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg, ...header })
    .setIssuer("https://idp.test")
    .setAudience("shop")
    .setIssuedAt(iat)
    .setExpirationTime(iat + 300)
    .sign(key);
}

/** A compact JWS made by hand: any header, any payload text, signed with node:crypto. */
function handmade(header: Record<string, unknown>, payload: string, key: KeyObject, digest: string | null = "sha256") {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${nodeSign(digest, Buffer.from(input), key).toString("base64url")}`;
}

const payloadText = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ ...claims, iss: "https://idp.test", aud: "shop", iat: start, exp: start + 300, ...extra });

function evaluator(keys: JWK[], jwt: Record<string, unknown> = {}, clock = new ManualClock(start * 1000)) {
  return createOAuth2Evaluator(
    create(OAuth2Schema, {
      oauth2: {
        case: "accessTokenValidation",
        value: {
          validation: {
            case: "jwt",
            value: {
              issuer: "https://idp.test",
              audiences: ["shop"],
              jwks: { case: "localJwks", value: { source: { case: "inline", value: JSON.stringify({ keys }) } } },
              ...jwt,
            },
          },
          requiredScopes: ["orders:read"],
          claimsToHeaders: { sub: "x-user" },
        },
      },
    }),
    { clock, logger: quietLogger, redis: undefined, baseDir: "." },
    "configs[0].oauth2",
  );
}

const verdict = async (e: Evaluator, token: string): Promise<Verdict> =>
  e.evaluate(context({ headers: bearer(token) }));
const allowed = { kind: "allow", headers: [{ name: "x-user", value: "u1" }] };
const refused = (reason: string) => ({ kind: "deny", status: 401, reason });

/** Changes one character in the middle of a base64url part, keeping it valid base64url. */
function flip(part: string): string {
  const at = Math.floor(part.length / 2);
  return `${part.slice(0, at)}${part[at] === "A" ? "B" : "A"}${part.slice(at + 1)}`;
}

const algorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

describe("JWS verification on node:crypto", () => {
  describe.each(algorithms)("%s", (alg) => {
    const pair = keyPair(alg);

    it("allows a token signed with the key (by kid, and by a key without kid or alg)", async () => {
      const e = await evaluator([{ ...pair.publicJwk, kid: "k1", alg, use: "sig" }]);
      expect(await verdict(e, await jwt(alg, pair.privateKey, { kid: "k1", typ: "JWT" }))).toEqual(allowed);
      const bare = await evaluator([pair.publicJwk]);
      expect(await verdict(bare, await jwt(alg, pair.privateKey))).toEqual(allowed);
    });

    it("refuses a tampered signature, header or payload", async () => {
      const e = await evaluator([{ ...pair.publicJwk, kid: "k1" }]);
      const [header, payload, signature] = (await jwt(alg, pair.privateKey, { kid: "k1" })).split(".") as [
        string,
        string,
        string,
      ];
      const badSignature = refused("token signature invalid");
      expect(await verdict(e, `${header}.${payload}.${flip(signature)}`)).toMatchObject(badSignature);
      const otherHeader = b64url({ alg, kid: "k1", typ: "JWT" });
      expect(await verdict(e, `${otherHeader}.${payload}.${signature}`)).toMatchObject(badSignature);
      const otherPayload = b64url(payloadText({ sub: "admin" }));
      expect(await verdict(e, `${header}.${otherPayload}.${signature}`)).toMatchObject(badSignature);
      // Cut short: a signature of the wrong size never reaches node:crypto.
      const shorter = signature.slice(0, signature.length - (signature.length % 4) - 4);
      expect(await verdict(e, `${header}.${payload}.${shorter}`)).toMatchObject(badSignature);
      expect(await verdict(e, `${header}.${payload}.${signature}`)).toEqual(allowed);
    });

    it("refuses a token signed by another key of the same kind", async () => {
      const e = await evaluator([{ ...pair.publicJwk, kid: "k1" }]);
      const other = keyPair(alg);
      expect(await verdict(e, await jwt(alg, other.privateKey, { kid: "k1" }))).toMatchObject(
        refused("token signature invalid"),
      );
    });
  });

  it("refuses alg none, HS*, and algorithms the config does not accept", async () => {
    const rsa = keyPair("RS256");
    const e = await evaluator([{ ...rsa.publicJwk, kid: "k1" }], { algorithms: ["RS256"] });
    const notAllowed = refused("token invalid (ERR_JOSE_ALG_NOT_ALLOWED)");
    const unsecured = `${b64url({ alg: "none", kid: "k1" })}.${b64url(payloadText())}.`;
    expect(await verdict(e, unsecured)).toMatchObject(notAllowed);
    expect(await verdict(e, `${b64url({ alg: "NONE" })}.${b64url(payloadText())}.`)).toMatchObject(notAllowed);
    const ps = await jwt("PS256", rsa.privateKey, { kid: "k1" });
    expect(await verdict(e, ps)).toMatchObject(notAllowed);
    // By default every public-key algorithm, so the same token passes.
    expect(await verdict(await evaluator([{ ...rsa.publicJwk, kid: "k1" }]), ps)).toEqual(allowed);
  });

  it("refuses HS256 keyed with the RSA public key (algorithm confusion)", async () => {
    const rsa = keyPair("RS256");
    const e = await evaluator([{ ...rsa.publicJwk, kid: "k1" }]);
    const publicKey = createPublicKey({ key: rsa.publicJwk as JsonWebKeyInput["key"], format: "jwk" });
    const secrets = [
      publicKey.export({ format: "pem", type: "spki" }).toString(),
      publicKey.export({ format: "pem", type: "pkcs1" }).toString(),
      JSON.stringify({ ...rsa.publicJwk, kid: "k1" }),
    ];
    for (const secret of secrets) {
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg: "HS256", kid: "k1" })
        .setIssuer("https://idp.test")
        .setAudience("shop")
        .setExpirationTime(start + 300)
        .sign(new TextEncoder().encode(secret));
      expect(await verdict(e, token)).toMatchObject(refused("token invalid (ERR_JOSE_ALG_NOT_ALLOWED)"));
    }
    await expect(evaluator([{ ...rsa.publicJwk, kid: "k1" }], { algorithms: ["RS256", "HS256"] })).rejects.toThrow(
      'configs[0].oauth2.accessTokenValidation.jwt.algorithms[1]: "HS256" is not one of RS256',
    );
  });

  it("uses a key only for its own alg and for algorithms that fit its type and curve", async () => {
    const rsa = keyPair("RS256");
    const unknownKey = refused("token signed with an unknown key");
    // The key says RS256; the same RSA key signing PS256 under its kid is not accepted.
    const pinned = await evaluator([{ ...rsa.publicJwk, kid: "k1", alg: "RS256" }]);
    expect(await verdict(pinned, await jwt("PS256", rsa.privateKey, { kid: "k1" }))).toMatchObject(unknownKey);
    expect(await verdict(pinned, await jwt("RS256", rsa.privateKey, { kid: "k1" }))).toEqual(allowed);

    // An RSA key never verifies ES*, an EC P-256 key never ES384 or EdDSA.
    const ec = keyPair("ES256");
    const e = await evaluator([
      { ...rsa.publicJwk, kid: "rsa" },
      { ...ec.publicJwk, kid: "ec" },
    ]);
    expect(await verdict(e, await jwt("ES256", ec.privateKey, { kid: "rsa" }))).toMatchObject(unknownKey);
    const es384 = handmade({ alg: "ES384", kid: "ec" }, payloadText(), ec.privateKey, "sha384");
    expect(await verdict(e, es384)).toMatchObject(unknownKey);
    const ed = keyPair("EdDSA");
    expect(await verdict(e, await jwt("EdDSA", ed.privateKey, { kid: "ec" }))).toMatchObject(unknownKey);
    expect(await verdict(e, await jwt("ES256", ec.privateKey, { kid: "ec" }))).toEqual(allowed);
  });

  it("refuses an ECDSA signature in DER instead of r ‖ s", async () => {
    const ec = keyPair("ES256");
    const e = await evaluator([{ ...ec.publicJwk, kid: "ec" }]);
    expect(await verdict(e, handmade({ alg: "ES256", kid: "ec" }, payloadText(), ec.privateKey))).toMatchObject(
      refused("token signature invalid"),
    );
  });

  it("tries the fitting keys for a token without kid, a bounded number of them", async () => {
    const pairs = Array.from({ length: 5 }, () => keyPair("ES256"));
    const jwks = (n: number) => pairs.slice(0, n).map((p, i) => ({ ...p.publicJwk, kid: `k${i}` }));
    const rsa = keyPair("RS256");
    const e = await evaluator([{ ...rsa.publicJwk, kid: "rsa" }, ...jwks(4)]);
    expect(await verdict(e, await jwt("ES256", (pairs[3] as KeyPair).privateKey))).toEqual(allowed);
    expect(await verdict(e, await jwt("ES256", (pairs[4] as KeyPair).privateKey))).toMatchObject(
      refused("token signature invalid"),
    );
    const many = await evaluator(jwks(5));
    expect(await verdict(many, await jwt("ES256", (pairs[0] as KeyPair).privateKey))).toMatchObject(
      refused("token invalid (ERR_JWKS_MULTIPLE_MATCHING_KEYS)"),
    );
    // With a kid, only that key is tried.
    expect(await verdict(many, await jwt("ES256", (pairs[4] as KeyPair).privateKey, { kid: "k4" }))).toEqual(allowed);
  });

  it("refuses malformed tokens before any key work", async () => {
    const rsa = keyPair("RS256");
    const e = await evaluator([{ ...rsa.publicJwk, kid: "k1" }]);
    const good = await jwt("RS256", rsa.privateKey, { kid: "k1" });
    const [header, payload, signature] = good.split(".") as [string, string, string];
    const jwsInvalid = refused("token invalid (ERR_JWS_INVALID)");
    const malformed = [
      "not.a.jwt",
      "abc",
      `${header}.${payload}`,
      `${header}.${payload}.${signature}.x`,
      `${header}..${signature}x`,
      `${header}.${payload}.${signature}=`,
      `${header}.${payload}.${signature.replace(/.$/, "+")}`,
      `${header.slice(0, 8)} ${header.slice(8)}.${payload}.${signature}`,
      `${header}.${payload.slice(0, 8)}\n${payload.slice(8)}.${signature}`,
      `${b64url("[1]")}.${payload}.${signature}`,
      `${b64url({ kid: "k1" })}.${payload}.${signature}`,
      `${b64url({ alg: "RS256", kid: 7 })}.${payload}.${signature}`,
      `${b64url({ alg: "RS256", crit: "exp" })}.${payload}.${signature}`,
      `${Buffer.from([0xff, 0xfe]).toString("base64url")}.${payload}.${signature}`,
      `${header}.${payload}.${signature}${"A".repeat(32 * 1024)}`,
    ];
    for (const token of malformed) expect(await verdict(e, token), token.slice(0, 60)).toMatchObject(jwsInvalid);
    // The last character of a base64url part may not carry stray bits: one value, one encoding.
    const last = signature.at(-1) ?? "";
    const stray = `${signature.slice(0, -1)}${String.fromCharCode(last.charCodeAt(0) + 1)}`;
    expect(signature.length % 4).not.toBe(0);
    expect(await verdict(e, `${header}.${payload}.${stray}`)).toMatchObject(jwsInvalid);
    expect(await verdict(e, good)).toEqual(allowed);
  });

  it("refuses critical header extensions, even ones jose understands", async () => {
    const rsa = keyPair("RS256");
    const e = await evaluator([{ ...rsa.publicJwk, kid: "k1" }]);
    const token = handmade({ alg: "RS256", kid: "k1", crit: ["b64"], b64: true }, payloadText(), rsa.privateKey);
    expect(await verdict(e, token)).toMatchObject(refused("token invalid (ERR_JOSE_NOT_SUPPORTED)"));
  });

  it("refuses a payload that is not a JSON object, once the signature holds", async () => {
    const rsa = keyPair("RS256");
    const e = await evaluator([{ ...rsa.publicJwk, kid: "k1" }]);
    for (const text of ["[1]", "null", '"text"', "{not json", "\u00ff"]) {
      expect(await verdict(e, handmade({ alg: "RS256", kid: "k1" }, text, rsa.privateKey)), text).toMatchObject(
        refused("token invalid (ERR_JWT_INVALID)"),
      );
    }
    const input = `${b64url({ alg: "RS256", kid: "k1" })}.${Buffer.from([0xc3, 0x28]).toString("base64url")}`;
    const notUtf8 = `${input}.${nodeSign("sha256", Buffer.from(input), rsa.privateKey).toString("base64url")}`;
    expect(await verdict(e, notUtf8)).toMatchObject(refused("token invalid (ERR_JWT_INVALID)"));
  });

  it("checks the registered claims with the reasons of before", async () => {
    const rsa = keyPair("RS256");
    const clock = new ManualClock(start * 1000);
    const e = await evaluator([{ ...rsa.publicJwk, kid: "k1" }], {}, clock);
    const token = (extra: Record<string, unknown>) =>
      handmade({ alg: "RS256", kid: "k1" }, payloadText(extra), rsa.privateKey);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ iss: undefined }, 'token claim "iss" invalid: missing'],
      [{ aud: undefined }, 'token claim "aud" invalid: missing'],
      [{ iss: "https://evil.test" }, 'token claim "iss" invalid: check_failed'],
      [{ aud: ["billing", "admin"] }, 'token claim "aud" invalid: check_failed'],
      [{ aud: 7 }, 'token claim "aud" invalid: check_failed'],
      [{ exp: "soon" }, 'token claim "exp" invalid: invalid'],
      [{ nbf: null }, 'token claim "nbf" invalid: invalid'],
      [{ iat: "now" }, 'token claim "iat" invalid: invalid'],
      [{ nbf: start + 61 }, 'token claim "nbf" invalid: check_failed'],
      [{ exp: start - 60 }, "token expired"],
      [{ iat: start + 61 }, 'token claim "iat" invalid: check_failed'],
    ];
    for (const [extra, reason] of cases) {
      expect(await verdict(e, token(extra)), JSON.stringify(extra)).toMatchObject(refused(reason));
    }
    for (const extra of [{ aud: ["billing", "shop"] }, { nbf: start + 60 }, { exp: start - 59 }, { iat: start + 60 }]) {
      expect(await verdict(e, token(extra)), JSON.stringify(extra)).toEqual(allowed);
    }
    expect(await verdict(e, token({ scope: "orders:write" }))).toMatchObject({
      kind: "deny",
      status: 403,
      reason: "token lacks required scopes: orders:read",
    });
  });
});

describe("local JWKS keys", () => {
  const bad = (keys: unknown[]) => evaluator(keys as JWK[]);
  const where = "configs[0].oauth2.accessTokenValidation.jwt.localJwks.inline";

  it("names a broken key", async () => {
    const rsa = keyPair("RS256");
    const small = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ format: "jwk" });
    await expect(bad([{ ...small, kid: "old" }])).rejects.toThrow(
      `${where}: keys[0] (kid "old"): RSA modulus has 1024 bits; at least 2048 needed`,
    );
    const privateJwk = rsa.privateKey.export({ format: "jwk" });
    await expect(bad([rsa.publicJwk, { ...privateJwk, kid: "p" }])).rejects.toThrow(
      `${where}: keys[1] (kid "p"): is a private key; a JWKS must hold public keys only`,
    );
    await expect(bad([{ kty: "EC", crv: "P-256", x: "AAAA", y: "AAAA", kid: "e" }])).rejects.toThrow(
      `${where}: keys[0] (kid "e"): is not a valid EC key`,
    );
    await expect(bad([{ ...rsa.publicJwk, alg: "ES256" }])).rejects.toThrow(
      `${where}: keys[0]: "alg" ES256 does not fit an RSA key`,
    );
    await expect(bad([{ ...rsa.publicJwk, kid: 5 }])).rejects.toThrow(`${where}: keys[0]: "kid" must be a string`);
    await expect(bad(["key"])).rejects.toThrow(`${where}: keys[0]: not an object`);
  });

  it("leaves out keys that are not for verifying signatures", async () => {
    const rsa = keyPair("RS256");
    const x25519 = generateKeyPairSync("x25519").publicKey.export({ format: "jwk" });
    const e = await bad([
      { ...rsa.publicJwk, kid: "enc", use: "enc" },
      { ...rsa.publicJwk, kid: "ops", key_ops: ["encrypt"] },
      { ...rsa.publicJwk, kid: "oaep", alg: "RSA-OAEP" },
      { kty: "oct", k: b64url("a shared secret of some length"), kid: "oct" },
      { ...x25519, kid: "x" },
    ]);
    for (const kid of ["enc", "ops", "oaep"]) {
      expect(await verdict(e, await jwt("RS256", rsa.privateKey, { kid }))).toMatchObject(
        refused("token signed with an unknown key"),
      );
    }
  });
});
