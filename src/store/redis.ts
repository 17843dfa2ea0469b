import { randomUUID } from "node:crypto";
import { systemClock, type Timers } from "../lib/clock.js";
import { withDeadline } from "../lib/deadline.js";
import type { Logger } from "../lib/logger.js";
import { createRedis, type RedisClient, redactUrl } from "../lib/redis.js";
import { pingRedis } from "../lib/redis-probe.js";
import { RedisSubscription } from "../lib/redis-subscription.js";
import { parseRefKey, refKey } from "../resources/index.js";
import {
  applyScript,
  deleteScript,
  parseOutcome,
  RedisClockEstimate,
  resolveScript,
  type WriteOutcome,
  writeRecordTtlMs,
} from "./redis-writes.js";
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
 *   <prefix>write:<id> string, the outcome of one write, kept ten minutes (see redis-writes.ts)
 * Each write publishes {revision, upserted, deleted} on <prefix>events, which is how every replica
 * (the writer included) learns of it.
 */

const snapshotScript = `
return {tonumber(redis.call('GET', KEYS[3]) or '0'), redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
`;

export interface RedisStoreOptions {
  url: string;
  /** Key prefix; must contain one `{hash tag}` so that all keys share a Cluster slot. Default `{gantry}:`. */
  prefix?: string;
  /**
   * Deadline of each Redis call. A write whose reply does not come within it is resolved by reading
   * its outcome back, for up to about as long again; an apply or delete therefore answers within
   * about twice this, truthfully. Default 2,000 ms.
   */
  commandTimeoutMs?: number;
  logger?: Logger;
  /** Times `ready`'s wait. Default the system clock. */
  clock?: Timers;
}

/** How often `ready` looks again. */
const readyPollMs = 20;
/** Pause between attempts to resolve a write whose reply did not come. */
const resolvePollMs = 50;

/** The management store in Redis (single node, Sentinel or Cluster), shared by server replicas. */
export class RedisStore implements ResourceStore {
  readonly #client: RedisClient;
  readonly #subscription: RedisSubscription;
  readonly #keys: [string, string, string];
  readonly #channel: string;
  readonly #listeners = new Set<(change: StoreChange) => void>();
  readonly #where: string;
  readonly #clock: Timers;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  /** Learned from replies stamped with Redis' time; fences are set on Redis' clock. */
  #redisClock: RedisClockEstimate | undefined;
  #subscribedOnce = false;

  constructor(options: RedisStoreOptions) {
    const prefix = options.prefix ?? "{gantry}:";
    if (!/\{[^}]+\}/.test(prefix)) throw new StoreError(`store prefix "${prefix}" needs a {hash tag}`);
    this.#where = redactUrl(options.url);
    this.#clock = options.clock ?? systemClock;
    this.#prefix = prefix;
    this.#timeoutMs = options.commandTimeoutMs ?? 2_000;
    const connection = {
      url: options.url,
      commandTimeoutMs: this.#timeoutMs,
      ...(options.logger ? { logger: options.logger } : {}),
    };
    this.#client = createRedis({ ...connection, connectionName: "gantry-store" });
    this.#keys = [`${prefix}docs`, `${prefix}revs`, `${prefix}revision`];
    this.#channel = `${prefix}events`;
    // Retried with back-off until established, after a failed SUBSCRIBE as after a reconnect.
    this.#subscription = new RedisSubscription({
      client: createRedis({ ...connection, connectionName: "gantry-store-watch" }),
      channel: this.#channel,
      timers: this.#clock,
      subscribeTimeoutMs: this.#timeoutMs,
      ...(options.logger ? { logger: options.logger } : {}),
      onMessage: (message) => this.#onEvent(message),
      onState: (subscribed) => {
        // Events published while not subscribed are lost: once subscribed again, watchers re-read.
        if (subscribed && this.#subscribedOnce) void this.#resync();
        if (subscribed) this.#subscribedOnce = true;
      },
    });
  }

  async apply(documents: readonly ResourceDocument[]): Promise<WriteResult> {
    const keys = checkDocuments(documents);
    if (keys.length === 0) return { revision: await this.#revision(), changed: [] };
    const byField = new Map(keys.map((key) => [refKey(key), key]));
    const args = documents.flatMap((document, i) => [refKey(keys[i] as ResourceKey), canonicalJson(document)]);
    const { revision, fields } = await this.#write("apply", applyScript, args);
    return { revision, changed: fields.map((field) => byField.get(field) ?? parseRefKey(field)) };
  }

  async delete(keys: readonly ResourceKey[]): Promise<WriteResult> {
    if (keys.length === 0) return { revision: await this.#revision(), changed: [] };
    const byField = new Map(keys.map((key) => [refKey(key), key]));
    const { revision, fields } = await this.#write("delete", deleteScript, [...byField.keys()]);
    return { revision, changed: fields.map((field) => byField.get(field) ?? parseRefKey(field)) };
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
    this.#subscription.close();
    this.#client.disconnect();
  }

  /** Resolves once the store can serve (connected and subscribed), or rejects after `timeoutMs`. */
  async ready(timeoutMs = 5_000): Promise<void> {
    const deadline = this.#clock.now() + timeoutMs;
    while (!(this.#subscription.subscribed && this.#client.status === "ready")) {
      if (this.#clock.now() > deadline)
        throw new StoreError(`management Redis at ${this.#where} not ready after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, readyPollMs));
    }
    await this.#learnRedisClock("ready");
  }

  /** Rejects (StoreError) unless Redis answers PING within the command deadline: for `/readyz`. */
  async ping(): Promise<void> {
    await this.#run("ping", () => pingRedis(this.#client, this.#timeoutMs));
  }

  /**
   * Runs a write script so that its answer is the truth: the change was made (and announced), or
   * it was not and never will be. See redis-writes.ts.
   */
  async #write(what: string, script: string, args: string[]): Promise<{ revision: number; fields: string[] }> {
    const estimate = this.#redisClock ?? (await this.#learnRedisClock(what));
    const record = `${this.#prefix}write:${randomUUID()}`;
    const sentAt = Date.now();
    const fence = estimate.fence(sentAt, this.#timeoutMs);
    let outcome: WriteOutcome;
    try {
      const [text, redisNow] = (await this.#client.eval(
        script,
        4,
        ...this.#keys,
        record,
        this.#channel,
        fence,
        writeRecordTtlMs,
        ...args,
      )) as [string, number];
      this.#redisClock = new RedisClockEstimate(sentAt, Date.now(), Number(redisNow));
      outcome = parseOutcome(text);
    } catch (err) {
      // Redis answered with an error: the script did not run (or stopped before writing).
      if (err instanceof Error && err.name === "ReplyError") throw this.#failure(what, err);
      outcome = await this.#resolve(
        what,
        record,
        Math.max(estimate.surelyPast(fence), sentAt + 2 * this.#timeoutMs),
        err,
      );
    }
    if (outcome.kind === "refused") {
      throw new StoreError(
        `store ${what} failed: management Redis at ${this.#where} took longer than ${this.#timeoutMs} ms; nothing was changed`,
      );
    }
    return outcome;
  }

  /**
   * The outcome of a write whose reply did not come, read back from Redis (which also makes a
   * write that has not run yet refuse to). Tries until `giveUpAt`, by when the write's fence has
   * surely passed on Redis' clock, so that a write still on its way refuses when it arrives.
   */
  async #resolve(what: string, record: string, giveUpAt: number, cause: unknown): Promise<WriteOutcome> {
    for (;;) {
      const left = giveUpAt - Date.now();
      if (left <= 0) break;
      try {
        const text = await withDeadline(
          this.#client.eval(resolveScript, 1, record, writeRecordTtlMs) as Promise<string>,
          Math.min(this.#timeoutMs, left),
          "resolve write",
        );
        return parseOutcome(text);
      } catch {
        const pause = Math.min(resolvePollMs, giveUpAt - Date.now());
        if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
      }
    }
    const reason = this.#reason(cause);
    throw new StoreError(
      `store ${what} failed: management Redis at ${this.#where} did not answer (${reason}); nothing was changed: ` +
        "Redis refuses the write if it arrives later",
      { cause },
    );
  }

  /**
   * Learns Redis' clock from one TIME; a failure here means nothing was sent. Asked by a script on
   * the revision key, so that in a Cluster it is the clock of the node that runs the writes.
   */
  async #learnRedisClock(what: string): Promise<RedisClockEstimate> {
    const sentAt = Date.now();
    const [seconds, micros] = await this.#run<[string, string]>(what, () =>
      this.#client.eval("return redis.call('TIME')", 1, this.#keys[2]),
    );
    const redisNow = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    this.#redisClock = new RedisClockEstimate(sentAt, Date.now(), redisNow);
    return this.#redisClock;
  }

  #failure(what: string, err: Error): StoreError {
    return new StoreError(
      `store ${what} failed: management Redis at ${this.#where}: ${err.message}; nothing was changed`,
      {
        cause: err,
      },
    );
  }

  async #revision(): Promise<number> {
    return Number((await this.#run("read revision", () => this.#client.get(this.#keys[2]))) ?? 0);
  }

  async #run<T>(what: string, command: () => Promise<unknown>): Promise<T> {
    try {
      return (await command()) as T;
    } catch (err) {
      throw new StoreError(`store ${what} failed: management Redis at ${this.#where}: ${this.#reason(err)}`, {
        cause: err,
      });
    }
  }

  /** Why a call failed, with ioredis' "Command timed out" spelled with its deadline. */
  #reason(err: unknown): string {
    const message = err instanceof Error ? err.message : String(err);
    return message === "Command timed out" ? `no answer within ${this.#timeoutMs} ms` : message;
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
