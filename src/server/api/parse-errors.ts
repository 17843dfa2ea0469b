import type { UniversalHandler, UniversalServerResponse } from "@connectrpc/connect/protocol";

// connect-es reports a request body that is not valid binary protobuf as its own fault (Code.Internal:
// HTTP 500, grpc-status 13, "parse binary: …"), while a malformed JSON body is the caller's
// (INVALID_ARGUMENT). A bad body is always the caller's: these wrappers turn the one into the other.

const parsePrefix = "parse binary: ";

function explain(typeName: string, detail: string): string {
  return `the request body is not a valid ${typeName} message (binary protobuf): ${detail}`;
}

async function bytesOf(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** A Connect unary answer: HTTP 500 with a JSON error whose message says connect could not parse the body. */
async function connectAnswer(response: UniversalServerResponse, typeName: string): Promise<UniversalServerResponse> {
  if (response.status !== 500 || !response.body || response.header?.has("content-encoding")) return response;
  const bytes = await bytesOf(response.body);
  let error: { code?: unknown; message?: unknown } | undefined;
  try {
    error = JSON.parse(Buffer.from(bytes).toString("utf8")) as typeof error;
  } catch {
    error = undefined;
  }
  const message = error?.message;
  if (error?.code !== "internal" || typeof message !== "string" || !message.startsWith(parsePrefix)) {
    return {
      ...response,
      body: (async function* () {
        yield bytes;
      })(),
    };
  }
  const body = Buffer.from(
    JSON.stringify({ code: "invalid_argument", message: explain(typeName, message.slice(parsePrefix.length)) }),
  );
  const header = new Headers(response.header);
  header.set("content-length", String(body.byteLength));
  return {
    ...response,
    status: 400,
    header,
    body: (async function* () {
      yield body;
    })(),
  };
}

/** A gRPC answer: its status arrives in the trailers once the body is done, and is fixed there. */
function grpcAnswer(response: UniversalServerResponse, typeName: string): UniversalServerResponse {
  const { body, trailer } = response;
  if (!body || !trailer) return response;
  return {
    ...response,
    body: (async function* () {
      yield* body;
      const message = trailer.get("grpc-message");
      const decoded = message === null ? "" : decodeURIComponent(message);
      if (trailer.get("grpc-status") === "13" && decoded.startsWith(parsePrefix)) {
        trailer.set("grpc-status", "3");
        trailer.set("grpc-message", encodeURIComponent(explain(typeName, decoded.slice(parsePrefix.length))));
      }
    })(),
  };
}

/** The handler, answering INVALID_ARGUMENT (HTTP 400) where connect would answer INTERNAL for a malformed body. */
export function withParseErrorsAsInvalid(handler: UniversalHandler): UniversalHandler {
  const typeName = handler.method.input.typeName;
  const wrapped = async (request: Parameters<UniversalHandler>[0]) => {
    const response = await handler(request);
    const contentType = response.header?.get("content-type") ?? "";
    if (contentType.startsWith("application/grpc")) return grpcAnswer(response, typeName);
    if (contentType === "application/json") return connectAnswer(response, typeName);
    return response;
  };
  return Object.assign(wrapped, handler);
}
