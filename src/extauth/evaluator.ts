import type { JsonObject } from "@bufbuild/protobuf";
import type { CheckRequest } from "../gen/envoy/service/auth/v3/external_auth_pb.js";
import type { Config } from "../gen/gantry/extauth/v1/auth_config_pb.js";
import type { Timers } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import type { RedisClient } from "../lib/redis.js";
import type { RequestSpan } from "../lib/tracing/index.js";
import type { ApiKeyDirectory } from "./apikeys/index.js";

/**
 * The contract between the Check service and its evaluators (basic, API key, JWT, OIDC, OPA, LDAP,
 * pass-through, HMAC). An evaluator is built once per config load from its settings, then asked
 * for a verdict on each request. Evaluators never throw on a bad request: bad or missing
 * credentials are a `deny`, a failed backend (Redis, LDAP, IdP, timeout) is an `error`, and the
 * service turns an `error` into a deny or an allow by the step's `failureModeAllow`.
 */

/** A header to add upstream (`headers`) or to the client response (`responseHeaders`). */
export interface HeaderToAdd {
  name: string;
  value: string;
  /** Append to an existing header of that name instead of replacing it. Default false. */
  append?: boolean;
}

/** What a step contributes when it allows; successful steps' contributions merge into the response. */
export interface AllowEffects {
  headers?: HeaderToAdd[];
  headersToRemove?: string[];
  responseHeaders?: HeaderToAdd[];
  queryParametersToSet?: Array<{ key: string; value: string }>;
  queryParametersToRemove?: string[];
  /** Merged into the dynamic metadata under the `envoy.filters.http.ext_authz` namespace. */
  dynamicMetadata?: JsonObject;
}

export type Verdict =
  | ({ kind: "allow" } & AllowEffects)
  | {
      kind: "deny";
      /** 401 for missing/invalid credentials, 403 for valid credentials without permission. */
      status: number;
      /** Why, for logs and dynamic metadata. Never a secret, never sent in the body. */
      reason: string;
      headers?: HeaderToAdd[];
      body?: string;
      dynamicMetadata?: JsonObject;
    }
  /** A browser redirect (OIDC login/logout, callback completion). `failOnRedirect` turns it into a 401. */
  | { kind: "redirect"; location: string; headers?: HeaderToAdd[]; reason: string }
  /** The evaluator could not decide because a backend failed. */
  | { kind: "error"; reason: string };

/** The request as evaluators see it. */
export interface CheckContext {
  readonly request: CheckRequest;
  /** Request headers with lower-case names (Envoy sends them so). */
  readonly headers: Readonly<Record<string, string>>;
  /** State shared by the steps of one check (e.g. a validated identity or claims). */
  readonly state: Map<string, unknown>;
  /**
   * The running step's span when the request is traced and sampled: evaluators add cache hits as
   * attributes and backend round trips as child spans. Undefined otherwise (skip with `?.`).
   */
  readonly span?: RequestSpan | undefined;
  /** Aborted when the check's deadline passes; pass it to backend calls. */
  readonly signal: AbortSignal;
}

export interface Evaluator {
  /**
   * A verdict must not change once returned. An evaluator that answers with the same allow
   * verdict object again and again may freeze it (Object.freeze): its response is then encoded once.
   */
  evaluate(context: CheckContext): Verdict | Promise<Verdict>;
  /** Releases connections, timers and watchers when the config is replaced or the server stops. */
  close?(): Promise<void>;
}

/** What evaluators may use, handed in by the service. */
export interface EvaluatorDeps {
  /** Time for caches and expiry, and for deadlines and timeouts of backend calls. */
  clock: Timers;
  logger: Logger;
  /** The ext-auth Redis (API keys, OIDC sessions); undefined when the server runs without one. */
  redis: RedisClient | undefined;
  /** Folder that relative file paths in the config are resolved against. */
  baseDir: string;
  /** The API keys in the ext-auth Redis, shared by every apiKeyAuth step; undefined without Redis. */
  apiKeys?: ApiKeyDirectory;
}

/** A config problem, with the field path (e.g. `configs[1].ldap.userDnTemplate`) the user must fix. */
export class AuthConfigError extends Error {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field}: ${problem}`);
    this.name = "AuthConfigError";
  }
}

/** The settings of one evaluator kind, by the `Config.evaluator` oneof case. */
export type EvaluatorSettings<K extends NonNullable<Config["evaluator"]["case"]>> = Extract<
  Config["evaluator"],
  { case: K }
>["value"];

/**
 * Builds an evaluator from its settings, or throws AuthConfigError naming the field (relative to
 * `field`, the step's path such as `configs[2].ldap`). May be async (e.g. to compile a policy).
 */
export type EvaluatorFactory<K extends NonNullable<Config["evaluator"]["case"]>> = (
  settings: EvaluatorSettings<K>,
  deps: EvaluatorDeps,
  field: string,
) => Evaluator | Promise<Evaluator>;
