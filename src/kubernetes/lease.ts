// Leader election with a coordination.k8s.io/v1 Lease, for the work that must run once across a
// server's replicas (status writes, certificate issuance); every replica keeps serving xDS.
//
// Every `retryPeriodMs` each elector reads the Lease. A Lease held by another is left alone until
// it has not changed for its whole duration, as this replica's own clock measures it (clocks of
// different machines are never compared); then, or when it is free, the elector takes it with an
// update on the version it read, so two replicas cannot both succeed. The holder renews it the same
// way, and stops leading when it could not renew for `renewDeadlineMs` (shorter than the lease's
// duration, so it has stopped before another can take over). Stopping releases the Lease.
import { systemClock, type Timer, type Timers } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import { type KubeApi, KubeApiError } from "./api.js";

export interface LeaderElectionOptions {
  api: KubeApi;
  namespace: string;
  name: string;
  /** This replica's name in the Lease's holderIdentity (the pod name is a good one). Unique per replica. */
  identity: string;
  /** How long a Lease not renewed stays its holder's. Default 15 s. */
  leaseDurationMs?: number;
  /** How long the holder keeps leading without a successful renewal. Default 10 s. */
  renewDeadlineMs?: number;
  /** How often the Lease is read, and renewed. Default 2 s. */
  retryPeriodMs?: number;
  timers?: Timers;
  logger: Logger;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** A MicroTime as the apiserver reads it: RFC 3339 with exactly six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export class LeaderElector {
  readonly #options: Required<Omit<LeaderElectionOptions, "timers">> & { timers: Timers };
  readonly #listeners = new Set<(leading: boolean) => void>();
  readonly #path: string;
  #leading = false;
  #holder = "";
  #observed = "";
  #observedAt = 0;
  #lastRenewAt = 0;
  #timer: Timer | undefined;
  #tick: Promise<void> | undefined;
  #stopped = true;

  constructor(options: LeaderElectionOptions) {
    const resolved = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      timers: systemClock,
      ...options,
    };
    const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = resolved;
    if (!(renewDeadlineMs < leaseDurationMs && retryPeriodMs < renewDeadlineMs && retryPeriodMs > 0)) {
      throw new Error(
        `leader election: need 0 < retry period (${retryPeriodMs} ms) < renew deadline (${renewDeadlineMs} ms) < lease duration (${leaseDurationMs} ms)`,
      );
    }
    if (leaseDurationMs % 1000 !== 0) {
      throw new Error(`leader election: the lease duration is whole seconds in a Lease, got ${leaseDurationMs} ms`);
    }
    if (!options.identity) throw new Error("leader election: this replica's identity is empty");
    this.#options = resolved;
    this.#path = `/apis/coordination.k8s.io/v1/namespaces/${options.namespace}/leases/${options.name}`;
  }

  /** Whether this replica leads now. */
  get isLeader(): boolean {
    return this.#leading;
  }

  /** The holder last seen in the Lease ("" when free or not read yet). */
  get holder(): string {
    return this.#holder;
  }

  /** Calls `listener(true)` when this replica starts leading and `listener(false)` when it stops; returns how to stop listening. */
  onChange(listener: (leading: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    const run = () => {
      if (this.#tick || this.#stopped) return;
      this.#tick = this.#tryAcquireOrRenew().finally(() => {
        this.#tick = undefined;
      });
    };
    this.#timer = this.#options.timers.setInterval(run, this.#options.retryPeriodMs);
    run();
  }

  /** Stops electing; a leader stops leading (listeners told first), then frees the Lease for the others. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#timer?.cancel();
    await this.#tick;
    if (!this.#leading) return;
    this.#setLeading(false);
    await this.#release();
  }

  #setLeading(leading: boolean): void {
    if (leading === this.#leading) return;
    this.#leading = leading;
    this.#options.logger.info(
      { lease: `${this.#options.namespace}/${this.#options.name}`, identity: this.#options.identity },
      leading ? "leader election: leading" : "leader election: no longer leading",
    );
    for (const listener of [...this.#listeners]) listener(leading);
  }

  async #tryAcquireOrRenew(): Promise<void> {
    const { api, identity, timers, namespace, name } = this.#options;
    const now = timers.now();
    try {
      const lease = await this.#read();
      if (this.#stopped) return;
      if (!lease) {
        await api.request("POST", `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`, {
          body: {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: { name, namespace },
            spec: this.#spec(now, undefined),
          },
        });
        this.#renewed(now);
        return;
      }
      const spec = lease.spec ?? {};
      const seen = `${spec.holderIdentity ?? ""}|${spec.renewTime ?? ""}|${spec.leaseTransitions ?? 0}`;
      if (seen !== this.#observed) {
        this.#observed = seen;
        this.#observedAt = now;
      }
      this.#holder = spec.holderIdentity ?? "";
      const durationMs = (spec.leaseDurationSeconds ?? this.#options.leaseDurationMs / 1000) * 1000;
      if (this.#holder && this.#holder !== identity && this.#observedAt + durationMs > now) {
        this.#setLeading(false);
        return;
      }
      await api.request("PUT", this.#path, {
        body: { ...lease, spec: this.#spec(now, spec) },
      });
      this.#renewed(now);
    } catch (err) {
      // A conflict is another replica's update in between: read again next period.
      if (!(err instanceof KubeApiError && err.status === 409)) {
        this.#options.logger.warn({ err: (err as Error).message }, "leader election: cannot read or update the Lease");
      }
      if (this.#leading && now - this.#lastRenewAt >= this.#options.renewDeadlineMs) this.#setLeading(false);
    }
  }

  async #read(): Promise<Lease | undefined> {
    try {
      return await this.#options.api.request<Lease>("GET", this.#path);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  #spec(now: number, previous: LeaseSpec | undefined): LeaseSpec {
    const { identity, leaseDurationMs } = this.#options;
    const renewing = previous?.holderIdentity === identity;
    return {
      holderIdentity: identity,
      leaseDurationSeconds: leaseDurationMs / 1000,
      acquireTime: renewing && previous?.acquireTime ? previous.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: (previous?.leaseTransitions ?? 0) + (previous && !renewing ? 1 : 0),
    };
  }

  #renewed(now: number): void {
    this.#lastRenewAt = now;
    this.#holder = this.#options.identity;
    this.#setLeading(true);
  }

  /** Frees the Lease (no holder, 1 s left) so that another replica takes over at its next read. */
  async #release(): Promise<void> {
    try {
      const lease = await this.#read();
      if (!lease || lease.spec?.holderIdentity !== this.#options.identity) return;
      const now = this.#options.timers.now();
      await this.#options.api.request("PUT", this.#path, {
        body: {
          ...lease,
          spec: {
            leaseDurationSeconds: 1,
            renewTime: microTime(now),
            acquireTime: microTime(now),
            leaseTransitions: lease.spec?.leaseTransitions ?? 0,
          },
        },
      });
    } catch (err) {
      this.#options.logger.warn({ err: (err as Error).message }, "leader election: cannot release the Lease");
    }
  }
}
