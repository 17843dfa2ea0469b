import type { OAuth2 } from "../../gen/gantry/extauth/v1/oauth2_pb.js";
import { AuthConfigError, type Evaluator, type EvaluatorDeps } from "../evaluator.js";
import { createAccessTokenEvaluator } from "./access-token/index.js";
import { createOidcEvaluator } from "./oidc/index.js";

/** The `oauth2` step: access-token validation, or the OIDC authorization-code login. */
export function createOAuth2Evaluator(settings: OAuth2, deps: EvaluatorDeps, field: string): Promise<Evaluator> {
  const oauth2 = settings.oauth2;
  switch (oauth2.case) {
    case "accessTokenValidation":
      return createAccessTokenEvaluator(oauth2.value, deps, `${field}.accessTokenValidation`);
    case "oidcAuthorizationCode":
      return createOidcEvaluator(oauth2.value, deps, `${field}.oidcAuthorizationCode`);
    default:
      throw new AuthConfigError(field, "set accessTokenValidation or oidcAuthorizationCode");
  }
}
