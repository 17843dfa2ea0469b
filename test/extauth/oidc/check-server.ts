import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Evaluator, HeaderToAdd, Verdict } from "../../../src/extauth/evaluator.js";
import type { HeaderValueOptionSchema } from "../../../src/gen/envoy/config/core/v3/base_pb.js";
import { Authorization, type CheckResponseSchema } from "../../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import type { StatusCode } from "../../../src/gen/envoy/type/v3/http_status_pb.js";
import { createLogger, GrpcServer } from "../../../src/lib/index.js";

type HeaderOption = MessageInitShape<typeof HeaderValueOptionSchema>;

function headerOptions(headers: HeaderToAdd[] | undefined): HeaderOption[] {
  return (headers ?? []).map(({ name, value, append }) => ({ header: { key: name, value }, append: append ?? false }));
}

/** A verdict as Envoy's ext_authz wants it: allow → OK; redirect → 302; deny → its status; error → 503. */
function checkResponse(verdict: Verdict): MessageInitShape<typeof CheckResponseSchema> {
  const denied = (status: number, headers: HeaderOption[], message: string) => ({
    status: { code: 16, message },
    httpResponse: {
      case: "deniedResponse" as const,
      value: { status: { code: status as StatusCode }, headers },
    },
  });
  switch (verdict.kind) {
    case "allow":
      return {
        status: { code: 0 },
        httpResponse: {
          case: "okResponse",
          value: {
            headers: headerOptions(verdict.headers),
            responseHeadersToAdd: headerOptions(verdict.responseHeaders),
          },
        },
        ...(verdict.dynamicMetadata === undefined ? {} : { dynamicMetadata: verdict.dynamicMetadata }),
      };
    case "redirect":
      return denied(
        302,
        [{ header: { key: "location", value: verdict.location } }, ...headerOptions(verdict.headers)],
        verdict.reason,
      );
    case "deny":
      return denied(verdict.status, headerOptions(verdict.headers), verdict.reason);
    case "error":
      return { ...denied(503, [], verdict.reason), status: { code: 14, message: verdict.reason } };
  }
}

export interface CheckServer {
  readonly address: string;
  close(): Promise<void>;
}

/**
 * The smallest Check service that runs evaluators, one per config id (from the
 * `config_id` context extension), for driving the OIDC login without the ext-auth core.
 */
export async function startCheckServer(evaluators: Record<string, Evaluator>): Promise<CheckServer> {
  const server = new GrpcServer({ logger: createLogger({ service: "test-check", level: "silent" }) });
  server.add(Authorization, {
    check: async (request) => {
      const evaluator = evaluators[request.attributes?.contextExtensions["config_id"] ?? ""];
      if (evaluator === undefined) return { status: { code: 7, message: "unknown config" } };
      const verdict = await evaluator.evaluate({
        request,
        headers: request.attributes?.request?.http?.headers ?? {},
        state: new Map(),
        signal: AbortSignal.timeout(5_000),
      });
      return checkResponse(verdict);
    },
  });
  const port = await server.listen("127.0.0.1", 0);
  return {
    address: `127.0.0.1:${port}`,
    close: async () => {
      await Promise.all(Object.values(evaluators).map((evaluator) => evaluator.close?.()));
      await server.shutdown(1_000);
    },
  };
}
