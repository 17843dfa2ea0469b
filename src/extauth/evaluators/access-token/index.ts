import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type {
  AccessTokenValidation,
  JwtValidation,
  TokenIntrospection,
} from "../../../gen/gantry/extauth/v1/oauth2_pb.js";
import {
  AuthConfigError,
  type CheckContext,
  type Evaluator,
  type EvaluatorDeps,
  type Verdict,
} from "../../evaluator.js";
import { durationMs } from "../duration.js";
import { supportedAlgorithms } from "./algorithms.js";
import { bearerToken, type ClaimRules, invalidToken, judgeClaims, missingToken } from "./claims.js";
import { TokenIntrospector } from "./introspection.js";
import { type KeySet, type KeySource, keySetFrom, localKeySource, RemoteKeySource } from "./jwks.js";
import { JwtVerifier, type TokenCheck } from "./jwt.js";

function httpUrl(text: string, field: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AuthConfigError(field, `"${text}" is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new AuthConfigError(field, "must be an http(s) URL");
  return url.toString();
}

type TokenValidator = (token: string, context: CheckContext) => TokenCheck | Promise<TokenCheck>;

async function jwtValidator(settings: JwtValidation, deps: EvaluatorDeps, field: string): Promise<TokenValidator> {
  let keys: KeySource;
  const jwks = settings.jwks;
  switch (jwks.case) {
    case "remoteJwks": {
      const remote = jwks.value;
      keys = new RemoteKeySource({
        url: httpUrl(remote.url, `${field}.remoteJwks.url`),
        refreshIntervalMs: durationMs(remote.refreshInterval, 5 * 60_000, `${field}.remoteJwks.refreshInterval`),
        timeoutMs: durationMs(remote.timeout, 2_000, `${field}.remoteJwks.timeout`),
        minRefetchIntervalMs: durationMs(remote.minRefetchInterval, 10_000, `${field}.remoteJwks.minRefetchInterval`),
        clock: deps.clock,
        logger: deps.logger,
      });
      break;
    }
    case "localJwks": {
      const source = jwks.value.source;
      let text: string;
      let where: string;
      if (source.case === "inline") {
        text = source.value;
        where = `${field}.localJwks.inline`;
      } else if (source.case === "file") {
        where = `${field}.localJwks.file`;
        const path = resolve(deps.baseDir, source.value);
        try {
          text = await readFile(path, "utf8");
        } catch (err) {
          throw new AuthConfigError(where, `cannot read ${path}: ${(err as Error).message}`);
        }
      } else {
        throw new AuthConfigError(`${field}.localJwks`, "set inline or file");
      }
      let keySet: KeySet;
      try {
        keySet = keySetFrom(JSON.parse(text));
      } catch (err) {
        throw new AuthConfigError(where, (err as Error).message);
      }
      // A key the user wrote that cannot be used is a mistake to show now, not a denial later.
      if (keySet.problems.length > 0) throw new AuthConfigError(where, keySet.problems.join("; "));
      keys = localKeySource(keySet);
      break;
    }
    default:
      throw new AuthConfigError(field, "set remoteJwks or localJwks");
  }
  for (const [index, algorithm] of settings.algorithms.entries()) {
    if (!supportedAlgorithms.includes(algorithm)) {
      throw new AuthConfigError(
        `${field}.algorithms[${index}]`,
        `"${algorithm}" is not one of ${supportedAlgorithms.join(", ")}`,
      );
    }
  }
  const verifier = new JwtVerifier(
    keys,
    {
      issuer: settings.issuer === "" ? undefined : settings.issuer,
      audiences: settings.audiences,
      clockSkewSeconds: durationMs(settings.clockSkew, 60_000, `${field}.clockSkew`) / 1000,
      // By default every supported algorithm; a key still verifies only the ones that fit its type and alg.
      algorithms: settings.algorithms.length > 0 ? settings.algorithms : supportedAlgorithms,
    },
    deps.clock,
  );
  return (token) => verifier.check(token);
}

function introspectionValidator(settings: TokenIntrospection, deps: EvaluatorDeps, field: string): TokenValidator {
  if (settings.clientId === "") throw new AuthConfigError(`${field}.clientId`, "is required");
  const introspector = new TokenIntrospector({
    url: httpUrl(settings.url, `${field}.url`),
    clientId: settings.clientId,
    clientSecret: settings.clientSecret,
    timeoutMs: durationMs(settings.timeout, 2_000, `${field}.timeout`),
    cacheTimeoutMs: durationMs(settings.cacheTimeout, 60_000, `${field}.cacheTimeout`),
    clock: deps.clock,
  });
  return (token, context) => introspector.check(token, context.signal);
}

class AccessTokenEvaluator implements Evaluator {
  constructor(
    readonly validate: TokenValidator,
    readonly rules: ClaimRules,
  ) {}

  evaluate(context: CheckContext): Verdict | Promise<Verdict> {
    const token = bearerToken(context.headers["authorization"]);
    if (!token) return missingToken;
    const result = this.validate(token, context);
    return result instanceof Promise
      ? result.then((check) => this.#judge(check, context))
      : this.#judge(result, context);
  }

  #judge(check: TokenCheck, context: CheckContext): Verdict {
    switch (check.kind) {
      case "valid":
        context.state.set("claims", check.claims);
        return judgeClaims(check.claims, this.rules);
      case "invalid":
        return invalidToken(check.reason);
      case "unavailable":
        return { kind: "error", reason: check.reason };
    }
  }
}

/** Builds `oauth2.accessTokenValidation`: a JWT (local or remote JWKS) or an introspected token. */
export async function createAccessTokenEvaluator(
  settings: AccessTokenValidation,
  deps: EvaluatorDeps,
  field: string,
): Promise<Evaluator> {
  let validate: TokenValidator;
  switch (settings.validation.case) {
    case "jwt":
      validate = await jwtValidator(settings.validation.value, deps, `${field}.jwt`);
      break;
    case "introspection":
      validate = introspectionValidator(settings.validation.value, deps, `${field}.introspection`);
      break;
    default:
      throw new AuthConfigError(field, "set jwt or introspection");
  }
  for (const [claim, header] of Object.entries(settings.claimsToHeaders)) {
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/i.test(header)) {
      throw new AuthConfigError(`${field}.claimsToHeaders.${claim}`, `"${header}" is not an HTTP header name`);
    }
  }
  return new AccessTokenEvaluator(validate, {
    requiredScopes: settings.requiredScopes,
    claimsToHeaders: Object.entries(settings.claimsToHeaders).map(([claim, header]) => [claim, header.toLowerCase()]),
    claimsToMetadata: Object.entries(settings.claimsToMetadata),
  });
}
