import { LRUCache } from "lru-cache";
import { type Logger, type RedisClient, RedisSubscription, type Timers } from "../../lib/index.js";
import { type ApiKeyRecord, apiKeyChangesChannel, findApiKey, hashApiKey } from "./store.js";

export interface ApiKeyDirectoryOptions {
  redis: RedisClient;
  /**
   * The connection that receives revocations; its own, since a subscribed connection sends nothing
   * else. Default `redis.duplicate()`. Closed with the directory.
   */
  subscriber?: RedisClient;
  /** Times the cache and the subscription's back-off. */
  clock: Timers;
  logger: Logger;
  /** How long a found key is answered from memory. Default 60 s. */
  ttlMs?: number;
  /**
   * While revocations are not being received (Redis starting late, the subscription dropped), no
   * answer is kept in memory longer than this, so a revoked key stops working within it. Default 1 s.
   */
  unsubscribedTtlMs?: number;
  /** Bound on one SUBSCRIBE attempt. Default 1,000 ms. */
  subscribeTimeoutMs?: number;
  /** Told each change of the revocation subscription (a metric). */
  onSubscription?: (subscribed: boolean) => void;
  /** How long "no such key" is answered from memory. Default 5 s. */
  negativeTtlMs?: number;
  /** Keys held in memory at most. Default 100,000. */
  maxEntries?: number;
}

/** A second connection like `redis`; its errors are retried by the subscription, not thrown. */
function quietDuplicate(redis: RedisClient): RedisClient {
  const client = redis.duplicate();
  client.on("error", () => {});
  return client;
}

interface Entry {
  readonly record: ApiKeyRecord | undefined;
  readonly expiresAt: number;
}

/**
 * Looks API keys up in Redis through a short-lived local cache. Revocations announced on the
 * changes channel drop the key from every replica's cache at once. The subscription is retried
 * with back-off until established (Redis may start after ext-auth); while it is not, revocations
 * may be missed, so the cache is emptied and answers are kept only `unsubscribedTtlMs`: the
 * trade-off is more Redis lookups, never a revoked key honoured for long.
 * One directory serves every apiKeyAuth step of the server.
 */
export class ApiKeyDirectory {
  readonly #redis: RedisClient;
  readonly #clock: Timers;
  readonly #ttlMs: number;
  readonly #negativeTtlMs: number;
  readonly #unsubscribedTtlMs: number;
  readonly #cache: LRUCache<string, Entry>;
  readonly #pending = new Map<string, Promise<ApiKeyRecord | undefined>>();
  readonly #subscription: RedisSubscription;
  /** Counts announced changes, so a lookup that raced a revocation is not cached. */
  #changes = 0;

  constructor(options: ApiKeyDirectoryOptions) {
    this.#redis = options.redis;
    this.#clock = options.clock;
    this.#ttlMs = options.ttlMs ?? 60_000;
    this.#negativeTtlMs = options.negativeTtlMs ?? 5_000;
    this.#cache = new LRUCache({ max: options.maxEntries ?? 100_000 });
    this.#unsubscribedTtlMs = options.unsubscribedTtlMs ?? 1_000;
    this.#subscription = new RedisSubscription({
      client: options.subscriber ?? quietDuplicate(options.redis),
      channel: apiKeyChangesChannel,
      timers: options.clock,
      logger: options.logger,
      ...(options.subscribeTimeoutMs === undefined ? {} : { subscribeTimeoutMs: options.subscribeTimeoutMs }),
      onMessage: (keyHash) => {
        this.#changes++;
        this.#cache.delete(keyHash);
      },
      // Either way, what the cache holds may predate a revocation that was not heard: drop it all.
      onState: (subscribed) => {
        this.#changes++;
        this.#cache.clear();
        options.onSubscription?.(subscribed);
      },
    });
  }

  /** Whether revocations are being received now. */
  get revocationsSubscribed(): boolean {
    return this.#subscription.subscribed;
  }

  /** Resolves once revocations are being received (tests). */
  subscribed(): Promise<void> {
    return this.#subscription.whenSubscribed();
  }

  /**
   * The record of a presented key, or undefined when there is none. Answers synchronously from
   * the cache; otherwise asks Redis (and rejects if Redis fails). Concurrent asks for the same
   * key share one Redis call.
   */
  find(key: string): ApiKeyRecord | undefined | Promise<ApiKeyRecord | undefined> {
    const keyHash = hashApiKey(key);
    const entry = this.#cache.get(keyHash);
    if (entry && entry.expiresAt > this.#clock.now()) return entry.record;
    let pending = this.#pending.get(keyHash);
    if (!pending) {
      const changes = this.#changes;
      pending = findApiKey(this.#redis, keyHash).then(
        (record) => {
          this.#pending.delete(keyHash);
          if (changes === this.#changes) {
            const full = record ? this.#ttlMs : this.#negativeTtlMs;
            const ttl = this.#subscription.subscribed ? full : Math.min(full, this.#unsubscribedTtlMs);
            this.#cache.set(keyHash, { record, expiresAt: this.#clock.now() + ttl });
          }
          return record;
        },
        (err: unknown) => {
          this.#pending.delete(keyHash);
          throw err;
        },
      );
      this.#pending.set(keyHash, pending);
    }
    return pending;
  }

  async close(): Promise<void> {
    this.#cache.clear();
    this.#subscription.close();
  }
}
