import { expiredToken, invalidClaim, type Refusal } from "./refusals.js";

export interface RegisteredClaimRules {
  /** Required `iss`; undefined: not checked. */
  readonly issuer: string | undefined;
  /** `aud` must contain one of these; empty: not checked. */
  readonly audiences: readonly string[];
  /** Tolerance for exp, nbf and iat. */
  readonly clockSkewMs: number;
}

/** `aud` is a string or a list (RFC 7519 §4.1.3); a list needs one accepted member. */
function audienceAccepted(aud: unknown, audiences: readonly string[]): boolean {
  if (typeof aud === "string") return audiences.includes(aud);
  return Array.isArray(aud) && audiences.some((accepted) => aud.includes(accepted));
}

/** A time claim must be a number when present; returns a refusal when it is not. */
function numericDate(claims: Readonly<Record<string, unknown>>, claim: string): number | undefined | Refusal {
  const value = claims[claim];
  if (value === undefined) return undefined;
  return typeof value === "number" ? value : invalidClaim(claim, "invalid");
}

/**
 * Checks iss, aud, exp, nbf and iat of a verified token at `nowMs`; undefined when they hold.
 * The order and the reasons are those of the jose-based verifier this replaced: presence of iss
 * then aud, their values, the types of iat and nbf, nbf, then exp (expired at `exp` itself), and
 * last a token issued in the future. Times are whole seconds against the current whole second,
 * widened by the clock skew.
 */
export function checkRegisteredClaims(
  claims: Readonly<Record<string, unknown>>,
  rules: RegisteredClaimRules,
  nowMs: number,
): Refusal | undefined {
  const { issuer, audiences, clockSkewMs } = rules;
  if (issuer !== undefined && !Object.hasOwn(claims, "iss")) return invalidClaim("iss", "missing");
  if (audiences.length > 0 && !Object.hasOwn(claims, "aud")) return invalidClaim("aud", "missing");
  if (issuer !== undefined && claims["iss"] !== issuer) return invalidClaim("iss", "check_failed");
  if (audiences.length > 0 && !audienceAccepted(claims["aud"], audiences)) return invalidClaim("aud", "check_failed");

  const now = Math.floor(nowMs / 1000);
  const skew = clockSkewMs / 1000;
  const iat = numericDate(claims, "iat");
  if (typeof iat === "object") return iat;
  const nbf = numericDate(claims, "nbf");
  if (typeof nbf === "object") return nbf;
  if (nbf !== undefined && nbf > now + skew) return invalidClaim("nbf", "check_failed");
  const exp = numericDate(claims, "exp");
  if (typeof exp === "object") return exp;
  if (exp !== undefined && exp <= now - skew) return expiredToken;
  if (iat !== undefined && iat * 1000 > nowMs + clockSkewMs) return invalidClaim("iat", "check_failed");
  return undefined;
}
