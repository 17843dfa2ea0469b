// The relay's gRPC port: agents dial in and hold one Relay.Connect stream each. Transport security is
// the caller's: it passes the server credentials (mTLS in production) and says, per stream, which
// cluster the peer's credentials prove.
import type * as grpc from "@grpc/grpc-js";
import { checkClusterName } from "../../cluster/index.js";
import type { AgentMessage, ServerMessage } from "../../gen/gantry/relay/v1/relay_pb.js";
import { Relay } from "../../gen/gantry/relay/v1/relay_pb.js";
import { GrpcError, GrpcServer, GrpcStatus, toServiceError } from "../../lib/grpc.js";
import { HealthService, ServingStatus } from "../../lib/health.js";
import type { Logger } from "../../lib/logger.js";
import type { RelayHub, RelaySession } from "./hub.js";

export const defaultRelayPort = 18100;

/** The connecting peer as the transport knows it. */
export interface RelayPeer {
  readonly address: string;
  /** grpc-js's view of the TLS session: the peer's certificate under mTLS. */
  readonly authContext: ReturnType<Call["getAuthContext"]>;
}

/**
 * Which cluster the peer's credentials prove, or `undefined` when they prove none (plain TLS or
 * loopback without TLS: the Hello's cluster is taken as claimed). Throws GrpcError to refuse.
 *
 * SEAM: registration (`gantry cluster add`, mTLS certificates for `cluster/NAME`) plugs in here: its
 * callback reads the client certificate from `authContext` and refuses a revoked or unknown one.
 */
export type PeerCluster = (peer: RelayPeer, claimed: string) => string | undefined | Promise<string | undefined>;

export interface RelayServerOptions {
  hub: RelayHub;
  host: string;
  /** 18100 by default; 0 picks a free port. */
  port?: number;
  /** Default: insecure (loopback and tests only). */
  credentials?: grpc.ServerCredentials;
  peerCluster?: PeerCluster;
  /** Other services on the same port (registration: Enroll and Rotate). */
  services?: (server: GrpcServer) => void;
  logger: Logger;
}

export interface RelayServer {
  readonly port: number;
  stop(graceMs?: number): Promise<void>;
}

type Call = grpc.ServerDuplexStream<AgentMessage, ServerMessage>;

function serveStream(call: Call, options: RelayServerOptions): void {
  const { hub, logger } = options;
  let opened = false;
  let ended = false;
  const session: RelaySession = {
    send: (message) => {
      if (!ended) call.write(message);
    },
    fail: (error) => {
      if (ended) return;
      ended = true;
      const status = error instanceof GrpcError ? error : new GrpcError(GrpcStatus.ABORTED, error.message);
      call.emit("error", toServiceError(status, logger, call.getPath()));
    },
  };
  const close = () => {
    if (opened) hub.close(session);
    ended = true;
  };
  // Messages that arrive while the peer's certificate is being checked wait for the verdict.
  let verifying: AgentMessage[] | undefined;
  const onMessage = (message: AgentMessage): void => {
    if (ended) return;
    if (verifying) {
      verifying.push(message);
      return;
    }
    try {
      if (!opened) {
        if (message.message.case !== "hello")
          throw new GrpcError(GrpcStatus.INVALID_ARGUMENT, "the first message must be a hello");
        const hello = message.message.value;
        const claimed = hello.cluster;
        try {
          checkClusterName(claimed, "hello.cluster");
        } catch (err) {
          throw new GrpcError(GrpcStatus.INVALID_ARGUMENT, (err as Error).message);
        }
        const open = (proven: string | undefined) => {
          if (proven !== undefined && proven !== claimed) {
            throw new GrpcError(
              GrpcStatus.PERMISSION_DENIED,
              `the peer's credentials are for cluster "${proven}", but its hello says "${claimed}"`,
            );
          }
          opened = true;
          hub.open(session, claimed, hello);
        };
        const proven = options.peerCluster?.({ address: call.getPeer(), authContext: call.getAuthContext() }, claimed);
        if (!(proven instanceof Promise)) {
          open(proven);
          return;
        }
        verifying = [];
        proven.then(
          (cluster) => {
            const queued = verifying ?? [];
            verifying = undefined;
            if (ended) return;
            try {
              open(cluster);
            } catch (err) {
              fail(err);
              return;
            }
            for (const next of queued) onMessage(next);
          },
          (err: unknown) => {
            verifying = undefined;
            fail(err);
          },
        );
        return;
      }
      hub.message(session, message);
    } catch (err) {
      fail(err);
    }
  };
  /** One bad stream ends with its status; the others go on. */
  const fail = (err: unknown): void => {
    close();
    call.emit("error", toServiceError(err, logger, call.getPath()));
  };
  call.on("data", onMessage);
  call.on("end", () => {
    close();
    call.end();
  });
  call.on("cancelled", close);
  call.on("error", close);
  call.on("close", close);
}

/** Starts the relay's gRPC server (with gRPC health) in front of `hub`. */
export async function startRelayServer(options: RelayServerOptions): Promise<RelayServer> {
  const server = new GrpcServer({
    logger: options.logger,
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
  server.add(Relay, { connect: (call: Call) => serveStream(call, options) });
  options.services?.(server);
  const health = new HealthService();
  health.set(Relay.typeName, ServingStatus.SERVING);
  health.register(server);
  const port = await server.listen(options.host, options.port ?? defaultRelayPort);
  options.logger.info({ port }, "relay listening");
  return {
    port,
    stop: (graceMs = 1_000) => {
      health.drain();
      return server.shutdown(graceMs);
    },
  };
}
