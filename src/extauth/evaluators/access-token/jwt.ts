import { errors, type JWTPayload, type JWTVerifyOptions, jwtVerify } from "jose";
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

/** Verifies JWT access tokens: signature against the key source, then iss, aud, exp, nbf, iat. */
export class JwtVerifier {
  readonly #keys: KeySource;
  readonly #clock: Clock;
  readonly #options: JWTVerifyOptions;

  constructor(keys: KeySource, rules: JwtRules, clock: Clock) {
    this.#keys = keys;
    this.#clock = clock;
    this.#options = {
      algorithms: rules.algorithms,
      clockTolerance: rules.clockSkewSeconds,
      ...(rules.issuer === undefined ? {} : { issuer: rules.issuer }),
      ...(rules.audiences.length === 0 ? {} : { audience: rules.audiences }),
    };
  }

  async #verify(token: string, keys: KeySet): Promise<JWTPayload> {
    const { payload } = await jwtVerify(token, keys, { ...this.#options, currentDate: new Date(this.#clock.now()) });
    return payload;
  }

  async check(token: string): Promise<TokenCheck> {
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
