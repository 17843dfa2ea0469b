import { createPublicKey, type JsonWebKeyInput, type KeyObject } from "node:crypto";
import { type Logger, type Timers, timeoutSignal } from "../../../lib/index.js";
import { minRsaModulusBits, type SignatureScheme, signatureScheme, supportedAlgorithms } from "./algorithms.js";

/** One JWK turned into a node:crypto key, with what decides which tokens it may verify. */
export interface VerificationKey {
  readonly kid: string | undefined;
  /** The JWK's `alg`: when set, the only algorithm this key verifies. */
  readonly alg: string | undefined;
  readonly kty: "RSA" | "EC" | "OKP";
  /** `crv` of an EC or OKP key. */
  readonly curve: string | undefined;
  /** Signature size of an RSA key, in bytes (the modulus size). */
  readonly rsaBytes: number | undefined;
  readonly key: KeyObject;
}

/** Whether a key can verify a signature of this algorithm: key type, curve and the key's own `alg`. */
export function keyFits(key: VerificationKey, alg: string, scheme: SignatureScheme): boolean {
  if (key.alg !== undefined && key.alg !== alg) return false;
  switch (scheme.family) {
    case "rsa-pkcs1":
    case "rsa-pss":
      return key.kty === "RSA";
    case "ecdsa":
    case "eddsa":
      return key.kty === (scheme.family === "ecdsa" ? "EC" : "OKP") && key.curve === scheme.curve;
  }
}

const noKeys: readonly VerificationKey[] = [];

/**
 * One version of a JWKS: its signature keys, converted once, indexed by algorithm and kid.
 * `problems` names the keys that were left out because they are broken (not the ones meant for
 * something else, such as encryption keys).
 */
export class KeySet {
  readonly size: number;
  readonly problems: readonly string[];
  readonly #byAlg = new Map<string, VerificationKey[]>();
  readonly #byKidAndAlg = new Map<string, Map<string, VerificationKey[]>>();

  constructor(keys: readonly VerificationKey[], problems: readonly string[] = []) {
    this.size = keys.length;
    this.problems = problems;
    for (const alg of supportedAlgorithms) {
      const scheme = signatureScheme(alg);
      if (!scheme) continue;
      for (const key of keys) {
        if (!keyFits(key, alg, scheme)) continue;
        append(this.#byAlg, alg, key);
        if (key.kid === undefined) continue;
        let byAlg = this.#byKidAndAlg.get(key.kid);
        if (!byAlg) {
          byAlg = new Map();
          this.#byKidAndAlg.set(key.kid, byAlg);
        }
        append(byAlg, alg, key);
      }
    }
  }

  /**
   * The keys that may have signed a token with this `alg` and `kid`: with a kid, the keys of that
   * kid; without one, every key that fits the algorithm. A key without a kid never matches a token
   * that names one.
   */
  candidates(alg: string, kid: string | undefined): readonly VerificationKey[] {
    const byAlg = kid === undefined ? this.#byAlg : this.#byKidAndAlg.get(kid);
    return byAlg?.get(alg) ?? noKeys;
  }
}

function append(map: Map<string, VerificationKey[]>, alg: string, key: VerificationKey): void {
  const list = map.get(alg);
  if (list) list.push(key);
  else map.set(alg, [key]);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const ecCurves = new Set(["P-256", "P-384", "P-521"]);

/**
 * Converts one JWK; undefined for a key that is not for verifying JWS signatures with the
 * algorithms above (an encryption key, a shared secret, another curve). Throws a message for a
 * broken signature key.
 */
function verificationKey(jwk: Record<string, unknown>): VerificationKey | undefined {
  const { kty, kid, alg, use, crv } = jwk;
  const keyOps = jwk["key_ops"];
  if (kty !== "RSA" && kty !== "EC" && kty !== "OKP") return undefined;
  if (use !== undefined && use !== "sig") return undefined;
  if (keyOps !== undefined && !(Array.isArray(keyOps) && keyOps.includes("verify"))) return undefined;
  if (alg !== undefined && (typeof alg !== "string" || signatureScheme(alg) === undefined)) return undefined;
  if (kty === "EC" && !(typeof crv === "string" && ecCurves.has(crv))) return undefined;
  if (kty === "OKP" && crv !== "Ed25519") return undefined;
  if (kid !== undefined && typeof kid !== "string") throw new Error('"kid" must be a string');
  if (jwk["d"] !== undefined) throw new Error("is a private key; a JWKS must hold public keys only");
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as JsonWebKeyInput["key"], format: "jwk" });
  } catch (err) {
    throw new Error(`is not a valid ${kty} key (${(err as Error).message})`);
  }
  let rsaBytes: number | undefined;
  if (kty === "RSA") {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < minRsaModulusBits) throw new Error(`RSA modulus has ${bits} bits; at least ${minRsaModulusBits} needed`);
    rsaBytes = Math.ceil(bits / 8);
  }
  const converted: VerificationKey = {
    kid,
    alg,
    kty,
    curve: typeof crv === "string" ? crv : undefined,
    rsaBytes,
    key,
  };
  if (alg !== undefined) {
    const scheme = signatureScheme(alg);
    if (scheme && !keyFits(converted, alg, scheme)) {
      throw new Error(`"alg" ${alg} does not fit a${kty === "RSA" ? "n" : ""} ${kty} key${crv ? ` on ${crv}` : ""}`);
    }
  }
  return converted;
}

/**
 * Checks that a document is a JWKS and converts its signature keys to node:crypto keys (once per
 * document). Throws a message naming the problem when it is not a JWKS; broken keys are left out
 * and named in `problems`.
 */
export function keySetFrom(document: unknown): KeySet {
  const keys = (document as { keys?: unknown } | null)?.keys;
  if (!isObject(document) || !Array.isArray(keys))
    throw new Error('not a JWKS (expected an object with a "keys" list)');
  const converted: VerificationKey[] = [];
  const problems: string[] = [];
  for (const [index, jwk] of keys.entries()) {
    if (!isObject(jwk)) {
      problems.push(`keys[${index}]: not an object`);
      continue;
    }
    try {
      const key = verificationKey(jwk);
      if (key) converted.push(key);
    } catch (err) {
      const kid = typeof jwk["kid"] === "string" ? ` (kid "${jwk["kid"]}")` : "";
      problems.push(`keys[${index}]${kid}: ${(err as Error).message}`);
    }
  }
  return new KeySet(converted, problems);
}

/** A JWKS could not be fetched and no keys are cached: the step cannot decide. */
export class JwksUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JwksUnavailable";
  }
}

/** Where the signing keys come from: fixed (local JWKS) or fetched (remote JWKS). */
export interface KeySource {
  /** The keys to verify with now. Rejects with JwksUnavailable when there are none. */
  current(): KeySet | Promise<KeySet>;
  /** A token named a key we do not have: refetch if allowed now; resolves whether the keys changed. */
  refetch(): Promise<boolean>;
}

export function localKeySource(keys: KeySet): KeySource {
  return { current: () => keys, refetch: async () => false };
}

export interface RemoteJwksOptions {
  url: string;
  refreshIntervalMs: number;
  timeoutMs: number;
  minRefetchIntervalMs: number;
  clock: Timers;
  logger: Logger;
}

/**
 * A remote JWKS: fetched on first use, refreshed in the background once older than the refresh
 * interval, refetched when a token names an unknown `kid` (at most once per minimum interval, so
 * tokens with made-up kids cannot hammer the IdP). A failed fetch keeps the keys already held.
 * Each fetched document is converted to node:crypto keys once, when it arrives.
 */
export class RemoteKeySource implements KeySource {
  readonly #options: RemoteJwksOptions;
  #keys: KeySet | undefined;
  #fetchedAt = Number.NEGATIVE_INFINITY;
  #attemptedAt = Number.NEGATIVE_INFINITY;
  #fetching: Promise<boolean> | undefined;

  constructor(options: RemoteJwksOptions) {
    this.#options = options;
  }

  current(): KeySet | Promise<KeySet> {
    const keys = this.#keys;
    if (!keys) {
      return this.#fetch().then(() => {
        if (!this.#keys) throw new JwksUnavailable(`no keys from ${this.#options.url}`);
        return this.#keys;
      });
    }
    const now = this.#options.clock.now();
    const { refreshIntervalMs, minRefetchIntervalMs } = this.#options;
    // Stale keys are refreshed in the background; while the IdP fails, at most once per minimum interval.
    if (now - this.#fetchedAt >= refreshIntervalMs && now - this.#attemptedAt >= minRefetchIntervalMs)
      void this.#fetch();
    return keys;
  }

  async refetch(): Promise<boolean> {
    if (this.#fetching) return this.#fetching;
    if (this.#options.clock.now() - this.#attemptedAt < this.#options.minRefetchIntervalMs) return false;
    return this.#fetch();
  }

  /** One fetch at a time; resolves whether new keys were installed. Never rejects. */
  #fetch(): Promise<boolean> {
    if (this.#fetching) return this.#fetching;
    const { url, timeoutMs, clock, logger } = this.#options;
    this.#attemptedAt = clock.now();
    this.#fetching = (async () => {
      try {
        const response = await fetch(url, {
          signal: timeoutSignal(clock, timeoutMs),
          headers: { accept: "application/json" },
        });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const keys = keySetFrom(await response.json());
        if (keys.problems.length > 0) logger.warn({ jwks: url, problems: keys.problems }, "JWKS keys left out");
        this.#keys = keys;
        this.#fetchedAt = clock.now();
        return true;
      } catch (err) {
        logger.warn(
          {
            jwks: url,
            error: err instanceof Error ? err.message : String(err),
            keptCachedKeys: this.#keys !== undefined,
          },
          "fetching the JWKS failed",
        );
        return false;
      } finally {
        this.#fetching = undefined;
      }
    })();
    return this.#fetching;
  }
}
