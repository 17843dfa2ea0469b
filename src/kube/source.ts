// Gantry's custom resources in the management cluster as a source of desired state, beside the
// config folder and the API: a provider of the set the reflectors hold (provider.ts), reconciled
// into the store as the config folder is (only the objects that changed are written), and after
// each publication every object's status is brought up to date through the status subresource,
// written only when it differs from what the object shows.

import type { ConfigSnapshot } from "../config/index.js";
import type { KubeApi } from "../kubernetes/index.js";
import type { Timer, Timers } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import { Counter, type Registry } from "../lib/metrics.js";
import { parseRefKey, type Resource, refKey } from "../resources/index.js";
import { type ResourceKey, SourceReconciler, type WriteResult } from "../store/index.js";
import type { ProxyGroup, Status } from "../translate/index.js";
import { group, pluralOf, version } from "./names.js";
import { type KubeEntry, type KubeResourceSet, KubeResourcesProvider } from "./provider.js";
import { attachedPolicies, desiredStatus, sameStatus } from "./status.js";

export interface KubeSourceOptions {
  api: KubeApi;
  /** Watch this namespace only; default every namespace. */
  namespace?: string;
  /** Where valid resources go: the server's DesiredState (parsed once, stored all or none). */
  desired: { apply(resources: readonly Resource[]): Promise<WriteResult> };
  /** Where deleted objects' resources are removed. */
  store: { delete(keys: readonly ResourceKey[]): Promise<WriteResult> };
  /** What the server last published: statuses are written from it. */
  published: { revision(): number; status(key: ResourceKey): Status | undefined; groups(): readonly ProxyGroup[] };
  /**
   * Whether this replica writes statuses (leader election, see Leadership); default always. Every
   * replica watches and stores; only the leader writes, and it brings every status up to date as
   * soon as it starts leading.
   */
  leadership?: Leadership;
  /** Where `gantry_kube_status_writes_total` is registered. */
  registry?: Registry;
  timers: Timers;
  logger: Logger;
}

/** Which replica does the once-only work (a Lease holder: src/kubernetes/lease.ts's LeaderElector). */
export interface Leadership {
  readonly isLeader: boolean;
  /** Calls `listener(true)` when this replica starts leading, `listener(false)` when it stops; returns how to stop listening. */
  onChange(listener: (leading: boolean) => void): () => void;
}

/** A status write that failed (the API server away) is tried again after this, even if nothing changes. */
const statusRetryMs = 5_000;

type ValidEntry = KubeEntry & { parsed: { resource: Resource; form: string } };

function keyOfEntry({ kind, namespace, name }: KubeEntry): ResourceKey {
  return { kind, namespace, name };
}

export class KubeSource {
  readonly #options: KubeSourceOptions;
  readonly #provider: KubeResourcesProvider;
  readonly #reconciler: SourceReconciler<ValidEntry>;
  /** The set last stored: the objects whose statuses are written. */
  #stored: KubeResourceSet = new Map();
  /** The store revision each resource's current version was written at; statuses wait for a publication that far. */
  readonly #revisions = new Map<string, number>();
  /** Statuses written and the object version they were written over: not written again before the echo arrives. */
  readonly #written = new Map<string, { status: string; over: string }>();
  #syncing = false;
  #statusRetry: Timer | undefined;
  #syncAgain = false;
  #stopped = false;
  readonly #statusWrites: Counter<"result">;
  #unsubscribe: (() => void) | undefined;

  constructor(options: KubeSourceOptions) {
    this.#options = options;
    this.#statusWrites = new Counter({
      name: "gantry_kube_status_writes_total",
      help: "Status writes to Gantry's custom resources (status subresource) by this replica, by result",
      labelNames: ["result"],
      registers: options.registry ? [options.registry] : [],
    });
    for (const result of ["written", "failed"]) this.#statusWrites.inc({ result }, 0);
    this.#provider = new KubeResourcesProvider({
      api: options.api,
      ...(options.namespace ? { namespace: options.namespace } : {}),
      timers: options.timers,
      logger: options.logger,
    });
    this.#reconciler = new SourceReconciler<ValidEntry>({
      keyOf: keyOfEntry,
      formOf: (entry) => entry.parsed.form,
      write: (entries) => options.desired.apply(entries.map((entry) => entry.parsed.resource)),
      delete: (keys) => options.store.delete(keys),
    });
    this.#provider.subscribe({
      update: async (snapshot) => {
        try {
          await this.#store(snapshot);
        } catch (err) {
          options.logger.error({ err }, "kubernetes: cannot store the custom resources; retrying");
          throw err;
        }
        void this.#syncStatuses();
      },
      // Not called: the reflectors wait out an unreachable API server themselves.
      error: () => undefined,
    });
  }

  /** Lists every kind and stores what is there, then keeps watching. */
  async start(): Promise<void> {
    await this.#provider.start();
    // A new leader writes what its predecessor left undone (or wrote differently) at once.
    this.#unsubscribe = this.#options.leadership?.onChange((leading) => {
      if (leading) void this.#syncStatuses();
    });
    await this.#syncStatuses();
  }

  stop(): void {
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#statusRetry?.cancel();
    void this.#provider.stop();
  }

  /** How each kind's reflector got its objects (lists, watches, 410s). */
  stats(): Record<string, { lists: number; watches: number; gone: number }> {
    return this.#provider.stats();
  }

  /** After each publication: bring statuses up to date. */
  published(): void {
    void this.#syncStatuses();
  }

  /** Stores the set's changes, all or none; a refusal (the store away) is offered again by the provider. */
  async #store(snapshot: ConfigSnapshot<KubeResourceSet>): Promise<void> {
    const set = snapshot.config;
    const valid: ValidEntry[] = [];
    const refused: ResourceKey[] = [];
    for (const entry of set.values()) {
      if ("invalid" in entry.parsed) refused.push(keyOfEntry(entry));
      else valid.push(entry as ValidEntry);
    }
    const { written, result, gone } = await this.#reconciler.reconcile({ valid, refused });
    for (const entry of written) if (result) this.#revisions.set(refKey(entry), result.revision);
    for (const key of gone) {
      this.#revisions.delete(refKey(key));
      this.#written.delete(refKey(key));
    }
    this.#stored = set;
    if (written.length + gone.length > 0) {
      this.#options.logger.info(
        { stored: written.length, deleted: gone.length },
        "kubernetes: custom resources stored",
      );
    }
  }

  /** Writes every status that differs from the object's; one pass at a time, again if asked meanwhile. */
  async #syncStatuses(): Promise<void> {
    if (this.#syncing) {
      this.#syncAgain = true;
      return;
    }
    this.#syncing = true;
    try {
      do {
        this.#syncAgain = false;
        if (this.#options.leadership && !this.#options.leadership.isLeader) return;
        await this.#syncOnce();
      } while (this.#syncAgain && !this.#stopped);
    } finally {
      this.#syncing = false;
    }
  }

  async #syncOnce(): Promise<void> {
    const { published, timers, api, logger } = this.#options;
    const revision = published.revision();
    const policies = attachedPolicies(published.groups());
    let failed = false;
    for (const [key, entry] of this.#stored) {
      // A replica that stopped leading mid-pass leaves the rest to the new leader.
      if (this.#stopped || (this.#options.leadership && !this.#options.leadership.isLeader)) return;
      // Not yet translated: the status would describe the version before.
      const invalid = "invalid" in entry.parsed ? entry.parsed.invalid : undefined;
      if (!invalid && (this.#revisions.get(key) ?? 0) > revision) continue;
      const object = this.#provider.object(entry.kind, entry.namespace, entry.name);
      if (!object || object.metadata?.uid !== entry.uid) continue;
      const status = desiredStatus({
        outcome: invalid ? { invalid } : { translated: published.status(parseRefKey(key)) },
        generation: entry.generation,
        policies: [...(policies.get(key) ?? [])],
        current: object.status,
        nowMs: timers.now(),
      });
      if (sameStatus(object.status, status)) continue;
      const text = JSON.stringify(status);
      const over = object.metadata?.resourceVersion ?? "";
      const last = this.#written.get(key);
      if (last && last.status === text && last.over === over) continue;
      const path = `/apis/${group}/${version}/namespaces/${entry.namespace}/${pluralOf(entry.kind)}/${entry.name}/status`;
      try {
        // The uid is a precondition: a status is never written onto a new object of the same name.
        await api.request("PATCH", path, {
          body: { metadata: { uid: entry.uid }, status },
          contentType: "application/merge-patch+json",
        });
        this.#written.set(key, { status: text, over });
        this.#statusWrites.inc({ result: "written" });
      } catch (err) {
        failed = true;
        this.#statusWrites.inc({ result: "failed" });
        logger.warn({ err, resource: key }, "kubernetes: cannot write the status; trying again");
      }
    }
    if (failed && !this.#statusRetry) {
      this.#statusRetry = timers.setTimeout(() => {
        this.#statusRetry = undefined;
        void this.#syncStatuses();
      }, statusRetryMs);
    }
  }
}
