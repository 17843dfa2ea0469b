import { LRUCache } from "lru-cache";

/**
 * An LRU cache made on its first `set`. lru-cache allocates its index arrays for `max` entries up front
 * (about 2 ms for 10,000 here), and every auth config has its own caches: 2,000 configs held the event
 * loop for seconds while a config file loaded, for caches most configs never fill.
 */
export class LazyLruCache<K extends {}, V extends {}> {
  readonly #max: number;
  #cache: LRUCache<K, V> | undefined;

  constructor(max: number) {
    this.#max = max;
  }

  get(key: K): V | undefined {
    return this.#cache?.get(key);
  }

  set(key: K, value: V): void {
    this.#cache ??= new LRUCache<K, V>({ max: this.#max });
    this.#cache.set(key, value);
  }

  delete(key: K): void {
    this.#cache?.delete(key);
  }
}
