import { createLocalJWKSet, type JSONWebKeySet } from "jose";
import type { Clock, Logger } from "../../../lib/index.js";

export type KeySet = ReturnType<typeof createLocalJWKSet>;

/** A JWKS could not be fetched and no keys are cached: the step cannot decide. */
export class JwksUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JwksUnavailable";
  }
}

/** Checks that a document is a JWKS and turns it into a key set; throws a message naming the problem. */
export function keySetFrom(document: unknown): KeySet {
  const keys = (document as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new Error('not a JWKS (expected an object with a "keys" list)');
  return createLocalJWKSet(document as JSONWebKeySet);
}

/** Where the signing keys come from: fixed (local JWKS) or fetched (remote JWKS). */
export interface KeySource {
  /** The keys to verify with now. Rejects with JwksUnavailable when there are none. */
  current(): KeySet | Promise<KeySet>;
  /** A token named a key we do not have: refetch if allowed now; resolves whether the keys changed. */
  refetch(): Promise<boolean>;
}

export function localKeySource(keys: KeySet): KeySource {
  return { current: () => keys, refetch: async () => false };
}

export interface RemoteJwksOptions {
  url: string;
  refreshIntervalMs: number;
  timeoutMs: number;
  minRefetchIntervalMs: number;
  clock: Clock;
  logger: Logger;
}

/**
 * A remote JWKS: fetched on first use, refreshed in the background once older than the refresh
 * interval, refetched when a token names an unknown `kid` (at most once per minimum interval, so
 * tokens with made-up kids cannot hammer the IdP). A failed fetch keeps the keys already held.
 */
export class RemoteKeySource implements KeySource {
  readonly #options: RemoteJwksOptions;
  #keys: KeySet | undefined;
  #fetchedAt = Number.NEGATIVE_INFINITY;
  #attemptedAt = Number.NEGATIVE_INFINITY;
  #fetching: Promise<boolean> | undefined;

  constructor(options: RemoteJwksOptions) {
    this.#options = options;
  }

  current(): KeySet | Promise<KeySet> {
    const keys = this.#keys;
    if (!keys) {
      return this.#fetch().then(() => {
        if (!this.#keys) throw new JwksUnavailable(`no keys from ${this.#options.url}`);
        return this.#keys;
      });
    }
    const now = this.#options.clock.now();
    const { refreshIntervalMs, minRefetchIntervalMs } = this.#options;
    // Stale keys are refreshed in the background; while the IdP fails, at most once per minimum interval.
    if (now - this.#fetchedAt >= refreshIntervalMs && now - this.#attemptedAt >= minRefetchIntervalMs)
      void this.#fetch();
    return keys;
  }

  async refetch(): Promise<boolean> {
    if (this.#fetching) return this.#fetching;
    if (this.#options.clock.now() - this.#attemptedAt < this.#options.minRefetchIntervalMs) return false;
    return this.#fetch();
  }

  /** One fetch at a time; resolves whether new keys were installed. Never rejects. */
  #fetch(): Promise<boolean> {
    if (this.#fetching) return this.#fetching;
    const { url, timeoutMs, clock, logger } = this.#options;
    this.#attemptedAt = clock.now();
    this.#fetching = (async () => {
      try {
        const response = await fetch(url, {
          signal: AbortSignal.timeout(timeoutMs),
          headers: { accept: "application/json" },
        });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        this.#keys = keySetFrom(await response.json());
        this.#fetchedAt = clock.now();
        return true;
      } catch (err) {
        logger.warn(
          {
            jwks: url,
            error: err instanceof Error ? err.message : String(err),
            keptCachedKeys: this.#keys !== undefined,
          },
          "fetching the JWKS failed",
        );
        return false;
      } finally {
        this.#fetching = undefined;
      }
    })();
    return this.#fetching;
  }
}
