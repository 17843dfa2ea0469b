// Generated protobuf-es services on grpc-js: the error a handler throws, the handler and call types,
// the codecs (and pre-encoded messages), and the grpc-js service definition. The server and the
// client (grpc-js-server.ts, grpc-client.ts) are built on it; grpc.ts is the door.
import {
  create,
  type DescMessage,
  type DescMethod,
  fromBinary,
  isMessage,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "./logger.js";

export { status as GrpcStatus } from "@grpc/grpc-js";

/**
 * An error a handler throws to answer with a specific gRPC status. Any other error becomes
 * INTERNAL with a generic message: internals are logged, never sent to the caller.
 */
export class GrpcError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
    this.name = "GrpcError";
  }
}

/** One method of a generated service. */
export type Method = GenServiceMethods[string];

/** The grpc-js call a unary handler gets: its metadata, peer, deadline and cancellation. */
export type UnaryCall<I extends DescMessage, O extends DescMessage> = grpc.ServerUnaryCall<
  MessageShape<I>,
  MessageShape<O>
>;
export type ServerStreamCall<I extends DescMessage, O extends DescMessage> = grpc.ServerWritableStream<
  MessageShape<I>,
  MessageInitShape<O>
>;
export type BidiCall<I extends DescMessage, O extends DescMessage> = grpc.ServerDuplexStream<
  MessageShape<I>,
  MessageInitShape<O>
>;

/** The handler for one method, by its kind. Unary handlers return (or resolve to) the response. */
export type MethodHandler<M extends Method> = M extends {
  methodKind: "unary";
  input: infer I extends DescMessage;
  output: infer O extends DescMessage;
}
  ? (request: MessageShape<I>, call: UnaryCall<I, O>) => MessageInitShape<O> | Promise<MessageInitShape<O>>
  : M extends {
        methodKind: "server_streaming";
        input: infer I extends DescMessage;
        output: infer O extends DescMessage;
      }
    ? (request: MessageShape<I>, call: ServerStreamCall<I, O>) => Promise<void>
    : M extends {
          methodKind: "bidi_streaming";
          input: infer I extends DescMessage;
          output: infer O extends DescMessage;
        }
      ? (call: BidiCall<I, O>) => void
      : never;

/** An implementation of a generated service: one handler per method, by its local name. */
export type ServiceImpl<S extends GenServiceMethods> = { [K in keyof S]: MethodHandler<S[K]> };

/**
 * A message already encoded by the handler, in parts that make it when joined (a body shared by many
 * calls, then what is particular to this one): written as those bytes, not serialized again. The xDS
 * server encodes a response once for every stream that sends it (see `writeEncoded`).
 */
class PreEncoded {
  readonly byteLength: number;
  constructor(readonly parts: readonly Uint8Array[]) {
    this.byteLength = parts.reduce((sum, part) => sum + part.byteLength, 0);
  }

  /**
   * grpc-js frames what a serializer returns by reading its `byteLength` and calling
   * `copy(output, 5)` after the length prefix (server-interceptors.js serializeMessage): copying the
   * parts there saves joining them first, one copy of every response per stream. The framing is
   * pinned by test/lib/grpc-pre-encoded.test.ts.
   */
  copy(target: Buffer, at: number): number {
    let offset = at;
    for (const part of this.parts) {
      target.set(part, offset);
      offset += part.byteLength;
    }
    return this.byteLength;
  }
}

/** Writes one message of the call's response type, already encoded as `parts` (joined in order), to a streaming call. */
export function writeEncoded(
  call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>,
  parts: readonly Uint8Array[],
  done: () => void,
): void {
  call.write(new PreEncoded(parts), done);
}

function serializer<O extends DescMessage>(schema: O): (value: MessageInitShape<O>) => Buffer {
  return (value) => {
    if (value instanceof PreEncoded) return value as unknown as Buffer;
    const message = isMessage(value, schema) ? value : create(schema, value);
    const bytes = toBinary(schema, message as MessageShape<O>);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer<I extends DescMessage>(schema: I): (bytes: Buffer) => MessageShape<I> {
  return (bytes) => fromBinary(schema, bytes);
}

export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/** The grpc-js service definition of a generated service, keyed by local method name. */
export function serviceDefinition(service: GenService<GenServiceMethods>): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    if (method.methodKind === "client_streaming") {
      throw new Error(`${methodPath(method)}: client-streaming methods are not supported`);
    }
    definition[method.localName] = {
      path: methodPath(method),
      requestStream: method.methodKind === "bidi_streaming",
      responseStream: method.methodKind !== "unary",
      requestSerialize: serializer(method.input),
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output),
      originalName: method.name,
    } as grpc.MethodDefinition<unknown, unknown>;
  }
  return definition;
}

/** Turns anything a handler threw into a status for the caller; unexpected errors are logged, not leaked. */
export function toServiceError(err: unknown, logger: Logger | undefined, path: string): grpc.ServiceError {
  if (err instanceof GrpcError) {
    return Object.assign(new Error(err.message), {
      code: err.code,
      details: err.message,
      metadata: new grpc.Metadata(),
    });
  }
  logger?.error({ err, method: path }, "handler failed");
  return Object.assign(new Error("internal error"), {
    code: grpc.status.INTERNAL,
    details: "internal error",
    metadata: new grpc.Metadata(),
  });
}
