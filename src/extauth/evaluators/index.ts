import type { Config } from "../../gen/gantry/extauth/v1/auth_config_pb.js";
import type { EvaluatorFactory } from "../evaluator.js";
import { createApiKeyEvaluator } from "./apikey.js";
import { createBasicAuthEvaluator } from "./basic.js";
import { createHmacEvaluator } from "./hmac.js";
import { createJwtAuthnEvaluator } from "./jwt-authn.js";
import { ldapAuthFactory } from "./ldap/index.js";
import { createOAuth2Evaluator } from "./oauth2.js";
import { createOpaAuthFactory } from "./opa/index.js";
import { passThroughAuthFactory } from "./passthrough/index.js";

/**
 * One factory per evaluator kind, keyed by the `Config.evaluator` oneof case. Each evaluator lives
 * in its own module under this folder and adds its line here. A kind with no factory yet is
 * rejected at config load with a clear error.
 */
export const evaluatorFactories: {
  [K in NonNullable<Config["evaluator"]["case"]>]?: EvaluatorFactory<K>;
} = {
  opaAuth: createOpaAuthFactory(),
  ldap: ldapAuthFactory,
  passThroughAuth: passThroughAuthFactory,
  basicAuth: createBasicAuthEvaluator,
  apiKeyAuth: createApiKeyEvaluator,
  oauth2: createOAuth2Evaluator,
  hmacAuth: createHmacEvaluator,
  jwtAuthn: createJwtAuthnEvaluator,
};
