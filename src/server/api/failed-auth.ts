import { isIP } from "node:net";
import type { Clock } from "../../lib/clock.js";

/** One client's budget of failures: a token bucket that refills at the allowed rate. */
interface Bucket {
  tokens: number;
  at: number;
}

/** The 16-bit groups of an IPv6 address (`::` expanded, a dotted IPv4 tail as two groups, no zone). */
function ipv6Groups(address: string): number[] {
  let text = address.split("%")[0] ?? "";
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((group) => Number.parseInt(group, 16)));
  const front = parse(head);
  const back = tail === undefined ? [] : parse(tail);
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
}

/**
 * Whose budget a failure from `address` spends. An IPv6 client is its /64: one host usually holds
 * a whole /64 and may take any address in it, so a budget per address would be no bound at all.
 * An IPv4-mapped address (`::ffff:10.0.0.1`, a dual-stack socket) is the IPv4 address it maps.
 */
export function clientKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const groups = ipv6Groups(address);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi = 0, lo = 0] = groups.slice(6);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(":")}::/64`;
}

/**
 * Limits failed authentications per client (an address; an IPv6 client's /64, see clientKey), so a
 * token cannot be guessed at line rate.
 * Each address has a bucket of `perMinute` failures refilled at `perMinute` a minute; a client
 * whose bucket is empty is refused without its token being compared, until a failure is allowed
 * again. A successful call costs nothing.
 *
 * The table is bounded: addresses whose bucket is full again are forgotten, and past `maxClients`
 * the one that failed least recently is dropped (its budget starts over, which only helps a
 * client that already waited longest).
 */
export class FailedAuthLimiter {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #maxClients: number;
  readonly #clock: Clock;
  /** In order of last failure (a Map keeps insertion order; a failure re-inserts). */
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: { perMinute: number; maxClients?: number; clock: Clock }) {
    this.#burst = options.perMinute;
    this.#perMs = options.perMinute / 60_000;
    this.#maxClients = options.maxClients ?? 10_000;
    this.#clock = options.clock;
  }

  /** Milliseconds until the client at `address` may try again; 0 when it may now. */
  retryAfterMs(address: string): number {
    const tokens = this.#tokens(clientKey(address));
    return tokens >= 1 ? 0 : Math.ceil((1 - tokens) / this.#perMs);
  }

  /** Spends one failure of the budget of the client at `address`. */
  recordFailure(address: string): void {
    const client = clientKey(address);
    const tokens = Math.max(0, this.#tokens(client) - 1);
    this.#buckets.delete(client);
    if (this.#buckets.size >= this.#maxClients) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
    this.#buckets.set(client, { tokens, at: this.#clock.now() });
  }

  /** Clients currently tracked (for tests and metrics). */
  get size(): number {
    return this.#buckets.size;
  }

  #tokens(client: string): number {
    const bucket = this.#buckets.get(client);
    if (!bucket) return this.#burst;
    const tokens = Math.min(this.#burst, bucket.tokens + (this.#clock.now() - bucket.at) * this.#perMs);
    if (tokens >= this.#burst) this.#buckets.delete(client);
    return tokens;
  }
}
