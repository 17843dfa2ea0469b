import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import * as x509 from "@peculiar/x509";
import type { RegistrationService } from "../gen/gantry/relay/v1/registration_pb.js";
import { systemClock, type Timer, type Timers } from "../lib/clock.js";
import { GrpcError, type ServiceImpl } from "../lib/grpc.js";
import type { Logger } from "../lib/logger.js";
import { Counter, type Registry } from "../lib/metrics.js";
import { clusterOfIdentity } from "./identity.js";
import { issueServerCertificate, normalizeSerial, uriNamesOf } from "./pki.js";
import { type RefusalReason, RegistrationRefused, refusalReasons } from "./records.js";
import type { CertificateGrant, ClusterRegistry } from "./registry.js";
import { ClusterStoreError } from "./store.js";

/*
 * Who may use the relay port. One TLS port serves two kinds of callers: an agent enrolling, which
 * has no certificate yet (the token authenticates it), and agents holding their cluster's
 * certificate. So the port asks for a client certificate but lets the handshake finish without
 * one; every call then checks its caller (`verifyPeer`), and only Enroll goes without.
 */

type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;
type CaListener = grpc.experimental.CaCertificateUpdateListener;

/** The cluster a relay caller proved it is. */
export interface PeerCluster {
  readonly cluster: string;
  readonly identity: string;
  /** Its certificate's serial (lower-case hex) and expiry. */
  readonly serial: string;
  readonly notAfterMs: number;
}

/** What `verifyPeer` reads of a grpc-js call: every server call has it. */
export interface AuthenticatedCall {
  getAuthContext(): ReturnType<grpc.ServerUnaryCall<unknown, unknown>["getAuthContext"]>;
}

const statusOf: Record<RefusalReason, grpc.status> = {
  token_malformed: grpc.status.INVALID_ARGUMENT,
  csr_invalid: grpc.status.INVALID_ARGUMENT,
  certificate_missing: grpc.status.UNAUTHENTICATED,
  token_invalid: grpc.status.PERMISSION_DENIED,
  token_used: grpc.status.PERMISSION_DENIED,
  token_expired: grpc.status.PERMISSION_DENIED,
  cluster_unknown: grpc.status.PERMISSION_DENIED,
  cluster_revoked: grpc.status.PERMISSION_DENIED,
  cluster_mismatch: grpc.status.PERMISSION_DENIED,
  certificate_revoked: grpc.status.PERMISSION_DENIED,
  ca_mismatch: grpc.status.PERMISSION_DENIED,
};

export interface RelayAuthOptions {
  registry: ClusterRegistry;
  metrics?: Registry;
  logger?: Logger;
  /** Renews the relay port's own certificate. Default the system clock. */
  timers?: Timers;
  /** Lifetime of the relay port's certificate; renewed at two thirds. Default 30 days. */
  serverCertificateTtlMs?: number;
}

/** The relay port's credentials and the checks on its callers. Start it before serving. */
export class RelayAuth {
  readonly #registry: ClusterRegistry;
  readonly #logger: Logger | undefined;
  readonly #timers: Timers;
  readonly #serverTtlMs: number;
  readonly #failures: Counter<"reason">;
  readonly #issued: Counter<"kind">;
  readonly #identityListeners = new Set<IdentityListener>();
  #identity: { certificate: Buffer; privateKey: Buffer } | undefined;
  #renewal: Timer | undefined;

  constructor(options: RelayAuthOptions) {
    this.#registry = options.registry;
    this.#logger = options.logger;
    this.#timers = options.timers ?? systemClock;
    this.#serverTtlMs = options.serverCertificateTtlMs ?? 30 * 24 * 3600_000;
    this.#failures = new Counter({
      name: "gantry_relay_auth_failures_total",
      help: "Registrations, rotations and relay calls refused, by reason",
      labelNames: ["reason"],
      registers: options.metrics ? [options.metrics] : [],
    });
    for (const reason of refusalReasons) if (reason !== "ca_mismatch") this.#failures.inc({ reason }, 0);
    this.#issued = new Counter({
      name: "gantry_relay_certificates_issued_total",
      help: "Cluster certificates issued, by kind (enroll, rotate)",
      labelNames: ["kind"],
      registers: options.metrics ? [options.metrics] : [],
    });
  }

  /** Issues the relay port's certificate (renewed at two thirds of its lifetime from then on). */
  async start(): Promise<void> {
    await this.#renewServerCertificate();
  }

  stop(): void {
    this.#renewal?.cancel();
  }

  /** grpc-js credentials for the relay port: TLS, a client certificate asked for and checked per call. */
  serverCredentials(): grpc.ServerCredentials {
    const caPem = Buffer.from(this.#registry.ca.certPem);
    // One provider for both roles: grpc-js 1.14's createCertificateProviderServerCredentials hands its
    // two providers to the constructor in swapped order, so each must be able to play either.
    const provider: grpc.experimental.CertificateProvider = {
      addIdentityCertificateListener: (listener) => {
        this.#identityListeners.add(listener);
        // grpc-js adds its own watcher after ours: hand the current pair over a turn later.
        queueMicrotask(() => {
          if (this.#identity && this.#identityListeners.has(listener)) listener(this.#identity);
        });
      },
      removeIdentityCertificateListener: (listener) => this.#identityListeners.delete(listener),
      addCaCertificateListener: (listener: CaListener) => queueMicrotask(() => listener({ caCertificate: caPem })),
      removeCaCertificateListener: () => {},
    };
    return grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
  }

  /**
   * The cluster the caller's certificate proves, if the registry accepts that certificate now (and
   * it is `claimed`, when the caller says which cluster it is). Throws a GrpcError
   * (UNAUTHENTICATED, PERMISSION_DENIED) whose message starts with the reason, and counts it.
   * Call it on every stream the relay opens, and again on its reports: a removed cluster is refused
   * from the next check on.
   */
  async verifyPeer(call: AuthenticatedCall, claimed?: string): Promise<PeerCluster> {
    try {
      return await this.#peer(call, claimed);
    } catch (err) {
      throw this.refusal(err);
    }
  }

  /** Counts a refusal and turns it into the GrpcError the caller gets; other errors pass through. */
  refusal(err: unknown): unknown {
    // The registry cannot answer (its Redis is down): the caller may try again, at this replica or another.
    if (err instanceof ClusterStoreError) return new GrpcError(grpc.status.UNAVAILABLE, err.message);
    if (!(err instanceof RegistrationRefused)) return err;
    this.#failures.inc({ reason: err.reason });
    this.#logger?.warn({ reason: err.reason, err: err.message }, "relay caller refused");
    return new GrpcError(statusOf[err.reason], `${err.reason}: ${err.message}`);
  }

  /** The RegistrationService for the relay port's gRPC server. */
  registrationService(): ServiceImpl<typeof RegistrationService.method> {
    const answer = (grant: CertificateGrant) => ({
      certificatePem: grant.certPem,
      caPem: grant.caPem,
      identity: grant.identity,
      notAfter: timestampFromMs(grant.notAfterMs),
    });
    return {
      enroll: async (request) => {
        try {
          const grant = await this.#registry.enroll({
            cluster: request.cluster,
            token: request.token,
            csrPem: request.csrPem,
          });
          this.#issued.inc({ kind: "enroll" });
          this.#logger?.info({ cluster: request.cluster, agentVersion: request.agentVersion }, "cluster enrolled");
          return answer(grant);
        } catch (err) {
          throw this.refusal(err);
        }
      },
      rotate: async (request, call) => {
        try {
          const peer = await this.#peer(call, request.cluster);
          const grant = await this.#registry.rotate(peer.cluster, peer.serial, request.csrPem);
          this.#issued.inc({ kind: "rotate" });
          this.#logger?.info({ cluster: peer.cluster }, "cluster certificate rotated");
          return answer(grant);
        } catch (err) {
          throw this.refusal(err);
        }
      },
    };
  }

  async #peer(call: AuthenticatedCall, claimed: string | undefined): Promise<PeerCluster> {
    // grpc-js hands over the certificate only when it chains to the relay CA and is in date.
    const raw = call.getAuthContext()?.sslPeerCertificate?.raw;
    if (!raw) {
      throw new RegistrationRefused(
        "certificate_missing",
        "the relay needs a cluster certificate signed by its CA (none was presented, or it is expired or from another CA): enroll with a registration token first",
      );
    }
    const certificate = new x509.X509Certificate(raw);
    const identity = uriNamesOf(certificate)[0] ?? "";
    const cluster = clusterOfIdentity(this.#registry.trustDomain, identity);
    if (cluster === undefined) {
      throw new RegistrationRefused(
        "certificate_missing",
        `the certificate's identity "${identity}" is not a cluster of trust domain ${this.#registry.trustDomain}`,
      );
    }
    if (claimed !== undefined && claimed !== cluster) {
      throw new RegistrationRefused(
        "cluster_mismatch",
        `the caller says it is cluster ${claimed}, but its certificate is cluster ${cluster}'s`,
      );
    }
    const serial = normalizeSerial(certificate.serialNumber);
    const accepted = await this.#registry.accept(cluster, serial);
    return { cluster, identity, serial, notAfterMs: accepted.notAfterMs };
  }

  async #renewServerCertificate(): Promise<void> {
    const now = this.#timers.now();
    const issued = await issueServerCertificate(this.#registry.ca, now, this.#serverTtlMs);
    this.#identity = { certificate: Buffer.from(issued.chainPem), privateKey: Buffer.from(issued.keyPem) };
    for (const listener of this.#identityListeners) listener(this.#identity);
    const renewIn = Math.max(1_000, ((issued.notAfterMs - now) * 2) / 3);
    this.#renewal = this.#timers
      .setTimeout(() => {
        this.#renewServerCertificate().catch((err: unknown) => {
          this.#logger?.error({ err }, "cannot renew the relay port's certificate; trying again in a minute");
          this.#renewal = this.#timers.setTimeout(() => void this.#renewServerCertificate(), 60_000).unref();
        });
      }, renewIn)
      .unref();
  }
}
