import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { AllowEffects, HeaderToAdd, Verdict } from "../../evaluator.js";

/** What every access-token validation checks and forwards once the token itself is valid. */
export interface ClaimRules {
  readonly requiredScopes: readonly string[];
  /** claim → upstream header */
  readonly claimsToHeaders: ReadonlyArray<readonly [string, string]>;
  /** claim → dynamic metadata key */
  readonly claimsToMetadata: ReadonlyArray<readonly [string, string]>;
}

/** The token's scopes: `scope` (space-separated, RFC 8693/9068) or `scp` (a list, as some IdPs send). */
export function tokenScopes(claims: Readonly<Record<string, unknown>>): Set<string> {
  const scopes = new Set<string>();
  const scope = claims["scope"];
  if (typeof scope === "string") for (const s of scope.split(" ")) if (s) scopes.add(s);
  const scp = claims["scp"];
  if (Array.isArray(scp)) {
    for (const s of scp) if (typeof s === "string") scopes.add(s);
  } else if (typeof scp === "string") {
    for (const s of scp.split(" ")) if (s) scopes.add(s);
  }
  return scopes;
}

function headerValue(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Applies the scope requirement and maps claims to headers and metadata. */
export function judgeClaims(claims: Readonly<Record<string, unknown>>, rules: ClaimRules): Verdict {
  if (rules.requiredScopes.length > 0) {
    const scopes = tokenScopes(claims);
    const missing = rules.requiredScopes.filter((s) => !scopes.has(s));
    if (missing.length > 0) {
      return {
        kind: "deny",
        status: 403,
        reason: `token lacks required scopes: ${missing.join(" ")}`,
        headers: [
          {
            name: "www-authenticate",
            value: `Bearer error="insufficient_scope", scope="${rules.requiredScopes.join(" ")}"`,
          },
        ],
      };
    }
  }
  const headers: HeaderToAdd[] = [];
  for (const [claim, header] of rules.claimsToHeaders) {
    // Own properties only: a claim named like an Object.prototype member ("constructor") is absent unless the token has it.
    const value = Object.hasOwn(claims, claim) ? claims[claim] : undefined;
    if (value !== undefined && value !== null) headers.push({ name: header, value: headerValue(value) });
  }
  const effects: AllowEffects = { headers };
  if (rules.claimsToMetadata.length > 0) {
    const metadata: JsonObject = {};
    for (const [claim, key] of rules.claimsToMetadata) {
      const value = Object.hasOwn(claims, claim) ? claims[claim] : undefined;
      if (value !== undefined) metadata[key] = value as JsonValue;
    }
    effects.dynamicMetadata = metadata;
  }
  return { kind: "allow", ...effects };
}

/** The token of `Authorization: Bearer <token>`, or undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (!authorization || authorization.length < 8 || authorization.slice(0, 7).toLowerCase() !== "bearer ")
    return undefined;
  const token = authorization.slice(7).trim();
  return token === "" ? undefined : token;
}

export const missingToken: Verdict = {
  kind: "deny",
  status: 401,
  reason: "missing bearer token",
  headers: [{ name: "www-authenticate", value: "Bearer" }],
};

export function invalidToken(reason: string): Verdict {
  return {
    kind: "deny",
    status: 401,
    reason,
    headers: [{ name: "www-authenticate", value: 'Bearer error="invalid_token"' }],
  };
}
