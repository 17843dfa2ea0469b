import { create } from "@bufbuild/protobuf";
import { RequestContext } from "../../src/extauth/context.js";
import {
  Authorization,
  type CheckRequest,
  CheckRequestSchema,
  type CheckResponse,
} from "../../src/gen/envoy/service/auth/v3/external_auth_pb.js";
import { createClient, createLogger, type ServiceClient, systemClock, type Timers } from "../../src/lib/index.js";

export const quietLogger = createLogger({ service: "extauth-test", level: "silent" });

export interface RequestShape {
  configId?: string;
  headers?: Record<string, string>;
  method?: string;
  path?: string;
}

export function checkRequest(shape: RequestShape = {}): CheckRequest {
  return create(CheckRequestSchema, {
    attributes: {
      contextExtensions: shape.configId === undefined ? {} : { config_id: shape.configId },
      request: {
        http: {
          method: shape.method ?? "GET",
          path: shape.path ?? "/",
          host: "example.test",
          headers: shape.headers ?? {},
        },
      },
    },
  });
}

export function context(shape: RequestShape = {}, timeoutMs = 1_000, clock: Timers = systemClock): RequestContext {
  return new RequestContext(checkRequest(shape), timeoutMs, clock);
}

export type CheckClient = ServiceClient<(typeof Authorization)["method"]>;

export function checkClient(port: number): CheckClient {
  return createClient(Authorization, `127.0.0.1:${port}`);
}

/** The parts of a CheckResponse that tests look at. */
export function summary(response: CheckResponse): {
  allowed: boolean;
  httpStatus: number | undefined;
  headers: Record<string, string>;
  headersToRemove: string[];
  body: string;
  metadata: Record<string, unknown>;
} {
  const headers: Record<string, string> = {};
  let httpStatus: number | undefined;
  let body = "";
  let headersToRemove: string[] = [];
  const http = response.httpResponse;
  if (http.case === "okResponse") {
    for (const h of http.value.headers) if (h.header) headers[h.header.key] = h.header.value;
    headersToRemove = http.value.headersToRemove;
  } else if (http.case === "deniedResponse") {
    for (const h of http.value.headers) if (h.header) headers[h.header.key] = h.header.value;
    httpStatus = http.value.status?.code;
    body = http.value.body;
  }
  return {
    allowed: response.status?.code === 0,
    httpStatus,
    headers,
    headersToRemove,
    body,
    metadata: (response.dynamicMetadata ?? {}) as Record<string, unknown>,
  };
}
