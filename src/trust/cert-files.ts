import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { systemClock, type Timer, type Timers } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import { AttestationError } from "./attestor.js";
import type { WorkloadCertificate, WorkloadIssuer, WorkloadWatch } from "./issuer.js";

/*
 * Certificates for proxyless gRPC, as files gRPC's `file_watcher` certificate provider reads:
 *
 *   <certs-dir>/<namespace>/<service-account>/cert-chain.pem, key.pem, root-cert.pem
 *
 * Each name is a symbolic link into `..data/`, itself a link to a folder written whole: a rotation
 * writes a new folder and renames a new `..data` link over the old one, so a reader sees the old
 * three files or the new three, never a certificate beside another key's.
 *
 * Which workloads get files: each `*.token` file in the tokens folder holds one workload's bootstrap
 * token; the agent proves it (an unproven token gets no files) and keeps that workload's files current.
 */

export const certFileNames = { chain: "cert-chain.pem", key: "key.pem", roots: "root-cert.pem" } as const;

/** Writes a workload's three files under `dir` at once (see above). */
export async function writeCertFiles(dir: string, certificate: WorkloadCertificate): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const version = `..${Date.now()}-${randomBytes(4).toString("hex")}`;
  const folder = join(dir, version);
  await mkdir(folder, { mode: 0o700 });
  await writeFile(join(folder, certFileNames.chain), certificate.certChainPem, { mode: 0o644 });
  await writeFile(join(folder, certFileNames.key), certificate.keyPem, { mode: 0o600 });
  await writeFile(join(folder, certFileNames.roots), certificate.bundlePem, { mode: 0o644 });
  const previous = await readlink(join(dir, "..data")).catch(() => undefined);
  const link = join(dir, `..data-${randomBytes(4).toString("hex")}`);
  await symlink(version, link);
  await rename(link, join(dir, "..data"));
  for (const name of Object.values(certFileNames)) {
    await symlink(join("..data", name), join(dir, name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") throw err;
    });
  }
  if (previous && previous !== version) await rm(join(dir, previous), { recursive: true, force: true });
}

export interface WorkloadCertFilesOptions {
  issuer: WorkloadIssuer;
  /** A folder of `*.token` files, one workload's bootstrap token each. */
  tokensDir: string;
  /** Where each workload's files go, under `<namespace>/<service-account>/`. */
  certsDir: string;
  /** How often the tokens folder is read again. Default 2 s. */
  scanIntervalMs?: number;
  timers?: Timers;
  logger?: Logger | undefined;
}

/** Keeps the certificate files of the workloads whose tokens are in the tokens folder. */
export class WorkloadCertFiles {
  readonly #options: WorkloadCertFilesOptions;
  readonly #watched = new Map<string, { token: string; watch: Promise<WorkloadWatch | undefined> }>();
  #timer: Timer | undefined;
  #scanning: Promise<void> | undefined;

  constructor(options: WorkloadCertFilesOptions) {
    this.#options = options;
  }

  async start(): Promise<void> {
    await mkdir(this.#options.certsDir, { recursive: true, mode: 0o755 });
    await this.scan();
    const timers = this.#options.timers ?? systemClock;
    this.#timer = timers.setInterval(() => void this.scan(), this.#options.scanIntervalMs ?? 2_000).unref();
  }

  /** Reads the tokens folder: new or changed tokens are proven and served, removed ones stop. */
  scan(): Promise<void> {
    this.#scanning ??= this.#scanOnce().finally(() => {
      this.#scanning = undefined;
    });
    return this.#scanning;
  }

  stop(): void {
    this.#timer?.cancel();
    for (const { watch } of this.#watched.values()) void watch.then((w) => w?.stop());
    this.#watched.clear();
  }

  async #scanOnce(): Promise<void> {
    const { tokensDir, logger } = this.#options;
    let names: string[];
    try {
      names = (await readdir(tokensDir)).filter((n) => n.endsWith(".token")).sort();
    } catch (err) {
      logger?.warn({ dir: tokensDir, err: (err as Error).message }, "cannot read the workload tokens folder");
      return;
    }
    const seen = new Set<string>();
    for (const name of names) {
      const file = join(tokensDir, name);
      seen.add(file);
      const token = (await readFile(file, "utf8").catch(() => "")).trim();
      const known = this.#watched.get(file);
      if (known?.token === token) continue;
      void known?.watch.then((w) => w?.stop());
      this.#watched.set(file, { token, watch: this.#serve(file, token) });
    }
    for (const [file, { watch }] of this.#watched) {
      if (seen.has(file)) continue;
      void watch.then((w) => w?.stop());
      this.#watched.delete(file);
    }
  }

  async #serve(file: string, token: string): Promise<WorkloadWatch | undefined> {
    const { issuer, certsDir, logger } = this.#options;
    const onCertificate = (certificate: WorkloadCertificate) => {
      const dir = join(certsDir, certificate.identity.namespace, certificate.identity.serviceAccount);
      writeCertFiles(dir, certificate).then(
        () => logger?.info({ dir, spiffeId: certificate.spiffeId }, "workload certificate files written"),
        (err: unknown) =>
          logger?.error({ dir, err: (err as Error).message }, "cannot write workload certificate files"),
      );
    };
    const onRefused = (err: AttestationError) =>
      logger?.warn({ file, reason: err.reason, err: err.message }, "workload token refused: no certificate files");
    try {
      if (token === "") throw new AttestationError("the token file is empty", "invalid");
      return await issuer.watch(token, onCertificate, onRefused);
    } catch (err) {
      onRefused(err instanceof AttestationError ? err : new AttestationError((err as Error).message, "unavailable"));
      return undefined;
    }
  }
}
