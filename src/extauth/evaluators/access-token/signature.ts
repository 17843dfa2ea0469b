import { constants, type KeyObject, type VerifyKeyObjectInput, type VerifyPublicKeyInput, verify } from "node:crypto";
import type { SignatureScheme } from "./algorithms.js";
import type { VerificationKey } from "./jwks.js";

function keyInput(scheme: SignatureScheme, key: KeyObject): KeyObject | VerifyKeyObjectInput | VerifyPublicKeyInput {
  switch (scheme.family) {
    case "rsa-pkcs1":
    case "eddsa":
      return key;
    case "rsa-pss":
      return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.saltLength };
    case "ecdsa":
      // JWS carries r ‖ s (RFC 7518 §3.4), not DER.
      return { key, dsaEncoding: "ieee-p1363" };
  }
}

/** The exact size a signature must have for this scheme and key, in bytes. */
function signatureBytes(scheme: SignatureScheme, key: VerificationKey): number | undefined {
  return scheme.family === "rsa-pkcs1" || scheme.family === "rsa-pss" ? key.rsaBytes : scheme.signatureBytes;
}

/**
 * Whether `signature` is this key's signature of `signingInput` under the scheme. The caller has
 * checked that the key fits the scheme (key type, curve, the key's own alg).
 *
 * Synchronous, on the event loop, on purpose. node:crypto can also verify on libuv's threadpool
 * (with a callback). Measured on the 2-core build machine, RS256 with a 2048-bit key: synchronous
 * ≈ 18.5 µs of CPU per check; on the pool, with many checks in flight, the event loop spends only
 * ≈ 3–5 µs per check but the process ≈ 25 µs of CPU in all (handing over, waking the loop, thread
 * switches). A loaded ext-auth server is CPU-bound — it is scaled one process per core, and on the
 * bench machine the load generator takes the other core — so the pool would move the work onto a
 * core that is already busy and add ≈ 6 µs of CPU per check on top; it only pays with idle cores.
 * In process, with 64 checks in flight, a first-seen token cost ≈ 36 µs of CPU synchronously against
 * ≈ 39–47 µs on the pool. Synchronous also lets a first-seen token be answered without a promise, a
 * deadline timer or an abort controller in the Check service. (bench/extauth/core.mjs prints the
 * in-process first-use figure.)
 */
export function verifySignature(
  scheme: SignatureScheme,
  key: VerificationKey,
  signingInput: Buffer,
  signature: Buffer,
): boolean {
  // A signature of the wrong size is refused before node:crypto sees it (ECDSA's fixed-size
  // encoding needs it exact; RSA signatures are as long as the modulus).
  if (signature.length !== signatureBytes(scheme, key)) return false;
  const digest = scheme.family === "eddsa" ? null : scheme.digest;
  try {
    return verify(digest, signingInput, keyInput(scheme, key.key), signature);
  } catch {
    // node:crypto throws for a signature it cannot even decode: not a valid signature.
    return false;
  }
}
