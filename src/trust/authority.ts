import * as x509 from "@peculiar/x509";
import { checkCsr } from "../cluster/pki.js";
import type { ClusterStore } from "../cluster/store.js";
import { caPinOf } from "../cluster/token.js";
import { type Clock, systemClock } from "../lib/clock.js";
import { crossSign, generateRoot, loadSigningCa, type SigningCa, signIntermediate } from "./ca.js";
import {
  newTrustRecord,
  parseTrustRecord,
  rootKeyPurpose,
  rotatedRecord,
  type StoredRoot,
  signingRoot,
  type TrustRecord,
  transitionChain,
  trustedRoots,
} from "./roots.js";
import { type KeyEncryptionKey, seal, unseal } from "./sealed.js";

export const defaultIntermediateTtlMs = 30 * 24 * 3600_000;
export const defaultRootTransitionMs = 48 * 3600_000;

export interface TrustAuthorityOptions {
  store: ClusterStore;
  trustDomain: string;
  /** Seals the root keys Gantry makes; without it they are stored in the clear (docs/security.md). */
  keyEncryptionKey?: KeyEncryptionKey | undefined;
  /** The flag that gives the key-encryption key, for messages. */
  keyEncryptionKeyFlag?: string;
  /** A CA the user brings instead: a root, or an intermediate followed by its chain up to the root. */
  userCa?: { certPem: string; keyPem: string; where: { cert: string; key: string } } | undefined;
  /** Lifetime of the clusters' intermediate CAs. Default 30 days; agents renew at two thirds. */
  intermediateTtlMs?: number;
  clock?: Clock;
}

export interface TrustBundleView {
  readonly trustDomain: string;
  /** The roots trusted now, PEM, the signing one last. */
  readonly rootsPem: readonly string[];
  readonly signingRootPin: string;
}

export interface RootView {
  readonly certPem: string;
  readonly subject: string;
  readonly pin: string;
  readonly notAfterMs: number;
  readonly signing: boolean;
  readonly trustedUntilMs?: number;
}

export class TrustError extends Error {
  constructor(
    message: string,
    readonly code: "invalid" | "unsupported" | "conflict",
  ) {
    super(message);
    this.name = "TrustError";
  }
}

/** A PEM block ending with one newline, so that blocks can be concatenated as they are. */
const block = (pem: string) => `${pem.trim()}\n`;

function pinOf(certPem: string): string {
  return caPinOf(new Uint8Array(new x509.X509Certificate(certPem).publicKey.rawData));
}

/**
 * The management server's root CA: made on first start and kept in the cluster store (its key
 * sealed), or brought by the user. Signs the clusters' intermediate CAs and says which roots are
 * trusted. Every call reads the stored record again, so a rotation made at one replica is what
 * every replica signs with from its next call.
 */
export class TrustAuthority {
  readonly trustDomain: string;
  readonly #options: TrustAuthorityOptions;
  readonly #clock: Clock;
  readonly #intermediateTtlMs: number;
  readonly #user: SigningCa | undefined;
  #loaded: { text: string; record: TrustRecord; signer: SigningCa } | undefined;

  private constructor(options: TrustAuthorityOptions, user: SigningCa | undefined) {
    this.#options = options;
    this.trustDomain = options.trustDomain;
    this.#clock = options.clock ?? systemClock;
    this.#intermediateTtlMs = options.intermediateTtlMs ?? defaultIntermediateTtlMs;
    this.#user = user;
  }

  /** Checks a brought CA, or loads (making on first start) the stored root; throws naming the flag or the store. */
  static async open(options: TrustAuthorityOptions): Promise<TrustAuthority> {
    const user =
      options.userCa && (await loadSigningCa(options.userCa.certPem, options.userCa.keyPem, options.userCa.where));
    const authority = new TrustAuthority(options, user);
    if (!user) {
      if ((await options.store.trust()) === undefined) {
        const made = await authority.#newRoot();
        await options.store.updateTrust(
          (current) => current ?? JSON.stringify(newTrustRecord(options.trustDomain, made)),
        );
      }
      await authority.#signer();
    }
    return authority;
  }

  /** Whether the CA is the user's (it cannot be rotated by Gantry). */
  get brought(): boolean {
    return this.#user !== undefined;
  }

  async bundle(): Promise<TrustBundleView> {
    if (this.#user) {
      return {
        trustDomain: this.trustDomain,
        rootsPem: [this.#user.rootPem],
        signingRootPin: pinOf(this.#user.rootPem),
      };
    }
    const { record } = await this.#current();
    const now = this.#clock.now();
    return {
      trustDomain: this.trustDomain,
      rootsPem: trustedRoots(record, now).map((r) => block(r.certPem)),
      signingRootPin: pinOf(signingRoot(record).certPem),
    };
  }

  async roots(): Promise<RootView[]> {
    const now = this.#clock.now();
    const roots: Array<Pick<StoredRoot, "certPem" | "trustedUntilMs">> = this.#user
      ? [{ certPem: this.#user.rootPem }]
      : trustedRoots((await this.#current()).record, now);
    return roots.map((r, i) => {
      const certificate = new x509.X509Certificate(r.certPem);
      return {
        certPem: r.certPem,
        subject: certificate.subject,
        pin: pinOf(r.certPem),
        notAfterMs: certificate.notAfter.getTime(),
        signing: i === roots.length - 1,
        ...(r.trustedUntilMs === undefined ? {} : { trustedUntilMs: r.trustedUntilMs }),
      };
    });
  }

  /** Signs `cluster`'s intermediate CA on the request's key; throws TrustError("invalid") for a bad request. */
  async signIntermediate(
    cluster: string,
    csrPem: string,
  ): Promise<{ certPem: string; chainPem: string[]; notAfterMs: number; bundle: TrustBundleView }> {
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = await checkCsr(csrPem);
    } catch (err) {
      throw new TrustError((err as Error).message, "invalid");
    }
    const now = this.#clock.now();
    const current = this.#user ? undefined : await this.#current();
    const signer = this.#user ?? (current as { signer: SigningCa }).signer;
    const issued = await signIntermediate(signer, csr, cluster, this.trustDomain, now, this.#intermediateTtlMs);
    // The chain a workload presents stops below the root (peers hold it in their bundle), with the
    // cross certificate during a root rotation.
    const chainPem = current ? transitionChain(current.record, now) : [...signer.chainPem];
    return {
      certPem: block(issued.certPem),
      notAfterMs: issued.notAfterMs,
      chainPem: chainPem.map(block),
      bundle: await this.bundle(),
    };
  }

  /** Makes a new root that signs from now on; the one before stays trusted for `transitionMs`. */
  async rotateRoot(transitionMs = defaultRootTransitionMs): Promise<RootView[]> {
    if (this.#user) {
      throw new TrustError(
        "the root CA is the one given by --ca-cert-file: rotate it by restarting with the new CA's files",
        "unsupported",
      );
    }
    const previous = await this.#signer();
    const made = await this.#newRoot();
    const next: StoredRoot = { ...made, crossPem: await crossSign(previous, made.certPem, this.#clock.now()) };
    await this.#options.store.updateTrust((current) => {
      const record = parseTrustRecord(current ?? "", "stored trust record");
      if (pinOf(signingRoot(record).certPem) !== previous.pin) {
        throw new TrustError("another rotation replaced the signing root meanwhile: nothing was changed", "conflict");
      }
      return JSON.stringify(rotatedRecord(record, next, this.#clock.now(), transitionMs));
    });
    return this.roots();
  }

  async #newRoot(): Promise<StoredRoot> {
    const now = this.#clock.now();
    const made = await generateRoot(now, this.trustDomain);
    return {
      certPem: made.certPem,
      key: seal(made.keyPem, rootKeyPurpose, this.#options.keyEncryptionKey),
      createdAtMs: now,
    };
  }

  async #current(): Promise<{ record: TrustRecord; signer: SigningCa }> {
    const text = await this.#options.store.trust();
    if (text === undefined) throw new Error("stored trust record: missing (it is made on the server's first start)");
    if (this.#loaded?.text === text) return this.#loaded;
    const record = parseTrustRecord(text, "stored trust record");
    if (record.trustDomain !== this.trustDomain) {
      throw new Error(
        `stored trust record: it is for trust domain ${record.trustDomain}, not --trust-domain ${this.trustDomain} (one store serves one trust domain)`,
      );
    }
    const root = signingRoot(record);
    const flag = this.#options.keyEncryptionKeyFlag ?? "--ca-key-encryption-key-file";
    const keyPem = unseal(root.key, rootKeyPurpose, this.#options.keyEncryptionKey, "stored root CA key", flag);
    const signer = await loadSigningCa(root.certPem, keyPem, {
      cert: "stored root CA certificate",
      key: "stored root CA key",
    });
    this.#loaded = { text, record, signer };
    return this.#loaded;
  }

  async #signer(): Promise<SigningCa> {
    return this.#user ?? (await this.#current()).signer;
  }
}
