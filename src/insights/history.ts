// Where resolved insights and silences are kept: beside the resources, in memory or in the
// management Redis (so every replica sees the same silences and history). History is bounded by
// count and by age.
import type { Clock } from "../lib/clock.js";
import type { RedisClient } from "../lib/redis.js";
import { type Insight, type Target, targetKey } from "./types.js";

/** Silences a code everywhere, or only for one target (`Kind/namespace/name` of any of its targets). */
export interface Silence {
  readonly code: string;
  readonly target?: Target;
  readonly createdAt: number;
  readonly reason: string;
}

export interface Retention {
  /** At most this many resolved insights. Default 1,000. */
  readonly maxEntries: number;
  /** Resolved longer ago than this are dropped. Default 7 days. */
  readonly maxAgeMs: number;
}

export const defaultRetention: Retention = { maxEntries: 1_000, maxAgeMs: 7 * 86_400_000 };

export interface InsightHistory {
  /** Keeps a resolved insight (resolvedAt set). */
  append(resolved: Insight): Promise<void>;
  /** Newest first, within retention. */
  list(): Promise<Insight[]>;
  silences(): Promise<Silence[]>;
  addSilence(silence: Silence): Promise<void>;
  /** Whether one was there. */
  removeSilence(code: string, target: Target | undefined): Promise<boolean>;
}

export function silenceKey(code: string, target: Target | undefined): string {
  return target ? `${code} ${targetKey(target)}` : code;
}

function withinAge(list: Insight[], clock: Clock, retention: Retention): Insight[] {
  const oldest = clock.now() - retention.maxAgeMs;
  return list.filter((i) => (i.resolvedAt ?? i.lastSeen) >= oldest);
}

export class MemoryInsightHistory implements InsightHistory {
  #history: Insight[] = [];
  readonly #silences = new Map<string, Silence>();

  constructor(
    private readonly clock: Clock,
    private readonly retention: Retention = defaultRetention,
  ) {}

  async append(resolved: Insight): Promise<void> {
    this.#history.unshift(resolved);
    this.#history = withinAge(this.#history.slice(0, this.retention.maxEntries), this.clock, this.retention);
  }

  async list(): Promise<Insight[]> {
    return withinAge(this.#history, this.clock, this.retention);
  }

  async silences(): Promise<Silence[]> {
    return [...this.#silences.values()];
  }

  async addSilence(silence: Silence): Promise<void> {
    this.#silences.set(silenceKey(silence.code, silence.target), silence);
  }

  async removeSilence(code: string, target: Target | undefined): Promise<boolean> {
    return this.#silences.delete(silenceKey(code, target));
  }
}

/**
 * In the management Redis: `<prefix>insights:history`, a list of JSON insights newest first,
 * trimmed to maxEntries on each append (age is applied on read); `<prefix>insights:silences`, a
 * hash from silence key to JSON. The prefix holds the store's hash tag, so Cluster keeps them in
 * one slot with the resources.
 */
export class RedisInsightHistory implements InsightHistory {
  readonly #historyKey: string;
  readonly #silencesKey: string;

  constructor(
    private readonly client: RedisClient,
    private readonly clock: Clock,
    private readonly retention: Retention = defaultRetention,
    prefix = "{gantry}:",
  ) {
    this.#historyKey = `${prefix}insights:history`;
    this.#silencesKey = `${prefix}insights:silences`;
  }

  async append(resolved: Insight): Promise<void> {
    await this.client
      .multi()
      .lpush(this.#historyKey, JSON.stringify(resolved))
      .ltrim(this.#historyKey, 0, this.retention.maxEntries - 1)
      .exec();
  }

  async list(): Promise<Insight[]> {
    const items = await this.client.lrange(this.#historyKey, 0, this.retention.maxEntries - 1);
    return withinAge(
      items.map((text) => JSON.parse(text) as Insight),
      this.clock,
      this.retention,
    );
  }

  async silences(): Promise<Silence[]> {
    const all = await this.client.hvals(this.#silencesKey);
    return all.map((text) => JSON.parse(text) as Silence);
  }

  async addSilence(silence: Silence): Promise<void> {
    await this.client.hset(this.#silencesKey, silenceKey(silence.code, silence.target), JSON.stringify(silence));
  }

  async removeSilence(code: string, target: Target | undefined): Promise<boolean> {
    return (await this.client.hdel(this.#silencesKey, silenceKey(code, target))) > 0;
  }
}
