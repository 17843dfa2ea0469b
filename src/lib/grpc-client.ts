// Typed grpc-js clients of generated protobuf-es services.
import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import * as grpc from "@grpc/grpc-js";
import { type Method, serviceDefinition } from "./grpc-service.js";

export interface CallOptions {
  /** Milliseconds from now until the call is cancelled with DEADLINE_EXCEEDED. */
  timeoutMs?: number;
  metadata?: grpc.Metadata;
}

type ClientMethod<M extends Method> = M extends {
  methodKind: "unary";
  input: infer I extends DescMessage;
  output: infer O extends DescMessage;
}
  ? (request: MessageInitShape<I>, options?: CallOptions) => Promise<MessageShape<O>>
  : M extends {
        methodKind: "server_streaming";
        input: infer I extends DescMessage;
        output: infer O extends DescMessage;
      }
    ? (request: MessageInitShape<I>, options?: CallOptions) => grpc.ClientReadableStream<MessageShape<O>>
    : M extends {
          methodKind: "bidi_streaming";
          input: infer I extends DescMessage;
          output: infer O extends DescMessage;
        }
      ? (options?: CallOptions) => grpc.ClientDuplexStream<MessageInitShape<I>, MessageShape<O>>
      : never;

/** A typed client of a generated service, plus the channel underneath for closing it. */
export type ServiceClient<S extends GenServiceMethods> = { [K in keyof S]: ClientMethod<S[K]> } & {
  readonly channel: grpc.Client;
  close(): void;
};

export interface ClientOptions {
  credentials?: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
}

/** grpc-js runs the deadline itself, against the wall clock, and sends it to the server: it is not ours to fake. */
function callOptions(options: CallOptions | undefined): grpc.CallOptions {
  return options?.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs };
}

/** Creates a typed client for `service` at `address` (host:port). */
export function createClient<S extends GenServiceMethods>(
  service: GenService<S>,
  address: string,
  options: ClientOptions = {},
): ServiceClient<S> {
  const untyped = service as unknown as GenService<GenServiceMethods>;
  const Constructor = grpc.makeGenericClientConstructor(serviceDefinition(untyped), service.typeName);
  const channel = new Constructor(
    address,
    options.credentials ?? grpc.credentials.createInsecure(),
    options.channelOptions ?? {},
  ) as grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  const client: Record<string, unknown> = {
    channel,
    close: () => channel.close(),
  };
  for (const method of untyped.methods) {
    const call = channel[method.localName];
    if (!call) continue;
    const name = method.localName;
    switch (method.methodKind) {
      case "unary":
        client[name] = (request: unknown, opts?: CallOptions) =>
          new Promise((resolve, reject) => {
            channel[name]?.(
              request,
              opts?.metadata ?? new grpc.Metadata(),
              callOptions(opts),
              (err: unknown, res: unknown) => (err ? reject(err) : resolve(res)),
            );
          });
        break;
      case "server_streaming":
        client[name] = (request: unknown, opts?: CallOptions) =>
          channel[name]?.(request, opts?.metadata ?? new grpc.Metadata(), callOptions(opts));
        break;
      case "bidi_streaming":
        client[name] = (opts?: CallOptions) =>
          channel[name]?.(opts?.metadata ?? new grpc.Metadata(), callOptions(opts));
        break;
      default:
        break;
    }
  }
  return client as ServiceClient<S>;
}
