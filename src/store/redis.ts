import { systemClock, type Timers } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import { createRedis, type RedisClient, redactUrl } from "../lib/redis.js";
import { parseRefKey, refKey } from "../resources/index.js";
import {
  canonicalJson,
  checkDocuments,
  compareKeys,
  type ResourceDocument,
  type ResourceKey,
  type ResourceStore,
  type StoreChange,
  type StoredResource,
  StoreError,
  type StoreSnapshot,
  type WriteResult,
} from "./types.js";

/*
 * Layout (every key carries one hash tag, so a Redis Cluster keeps them in one slot and the Lua
 * scripts stay atomic):
 *   <prefix>docs       hash  kind/namespace/name -> canonical JSON document
 *   <prefix>revs       hash  kind/namespace/name -> revision of its last change
 *   <prefix>revision   string, the store-wide revision
 * Each write publishes {revision, upserted, deleted} on <prefix>events, which is how every replica
 * (the writer included) learns of it.
 */

const applyScript = `
local changed = {}
for i = 2, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) ~= ARGV[i + 1] then changed[#changed + 1] = i end
end
if #changed == 0 then return {tonumber(redis.call('GET', KEYS[3]) or '0'), {}} end
local revision = redis.call('INCR', KEYS[3])
local fields = {}
for _, i in ipairs(changed) do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('HSET', KEYS[2], ARGV[i], revision)
  fields[#fields + 1] = ARGV[i]
end
redis.call('PUBLISH', ARGV[1], cjson.encode({revision = revision, upserted = fields, deleted = {}}))
return {revision, fields}
`;

const deleteScript = `
local deleted = {}
for i = 2, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then deleted[#deleted + 1] = ARGV[i] end
end
if #deleted == 0 then return {tonumber(redis.call('GET', KEYS[3]) or '0'), {}} end
local revision = redis.call('INCR', KEYS[3])
for _, field in ipairs(deleted) do
  redis.call('HDEL', KEYS[1], field)
  redis.call('HDEL', KEYS[2], field)
end
redis.call('PUBLISH', ARGV[1], cjson.encode({revision = revision, upserted = {}, deleted = deleted}))
return {revision, deleted}
`;

const snapshotScript = `
return {tonumber(redis.call('GET', KEYS[3]) or '0'), redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
`;

type ScriptResult = [number, string[]];

export interface RedisStoreOptions {
  url: string;
  /** Key prefix; must contain one `{hash tag}` so that all keys share a Cluster slot. Default `{gantry}:`. */
  prefix?: string;
  commandTimeoutMs?: number;
  logger?: Logger;
  /** Times `ready`'s wait. Default the system clock. */
  clock?: Timers;
}

/** How often `ready` looks again. */
const readyPollMs = 20;

/** The management store in Redis (single node, Sentinel or Cluster), shared by server replicas. */
export class RedisStore implements ResourceStore {
  readonly #client: RedisClient;
  readonly #subscriber: RedisClient;
  readonly #keys: [string, string, string];
  readonly #channel: string;
  readonly #listeners = new Set<(change: StoreChange) => void>();
  readonly #where: string;
  readonly #clock: Timers;
  #subscribedOnce = false;

  constructor(options: RedisStoreOptions) {
    const prefix = options.prefix ?? "{gantry}:";
    if (!/\{[^}]+\}/.test(prefix)) throw new StoreError(`store prefix "${prefix}" needs a {hash tag}`);
    this.#where = redactUrl(options.url);
    this.#clock = options.clock ?? systemClock;
    const connection = {
      url: options.url,
      commandTimeoutMs: options.commandTimeoutMs ?? 2_000,
      ...(options.logger ? { logger: options.logger } : {}),
    };
    this.#client = createRedis({ ...connection, connectionName: "gantry-store" });
    // Pub/sub must not time out while idle: no command timeout on the subscriber.
    this.#subscriber = createRedis({ ...connection, commandTimeoutMs: 0, connectionName: "gantry-store-watch" });
    this.#keys = [`${prefix}docs`, `${prefix}revs`, `${prefix}revision`];
    this.#channel = `${prefix}events`;
    this.#subscriber.on("message", (channel: string, message: string) => {
      if (channel === this.#channel) this.#onEvent(message);
    });
    this.#subscriber.on("ready", () => {
      this.#subscriber.subscribe(this.#channel).then(
        () => {
          // After a reconnect, events published meanwhile are lost: tell watchers to re-read.
          if (this.#subscribedOnce) void this.#resync();
          this.#subscribedOnce = true;
        },
        (err: unknown) => options.logger?.warn({ err }, "store: subscribe failed"),
      );
    });
  }

  async apply(documents: readonly ResourceDocument[]): Promise<WriteResult> {
    const keys = checkDocuments(documents);
    if (keys.length === 0) return { revision: await this.#revision(), changed: [] };
    const byField = new Map(keys.map((key) => [refKey(key), key]));
    const args = documents.flatMap((document, i) => [refKey(keys[i] as ResourceKey), canonicalJson(document)]);
    const [revision, fields] = await this.#run<ScriptResult>("apply", () =>
      this.#client.eval(applyScript, 3, ...this.#keys, this.#channel, ...args),
    );
    return { revision: Number(revision), changed: fields.map((field) => byField.get(field) ?? parseRefKey(field)) };
  }

  async delete(keys: readonly ResourceKey[]): Promise<WriteResult> {
    if (keys.length === 0) return { revision: await this.#revision(), changed: [] };
    const byField = new Map(keys.map((key) => [refKey(key), key]));
    const [revision, fields] = await this.#run<ScriptResult>("delete", () =>
      this.#client.eval(deleteScript, 3, ...this.#keys, this.#channel, ...byField.keys()),
    );
    return { revision: Number(revision), changed: fields.map((field) => byField.get(field) ?? parseRefKey(field)) };
  }

  async get(key: ResourceKey): Promise<StoredResource | undefined> {
    const field = refKey(key);
    // One MULTI, so the document and its revision are read at the same point in time.
    const replies = await this.#run<Array<[Error | null, unknown]> | null>("get", () =>
      this.#client.multi().hget(this.#keys[0], field).hget(this.#keys[1], field).exec(),
    );
    const [document, revision] = (replies ?? []).map(([err, value]) => {
      if (err) throw new StoreError(`store get failed: management Redis at ${this.#where}: ${err.message}`);
      return value as string | null;
    });
    if (document === null || document === undefined) return undefined;
    return { key, document: JSON.parse(document) as ResourceDocument, revision: Number(revision ?? 0) };
  }

  async list(filter: { kind?: string; namespace?: string } = {}): Promise<StoredResource[]> {
    const { resources } = await this.snapshot();
    return resources.filter(
      (r) =>
        (filter.kind === undefined || r.key.kind === filter.kind) &&
        (filter.namespace === undefined || r.key.namespace === filter.namespace),
    );
  }

  async snapshot(): Promise<StoreSnapshot> {
    const [revision, docs, revs] = await this.#run<[number, string[], string[]]>("snapshot", () =>
      this.#client.eval(snapshotScript, 3, ...this.#keys),
    );
    const revisions = new Map<string, number>();
    for (let i = 0; i < revs.length; i += 2) revisions.set(revs[i] as string, Number(revs[i + 1]));
    const resources: StoredResource[] = [];
    for (let i = 0; i < docs.length; i += 2) {
      const field = docs[i] as string;
      resources.push({
        key: this.#keyOf(field),
        document: JSON.parse(docs[i + 1] as string) as ResourceDocument,
        revision: revisions.get(field) ?? 0,
      });
    }
    resources.sort((a, b) => compareKeys(a.key, b.key));
    return { revision: Number(revision), resources };
  }

  watch(listener: (change: StoreChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    this.#subscriber.disconnect();
    this.#client.disconnect();
  }

  /** Resolves once the store can serve (connected and subscribed), or rejects after `timeoutMs`. */
  async ready(timeoutMs = 5_000): Promise<void> {
    const deadline = this.#clock.now() + timeoutMs;
    while (!(this.#subscribedOnce && this.#client.status === "ready")) {
      if (this.#clock.now() > deadline)
        throw new StoreError(`management Redis at ${this.#where} not ready after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, readyPollMs));
    }
  }

  async #revision(): Promise<number> {
    return Number((await this.#run("read revision", () => this.#client.get(this.#keys[2]))) ?? 0);
  }

  async #run<T>(what: string, command: () => Promise<unknown>): Promise<T> {
    try {
      return (await command()) as T;
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new StoreError(`store ${what} failed: management Redis at ${this.#where}: ${reason}`, { cause: err });
    }
  }

  #onEvent(message: string): void {
    let event: {
      revision: number;
      upserted: string[] | Record<string, never>;
      deleted: string[] | Record<string, never>;
    };
    try {
      event = JSON.parse(message) as typeof event;
    } catch {
      return;
    }
    // cjson encodes an empty Lua table as {}.
    const list = (v: string[] | Record<string, never>) => (Array.isArray(v) ? v.map(parseRefKey) : []);
    let change: StoreChange;
    try {
      change = {
        kind: "changed",
        revision: event.revision,
        upserted: list(event.upserted),
        deleted: list(event.deleted),
      };
    } catch {
      // Not an event this store published (a key it cannot read): watchers re-read everything instead.
      void this.#resync();
      return;
    }
    this.#notify(change);
  }

  /** A stored field's key; a field that is not `Kind/namespace/name` was not written by a Gantry store. */
  #keyOf(field: string): ResourceKey {
    try {
      return parseRefKey(field);
    } catch (err) {
      throw new StoreError(`management Redis at ${this.#where}: ${(err as Error).message} in ${this.#keys[0]}`);
    }
  }

  async #resync(): Promise<void> {
    try {
      this.#notify({ kind: "resync", revision: await this.#revision() });
    } catch {
      // Redis went away again; the next reconnect resyncs.
    }
  }

  #notify(change: StoreChange): void {
    for (const listener of this.#listeners) listener(change);
  }
}
