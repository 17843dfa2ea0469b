import { createHash, timingSafeEqual } from "node:crypto";
import { verify as verifyArgon2 } from "@node-rs/argon2";
import { verify as verifyBcrypt } from "@node-rs/bcrypt";

/** A stored password hash, by scheme, as htpasswd and friends write them. */
export type PasswordHash =
  | { scheme: "apr1"; salt: string; hash: string }
  | { scheme: "sha1"; digest: Buffer }
  | { scheme: "bcrypt"; encoded: string }
  | { scheme: "argon2"; encoded: string };

/** Reads a hash; returns a problem description instead when the text is not one we know. */
export function parsePasswordHash(text: string): PasswordHash | string {
  if (text.startsWith("$apr1$")) {
    const match = /^\$apr1\$([^$]{1,8})\$([./0-9A-Za-z]{22})$/.exec(text);
    if (!match) return "malformed APR1-MD5 hash (expected $apr1$<salt>$<22 characters>)";
    return { scheme: "apr1", salt: match[1] as string, hash: match[2] as string };
  }
  if (text.startsWith("{SHA}")) {
    const digest = Buffer.from(text.slice(5), "base64");
    if (digest.length !== 20) return "malformed SHA-1 hash (expected {SHA}<base64 of 20 bytes>)";
    return { scheme: "sha1", digest };
  }
  if (/^\$2[abxy]\$\d\d\$[./0-9A-Za-z]{53}$/.test(text)) return { scheme: "bcrypt", encoded: text };
  if (/^\$argon2(id|i|d)\$/.test(text)) return { scheme: "argon2", encoded: text };
  return "unknown hash scheme (use $apr1$, {SHA}, bcrypt $2y$ or $argon2id$; clear text is refused)";
}

const itoa64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

function to64(value: number, length: number): string {
  let out = "";
  let v = value;
  for (let i = 0; i < length; i++) {
    out += itoa64[v & 0x3f];
    v >>>= 6;
  }
  return out;
}

/** The APR1 variant of MD5-crypt (Apache htpasswd -m): the 22-character hash part. */
export function apr1Hash(password: string, salt: string): string {
  const pw = Buffer.from(password, "utf8");
  const saltBytes = Buffer.from(salt, "utf8");
  const magic = Buffer.from("$apr1$");
  const alternate = createHash("md5").update(pw).update(saltBytes).update(pw).digest();
  const context = createHash("md5").update(pw).update(magic).update(saltBytes);
  for (let remaining = pw.length; remaining > 0; remaining -= 16) {
    context.update(alternate.subarray(0, Math.min(16, remaining)));
  }
  for (let bits = pw.length; bits > 0; bits >>= 1) {
    context.update(bits & 1 ? Buffer.of(0) : pw.subarray(0, 1));
  }
  let digest = context.digest();
  // A thousand rounds, to make guessing slower (the scheme's fixed cost).
  for (let round = 0; round < 1000; round++) {
    const step = createHash("md5");
    step.update(round & 1 ? pw : digest);
    if (round % 3) step.update(saltBytes);
    if (round % 7) step.update(pw);
    step.update(round & 1 ? digest : pw);
    digest = step.digest();
  }
  const d = (i: number) => digest[i] as number;
  return (
    to64((d(0) << 16) | (d(6) << 8) | d(12), 4) +
    to64((d(1) << 16) | (d(7) << 8) | d(13), 4) +
    to64((d(2) << 16) | (d(8) << 8) | d(14), 4) +
    to64((d(3) << 16) | (d(9) << 8) | d(15), 4) +
    to64((d(4) << 16) | (d(10) << 8) | d(5), 4) +
    to64(d(11), 2)
  );
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Whether the password matches the hash, compared in constant time. */
export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  switch (stored.scheme) {
    case "apr1":
      return sameBytes(Buffer.from(apr1Hash(password, stored.salt)), Buffer.from(stored.hash));
    case "sha1":
      return sameBytes(createHash("sha1").update(password, "utf8").digest(), stored.digest);
    case "bcrypt":
      return verifyBcrypt(password, stored.encoded);
    case "argon2":
      return verifyArgon2(stored.encoded, password);
  }
}
