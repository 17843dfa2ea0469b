import { Client } from "ldapts";
import type { Timers } from "../../../lib/clock.js";

export interface PoolOptions {
  url: string;
  maxSize: number;
  initialSize: number;
  /** Bound on connecting and on each operation of a connection. */
  timeoutMs: number;
  /** Runs the wait for a free connection (the LDAP client times its own operations). */
  clock: Timers;
}

/** Thrown when no connection frees up in time, or the pool is closed. */
export class PoolExhaustedError extends Error {}

/**
 * A bounded pool of LDAP connections. A connection is handed to one check at a time (a bind
 * changes its identity); one that failed is thrown away, so the next check gets a fresh one.
 */
export class ConnectionPool {
  readonly #options: PoolOptions;
  readonly #idle: Client[] = [];
  readonly #waiters: Array<(client: Client | undefined) => void> = [];
  #open = 0;
  #closed = false;

  constructor(options: PoolOptions) {
    this.#options = options;
    for (let i = 0; i < Math.min(options.initialSize, options.maxSize); i++) this.#idle.push(this.#newClient());
  }

  /** Connections open or handed out now. */
  get size(): number {
    return this.#open;
  }

  /** Waits at most `timeoutMs` for a connection. */
  acquire(): Promise<Client> {
    if (this.#closed) return Promise.reject(new PoolExhaustedError("the LDAP pool is closed"));
    const idle = this.#idle.pop();
    if (idle) return Promise.resolve(idle);
    if (this.#open < this.#options.maxSize) return Promise.resolve(this.#newClient());
    return new Promise<Client>((resolve, reject) => {
      const timer = this.#options.clock.setTimeout(() => give(undefined), this.#options.timeoutMs);
      const give = (client: Client | undefined) => {
        timer.cancel();
        const at = this.#waiters.indexOf(give);
        if (at >= 0) this.#waiters.splice(at, 1);
        if (client) resolve(client);
        else reject(new PoolExhaustedError(`no LDAP connection free within ${this.#options.timeoutMs} ms`));
      };
      this.#waiters.push(give);
    });
  }

  /** Returns a connection; a broken one is closed and its place freed. */
  release(client: Client, healthy: boolean): void {
    if (!healthy || this.#closed) {
      this.#discard(client);
      const waiter = this.#waiters.shift();
      if (waiter && !this.#closed) waiter(this.#newClient());
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) waiter(client);
    else this.#idle.push(client);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
    await Promise.all(this.#idle.splice(0).map((client) => this.#discard(client)));
  }

  #newClient(): Client {
    this.#open++;
    return new Client({
      url: this.#options.url,
      timeout: this.#options.timeoutMs,
      connectTimeout: this.#options.timeoutMs,
    });
  }

  async #discard(client: Client): Promise<void> {
    this.#open--;
    try {
      await client.unbind();
    } catch {
      // already gone
    }
  }
}
