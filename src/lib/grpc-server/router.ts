import type { DescMessage, DescMethod, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { CallContext, StreamContext } from "./call.js";
import { type EncodedMessage, withoutUtf8Checks } from "./messages.js";

// Routing: the services a server offers, by gRPC path (`/package.Service/Method`). Services register on
// a GrpcRouter; the server looks each call's path up in its routes.

type Method = GenServiceMethods[string];

/** What a unary handler answers: a message, its init shape, or bytes it encoded itself. */
export type UnaryAnswer<O extends DescMessage> = MessageInitShape<O> | EncodedMessage<O>;

export type Http2MethodHandler<M extends Method> = M extends {
  methodKind: "unary";
  input: infer I extends DescMessage;
  output: infer O extends DescMessage;
}
  ? (request: MessageShape<I>, call: CallContext) => UnaryAnswer<O> | Promise<UnaryAnswer<O>>
  : M extends {
        methodKind: "server_streaming";
        input: infer I extends DescMessage;
        output: infer O extends DescMessage;
      }
    ? (request: MessageShape<I>, call: StreamContext<O>) => Promise<void>
    : never;

/** An implementation of a generated service: one handler per method, by its local name. */
export type Http2ServiceImpl<S extends GenServiceMethods> = { [K in keyof S]: Http2MethodHandler<S[K]> };

/** How a service's requests are read. */
export interface ServiceOptions {
  /**
   * Read string fields whose bytes are not UTF-8 (a malformed sequence becomes U+FFFD) instead of
   * answering INVALID_ARGUMENT: for peers that send such strings and need an answer all the same.
   */
  readonly acceptInvalidUtf8?: boolean;
}

/** Where services register their handlers (unary and server-streaming methods). */
export interface GrpcRouter {
  /** Adds a service; every method must have a handler. */
  add<S extends GenServiceMethods>(service: GenService<S>, impl: Http2ServiceImpl<S>, options?: ServiceOptions): this;
}

/** One method a server answers. */
export interface Route {
  readonly path: string;
  readonly kind: "unary" | "server_streaming";
  readonly input: DescMessage;
  readonly output: DescMessage;
  readonly handler: (request: unknown, call: never) => unknown;
}

function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/** The routes of one server, by path. */
export class GrpcRoutes implements GrpcRouter {
  readonly #routes = new Map<string, Route>();

  /** Client-streaming and bidi methods are refused: the data-plane services need neither. */
  add<S extends GenServiceMethods>(
    service: GenService<S>,
    impl: Http2ServiceImpl<S>,
    options: ServiceOptions = {},
  ): this {
    const handlers = impl as unknown as Record<string, Route["handler"] | undefined>;
    for (const method of (service as unknown as GenService<GenServiceMethods>).methods) {
      const path = methodPath(method);
      if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") {
        throw new Error(`${path}: ${method.methodKind} methods are not supported on the HTTP/2 server`);
      }
      const handler = handlers[method.localName];
      if (typeof handler !== "function") throw new Error(`${path}: no handler given`);
      if (this.#routes.has(path)) throw new Error(`${path}: added twice`);
      const input = options.acceptInvalidUtf8 ? withoutUtf8Checks(method.input) : method.input;
      this.#routes.set(path, { path, kind: method.methodKind, input, output: method.output, handler });
    }
    return this;
  }

  find(path: string): Route | undefined {
    return this.#routes.get(path);
  }
}
