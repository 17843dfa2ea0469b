// Backends for the conformance matrix: real grpc-js servers that answer any of the test's methods
// with an empty message and name themselves in the "backend" response header.
import * as grpc from "@grpc/grpc-js";

export type Behaviour = (call: number) => Promise<grpc.ServiceError | undefined> | grpc.ServiceError | undefined;

export interface Backend {
  readonly name: string;
  readonly port: number;
  /** Calls seen so far. */
  readonly calls: number;
  stop(): Promise<void>;
}

/** Every method a scenario calls; a backend serves them all. */
export const methods = [
  "/grpc.health.v1.Health/Check",
  "/interop.Echo/Exact",
  "/interop.Echo/Else",
  "/interop.Other/R7",
  "/interop.Other/x",
  "/interop.Other/CaseMatch",
] as const;

const identity = (b: Buffer) => b;

export function unavailable(message: string): grpc.ServiceError {
  return Object.assign(new Error(message), {
    code: grpc.status.UNAVAILABLE,
    details: message,
    metadata: new grpc.Metadata(),
  });
}

/**
 * `port` 0 picks a free one; a stopped backend is started again on its own port. `host` is the
 * address it listens on (a Kubernetes EndpointSlice refuses loopback addresses).
 */
export async function startBackend(
  name: string,
  behaviour?: Behaviour,
  port = 0,
  host = "127.0.0.1",
): Promise<Backend> {
  const server = new grpc.Server();
  let calls = 0;
  const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const path of methods) {
    definition[path] = {
      path,
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    };
    handlers[path] = async (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      calls++;
      const error = behaviour ? await behaviour(calls) : undefined;
      // A failure is trailers-only: a call that received response headers is committed, and gRPC
      // clients never retry it.
      if (error) return callback(error);
      const metadata = new grpc.Metadata();
      metadata.set("backend", name);
      call.sendMetadata(metadata);
      callback(null, Buffer.alloc(0));
    };
  }
  server.addService(definition, handlers);
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  return {
    name,
    port: bound,
    get calls() {
      return calls;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1_000).unref();
      }),
  };
}
