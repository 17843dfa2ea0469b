// Gantry's custom resources in a cluster as a config provider: a reflector per kind keeps a copy of
// the objects, and every change offers the whole set they hold, each object already parsed and
// checked as the loader checks a file's document (a refused object carries the loader's messages).

import {
  type ConfigProvider,
  type ConfigSnapshot,
  type ConfigSubscriber,
  contentVersion,
  SnapshotPublisher,
} from "../config/index.js";
import { type KubeApi, KubeApiError, Reflector } from "../kubernetes/index.js";
import type { Timers } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import { type Kind, kinds, type Resource, refKey } from "../resources/index.js";
import { group, pluralOf, version } from "./names.js";
import { documentOf, type KubeObject, parseObject } from "./objects.js";

/** One custom resource of the set: who it is, and what the loader made of it. */
export interface KubeEntry {
  readonly kind: Kind;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly generation: number;
  /**
   * The resource and its stored form as a document (what a change must change to be one: labels
   * elsewhere and the status are not), or the loader's messages when the object is refused.
   */
  readonly parsed: { resource: Resource; form: string } | { invalid: string[] };
}

/** The custom resources the reflectors hold, by `Kind/namespace/name`. */
export type KubeResourceSet = ReadonlyMap<string, KubeEntry>;

export interface KubeResourcesProviderOptions {
  api: KubeApi;
  /** Watch this namespace only; default every namespace. */
  namespace?: string;
  timers: Timers;
  logger: Logger;
}

/** A refused snapshot (the store away) is offered again after this, rebuilt from the copy. */
const retryMs = 1_000;

/**
 * `start()` lists every kind and resolves once the first set is taken; a subscriber that refuses
 * a set (it could not store it) is offered the current one again after a second, until it takes
 * it: the source cannot be told, and the objects stay what they are. Versions are a hash of every
 * object's identity and resourceVersion.
 */
export class KubeResourcesProvider implements ConfigProvider<KubeResourceSet> {
  readonly source: string;
  readonly #options: KubeResourcesProviderOptions;
  readonly #publisher = new SnapshotPublisher<KubeResourceSet>();
  readonly #reflectors = new Map<Kind, Reflector<KubeObject>>();
  /** Each object version's entry, so an object is parsed once, not on every change of another. */
  readonly #entries = new WeakMap<KubeObject, KubeEntry>();
  #listed = false;
  #dirty = false;
  #offering: Promise<void> | undefined;
  #stopped = false;

  constructor(options: KubeResourcesProviderOptions) {
    this.#options = options;
    this.source = `kubernetes ${options.api.server}`;
    const scope = options.namespace ? `/namespaces/${options.namespace}` : "";
    for (const kind of kinds) {
      this.#reflectors.set(
        kind,
        new Reflector<KubeObject>({
          api: options.api,
          path: `/apis/${group}/${version}${scope}/${pluralOf(kind)}`,
          what: `${pluralOf(kind)}.${group}`,
          project: (object) => object,
          onChange: () => this.#changed(),
          timers: options.timers,
          logger: options.logger,
        }),
      );
    }
  }

  async start(): Promise<void> {
    await Promise.all(
      [...this.#reflectors.values()].map((reflector) =>
        reflector.start().catch((err: Error) => {
          const missing = err.cause instanceof KubeApiError && err.cause.status === 404;
          throw missing ? new Error(`${err.message} (are the CRDs of deploy/crds installed?)`) : err;
        }),
      ),
    );
    // Before every kind is listed, a set would lack the kinds not listed yet: their resources
    // would be deleted from the store, then stored again.
    this.#listed = true;
    await this.#offer();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all([...this.#reflectors.values()].map((reflector) => reflector.stop()));
    await this.#publisher.settled();
  }

  subscribe(subscriber: ConfigSubscriber<KubeResourceSet>): () => void {
    return this.#publisher.subscribe(subscriber);
  }

  current(): ConfigSnapshot<KubeResourceSet> | undefined {
    return this.#publisher.current();
  }

  /** The object as the copy holds it now (it may be newer than the current snapshot's). */
  object(kind: Kind, namespace: string, name: string): KubeObject | undefined {
    return this.#reflectors.get(kind)?.items.get(`${namespace}/${name}`);
  }

  /** How each kind's reflector got its objects (lists, watches, 410s). */
  stats(): Record<string, { lists: number; watches: number; gone: number }> {
    return Object.fromEntries([...this.#reflectors].map(([kind, reflector]) => [kind, { ...reflector.stats }]));
  }

  #changed(): void {
    if (this.#listed) void this.#offer();
  }

  /** Offers the set, one offer at a time; changes meanwhile make one more offer after it. */
  #offer(): Promise<void> {
    this.#dirty = true;
    this.#offering ??= this.#drain().finally(() => {
      this.#offering = undefined;
      // A change that came as the last offer ended.
      if (this.#dirty && !this.#stopped) void this.#offer();
    });
    return this.#offering;
  }

  async #drain(): Promise<void> {
    while (this.#dirty && !this.#stopped) {
      this.#dirty = false;
      try {
        await this.#publisher.offer(this.#snapshot());
      } catch {
        // The subscriber said why; the set is offered again, with whatever changed meanwhile.
        this.#dirty = true;
        await new Promise<void>((resolve) => this.#options.timers.setTimeout(resolve, retryMs));
      }
    }
  }

  #snapshot(): ConfigSnapshot<KubeResourceSet> {
    const set = new Map<string, KubeEntry>();
    const identities: string[] = [];
    for (const [kind, reflector] of this.#reflectors) {
      for (const object of reflector.items.values()) {
        const entry = this.#entryOf(kind, object);
        const key = refKey(entry);
        set.set(key, entry);
        identities.push(`${key} ${entry.uid} ${object.metadata?.resourceVersion ?? ""}`);
      }
    }
    return { version: contentVersion(identities), config: set };
  }

  #entryOf(kind: Kind, object: KubeObject): KubeEntry {
    const known = this.#entries.get(object);
    if (known) return known;
    const metadata = object.metadata ?? {};
    const namespace = metadata.namespace ?? "";
    const name = metadata.name ?? "";
    const parsed = parseObject({ ...object, kind, apiVersion: `${group}/${version}` });
    if ("rejected" in parsed) {
      this.#options.logger.warn(
        { resource: refKey({ kind, namespace, name }), errors: parsed.errors },
        "kubernetes: custom resource refused",
      );
    }
    const entry: KubeEntry = {
      kind,
      namespace,
      name,
      uid: metadata.uid ?? "",
      generation: metadata.generation ?? 0,
      parsed:
        "rejected" in parsed
          ? { invalid: parsed.errors }
          : { resource: parsed.resource, form: JSON.stringify(documentOf(object)) },
    };
    this.#entries.set(object, entry);
    return entry;
  }
}
