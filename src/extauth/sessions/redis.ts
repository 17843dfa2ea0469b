import { createHash, randomBytes } from "node:crypto";
import type { RedisClient } from "../../lib/redis.js";
import type { SessionStore } from "./store.js";

/**
 * Sessions in Redis under `<keyPrefix><sha256(id)>` with a TTL. The cookie holds only the random
 * id; the key is its hash, so reading Redis does not hand out usable cookies. Every operation is
 * one single-key command, so Redis Cluster works too. Redis errors reach the caller.
 */
export class RedisSessionStore implements SessionStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keyPrefix: string,
  ) {}

  #key(handle: string): string {
    return this.keyPrefix + createHash("sha256").update(handle).digest("base64url");
  }

  async get(handle: string): Promise<string | undefined> {
    return (await this.redis.get(this.#key(handle))) ?? undefined;
  }

  async set(handle: string | undefined, value: string, ttlMs: number): Promise<string> {
    const id = handle ?? randomBytes(32).toString("base64url");
    await this.redis.set(this.#key(id), value, "PX", Math.max(1, Math.ceil(ttlMs)));
    return id;
  }

  async delete(handle: string): Promise<void> {
    await this.redis.del(this.#key(handle));
  }
}
