import { readFileSync } from "node:fs";
import { join } from "node:path";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import * as x509 from "@peculiar/x509";
import type { AgentCredentials } from "../cluster/agent-credentials.js";
import { relayChannelOptions, writePrivateFile } from "../cluster/agent-credentials.js";
import { exportPkcs8, loadRelayCa, type RelayCa } from "../cluster/pki.js";
import { TrustService } from "../gen/gantry/relay/v1/trust_pb.js";
import { systemClock, type Timer, type Timers } from "../lib/clock.js";
import { createClient, type ServiceClient } from "../lib/grpc.js";
import type { Logger } from "../lib/logger.js";
import { intermediateRequest } from "./ca.js";
import { isSealedText, type KeyEncryptionKey, type SealedText, seal, unseal } from "./sealed.js";

/*
 * The agent's side of the trust chain: its cluster's intermediate CA. The agent makes the key, the
 * server's root signs it over the relay (mTLS as cluster/NAME), and the agent keeps key and chain in
 * its data dir (the key sealed), so it issues workload certificates while the server is away.
 * Renewed at two thirds of its life, and at once when the bundle says another root signs now.
 *
 *   <data-dir>/workload-ca.json   {certPem, chainPem, key (sealed), rootPin, trustDomain, rootsPem}
 */

export const workloadCaFile = "workload-ca.json";
const intermediateKeyPurpose = "gantry cluster intermediate CA key";

interface StoredClusterCa {
  readonly version: 1;
  readonly certPem: string;
  /** The CAs between the intermediate and the root, nearest first. */
  readonly chainPem: readonly string[];
  readonly key: SealedText;
  /** The pin of the root that signed this intermediate (directly or through chainPem). */
  readonly rootPin: string;
  readonly trustDomain: string;
  readonly rootsPem: readonly string[];
  readonly signingRootPin: string;
}

/** The intermediate ready to sign, with what workloads are given beside their own certificate. */
export interface ClusterCaState {
  readonly signer: RelayCa;
  /** The intermediate and the CAs above it, up to (not including) the root, PEM. */
  readonly chainPem: string;
  /** The trust bundle: every root trusted now, PEM. */
  readonly bundlePem: string;
  readonly trustDomain: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

export interface ClusterCaOptions {
  dataDir: string;
  cluster: string;
  /** Each server replica's relay address, tried in turn. */
  relay: readonly string[];
  credentials: AgentCredentials;
  keyEncryptionKey?: KeyEncryptionKey | undefined;
  keyEncryptionKeyFlag?: string;
  timers?: Timers;
  logger?: Logger | undefined;
  /** How often the trust bundle is asked for (a root rotation shows there). Default 60 s. */
  bundleRefreshMs?: number;
  /** A failed request is tried again after this. Default 10 s. */
  retryMs?: number;
}

/** When to renew: two thirds into the intermediate's life, or now if another root signs. */
export function renewalDueMs(
  stored: Pick<StoredClusterCa, "rootPin" | "signingRootPin">,
  notBeforeMs: number,
  notAfterMs: number,
): number {
  if (stored.rootPin !== stored.signingRootPin) return Number.NEGATIVE_INFINITY;
  return notBeforeMs + ((notAfterMs - notBeforeMs) * 2) / 3;
}

export class ClusterCa {
  readonly #options: ClusterCaOptions;
  readonly #timers: Timers;
  readonly #file: string;
  readonly #listeners = new Set<(state: ClusterCaState) => void>();
  #stored: StoredClusterCa | undefined;
  #state: ClusterCaState | undefined;
  #timer: Timer | undefined;
  #poll: Timer | undefined;
  #stopped = false;
  #renewing: Promise<void> | undefined;

  constructor(options: ClusterCaOptions) {
    this.#options = options;
    this.#timers = options.timers ?? systemClock;
    this.#file = join(options.dataDir, workloadCaFile);
  }

  /** The intermediate to sign with, once there is one (from the data dir or the server). */
  get current(): ClusterCaState | undefined {
    return this.#state;
  }

  /** Calls `listener` with each new intermediate or bundle; returns the function that stops it. */
  onChange(listener: (state: ClusterCaState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Loads the intermediate from the data dir (throws naming the file if it is unreadable or sealed
   * with another key), then renews it if due; a server that cannot be reached is tried again later,
   * and the intermediate on disk is used meanwhile.
   */
  async start(): Promise<void> {
    this.#stored = this.#read();
    if (this.#stored) this.#state = await this.#stateOf(this.#stored);
    const due =
      this.#state && this.#stored ? renewalDueMs(this.#stored, this.#state.notBeforeMs, this.#state.notAfterMs) : 0;
    if (due <= this.#timers.now()) await this.#renew().catch(() => undefined);
    else this.#schedule(due - this.#timers.now());
    const every = this.#options.bundleRefreshMs ?? 60_000;
    this.#poll = this.#timers.setInterval(() => void this.refreshBundle().catch(() => undefined), every).unref();
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#poll?.cancel();
  }

  /** Asks for the bundle: a changed bundle is stored and told; a new signing root triggers a renewal. */
  async refreshBundle(): Promise<void> {
    const stored = this.#stored;
    if (!stored) return this.#renew();
    const bundle = await this.#call((client) =>
      client.getTrustBundle({ cluster: this.#options.cluster }, { timeoutMs: 10_000 }),
    );
    if (bundle.signingRootPin === stored.signingRootPin && sameList(bundle.rootsPem, stored.rootsPem)) return;
    const next: StoredClusterCa = { ...stored, rootsPem: bundle.rootsPem, signingRootPin: bundle.signingRootPin };
    this.#save(next);
    this.#options.logger?.info({ roots: bundle.rootsPem.length }, "trust bundle changed");
    await this.#take(next);
    if (next.rootPin !== next.signingRootPin) await this.#renew();
  }

  /** A new intermediate on a new key, now (coalesced with one under way). */
  renew(): Promise<void> {
    return this.#renew();
  }

  #renew(): Promise<void> {
    this.#renewing ??= this.#renewOnce().finally(() => {
      this.#renewing = undefined;
    });
    return this.#renewing;
  }

  async #renewOnce(): Promise<void> {
    this.#timer?.cancel();
    try {
      const { keys, csrPem } = await intermediateRequest(this.#options.cluster);
      const answer = await this.#call((client) =>
        client.signIntermediate({ cluster: this.#options.cluster, csrPem }, { timeoutMs: 10_000 }),
      );
      const bundle = answer.bundle;
      if (!bundle) throw new Error("the server's answer has no trust bundle");
      const certificate = new x509.X509Certificate(answer.certificatePem);
      const ours = Buffer.from(await globalThis.crypto.subtle.exportKey("spki", keys.publicKey));
      if (!Buffer.from(certificate.publicKey.rawData).equals(ours)) {
        throw new Error("the intermediate the server signed is not for the key this agent made");
      }
      const stored: StoredClusterCa = {
        version: 1,
        certPem: answer.certificatePem,
        chainPem: answer.chainPem,
        key: seal(await exportPkcs8(keys.privateKey), intermediateKeyPurpose, this.#options.keyEncryptionKey),
        rootPin: bundle.signingRootPin,
        trustDomain: bundle.trustDomain,
        rootsPem: bundle.rootsPem,
        signingRootPin: bundle.signingRootPin,
      };
      this.#save(stored);
      await this.#take(stored);
      this.#options.logger?.info(
        {
          cluster: this.#options.cluster,
          notAfter: answer.notAfter ? new Date(timestampMs(answer.notAfter)).toISOString() : "",
        },
        "cluster intermediate CA renewed",
      );
    } catch (err) {
      this.#options.logger?.warn(
        { err: (err as Error).message },
        "cannot renew the cluster's intermediate CA; trying again",
      );
      this.#schedule(this.#options.retryMs ?? 10_000);
      throw err;
    }
    const state = this.#state as ClusterCaState;
    this.#schedule(
      renewalDueMs(this.#stored as StoredClusterCa, state.notBeforeMs, state.notAfterMs) - this.#timers.now(),
    );
  }

  #schedule(inMs: number): void {
    this.#timer?.cancel();
    if (this.#stopped) return;
    this.#timer = this.#timers.setTimeout(() => void this.#renew().catch(() => undefined), Math.max(0, inMs)).unref();
  }

  async #take(stored: StoredClusterCa): Promise<void> {
    this.#stored = stored;
    this.#state = await this.#stateOf(stored);
    for (const listener of this.#listeners) listener(this.#state);
  }

  async #stateOf(stored: StoredClusterCa): Promise<ClusterCaState> {
    const flag = this.#options.keyEncryptionKeyFlag ?? "--key-encryption-key-file";
    const keyPem = unseal(stored.key, intermediateKeyPurpose, this.#options.keyEncryptionKey, this.#file, flag);
    const signer = await loadRelayCa({ certPem: stored.certPem, keyPem }, { cert: this.#file, key: this.#file });
    return {
      signer,
      chainPem: [stored.certPem, ...stored.chainPem].map((p) => `${p.trim()}\n`).join(""),
      bundlePem: stored.rootsPem.map((p) => `${p.trim()}\n`).join(""),
      trustDomain: stored.trustDomain,
      notBeforeMs: signer.certificate.notBefore.getTime(),
      notAfterMs: signer.certificate.notAfter.getTime(),
    };
  }

  #read(): StoredClusterCa | undefined {
    let text: string;
    try {
      text = readFileSync(this.#file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new Error(`${this.#file}: ${(err as Error).message}`);
    }
    let stored: Partial<StoredClusterCa>;
    try {
      stored = JSON.parse(text) as Partial<StoredClusterCa>;
    } catch {
      throw new Error(`${this.#file}: not JSON`);
    }
    if (
      stored.version !== 1 ||
      typeof stored.certPem !== "string" ||
      !isSealedText(stored.key) ||
      !Array.isArray(stored.rootsPem)
    ) {
      throw new Error(`${this.#file}: not a stored intermediate CA`);
    }
    return stored as StoredClusterCa;
  }

  #save(stored: StoredClusterCa): void {
    writePrivateFile(this.#file, JSON.stringify(stored));
  }

  async #call<T>(call: (client: ServiceClient<typeof TrustService.method>) => Promise<T>): Promise<T> {
    let last: unknown;
    for (const address of this.#options.relay) {
      const client = createClient(TrustService, address, {
        credentials: this.#options.credentials.channelCredentials(),
        channelOptions: relayChannelOptions,
      });
      try {
        return await call(client);
      } catch (err) {
        last = err;
      } finally {
        client.close();
      }
    }
    throw last;
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
