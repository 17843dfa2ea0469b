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
 * Runs on libuv's threadpool (node:crypto's verify with a callback), not on the event loop. Measured
 * on the 2-core build machine, RS256 with a 2048-bit key: synchronous verify costs ≈ 18.5 µs of
 * event-loop time each; with a callback and many checks in flight the event loop spends ≈ 3–5 µs per
 * check (the rest runs on the pool, ≈ 25 µs of CPU in all) and the wall time per check drops to
 * ≈ 13 µs. Under load the event loop is what saturates first (it also serves gRPC), so handing it
 * the cheaper share gives more checks per second even though the total CPU is higher; a single
 * check's latency is a few µs worse. See bench/extauth/core.mjs for the in-process figures.
 */
export function verifySignature(
  scheme: SignatureScheme,
  key: VerificationKey,
  signingInput: Buffer,
  signature: Buffer,
): Promise<boolean> {
  // A signature of the wrong size is refused here, without a trip to the pool (and ECDSA's
  // fixed-size encoding needs it exactly).
  if (signature.length !== signatureBytes(scheme, key)) return Promise.resolve(false);
  const digest = scheme.family === "eddsa" ? null : scheme.digest;
  return new Promise((resolve) => {
    try {
      verify(digest, signingInput, keyInput(scheme, key.key), signature, (err, valid) => resolve(!err && valid));
    } catch {
      // node:crypto refuses a key it cannot use for this scheme before queueing the check.
      resolve(false);
    }
  });
}
