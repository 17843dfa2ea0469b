import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject, randomBytes } from "node:crypto";
import type { Clock } from "../../lib/clock.js";
import type { SessionStore } from "./store.js";

const version = "v1";
const ivBytes = 12;
const tagBytes = 16;

/**
 * Sessions sealed into the cookie itself with AES-256-GCM: `v1.<iv>.<ciphertext>.<tag>`, base64url.
 * The plaintext carries its own expiry, so an old cookie replayed after its TTL is refused. The
 * additional data binds a sealed value to its purpose (session or login) so one cannot stand in
 * for the other. Nothing is kept server-side, so `delete` only relies on the cookie being cleared.
 */
export class EncryptedCookieSessionStore implements SessionStore {
  /** Imported once: a raw key given to each cipher costs a third of an open. */
  readonly #key: KeyObject;

  constructor(
    key: Uint8Array,
    private readonly purpose: string,
    private readonly clock: Clock,
  ) {
    if (key.byteLength !== 32) throw new RangeError(`an AES-256 key is 32 bytes, got ${key.byteLength}`);
    this.#key = createSecretKey(key);
  }

  async get(handle: string): Promise<string | undefined> {
    const parts = handle.split(".");
    if (parts.length !== 4 || parts[0] !== version) return undefined;
    const [iv, sealed, tag] = parts.slice(1).map((part) => Buffer.from(part, "base64url"));
    if (!iv || !sealed || !tag || iv.byteLength !== ivBytes || tag.byteLength !== tagBytes) return undefined;
    let plaintext: string;
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.#key, iv);
      decipher.setAAD(Buffer.from(this.purpose));
      decipher.setAuthTag(tag);
      plaintext = Buffer.concat([decipher.update(sealed), decipher.final()]).toString("utf8");
    } catch {
      return undefined;
    }
    const dot = plaintext.indexOf(".");
    const expiresAt = Number(plaintext.slice(0, dot));
    if (dot < 0 || !Number.isFinite(expiresAt) || this.clock.now() >= expiresAt) return undefined;
    return plaintext.slice(dot + 1);
  }

  async set(_handle: string | undefined, value: string, ttlMs: number): Promise<string> {
    const iv = randomBytes(ivBytes);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv);
    cipher.setAAD(Buffer.from(this.purpose));
    const expiresAt = Math.ceil(this.clock.now() + ttlMs);
    const sealed = Buffer.concat([cipher.update(`${expiresAt}.${value}`, "utf8"), cipher.final()]);
    return [version, iv, sealed, cipher.getAuthTag()]
      .map((part) => (typeof part === "string" ? part : part.toString("base64url")))
      .join(".");
  }

  async delete(): Promise<void> {}

  /** Every request carries its own copy of the session: there is nothing shared to claim. */
  async claim(): Promise<() => Promise<void>> {
    return async () => {};
  }
}
