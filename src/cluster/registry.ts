import { type Clock, systemClock } from "../lib/clock.js";
import { checkClusterName, checkTrustDomain, clusterIdentity, defaultTrustDomain } from "./identity.js";
import {
  checkCsr,
  generateRelayCa,
  type IssuedPem,
  issueClusterCertificate,
  loadRelayCa,
  type RelayCa,
} from "./pki.js";
import {
  type AgentReport,
  acceptedCertificate,
  addedCluster,
  type ClusterRecord,
  type ClusterState,
  enrolledCluster,
  type IssuedCertificate,
  isConnected,
  RegistrationRefused,
  removedCluster,
  reportedCluster,
  rotatedCluster,
  stateOf,
} from "./records.js";
import type { ClusterStore, StoredCa } from "./store.js";
import { formatToken, newToken, secretDigest } from "./token.js";

export const defaultCertificateTtlMs = 24 * 3600_000;
export const defaultTokenTtlMs = 3600_000;
/** The longest a registration token may live, by default or when asked for: a token is a credential. */
export const maxTokenTtlMs = 7 * 24 * 3600_000;
export const defaultPresenceTtlMs = 30_000;

export interface ClusterRegistryOptions {
  store: ClusterStore;
  /** Default `gantry.local`. */
  trustDomain?: string;
  /** A CA the user gives (its PEMs, and the flags or files they came from, for errors); default the stored one, made on first start. */
  ca?: StoredCa & { where: { cert: string; key: string } };
  /** Lifetime of the clusters' certificates. Default 24 h; agents rotate at two thirds. */
  certificateTtlMs?: number;
  /** Lifetime of a registration token unless `add` says. Default 1 h. */
  tokenTtlMs?: number;
  /** An agent's report older than this reads "disconnected". Default 30 s. */
  presenceTtlMs?: number;
  clock?: Clock;
}

/** A cluster as `get clusters` and `describe cluster` show it. */
export interface ClusterView {
  readonly name: string;
  readonly state: ClusterState;
  readonly identity: string;
  readonly createdAtMs: number;
  readonly tokenExpiresAtMs: number;
  readonly tokenUsedAtMs?: number;
  /** The certificate issued last. */
  readonly certificate?: IssuedCertificate;
  readonly revokedAtMs?: number;
  readonly lastSeenMs?: number;
  readonly connected: boolean;
  readonly report?: AgentReport;
}

/** What an enrollment or a rotation gives the agent. */
export interface CertificateGrant {
  readonly certPem: string;
  readonly caPem: string;
  readonly identity: string;
  readonly notAfterMs: number;
}

/**
 * The registry of workload clusters and the relay CA that certifies them: the server side of
 * registration. Every decision is in records.ts; this class issues certificates and applies the
 * decisions through the store, so tokens stay single-use across replicas.
 */
export class ClusterRegistry {
  readonly #store: ClusterStore;
  readonly #clock: Clock;
  readonly #certificateTtlMs: number;
  readonly #tokenTtlMs: number;
  readonly #presenceTtlMs: number;
  readonly trustDomain: string;
  readonly ca: RelayCa;

  private constructor(options: ClusterRegistryOptions, trustDomain: string, ca: RelayCa) {
    this.#store = options.store;
    this.#clock = options.clock ?? systemClock;
    this.#certificateTtlMs = options.certificateTtlMs ?? defaultCertificateTtlMs;
    this.#tokenTtlMs = options.tokenTtlMs ?? defaultTokenTtlMs;
    this.#presenceTtlMs = options.presenceTtlMs ?? defaultPresenceTtlMs;
    this.trustDomain = trustDomain;
    this.ca = ca;
  }

  /** Loads (or makes and stores) the relay CA; a CA given in `options.ca` is checked and used instead. */
  static async open(options: ClusterRegistryOptions): Promise<ClusterRegistry> {
    const trustDomain = checkTrustDomain(options.trustDomain ?? defaultTrustDomain);
    const clock = options.clock ?? systemClock;
    const ca = options.ca
      ? await loadRelayCa(options.ca, options.ca.where)
      : await loadRelayCa(await options.store.relayCa(() => generateRelayCa(clock.now(), trustDomain)), {
          cert: "stored relay CA certificate",
          key: "stored relay CA key",
        });
    return new ClusterRegistry(options, trustDomain, ca);
  }

  get certificateTtlMs(): number {
    return this.#certificateTtlMs;
  }

  /** Registers `name`; the token is in the answer only (the store keeps a digest of its secret). */
  async add(name: string, tokenTtlMs = this.#tokenTtlMs): Promise<{ cluster: ClusterView; token: string }> {
    checkClusterName(name);
    const token = newToken(name, this.ca.pin);
    const record = await this.#store.update(name, (current) =>
      addedCluster(
        current,
        { name, tokenId: token.id, secretSha256: secretDigest(token.secret), tokenTtlMs },
        this.#clock.now(),
      ),
    );
    return { cluster: this.#view(record), token: formatToken(token) };
  }

  /** Revokes `name`: its certificates and unused token are refused from now on. */
  async remove(name: string): Promise<ClusterView> {
    return this.#view(await this.#store.update(name, (current) => removedCluster(current, name, this.#clock.now())));
  }

  async get(name: string): Promise<ClusterView | undefined> {
    const record = await this.#store.get(name);
    return record && this.#view(record);
  }

  async list(): Promise<ClusterView[]> {
    return (await this.#store.list()).map((record) => this.#view(record));
  }

  /** Records what the agent reports through the relay (and that it was seen now). */
  async report(name: string, report: AgentReport): Promise<void> {
    await this.#store.update(name, (current) => reportedCluster(current, name, report, this.#clock.now()));
  }

  /** Uses the token `<id>.<secret>` for a certificate on the CSR's key; throws RegistrationRefused. */
  async enroll(request: { cluster: string; token: string; csrPem: string }): Promise<CertificateGrant> {
    const name = request.cluster;
    try {
      checkClusterName(name, "cluster");
    } catch (err) {
      throw new RegistrationRefused("cluster_unknown", (err as Error).message);
    }
    const match = /^([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/.exec(request.token);
    if (!match)
      throw new RegistrationRefused("token_malformed", "token: expected <id>.<secret> from a registration token");
    const redeem = (current: ClusterRecord | undefined, certificate: IssuedCertificate) =>
      enrolledCluster(
        current,
        { name, tokenId: match[1] as string, secret: match[2] as string, certificate },
        this.#clock.now(),
      );
    // Judged once before signing, so a bad token costs a read and no signature; judged again, atomically, to use it.
    redeem(await this.#store.get(name), { serial: "", notBeforeMs: 0, notAfterMs: 0 });
    const issued = await this.#issue(name, request.csrPem);
    await this.#store.update(name, (current) => redeem(current, issued));
    return this.#grant(name, issued);
  }

  /** A new certificate for the holder of `presentedSerial` (checked by the caller's TLS); throws RegistrationRefused. */
  async rotate(name: string, presentedSerial: string, csrPem: string): Promise<CertificateGrant> {
    await this.accept(name, presentedSerial);
    const issued = await this.#issue(name, csrPem);
    await this.#store.update(name, (current) =>
      rotatedCluster(current, { name, presented: presentedSerial, next: issued }, this.#clock.now()),
    );
    return this.#grant(name, issued);
  }

  /** Whether certificate `serial` of `name` is accepted now; throws RegistrationRefused if not. */
  async accept(name: string, serial: string): Promise<IssuedCertificate> {
    return acceptedCertificate(await this.#store.get(name), name, serial, this.#clock.now());
  }

  async close(): Promise<void> {
    await this.#store.close();
  }

  async #issue(name: string, csrPem: string): Promise<IssuedPem> {
    let csr: Awaited<ReturnType<typeof checkCsr>>;
    try {
      csr = await checkCsr(csrPem);
    } catch (err) {
      throw new RegistrationRefused("csr_invalid", (err as Error).message);
    }
    return issueClusterCertificate(
      this.ca,
      csr,
      name,
      clusterIdentity(this.trustDomain, name),
      this.#clock.now(),
      this.#certificateTtlMs,
    );
  }

  #grant(name: string, issued: IssuedPem): CertificateGrant {
    return {
      certPem: issued.certPem,
      caPem: this.ca.certPem,
      identity: clusterIdentity(this.trustDomain, name),
      notAfterMs: issued.notAfterMs,
    };
  }

  #view(record: ClusterRecord): ClusterView {
    const certificate = record.certificates.at(-1);
    return {
      name: record.name,
      state: stateOf(record),
      identity: clusterIdentity(this.trustDomain, record.name),
      createdAtMs: record.createdAtMs,
      tokenExpiresAtMs: record.token.expiresAtMs,
      ...(record.token.usedAtMs === undefined ? {} : { tokenUsedAtMs: record.token.usedAtMs }),
      ...(certificate ? { certificate } : {}),
      ...(record.revokedAtMs === undefined ? {} : { revokedAtMs: record.revokedAtMs }),
      ...(record.lastSeenMs === undefined ? {} : { lastSeenMs: record.lastSeenMs }),
      connected: isConnected(record, this.#clock.now(), this.#presenceTtlMs),
      ...(record.report ? { report: record.report } : {}),
    };
  }
}
