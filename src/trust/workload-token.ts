import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkClusterName } from "../cluster/identity.js";
import { type Clock, systemClock } from "../lib/clock.js";
import { AttestationError, type WorkloadAttestor, type WorkloadIdentity } from "./attestor.js";
import { isSealedText, type KeyEncryptionKey, seal, unseal } from "./sealed.js";
import { checkNamespace, checkServiceAccount } from "./spiffe.js";

/*
 * Gantry's per-workload bootstrap token: what a workload presents to its cluster's agent to get a
 * certificate, until a platform credential (a Kubernetes service-account token) does it.
 *
 *   gwt1.<payload>.<mac>
 *
 * - payload: base64url of JSON {c: cluster, ns, sa, iat, exp (Unix seconds), jti (random)};
 * - mac: base64url HMAC-SHA256 of `gwt1.<payload>` under the cluster's token key.
 * The token key is 32 random bytes in the agent's data dir (`workload-token-key.json`, sealed like
 * the intermediate's key), made by the agent or by `gantry workload token`, whichever runs first:
 * only who can read the agent's data dir can mint tokens, and only that agent accepts them.
 */

export const tokenKeyFile = "workload-token-key.json";
const tokenKeyPurpose = "gantry workload token key";
const prefix = "gwt1";

export const defaultWorkloadTokenTtlMs = 30 * 24 * 3600_000;
export const maxWorkloadTokenTtlMs = 366 * 24 * 3600_000;

interface Payload {
  readonly c: string;
  readonly ns: string;
  readonly sa: string;
  readonly iat: number;
  readonly exp: number;
  readonly jti: string;
}

/**
 * The cluster's token key in `dataDir`, made (0600, never overwritten) if there is none yet.
 * `flag` names the key-encryption key's flag in messages.
 */
export function loadTokenKey(dataDir: string, kek: KeyEncryptionKey | undefined, flag: string): Buffer {
  const file = join(dataDir, tokenKeyFile);
  try {
    writeFileSync(file, JSON.stringify(seal(randomBytes(32).toString("base64"), tokenKeyPurpose, kek)), {
      mode: 0o600,
      flag: "wx",
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw new Error(`${file}: ${(err as Error).message}`);
  }
  let sealed: unknown;
  try {
    sealed = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`${file}: ${err instanceof SyntaxError ? "not JSON" : (err as Error).message}`);
  }
  if (!isSealedText(sealed)) throw new Error(`${file}: not a sealed token key`);
  const key = Buffer.from(unseal(sealed, tokenKeyPurpose, kek, file, flag), "base64");
  if (key.length !== 32) throw new Error(`${file}: the token key is not 32 bytes`);
  return key;
}

function mac(key: Buffer, signed: string): Buffer {
  return createHmac("sha256", key).update(signed).digest();
}

/** A token for a workload of `cluster`; the arguments are checked (errors name the flag). */
export function mintWorkloadToken(
  key: Buffer,
  claims: { cluster: string; namespace: string; serviceAccount: string; ttlMs: number },
  clock: Clock = systemClock,
): string {
  checkClusterName(claims.cluster, "--cluster");
  checkNamespace(claims.namespace, "--namespace");
  checkServiceAccount(claims.serviceAccount, "--service-account");
  if (!(claims.ttlMs > 0 && claims.ttlMs <= maxWorkloadTokenTtlMs)) {
    throw new Error(`--ttl-seconds: must be between 1 and ${maxWorkloadTokenTtlMs / 1000}`);
  }
  const now = Math.floor(clock.now() / 1000);
  const payload: Payload = {
    c: claims.cluster,
    ns: claims.namespace,
    sa: claims.serviceAccount,
    iat: now,
    exp: now + Math.ceil(claims.ttlMs / 1000),
    jti: randomBytes(9).toString("base64url"),
  };
  const signed = `${prefix}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
  return `${signed}.${mac(key, signed).toString("base64url")}`;
}

/** Verifies Gantry bootstrap tokens made with this cluster's token key. */
export class GantryTokenAttestor implements WorkloadAttestor {
  readonly kind = "gantry-token";
  readonly #key: Buffer;
  readonly #cluster: string;
  readonly #clock: Clock;

  constructor(options: { key: Buffer; cluster: string; clock?: Clock }) {
    this.#key = options.key;
    this.#cluster = options.cluster;
    this.#clock = options.clock ?? systemClock;
  }

  async attest(credential: string): Promise<WorkloadIdentity> {
    const parts = credential.trim().split(".");
    if (parts.length !== 3 || parts[0] !== prefix) {
      throw new AttestationError(`not a Gantry workload token (expected ${prefix}.<payload>.<mac>)`, "invalid");
    }
    const signed = `${parts[0]}.${parts[1]}`;
    const given = Buffer.from(parts[2] as string, "base64url");
    const expected = mac(this.#key, signed);
    let payload: Partial<Payload>;
    try {
      payload = JSON.parse(Buffer.from(parts[1] as string, "base64url").toString("utf8")) as Partial<Payload>;
    } catch {
      throw new AttestationError("the workload token's payload is not JSON", "invalid");
    }
    if (typeof payload.c === "string" && payload.c !== this.#cluster) {
      throw new AttestationError(
        `the workload token is for cluster ${payload.c}, and this agent serves cluster ${this.#cluster}`,
        "invalid",
      );
    }
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new AttestationError(
        `the workload token is not signed with cluster ${this.#cluster}'s token key (forged, or made for another agent's data dir)`,
        "invalid",
      );
    }
    const { ns, sa, exp } = payload;
    if (typeof ns !== "string" || typeof sa !== "string" || typeof exp !== "number") {
      throw new AttestationError("the workload token lacks ns, sa or exp", "invalid");
    }
    if (this.#clock.now() >= exp * 1000) {
      throw new AttestationError(
        `the workload token of ${ns}/${sa} expired at ${new Date(exp * 1000).toISOString()}`,
        "expired",
      );
    }
    return { namespace: ns, serviceAccount: sa, cluster: this.#cluster };
  }
}
