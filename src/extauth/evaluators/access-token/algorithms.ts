/**
 * The JWS signature algorithms an access token may use, and what each one needs from a key.
 * Only public-key algorithms: the config holds no shared secrets, so HS* can never be verified here
 * (and a token naming HS* is refused before any key is looked at).
 */
export type SignatureScheme =
  | { readonly family: "rsa-pkcs1"; readonly digest: string }
  | { readonly family: "rsa-pss"; readonly digest: string; readonly saltLength: number }
  | {
      readonly family: "ecdsa";
      readonly digest: string;
      /** The JWK `crv` the key must have. */
      readonly curve: string;
      /** r ‖ s, each the curve's byte size (RFC 7518 §3.4). */
      readonly signatureBytes: number;
    }
  | { readonly family: "eddsa"; readonly curve: "Ed25519"; readonly signatureBytes: 64 };

export const signatureSchemes: Readonly<Record<string, SignatureScheme>> = {
  RS256: { family: "rsa-pkcs1", digest: "sha256" },
  RS384: { family: "rsa-pkcs1", digest: "sha384" },
  RS512: { family: "rsa-pkcs1", digest: "sha512" },
  // RFC 7518 §3.5: the salt is as long as the digest.
  PS256: { family: "rsa-pss", digest: "sha256", saltLength: 32 },
  PS384: { family: "rsa-pss", digest: "sha384", saltLength: 48 },
  PS512: { family: "rsa-pss", digest: "sha512", saltLength: 64 },
  ES256: { family: "ecdsa", digest: "sha256", curve: "P-256", signatureBytes: 64 },
  ES384: { family: "ecdsa", digest: "sha384", curve: "P-384", signatureBytes: 96 },
  ES512: { family: "ecdsa", digest: "sha512", curve: "P-521", signatureBytes: 132 },
  EdDSA: { family: "eddsa", curve: "Ed25519", signatureBytes: 64 },
};

/** Every algorithm above; the default when the config names none. */
export const supportedAlgorithms: readonly string[] = Object.keys(signatureSchemes);

export function signatureScheme(alg: string): SignatureScheme | undefined {
  return Object.hasOwn(signatureSchemes, alg) ? signatureSchemes[alg] : undefined;
}

/** The smallest RSA modulus accepted (RFC 7518 §3.3, §3.5), in bits. */
export const minRsaModulusBits = 2048;
