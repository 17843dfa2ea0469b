import { createHash } from "node:crypto";
import { type Timers, timeoutSignal } from "../../../lib/index.js";
import { LazyLruCache } from "../lazy-cache.js";
import type { TokenCheck } from "./jwt.js";

export interface IntrospectionOptions {
  url: string;
  clientId: string;
  clientSecret: string;
  timeoutMs: number;
  cacheTimeoutMs: number;
  clock: Timers;
}

interface Cached {
  readonly check: TokenCheck;
  readonly expiresAt: number;
}

/** Percent-encodes as application/x-www-form-urlencoded, as RFC 6749 §2.3.1 asks for client credentials. */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

/**
 * OAuth 2.0 token introspection (RFC 7662). Answers are cached by the token's digest, an active
 * one never past the token's `exp`, so a cached answer cannot outlive the token.
 */
export class TokenIntrospector {
  readonly #options: IntrospectionOptions;
  readonly #authorization: string;
  readonly #cache = new LazyLruCache<string, Cached>(10_000);

  constructor(options: IntrospectionOptions) {
    this.#options = options;
    const credentials = `${formEncode(options.clientId)}:${formEncode(options.clientSecret)}`;
    this.#authorization = `Basic ${Buffer.from(credentials).toString("base64")}`;
  }

  /** Synchronous when cached. */
  check(token: string, signal: AbortSignal): TokenCheck | Promise<TokenCheck> {
    const digest = createHash("sha256").update(token).digest("base64");
    const cached = this.#cache.get(digest);
    const now = this.#options.clock.now();
    if (cached && cached.expiresAt > now) return cached.check;
    return this.#introspect(token, signal).then((result) => {
      if (result.kind !== "unavailable") {
        this.#cache.set(digest, { check: result, expiresAt: this.#expiry(result, this.#options.clock.now()) });
      }
      return result;
    });
  }

  #expiry(result: TokenCheck, now: number): number {
    const limit = now + this.#options.cacheTimeoutMs;
    if (result.kind !== "valid") return limit;
    const exp = result.claims["exp"];
    return typeof exp === "number" ? Math.min(limit, exp * 1000) : limit;
  }

  async #introspect(token: string, signal: AbortSignal): Promise<TokenCheck> {
    const { url, timeoutMs, clock } = this.#options;
    let body: unknown;
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: {
          authorization: this.#authorization,
          "content-type": "application/x-www-form-urlencoded",
          accept: "application/json",
        },
        body: new URLSearchParams({ token, token_type_hint: "access_token" }).toString(),
        signal: AbortSignal.any([signal, timeoutSignal(clock, timeoutMs)]),
      });
      if (!response.ok) return { kind: "unavailable", reason: `introspection answered HTTP ${response.status}` };
      body = await response.json();
    } catch (err) {
      return {
        kind: "unavailable",
        reason: `introspection failed: ${err instanceof Error ? err.message : String(err)}`,
      };
    }
    if (typeof body !== "object" || body === null || typeof (body as { active?: unknown }).active !== "boolean") {
      return { kind: "unavailable", reason: 'introspection answer has no boolean "active"' };
    }
    const claims = body as Record<string, unknown>;
    if (!claims["active"]) return { kind: "invalid", reason: "token inactive" };
    const exp = claims["exp"];
    if (typeof exp === "number" && exp * 1000 <= clock.now()) return { kind: "invalid", reason: "token expired" };
    return { kind: "valid", claims };
  }
}
