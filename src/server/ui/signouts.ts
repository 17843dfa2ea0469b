// Sessions signed out before they expire. A sealed session is valid on every replica until its
// expiry; signing out records its id here, and every replica checks it on each call. In memory it
// holds for the replica that was told only; in the management Redis, for every replica.
import type { Clock } from "../../lib/clock.js";
import type { RedisClient } from "../../lib/redis.js";

export interface SignOuts {
  /** Records `sessionId` as signed out until `expiresAt` (ms; the session's own expiry). */
  signOut(sessionId: string, expiresAt: number): Promise<void>;
  /** Whether `sessionId` was signed out. */
  signedOut(sessionId: string): Promise<boolean>;
}

/** Sign-outs known to this replica only (one replica, or no shared Redis). */
export class MemorySignOuts implements SignOuts {
  readonly #until = new Map<string, number>();

  constructor(private readonly clock: Clock) {}

  async signOut(sessionId: string, expiresAt: number): Promise<void> {
    const now = this.clock.now();
    // Expired entries go as new ones come: the map holds live sessions' ids only.
    for (const [id, until] of this.#until) if (until <= now) this.#until.delete(id);
    this.#until.set(sessionId, expiresAt);
  }

  async signedOut(sessionId: string): Promise<boolean> {
    const until = this.#until.get(sessionId);
    return until !== undefined && until > this.clock.now();
  }
}

const keyOf = (sessionId: string) => `gantry:ui:signed-out:${sessionId}`;

/** Sign-outs in the management Redis, shared by the replicas; each key expires with its session. */
export class RedisSignOuts implements SignOuts {
  constructor(
    private readonly redis: RedisClient,
    private readonly clock: Clock,
  ) {}

  async signOut(sessionId: string, expiresAt: number): Promise<void> {
    const ttlMs = Math.ceil(expiresAt - this.clock.now());
    if (ttlMs <= 0) return;
    await this.redis.set(keyOf(sessionId), "1", "PX", ttlMs);
  }

  async signedOut(sessionId: string): Promise<boolean> {
    return (await this.redis.exists(keyOf(sessionId))) === 1;
  }
}
