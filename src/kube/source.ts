// Gantry's custom resources in the management cluster as a source of desired state, beside the
// config folder and the API: a reflector per kind feeds the same path (parse once, store, translate),
// and after each publication every object's status is brought up to date through the status
// subresource, written only when it differs from what the object shows.

import { type Changes, type KubeApi, KubeApiError, Reflector } from "../kubernetes/index.js";
import type { Timer, Timers } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import { Counter, type Registry } from "../lib/metrics.js";
import { type Kind, kinds, parseRefKey, type Resource, refKey, resourceKey } from "../resources/index.js";
import type { ResourceKey, WriteResult } from "../store/index.js";
import type { ProxyGroup, Status } from "../translate/index.js";
import { group, pluralOf, version } from "./names.js";
import { documentOf, type KubeObject, parseObject } from "./objects.js";
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

/** What the source knows of each object it stored, by `Kind/namespace/name`. */
interface Tracked {
  kind: Kind;
  namespace: string;
  name: string;
  uid: string;
  generation: number;
  /** The stored form last applied, to skip objects whose change is not one (labels elsewhere, status). */
  applied: string | undefined;
  /** The store revision its current version was written at; statuses wait for a publication that far. */
  revision: number;
  /** The loader's messages when the current version is refused (the last valid one stays stored). */
  invalid?: string[];
}

const retryMs = 1_000;
/** A status write that failed (the API server away) is tried again after this, even if nothing changes. */
const statusRetryMs = 5_000;

export class KubeSource {
  readonly #options: KubeSourceOptions;
  readonly #reflectors = new Map<Kind, Reflector<KubeObject>>();
  readonly #tracked = new Map<string, Tracked>();
  /** Changes not yet stored, by `Kind/namespace/name`. */
  readonly #pending = new Map<string, { kind: Kind; object: KubeObject | undefined }>();
  /** Statuses written and the object version they were written over: not written again before the echo arrives. */
  readonly #written = new Map<string, { status: string; over: string }>();
  #flushing: Promise<void> | undefined;
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
    const scope = options.namespace ? `/namespaces/${options.namespace}` : "";
    for (const kind of kinds) {
      this.#reflectors.set(
        kind,
        new Reflector<KubeObject>({
          api: options.api,
          path: `/apis/${group}/${version}${scope}/${pluralOf(kind)}`,
          what: `${pluralOf(kind)}.${group}`,
          project: (object) => object,
          onChange: (changes) => this.#changed(kind, changes),
          timers: options.timers,
          logger: options.logger,
        }),
      );
    }
  }

  /** Lists every kind and stores what is there, then keeps watching. */
  async start(): Promise<void> {
    await Promise.all(
      [...this.#reflectors.values()].map((reflector) =>
        reflector.start().catch((err: Error) => {
          const missing = err.cause instanceof KubeApiError && err.cause.status === 404;
          throw missing ? new Error(`${err.message} (are the CRDs of deploy/crds installed?)`) : err;
        }),
      ),
    );
    // A new leader writes what its predecessor left undone (or wrote differently) at once.
    this.#unsubscribe = this.#options.leadership?.onChange((leading) => {
      if (leading) void this.#syncStatuses();
    });
    await this.#flush();
  }

  stop(): void {
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#statusRetry?.cancel();
    for (const reflector of this.#reflectors.values()) void reflector.stop();
  }

  /** How each kind's reflector got its objects (lists, watches, 410s). */
  stats(): Record<string, { lists: number; watches: number; gone: number }> {
    return Object.fromEntries([...this.#reflectors].map(([kind, reflector]) => [kind, { ...reflector.stats }]));
  }

  /** After each publication: bring statuses up to date. */
  published(): void {
    void this.#syncStatuses();
  }

  #changed(kind: Kind, changes: Changes<KubeObject>): void {
    for (const [objectKey, object] of changes) {
      const [namespace = "", name = ""] = objectKey.split("/", 2);
      this.#pending.set(refKey({ kind, namespace, name }), { kind, object });
    }
    void this.#flush();
  }

  /** Stores what is pending, one batch at a time; a failed batch is retried, nothing half-applied. */
  #flush(): Promise<void> {
    this.#flushing ??= this.#drain().finally(() => {
      this.#flushing = undefined;
      // A change that came as the last batch ended.
      if (this.#pending.size > 0 && !this.#stopped) void this.#flush();
    });
    return this.#flushing.then(() => this.#syncStatuses());
  }

  async #drain(): Promise<void> {
    while (this.#pending.size > 0 && !this.#stopped) {
      const batch = new Map(this.#pending);
      this.#pending.clear();
      try {
        await this.#store(batch);
      } catch (err) {
        this.#options.logger.error({ err }, "kubernetes: cannot store the custom resources; retrying");
        for (const [key, change] of batch) if (!this.#pending.has(key)) this.#pending.set(key, change);
        await new Promise<void>((resolve) => this.#options.timers.setTimeout(resolve, retryMs));
      }
    }
  }

  async #store(batch: ReadonlyMap<string, { kind: Kind; object: KubeObject | undefined }>): Promise<void> {
    const resources: Resource[] = [];
    const gone: ResourceKey[] = [];
    const next = new Map<string, Tracked>();
    for (const [key, { kind, object }] of batch) {
      const before = this.#tracked.get(key);
      if (!object) {
        if (before) gone.push(parseRefKey(key));
        continue;
      }
      const metadata = object.metadata ?? {};
      const tracked: Tracked = {
        kind,
        namespace: metadata.namespace ?? "",
        name: metadata.name ?? "",
        uid: metadata.uid ?? "",
        generation: metadata.generation ?? 0,
        applied: before?.applied,
        revision: before?.revision ?? 0,
      };
      const parsed = parseObject({ ...object, kind, apiVersion: `${group}/${version}` });
      if ("rejected" in parsed) {
        this.#options.logger.warn({ resource: key, errors: parsed.errors }, "kubernetes: custom resource refused");
        next.set(key, { ...tracked, invalid: parsed.errors });
        continue;
      }
      const applied = JSON.stringify(documentOf(object));
      next.set(key, tracked);
      if (applied !== before?.applied || before?.invalid) resources.push(parsed.resource);
      tracked.applied = applied;
    }
    const written = resources.length > 0 ? await this.#options.desired.apply(resources) : undefined;
    if (gone.length > 0) await this.#options.store.delete(gone);
    for (const resource of resources) {
      const tracked = next.get(resourceKey(resource));
      if (tracked && written) tracked.revision = written.revision;
    }
    for (const [key, tracked] of next) this.#tracked.set(key, tracked);
    for (const key of gone) {
      this.#tracked.delete(refKey(key));
      this.#written.delete(refKey(key));
    }
    if (resources.length + gone.length > 0) {
      this.#options.logger.info(
        { stored: resources.length, deleted: gone.length },
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
    for (const [key, tracked] of this.#tracked) {
      // A replica that stopped leading mid-pass leaves the rest to the new leader.
      if (this.#stopped || (this.#options.leadership && !this.#options.leadership.isLeader)) return;
      // Not yet translated: the status would describe the version before.
      if (!tracked.invalid && tracked.revision > revision) continue;
      const object = this.#reflectors.get(tracked.kind)?.items.get(`${tracked.namespace}/${tracked.name}`);
      if (!object || object.metadata?.uid !== tracked.uid) continue;
      const status = desiredStatus({
        outcome: tracked.invalid ? { invalid: tracked.invalid } : { translated: published.status(parseRefKey(key)) },
        generation: tracked.generation,
        policies: [...(policies.get(key) ?? [])],
        current: object.status,
        nowMs: timers.now(),
      });
      if (sameStatus(object.status, status)) continue;
      const text = JSON.stringify(status);
      const over = object.metadata?.resourceVersion ?? "";
      const last = this.#written.get(key);
      if (last && last.status === text && last.over === over) continue;
      const path = `/apis/${group}/${version}/namespaces/${tracked.namespace}/${pluralOf(tracked.kind)}/${tracked.name}/status`;
      try {
        // The uid is a precondition: a status is never written onto a new object of the same name.
        await api.request("PATCH", path, {
          body: { metadata: { uid: tracked.uid }, status },
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
