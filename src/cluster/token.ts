import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { checkClusterName } from "./identity.js";

/*
 * The registration token `gantry cluster add` prints:
 *
 *   gantry1.<cluster>.<id>.<secret>.<ca-pin>
 *
 * - <cluster>: the cluster it registers (the agent checks it against its --cluster);
 * - <id>: 16 hex digits, how the server finds the token (it is not secret);
 * - <secret>: 32 random bytes, base64url; the server keeps only its SHA-256;
 * - <ca-pin>: the SHA-256, hex, of the relay CA's SubjectPublicKeyInfo (DER), as kubeadm's
 *   discovery-token-ca-cert-hash: before sending anything, the agent checks that the relay's
 *   chain holds a CA with this key.
 * Dots separate the parts: none of them can hold one.
 */

export interface RegistrationToken {
  readonly cluster: string;
  readonly id: string;
  readonly secret: string;
  /** sha256 of the relay CA's SubjectPublicKeyInfo, 64 hex digits. */
  readonly caPin: string;
}

const version = "gantry1";

export function formatToken(token: RegistrationToken): string {
  return [version, token.cluster, token.id, token.secret, token.caPin].join(".");
}

/** Reads a token; the errors say which part is wrong and never repeat the secret. */
export function parseToken(text: string, where = "token"): RegistrationToken {
  const parts = text.trim().split(".");
  if (parts.length !== 5 || parts[0] !== version) {
    throw new Error(`${where}: not a Gantry registration token (expected ${version}.<cluster>.<id>.<secret>.<ca-pin>)`);
  }
  const [, cluster, id, secret, caPin] = parts as [string, string, string, string, string];
  checkClusterName(cluster, `${where}: cluster`);
  if (!/^[0-9a-f]{16}$/.test(id)) throw new Error(`${where}: the id part must be 16 hex digits`);
  if (!/^[A-Za-z0-9_-]{43}$/.test(secret)) throw new Error(`${where}: the secret part is not 32 bytes of base64url`);
  if (!/^[0-9a-f]{64}$/.test(caPin)) throw new Error(`${where}: the CA pin must be 64 hex digits (a SHA-256)`);
  return { cluster, id, secret, caPin };
}

/** A new token for `cluster` pinning `caPin`. */
export function newToken(cluster: string, caPin: string): RegistrationToken {
  return { cluster, id: randomBytes(8).toString("hex"), secret: randomBytes(32).toString("base64url"), caPin };
}

/** What the server keeps of a secret. */
export function secretDigest(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Whether `secret` is the one whose digest is `digest`, in constant time. */
export function secretMatches(secret: string, digest: string): boolean {
  const a = Buffer.from(secretDigest(secret), "hex");
  const b = Buffer.from(digest, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The pin of a CA: SHA-256 of its SubjectPublicKeyInfo, DER. */
export function caPinOf(spkiDer: Uint8Array): string {
  return createHash("sha256").update(spkiDer).digest("hex");
}
