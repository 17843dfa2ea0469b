import type { JwtAuthnResult } from "../../gen/gantry/extauth/v1/auth_config_pb.js";
import { AuthConfigError, type CheckContext, type Evaluator, type EvaluatorDeps, type Verdict } from "../evaluator.js";
import { type ClaimRules, judgeClaims } from "./access-token/claims.js";

/** Where Envoy's jwt_authn filter leaves verified payloads (forwarded by ext_authz's metadata_context_namespaces). */
export const jwtAuthnNamespace = "envoy.filters.http.jwt_authn";

class JwtAuthnEvaluator implements Evaluator {
  readonly #missing: Verdict;

  constructor(
    readonly payloadKey: string,
    readonly rules: ClaimRules,
  ) {
    this.#missing = {
      kind: "deny",
      status: 401,
      reason: `no verified JWT payload "${payloadKey}" from jwt_authn`,
      headers: [{ name: "www-authenticate", value: "Bearer" }],
    };
  }

  evaluate(context: CheckContext): Verdict {
    const payload = context.request.attributes?.metadataContext?.filterMetadata[jwtAuthnNamespace]?.[this.payloadKey];
    if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return this.#missing;
    context.state.set("claims", payload);
    return judgeClaims(payload, this.rules);
  }
}

/** Builds the `jwtAuthn` step: Envoy verified the token; this step reads the result. */
export function createJwtAuthnEvaluator(settings: JwtAuthnResult, _deps: EvaluatorDeps, field: string): Evaluator {
  if (settings.payloadInMetadata === "") throw new AuthConfigError(`${field}.payloadInMetadata`, "is required");
  return new JwtAuthnEvaluator(settings.payloadInMetadata, {
    requiredScopes: settings.requiredScopes,
    claimsToHeaders: Object.entries(settings.claimsToHeaders).map(([claim, header]) => [claim, header.toLowerCase()]),
    claimsToMetadata: Object.entries(settings.claimsToMetadata),
  });
}
