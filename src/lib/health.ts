import { create } from "@bufbuild/protobuf";
import {
  Health,
  type HealthCheckResponse,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../gen/grpc/health/v1/health_pb.js";
import { GrpcError, GrpcServer, GrpcStatus, type ServiceImpl } from "./grpc.js";
import type { GrpcRouter, Http2ServiceImpl } from "./grpc-server/index.js";

export { HealthCheckResponse_ServingStatus as ServingStatus } from "../gen/grpc/health/v1/health_pb.js";

/**
 * The standard gRPC health service (grpc.health.v1). The empty service name stands for the whole
 * server. Watchers are told of every change; a stopping server reports NOT_SERVING first so load
 * balancers drain it before it closes.
 */
export class HealthService {
  readonly #statuses = new Map<string, ServingStatus>([["", ServingStatus.SERVING]]);
  readonly #watchers = new Map<string, Set<(status: ServingStatus) => void>>();

  set(service: string, status: ServingStatus): void {
    if (this.#statuses.get(service) === status) return;
    this.#statuses.set(service, status);
    for (const notify of this.#watchers.get(service) ?? []) notify(status);
  }

  /** Marks every known service NOT_SERVING (called at the start of shutdown). */
  drain(): void {
    for (const service of [...this.#statuses.keys()]) this.set(service, ServingStatus.NOT_SERVING);
  }

  status(service: string): ServingStatus | undefined {
    return this.#statuses.get(service);
  }

  /** Adds the service to a data-plane router, or to a grpc-js server (ADS's port). */
  register(server: GrpcRouter | GrpcServer): void {
    const impl: Http2ServiceImpl<typeof Health.method> = {
      check: (request) => {
        const status = this.#statuses.get(request.service);
        if (status === undefined) throw new GrpcError(GrpcStatus.NOT_FOUND, `unknown service "${request.service}"`);
        return { status };
      },
      watch: (request, call) =>
        new Promise<void>((resolve) => {
          const send = (status: ServingStatus) => call.write(create(HealthCheckResponseSchema, { status }));
          let watchers = this.#watchers.get(request.service);
          if (!watchers) {
            watchers = new Set();
            this.#watchers.set(request.service, watchers);
          }
          watchers.add(send);
          send(this.#statuses.get(request.service) ?? ServingStatus.SERVICE_UNKNOWN);
          call.on("cancelled", () => {
            watchers.delete(send);
            resolve();
          });
        }),
    };
    // Watch uses only write() and the "cancelled" event, which grpc-js's server stream has too.
    if (server instanceof GrpcServer) server.add(Health, impl as unknown as ServiceImpl<typeof Health.method>);
    else server.add(Health, impl);
  }
}

export type { HealthCheckResponse };
