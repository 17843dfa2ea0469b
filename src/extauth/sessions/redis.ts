import { createHash, randomBytes } from "node:crypto";
import type { RedisClient } from "../../lib/redis.js";
import type { SessionStore } from "./store.js";

const releaseScript = 'if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0';

/**
 * Sessions in Redis under `<keyPrefix><sha256(id)>` with a TTL. The cookie holds only the random
 * id; the key is its hash, so reading Redis does not hand out usable cookies. Every operation is
 * one single-key command, so Redis Cluster works too. Redis errors reach the caller. A refresh
 * claim is a second key, `<key>:claim`, set with NX and a TTL.
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

  async claim(handle: string, ttlMs: number): Promise<(() => Promise<void>) | false> {
    const key = `${this.#key(handle)}:claim`;
    const owner = randomBytes(16).toString("base64url");
    const taken = await this.redis.set(key, owner, "PX", Math.max(1, Math.ceil(ttlMs)), "NX");
    if (taken !== "OK") return false;
    return async () => {
      // Only the owner releases: a claim that outlived its TTL may belong to someone else by now.
      await this.redis.eval(releaseScript, 1, key, owner);
    };
  }
}
