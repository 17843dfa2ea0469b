import { RateLimitAlgorithm } from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import {
  type CounterGroup,
  type CounterStore,
  fixedWindowHits,
  fixedWindowKey,
  type HitOutcome,
  refilledTokens,
  slidingWindowHits,
  slidingWindowKeys,
  tokenBucketHits,
  tokenBucketKey,
} from "./algorithms.js";

interface Entry {
  value: number;
  /** Token buckets remember when they were last refilled. */
  lastMs: number;
  expiresAtMs: number;
}

/** Expired entries are swept once the map has grown by this many since the last sweep. */
const sweepEvery = 10_000;

/**
 * Counters in this process's memory: the embedded default when no Redis is given, and the exact
 * backend for window tests with a ManualClock. Entries expire by the same clock that counts.
 */
export class MemoryCounterStore implements CounterStore {
  readonly #entries = new Map<string, Entry>();
  #sizeAtSweep = 0;

  async apply(groups: readonly CounterGroup[], nowMs: number): Promise<HitOutcome[][]> {
    if (this.#entries.size - this.#sizeAtSweep > sweepEvery) this.#sweep(nowMs);
    return groups.map((group) => this.#applyOne(group, nowMs));
  }

  async close(): Promise<void> {
    this.#entries.clear();
  }

  #get(key: string, nowMs: number): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry && entry.expiresAtMs <= nowMs) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #applyOne(group: CounterGroup, nowMs: number): HitOutcome[] {
    const { limit, windowSeconds, hits } = group;
    const windowMs = windowSeconds * 1000;
    switch (group.algorithm) {
      case RateLimitAlgorithm.SLIDING_WINDOW: {
        const [currentKey, previousKey] = slidingWindowKeys(group, nowMs);
        const current = this.#get(currentKey, nowMs);
        const previous = this.#get(previousKey, nowMs)?.value ?? 0;
        const { outcomes, added } = slidingWindowHits(previous, current?.value ?? 0, hits, limit, windowSeconds, nowMs);
        if (added > 0) {
          const windowEnd = (Math.floor(nowMs / windowMs) + 1) * windowMs;
          this.#entries.set(currentKey, {
            value: (current?.value ?? 0) + added,
            lastMs: nowMs,
            expiresAtMs: windowEnd + windowMs,
          });
        }
        return outcomes;
      }
      case RateLimitAlgorithm.TOKEN_BUCKET: {
        const key = tokenBucketKey(group);
        const entry = this.#get(key, nowMs);
        const before = refilledTokens(entry?.value, entry?.lastMs, nowMs, limit, windowSeconds);
        const { outcomes, tokens } = tokenBucketHits(before, hits, limit, windowSeconds);
        // A bucket left alone for one unit is full again, which is what a missing entry means.
        this.#entries.set(key, {
          value: tokens,
          lastMs: Math.max(nowMs, entry?.lastMs ?? nowMs),
          expiresAtMs: nowMs + windowMs,
        });
        return outcomes;
      }
      default: {
        const key = fixedWindowKey(group, nowMs);
        const entry = this.#get(key, nowMs);
        const before = entry?.value ?? 0;
        const total = hits.reduce((sum, h) => sum + h, 0);
        const windowEnd = (Math.floor(nowMs / windowMs) + 1) * windowMs;
        if (entry) entry.value += total;
        else this.#entries.set(key, { value: total, lastMs: nowMs, expiresAtMs: windowEnd });
        return fixedWindowHits(before, hits, limit, windowSeconds, nowMs);
      }
    }
  }

  #sweep(nowMs: number): void {
    for (const [key, entry] of this.#entries) if (entry.expiresAtMs <= nowMs) this.#entries.delete(key);
    this.#sizeAtSweep = this.#entries.size;
  }
}
