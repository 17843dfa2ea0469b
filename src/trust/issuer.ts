import { systemClock, type Timer, type Timers } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import { Counter, type Registry } from "../lib/metrics.js";
import { AttestationError, type WorkloadAttestor, type WorkloadIdentity } from "./attestor.js";
import { issueWorkloadCertificate, newWorkloadKey } from "./ca.js";
import type { ClusterCaState } from "./cluster-ca.js";
import { workloadSpiffeId } from "./spiffe.js";

export const defaultWorkloadCertTtlMs = 24 * 3600_000;

/** What a workload is given: its certificate chain and key, and the roots to check its peers with. */
export interface WorkloadCertificate {
  readonly identity: WorkloadIdentity;
  readonly spiffeId: string;
  /** The workload's certificate, then its cluster's intermediate and the CAs above it (not the root), PEM. */
  readonly certChainPem: string;
  readonly keyPem: string;
  /** Every root trusted now, PEM. */
  readonly bundlePem: string;
  readonly issuedAtMs: number;
  readonly notAfterMs: number;
}

/** The cluster's intermediate, as the issuer reads it (ClusterCa, or a fixed one in tests and benchmarks). */
export interface IssuingCa {
  readonly current: ClusterCaState | undefined;
  onChange(listener: (state: ClusterCaState) => void): () => void;
}

export interface WorkloadIssuerOptions {
  ca: IssuingCa;
  attestor: WorkloadAttestor;
  /** Lifetime of workload certificates. Default 24 h; rotated at two thirds. */
  ttlMs?: number;
  timers?: Timers;
  logger?: Logger | undefined;
  metrics?: Registry | undefined;
}

/** When a certificate is renewed: two thirds into its life, counted from when it was issued. */
export function rotationDueMs(certificate: Pick<WorkloadCertificate, "issuedAtMs" | "notAfterMs">): number {
  return certificate.issuedAtMs + ((certificate.notAfterMs - certificate.issuedAtMs) * 2) / 3;
}

export interface WorkloadWatch {
  /** The certificate served now. */
  readonly current: WorkloadCertificate | undefined;
  stop(): void;
}

/**
 * Issues workload certificates with the cluster's intermediate, to workloads that prove who they are
 * through the attestor: an unproven workload gets nothing. `watch` keeps one workload's certificate
 * current: rotated at two thirds of its life and whenever the intermediate or the bundle changes,
 * the credential checked again each time (an expired token gets no new certificate).
 */
export class WorkloadIssuer {
  readonly #options: WorkloadIssuerOptions;
  readonly #timers: Timers;
  readonly #ttlMs: number;
  readonly #issued: Counter;
  readonly #refused: Counter<"reason">;
  readonly #watches = new Set<() => void>();
  readonly #unsubscribe: () => void;

  constructor(options: WorkloadIssuerOptions) {
    this.#options = options;
    this.#timers = options.timers ?? systemClock;
    this.#ttlMs = options.ttlMs ?? defaultWorkloadCertTtlMs;
    const registers = options.metrics ? [options.metrics] : [];
    this.#issued = new Counter({
      name: "gantry_workload_certificates_issued_total",
      help: "Workload certificates signed by this agent's intermediate CA",
      registers,
    });
    this.#refused = new Counter({
      name: "gantry_workload_attestation_failures_total",
      help: "Workload credentials refused (no certificate given), by reason",
      labelNames: ["reason"],
      registers,
    });
    for (const reason of ["missing", "invalid", "expired", "unknown", "unavailable"]) this.#refused.inc({ reason }, 0);
    this.#unsubscribe = options.ca.onChange(() => {
      for (const renew of this.#watches) renew();
    });
  }

  /** Counts a workload that asked for a certificate without any credential. */
  refusedWithoutCredential(): void {
    this.#refused.inc({ reason: "missing" });
  }

  /** Who the credential proves; throws AttestationError (counted). */
  async attest(credential: string, signal?: AbortSignal): Promise<WorkloadIdentity> {
    try {
      return await this.#options.attestor.attest(credential, signal);
    } catch (err) {
      const refusal =
        err instanceof AttestationError ? err : new AttestationError((err as Error).message, "unavailable");
      this.#refused.inc({ reason: refusal.reason });
      throw refusal;
    }
  }

  /** A new certificate on a new key for `identity`; throws when the cluster has no intermediate yet. */
  async issue(identity: WorkloadIdentity): Promise<WorkloadCertificate> {
    const ca = this.#options.ca.current;
    if (!ca) {
      throw new AttestationError(
        "this agent has no intermediate CA yet (the management server was never reached)",
        "unavailable",
      );
    }
    const spiffeId = workloadSpiffeId(ca.trustDomain, identity.namespace, identity.serviceAccount);
    const now = this.#timers.now();
    const { keys, keyPem } = await newWorkloadKey();
    const issued = await issueWorkloadCertificate(
      ca.signer,
      keys.publicKey,
      spiffeId,
      ca.trustDomain,
      now,
      this.#ttlMs,
    );
    this.#issued.inc();
    return {
      identity,
      spiffeId,
      certChainPem: `${issued.certPem.trim()}\n${ca.chainPem}`,
      keyPem,
      bundlePem: ca.bundlePem,
      issuedAtMs: now,
      notAfterMs: issued.notAfterMs,
    };
  }

  /**
   * Proves `credential` and keeps its workload's certificate current, calling `onCertificate` with
   * each one; `onRefused` hears why none could be issued (refused or expired credential, no CA yet).
   * Throws AttestationError if the credential is refused at once.
   */
  async watch(
    credential: string,
    onCertificate: (certificate: WorkloadCertificate) => void,
    onRefused: (err: AttestationError) => void,
  ): Promise<WorkloadWatch> {
    await this.attest(credential);
    let current: WorkloadCertificate | undefined;
    let timer: Timer | undefined;
    let stopped = false;
    let running: Promise<void> | undefined;
    /** A change came while a renewal was under way: that renewal may have read the CA before it. */
    let again = false;
    const renew = () => {
      if (stopped) return;
      if (running) {
        again = true;
        return;
      }
      running = (async () => {
        timer?.cancel();
        try {
          const identity = await this.attest(credential);
          const next = await this.issue(identity);
          if (stopped) return;
          current = next;
          onCertificate(next);
          timer = this.#timers.setTimeout(renew, Math.max(0, rotationDueMs(next) - this.#timers.now())).unref();
        } catch (err) {
          const refusal =
            err instanceof AttestationError ? err : new AttestationError((err as Error).message, "unavailable");
          this.#options.logger?.warn(
            { err: refusal.message, reason: refusal.reason },
            "workload certificate not issued",
          );
          onRefused(refusal);
        }
      })().finally(() => {
        running = undefined;
        if (again) {
          again = false;
          renew();
        }
      });
    };
    this.#watches.add(renew);
    renew();
    await running;
    return {
      get current() {
        return current;
      },
      stop: () => {
        stopped = true;
        timer?.cancel();
        this.#watches.delete(renew);
      },
    };
  }

  close(): void {
    this.#unsubscribe();
    this.#watches.clear();
  }
}
