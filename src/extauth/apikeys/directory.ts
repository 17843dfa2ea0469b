import { LRUCache } from "lru-cache";
import type { Clock, Logger, RedisClient } from "../../lib/index.js";
import { type ApiKeyRecord, apiKeyChangesChannel, findApiKey, hashApiKey } from "./store.js";

export interface ApiKeyDirectoryOptions {
  redis: RedisClient;
  clock: Clock;
  logger: Logger;
  /** How long a found key is answered from memory. Default 60 s. */
  ttlMs?: number;
  /** How long "no such key" is answered from memory. Default 5 s. */
  negativeTtlMs?: number;
  /** Keys held in memory at most. Default 100,000. */
  maxEntries?: number;
}

interface Entry {
  readonly record: ApiKeyRecord | undefined;
  readonly expiresAt: number;
}

/**
 * Looks API keys up in Redis through a short-lived local cache. Revocations announced on the
 * changes channel drop the key from every replica's cache at once; the TTL bounds staleness if
 * an announcement is lost, and after a reconnect of the subscription the whole cache is dropped.
 * One directory serves every apiKeyAuth step of the server.
 */
export class ApiKeyDirectory {
  readonly #redis: RedisClient;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #negativeTtlMs: number;
  readonly #cache: LRUCache<string, Entry>;
  readonly #pending = new Map<string, Promise<ApiKeyRecord | undefined>>();
  readonly #subscriber: RedisClient;
  /** Counts announced changes, so a lookup that raced a revocation is not cached. */
  #changes = 0;

  constructor(options: ApiKeyDirectoryOptions) {
    this.#redis = options.redis;
    this.#clock = options.clock;
    this.#ttlMs = options.ttlMs ?? 60_000;
    this.#negativeTtlMs = options.negativeTtlMs ?? 5_000;
    this.#cache = new LRUCache({ max: options.maxEntries ?? 100_000 });
    this.#subscriber = options.redis.duplicate();
    this.#subscriber.on("error", () => {});
    this.#subscriber.on("message", (channel: string, keyHash: string) => {
      if (channel !== apiKeyChangesChannel) return;
      this.#changes++;
      this.#cache.delete(keyHash);
    });
    let subscribedOnce = false;
    this.#subscriber.on("ready", () => {
      if (subscribedOnce) {
        this.#changes++;
        this.#cache.clear();
      }
      subscribedOnce = true;
    });
    this.#subscriber.subscribe(apiKeyChangesChannel).catch((err: unknown) => {
      options.logger.warn({ err }, "subscribing to API key changes failed; cached keys expire by TTL only");
    });
  }

  /** Resolves once revocations are being received (tests and readiness). */
  async subscribed(): Promise<void> {
    await this.#subscriber.subscribe(apiKeyChangesChannel);
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
            const ttl = record ? this.#ttlMs : this.#negativeTtlMs;
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
    this.#subscriber.disconnect();
  }
}
