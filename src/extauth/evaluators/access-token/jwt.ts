import { createHash } from "node:crypto";
import type { Clock } from "../../../lib/index.js";
import { LazyLruCache } from "../lazy-cache.js";
import { type SignatureScheme, signatureScheme } from "./algorithms.js";
import { type CompactJws, parseCompactJws, readClaims } from "./compact-jws.js";
import { JwksUnavailable, type KeySet, type KeySource, type VerificationKey } from "./jwks.js";
import { badSignature, malformedToken, type Refusal, unexpectedFailure, unknownKey } from "./refusals.js";
import { checkRegisteredClaims, type RegisteredClaimRules } from "./registered-claims.js";
import { verifySignature } from "./signature.js";

export type TokenCheck =
  | { kind: "valid"; claims: Readonly<Record<string, unknown>> }
  | Refusal
  | { kind: "unavailable"; reason: string };

export interface JwtRules {
  issuer: string | undefined;
  audiences: string[];
  clockSkewSeconds: number;
  /** Accepted `alg` values; a subset of `supportedAlgorithms`. */
  algorithms: readonly string[];
}

/** How long a verified token is trusted without checking its signature again (never past its exp). */
const verifiedTokenTtlMs = 5 * 60_000;

/**
 * A token without a kid is tried against every key that fits its algorithm, at most this many
 * (an IdP rotating keys publishes two or three); beyond that it is refused, so that one request
 * can never cost more than a few signature checks.
 */
const maxCandidateKeys = 4;

/**
 * Verifies JWT access tokens: the compact JWS and its header, the signature (node:crypto, against
 * the key source), then iss, aud, exp, nbf, iat. Clients send the same token many times, and the
 * signature check is most of the cost, so a verified token's claims are kept (by the token's digest)
 * until it expires, for five minutes at most. A remembered token is answered synchronously; a new
 * one waits for its signature check on the threadpool (and, the first time, for a remote JWKS).
 */
export class JwtVerifier {
  readonly #keys: KeySource;
  readonly #clock: Clock;
  readonly #algorithms: ReadonlySet<string>;
  readonly #claimRules: RegisteredClaimRules;
  readonly #verified = new LazyLruCache<string, { claims: Readonly<Record<string, unknown>>; until: number }>(10_000);

  constructor(keys: KeySource, rules: JwtRules, clock: Clock) {
    this.#keys = keys;
    this.#clock = clock;
    this.#algorithms = new Set(rules.algorithms);
    this.#claimRules = {
      issuer: rules.issuer,
      audiences: rules.audiences,
      clockSkewMs: rules.clockSkewSeconds * 1000,
    };
  }

  check(token: string): TokenCheck | Promise<TokenCheck> {
    const digest = createHash("sha256").update(token).digest("base64");
    const known = this.#verified.get(digest);
    if (known) {
      if (this.#clock.now() < known.until) return { kind: "valid", claims: known.claims };
      this.#verified.delete(digest);
    }
    const jws = parseCompactJws(token, this.#algorithms);
    if (jws.kind === "invalid") return jws;
    try {
      const keys = this.#keys.current();
      const result =
        keys instanceof Promise ? keys.then((k) => this.#verify(jws, k, true)) : this.#verify(jws, keys, true);
      return result instanceof Promise
        ? result.then((r) => this.#remember(digest, r), failure)
        : this.#remember(digest, result);
    } catch (err) {
      return failure(err);
    }
  }

  /** Signature and claims: a promise, as signatures are checked on the threadpool (see signature.ts). */
  #verify(jws: CompactJws, keys: KeySet, mayRefetch: boolean): TokenCheck | Promise<TokenCheck> {
    const candidates = keys.candidates(jws.alg, jws.kid);
    if (candidates.length === 0) return mayRefetch ? this.#refetchAndVerify(jws) : unknownKey;
    if (candidates.length > maxCandidateKeys) return malformedToken("ERR_JWKS_MULTIPLE_MATCHING_KEYS");
    const scheme = signatureScheme(jws.alg);
    if (!scheme) return malformedToken("ERR_JOSE_ALG_NOT_ALLOWED");
    return this.#verifyWith(jws, scheme, candidates);
  }

  async #verifyWith(
    jws: CompactJws,
    scheme: SignatureScheme,
    candidates: readonly VerificationKey[],
  ): Promise<TokenCheck> {
    for (const key of candidates) {
      if (await verifySignature(scheme, key, jws.signingInput, jws.signature)) return this.#claims(jws);
    }
    return badSignature;
  }

  /** A key we do not have: perhaps the IdP rotated; the key source rate-limits refetches. */
  async #refetchAndVerify(jws: CompactJws): Promise<TokenCheck> {
    if (!(await this.#keys.refetch())) return unknownKey;
    return this.#verify(jws, await this.#keys.current(), false);
  }

  #claims(jws: CompactJws): TokenCheck {
    const read = readClaims(jws);
    if (read.kind === "invalid") return read;
    return (
      checkRegisteredClaims(read.claims, this.#claimRules, this.#clock.now()) ?? { kind: "valid", claims: read.claims }
    );
  }

  /** Keeps a valid token's claims for its next uses; passes any result through. */
  #remember(digest: string, result: TokenCheck): TokenCheck {
    if (result.kind !== "valid") return result;
    const now = this.#clock.now();
    const exp = result.claims["exp"];
    const until = typeof exp === "number" ? exp * 1000 + this.#claimRules.clockSkewMs : Number.POSITIVE_INFINITY;
    this.#verified.set(digest, { claims: result.claims, until: Math.min(until, now + verifiedTokenTtlMs) });
    return result;
  }
}

function failure(err: unknown): TokenCheck {
  return err instanceof JwksUnavailable ? { kind: "unavailable", reason: err.message } : unexpectedFailure;
}
