import type { ConfigSnapshot, ConfigSubscriber } from "./provider.js";

export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * What every provider does with what it read: offers snapshots to its subscribers one at a time,
 * in order, skips a snapshot whose version is the one already taken, and remembers the last one
 * every subscriber took.
 */
export class SnapshotPublisher<T> {
  readonly #subscribers = new Set<ConfigSubscriber<T>>();
  #current: ConfigSnapshot<T> | undefined;
  #offering: Promise<unknown> = Promise.resolve();

  subscribe(subscriber: ConfigSubscriber<T>): () => void {
    this.#subscribers.add(subscriber);
    return () => this.#subscribers.delete(subscriber);
  }

  current(): ConfigSnapshot<T> | undefined {
    return this.#current;
  }

  /**
   * Resolves once every subscriber took the snapshot (at once when its version is the current
   * one, unless `force`: a reload asked for by hand runs even when nothing changed); rejects with
   * the first refusal, and the current snapshot stays.
   */
  offer(snapshot: ConfigSnapshot<T>, force = false): Promise<void> {
    const run = this.#offering.then(async () => {
      if (!force && snapshot.version === this.#current?.version) return;
      for (const subscriber of [...this.#subscribers]) await subscriber.update(snapshot);
      this.#current = snapshot;
    });
    this.#offering = run.catch(() => undefined);
    return run;
  }

  /** Tells every subscriber that the source failed. */
  fail(err: unknown): void {
    const error = asError(err);
    for (const subscriber of [...this.#subscribers]) subscriber.error(error);
  }

  /** Resolves when no offer is in progress. */
  async settled(): Promise<void> {
    await this.#offering;
  }
}
