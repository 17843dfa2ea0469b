import { create, type JsonObject, type MessageInitShape } from "@bufbuild/protobuf";
import type { HeaderValueOptionSchema } from "../gen/envoy/config/core/v3/base_pb.js";
import { type CheckResponse, CheckResponseSchema } from "../gen/envoy/service/auth/v3/external_auth_pb.js";
import type { StatusCode } from "../gen/envoy/type/v3/http_status_pb.js";
import { encodeOnce, GrpcStatus } from "../lib/index.js";
import type { Decision } from "./decide.js";
import type { AllowEffects, HeaderToAdd } from "./evaluator.js";

type CheckResponseInit = MessageInitShape<typeof CheckResponseSchema>;
type HeaderInit = MessageInitShape<typeof HeaderValueOptionSchema>;

/** How an auth config answers denials (from its `denyResponse`). */
export interface DenialShape {
  /** Replaces every denial's status when set. */
  readonly status: number | undefined;
  readonly headers: readonly HeaderToAdd[];
  /** Body of denials whose evaluator gives none. */
  readonly body: string;
}

export const plainDenials: DenialShape = { status: undefined, headers: [], body: "" };

/** The answer to an allowed check with nothing to add: built and encoded once, sent as is. */
const plainAllow: CheckResponse = encodeOnce(
  CheckResponseSchema,
  create(CheckResponseSchema, {
    status: { code: GrpcStatus.OK },
    httpResponse: { case: "okResponse", value: {} },
  }),
);

function headerOption(header: HeaderToAdd): HeaderInit {
  return { header: { key: header.name, value: header.value }, append: header.append ?? false };
}

function mergeInto(target: JsonObject, source: JsonObject | undefined): void {
  if (source) for (const key of Object.keys(source)) target[key] = source[key] ?? null;
}

/**
 * Responses to frozen allow verdicts, which an evaluator hands out again and again (a cached API
 * key's): built and encoded once per verdict; the gRPC server then sends the same bytes each time.
 */
const responsesToFrozenVerdicts = new WeakMap<AllowEffects, CheckResponse>();

function preEncoded(init: CheckResponseInit): CheckResponse {
  return encodeOnce(CheckResponseSchema, create(CheckResponseSchema, init));
}

/** OK, with the headers and metadata of every step that allowed, later steps winning. */
export function allowResponse(effects: readonly AllowEffects[]): CheckResponse | CheckResponseInit {
  if (effects.length === 0) return plainAllow;
  const only = effects.length === 1 ? (effects[0] as AllowEffects) : undefined;
  if (only && Object.isFrozen(only)) {
    let response = responsesToFrozenVerdicts.get(only);
    if (!response) {
      response = preEncoded(buildAllow(effects));
      responsesToFrozenVerdicts.set(only, response);
    }
    return response;
  }
  return buildAllow(effects);
}

function buildAllow(effects: readonly AllowEffects[]): CheckResponseInit {
  const headers: HeaderInit[] = [];
  const headersToRemove: string[] = [];
  const responseHeadersToAdd: HeaderInit[] = [];
  const queryParametersToSet: Array<{ key: string; value: string }> = [];
  const queryParametersToRemove: string[] = [];
  let metadata: JsonObject | undefined;
  for (const effect of effects) {
    if (effect.headers) for (const header of effect.headers) headers.push(headerOption(header));
    if (effect.headersToRemove) headersToRemove.push(...effect.headersToRemove);
    if (effect.responseHeaders)
      for (const header of effect.responseHeaders) responseHeadersToAdd.push(headerOption(header));
    if (effect.queryParametersToSet) queryParametersToSet.push(...effect.queryParametersToSet);
    if (effect.queryParametersToRemove) queryParametersToRemove.push(...effect.queryParametersToRemove);
    if (effect.dynamicMetadata) {
      metadata ??= {};
      mergeInto(metadata, effect.dynamicMetadata);
    }
  }
  return {
    status: { code: GrpcStatus.OK },
    httpResponse: {
      case: "okResponse",
      value: { headers, headersToRemove, responseHeadersToAdd, queryParametersToSet, queryParametersToRemove },
    },
    ...(metadata ? { dynamicMetadata: metadata } : {}),
  };
}

function denied(
  httpStatus: number,
  headers: readonly HeaderToAdd[],
  body: string,
  metadata: JsonObject,
): CheckResponseInit {
  return {
    status: { code: httpStatus === 401 ? GrpcStatus.UNAUTHENTICATED : GrpcStatus.PERMISSION_DENIED },
    httpResponse: {
      case: "deniedResponse",
      value: {
        status: { code: httpStatus as StatusCode },
        headers: headers.map(headerOption),
        body,
      },
    },
    dynamicMetadata: metadata,
  };
}

/**
 * A denial (or a redirect) as Envoy should send it. The reason goes to dynamic metadata (for
 * access logs), never into the body the client sees.
 */
export function denyResponse(
  configId: string,
  decision: Exclude<Decision, { kind: "allow" }>,
  shape: DenialShape,
  failOnRedirect: boolean,
): CheckResponseInit {
  const metadata: JsonObject = { config_id: configId, step: decision.step };
  if (decision.kind === "error") {
    metadata["reason"] = decision.reason;
    return denied(shape.status ?? 403, shape.headers, shape.body, metadata);
  }
  const verdict = decision.verdict;
  metadata["reason"] = verdict.reason;
  if (verdict.kind === "redirect") {
    if (failOnRedirect) return denied(shape.status ?? 401, shape.headers, shape.body, metadata);
    const headers = [{ name: "location", value: verdict.location }, ...(verdict.headers ?? [])];
    return denied(302, headers, "", metadata);
  }
  mergeInto(metadata, verdict.dynamicMetadata);
  const headers = verdict.headers ? [...verdict.headers, ...shape.headers] : shape.headers;
  return denied(shape.status ?? verdict.status, headers, verdict.body ?? shape.body, metadata);
}

/** A check that names no auth config this server knows. */
export function unknownConfigResponse(configId: string | undefined): CheckResponseInit {
  const reason =
    configId === undefined
      ? "the request names no auth config (context_extensions.config_id) and there is no default config"
      : `unknown auth config "${configId}"`;
  return denied(403, [], "", { config_id: configId ?? "", reason });
}
