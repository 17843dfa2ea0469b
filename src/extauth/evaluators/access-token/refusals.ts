/**
 * Why a token was refused, as reported in the step's reason (logs, metadata). These strings are
 * stable: they are the ones the jose-based verifier reported, codes included, so dashboards and
 * alerts built on them keep working. They never contain the token.
 */
export type RefusalCode =
  /** The compact JWS or its header is malformed, or too large. */
  | "ERR_JWS_INVALID"
  /** The payload is not a JSON object. */
  | "ERR_JWT_INVALID"
  /** The header's `alg` is not one the config accepts (`none` and HS* never are). */
  | "ERR_JOSE_ALG_NOT_ALLOWED"
  /** The header names a critical extension (`crit`); none is understood. */
  | "ERR_JOSE_NOT_SUPPORTED"
  /** The token names no kid and too many keys fit its algorithm to try them all. */
  | "ERR_JWKS_MULTIPLE_MATCHING_KEYS";

export type ClaimProblem = "missing" | "check_failed" | "invalid";

export interface Refusal {
  readonly kind: "invalid";
  readonly reason: string;
}

const refusal = (reason: string): Refusal => ({ kind: "invalid", reason });

export const malformedToken = (code: RefusalCode): Refusal => refusal(`token invalid (${code})`);
export const invalidClaim = (claim: string, problem: ClaimProblem): Refusal =>
  refusal(`token claim "${claim}" invalid: ${problem}`);
export const expiredToken = refusal("token expired");
export const unknownKey = refusal("token signed with an unknown key");
export const badSignature = refusal("token signature invalid");
/** Anything that should not happen (a bug, not the token): still a refusal, never an allow. */
export const unexpectedFailure = refusal("token malformed");
