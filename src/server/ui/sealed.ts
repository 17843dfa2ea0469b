// The dashboard's sealed values: the state of a login in progress (a cookie) and the session a
// login ends with (the page's bearer token). AES-256-GCM under keys every server replica shares
// (`--ui-session-key-file`), so any replica opens what another sealed: nothing is kept in memory.
// Rotation: the first key seals, every key opens; add the new key second, roll it out, move it
// first, then drop the old one once sessions sealed with it have expired.
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject, randomBytes } from "node:crypto";

const prefix = "gs1";
const ivBytes = 12;
const tagBytes = 16;
const keyBytes = 32;
/** Keys in a key file, at most: the current one and those being rotated in or out. */
const maxKeys = 4;

/** What a sealed value is for: one cannot stand in for the other (it is the cipher's additional data). */
export type SealPurpose = "ui-login" | "ui-session";

export class SealingKeys {
  readonly #keys: KeyObject[];

  /** `keys`: 32 bytes each; the first seals. */
  constructor(keys: readonly Uint8Array[]) {
    if (keys.length === 0) throw new RangeError("at least one key is needed");
    for (const key of keys) {
      if (key.byteLength !== keyBytes)
        throw new RangeError(`an AES-256 key is ${keyBytes} bytes, got ${key.byteLength}`);
    }
    this.#keys = keys.map((key) => createSecretKey(key));
  }

  /** One random key: a single replica's own (its sessions end when it restarts). */
  static random(): SealingKeys {
    return new SealingKeys([randomBytes(keyBytes)]);
  }

  /** `gs1.<iv>.<ciphertext and tag>`, base64url: a value the page or the browser carries back. */
  seal(purpose: SealPurpose, value: object): string {
    const iv = randomBytes(ivBytes);
    const cipher = createCipheriv("aes-256-gcm", this.#keys[0] as KeyObject, iv);
    cipher.setAAD(Buffer.from(purpose));
    const sealed = Buffer.concat([cipher.update(JSON.stringify(value), "utf8"), cipher.final(), cipher.getAuthTag()]);
    return `${prefix}.${iv.toString("base64url")}.${sealed.toString("base64url")}`;
  }

  /** The value sealed for `purpose` under one of the keys; `undefined` when it is not one (forged, other purpose, unknown key). */
  open(purpose: SealPurpose, text: string): unknown {
    const parts = text.split(".");
    if (parts.length !== 3 || parts[0] !== prefix) return undefined;
    const iv = Buffer.from(parts[1] as string, "base64url");
    const sealed = Buffer.from(parts[2] as string, "base64url");
    if (iv.byteLength !== ivBytes || sealed.byteLength <= tagBytes) return undefined;
    for (const key of this.#keys) {
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, iv);
        decipher.setAAD(Buffer.from(purpose));
        decipher.setAuthTag(sealed.subarray(sealed.byteLength - tagBytes));
        const plain = Buffer.concat([
          decipher.update(sealed.subarray(0, sealed.byteLength - tagBytes)),
          decipher.final(),
        ]);
        return JSON.parse(plain.toString("utf8")) as unknown;
      } catch {
        // Not this key (or not sealed by us): try the next.
      }
    }
    return undefined;
  }
}

/** Whether `text` has the shape of a sealed value (a JWT's first part never reads `gs1`). */
export function isSealed(text: string): boolean {
  return text.startsWith(`${prefix}.`);
}

/**
 * Reads `--ui-session-key-file`: one key a line (32 random bytes as 64 hex digits or base64; `#`
 * comments and blank lines skipped), the first seals. Errors name the file and line, never a key.
 */
export function parseSessionKeyFile(text: string, file: string): SealingKeys {
  const keys: Buffer[] = [];
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const key = /^[0-9a-fA-F]{64}$/.test(line)
      ? Buffer.from(line, "hex")
      : /^[A-Za-z0-9+/_-]{43}=?$/.test(line)
        ? Buffer.from(line.replace(/-/g, "+").replace(/_/g, "/"), "base64")
        : undefined;
    if (!key || key.byteLength !== keyBytes) {
      throw new Error(
        `${file} line ${i + 1}: expected a key of ${keyBytes} bytes as 64 hex digits or base64 (make one with: openssl rand -hex 32)`,
      );
    }
    if (keys.some((k) => k.equals(key))) throw new Error(`${file} line ${i + 1}: the same key is listed twice`);
    keys.push(key);
  }
  if (keys.length === 0) throw new Error(`${file}: no key (make one with: openssl rand -hex 32)`);
  if (keys.length > maxKeys) throw new Error(`${file}: ${keys.length} keys, at most ${maxKeys}`);
  return new SealingKeys(keys);
}
