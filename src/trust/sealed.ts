import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";

/*
 * Private keys at rest: AES-256-GCM under a key-encryption key the operator gives (a file, or an
 * environment variable), with what the key is (`purpose`) as additional data, so a sealed key cannot
 * be swapped for another purpose's. Without a key-encryption key, keys are kept in the clear (mode
 * 0600 on disk, or as the store holds them) and marked so: docs/security.md says what that means.
 */

/** A private key as stored: sealed, or in the clear when no key-encryption key was given. */
export type SealedText =
  | { readonly alg: "aes-256-gcm"; readonly iv: string; readonly tag: string; readonly data: string }
  | { readonly alg: "none"; readonly data: string };

/** Where a key-encryption key came from, for messages (`--ca-key-encryption-key-file /x`, an env name). */
export interface KeyEncryptionKey {
  readonly key: Buffer;
  readonly where: string;
}

/** 32 bytes, written as 64 hex digits or base64 (44 characters); whitespace around is ignored. */
export function parseKeyEncryptionKey(text: string, where: string): KeyEncryptionKey {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed)
    ? Buffer.from(trimmed, "hex")
    : /^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)
      ? Buffer.from(trimmed, "base64")
      : undefined;
  if (key?.length !== 32) {
    throw new Error(`${where}: expected a 32-byte key, as 64 hex digits or base64 (openssl rand -base64 32)`);
  }
  return { key, where };
}

/** The key-encryption key from `file` (flag `flag`), else from the environment variable `env`, else none. */
export function readKeyEncryptionKey(
  file: string | undefined,
  flag: string,
  env: string,
): KeyEncryptionKey | undefined {
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(`${flag} ${file}: ${code === "ENOENT" ? "no such file" : (err as Error).message}`);
    }
    return parseKeyEncryptionKey(text, `${flag} ${file}`);
  }
  const fromEnv = process.env[env];
  return fromEnv ? parseKeyEncryptionKey(fromEnv, env) : undefined;
}

export function seal(plain: string, purpose: string, kek: KeyEncryptionKey | undefined): SealedText {
  if (!kek) return { alg: "none", data: plain };
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", kek.key, iv);
  cipher.setAAD(Buffer.from(purpose));
  const data = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
  return {
    alg: "aes-256-gcm",
    iv: iv.toString("base64"),
    tag: cipher.getAuthTag().toString("base64"),
    data: data.toString("base64"),
  };
}

/**
 * The plain text of a sealed key; `where` names what holds it and `flag` the key-encryption key's
 * flag, for the messages. Never shows the key.
 */
export function unseal(
  sealed: SealedText,
  purpose: string,
  kek: KeyEncryptionKey | undefined,
  where: string,
  flag: string,
): string {
  if (sealed.alg === "none") return sealed.data;
  if (sealed.alg !== "aes-256-gcm")
    throw new Error(`${where}: unknown key encryption "${(sealed as { alg: string }).alg}"`);
  if (!kek) throw new Error(`${where}: the key is encrypted; give its key-encryption key (${flag})`);
  try {
    const decipher = createDecipheriv("aes-256-gcm", kek.key, Buffer.from(sealed.iv, "base64"));
    decipher.setAAD(Buffer.from(purpose));
    decipher.setAuthTag(Buffer.from(sealed.tag, "base64"));
    return Buffer.concat([decipher.update(Buffer.from(sealed.data, "base64")), decipher.final()]).toString("utf8");
  } catch {
    throw new Error(`${where}: cannot decrypt the key with ${kek.where} (a different key-encryption key sealed it)`);
  }
}

/** Whether a stored value reads as SealedText. */
export function isSealedText(value: unknown): value is SealedText {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  if (typeof v["data"] !== "string") return false;
  return (
    v["alg"] === "none" || (v["alg"] === "aes-256-gcm" && typeof v["iv"] === "string" && typeof v["tag"] === "string")
  );
}
