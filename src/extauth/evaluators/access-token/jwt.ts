import { createHash } from "node:crypto";
import { errors, type JWTPayload, type JWTVerifyOptions, jwtVerify } from "jose";
import { LRUCache } from "lru-cache";
import type { Clock } from "../../../lib/index.js";
import { JwksUnavailable, type KeySet, type KeySource } from "./jwks.js";

export type TokenCheck =
  | { kind: "valid"; claims: Readonly<Record<string, unknown>> }
  | { kind: "invalid"; reason: string }
  | { kind: "unavailable"; reason: string };

export interface JwtRules {
  issuer: string | undefined;
  audiences: string[];
  clockSkewSeconds: number;
  algorithms: string[];
}

/** Why a token was refused, for logs and metadata: jose's code, never the token. */
function invalidReason(err: errors.JOSEError): string {
  if (err instanceof errors.JWTExpired) return "token expired";
  if (err instanceof errors.JWTClaimValidationFailed) return `token claim "${err.claim}" invalid: ${err.reason}`;
  if (err instanceof errors.JWKSNoMatchingKey) return "token signed with an unknown key";
  if (err instanceof errors.JWSSignatureVerificationFailed) return "token signature invalid";
  return `token invalid (${err.code})`;
}

/** How long a verified token is trusted without checking its signature again (never past its exp). */
const verifiedTokenTtlMs = 5 * 60_000;

/**
 * Verifies JWT access tokens: signature against the key source, then iss, aud, exp, nbf, iat.
 * Clients send the same token many times, and the signature check is most of the cost, so a
 * verified token's claims are kept (by the token's digest) until it expires, for five minutes
 * at most; such a check answers synchronously.
 */
export class JwtVerifier {
  readonly #keys: KeySource;
  readonly #clock: Clock;
  readonly #options: JWTVerifyOptions;
  readonly #skewMs: number;
  readonly #verified = new LRUCache<string, { claims: JWTPayload; until: number }>({ max: 10_000 });

  constructor(keys: KeySource, rules: JwtRules, clock: Clock) {
    this.#keys = keys;
    this.#clock = clock;
    this.#skewMs = rules.clockSkewSeconds * 1000;
    this.#options = {
      algorithms: rules.algorithms,
      clockTolerance: rules.clockSkewSeconds,
      ...(rules.issuer === undefined ? {} : { issuer: rules.issuer }),
      ...(rules.audiences.length === 0 ? {} : { audience: rules.audiences }),
    };
  }

  async #verify(token: string, keys: KeySet): Promise<JWTPayload> {
    const now = this.#clock.now();
    const { payload } = await jwtVerify(token, keys, { ...this.#options, currentDate: new Date(now) });
    // jose checks iat only against a maximum age; a token issued in the future is refused here.
    if (typeof payload.iat === "number" && payload.iat * 1000 > now + this.#skewMs) {
      throw new errors.JWTClaimValidationFailed("issued in the future", payload, "iat", "check_failed");
    }
    return payload;
  }

  check(token: string): TokenCheck | Promise<TokenCheck> {
    const digest = createHash("sha256").update(token).digest("base64");
    const known = this.#verified.get(digest);
    if (known) {
      if (this.#clock.now() < known.until) return { kind: "valid", claims: known.claims };
      this.#verified.delete(digest);
    }
    return this.#check(token).then((result) => {
      if (result.kind === "valid") this.#remember(digest, result.claims);
      return result;
    });
  }

  #remember(digest: string, claims: JWTPayload): void {
    const now = this.#clock.now();
    const until = typeof claims.exp === "number" ? claims.exp * 1000 + this.#skewMs : Number.POSITIVE_INFINITY;
    this.#verified.set(digest, { claims, until: Math.min(until, now + verifiedTokenTtlMs) });
  }

  async #check(token: string): Promise<TokenCheck> {
    try {
      const keys = await this.#keys.current();
      try {
        return { kind: "valid", claims: await this.#verify(token, keys) };
      } catch (err) {
        if (!(err instanceof errors.JWKSNoMatchingKey) || !(await this.#keys.refetch())) throw err;
        return { kind: "valid", claims: await this.#verify(token, await this.#keys.current()) };
      }
    } catch (err) {
      if (err instanceof JwksUnavailable) return { kind: "unavailable", reason: err.message };
      if (err instanceof errors.JOSEError) return { kind: "invalid", reason: invalidReason(err) };
      return { kind: "invalid", reason: "token malformed" };
    }
  }
}
