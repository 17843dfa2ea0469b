import { isSealedText, type SealedText } from "./sealed.js";

/*
 * The trust record, as the store keeps it (shared by server replicas): the roots Gantry made, their
 * keys sealed. Decisions on it are pure functions of the record and the time, applied by the store
 * atomically, so replicas agree on which root signs and which are still trusted.
 *
 * The last root signs. A root rotation appends a new root and marks the one before as trusted until
 * the end of the transition: the bundle holds both until then, so certificates from either verify.
 */

export interface StoredRoot {
  readonly certPem: string;
  readonly key: SealedText;
  readonly createdAtMs: number;
  /** Set once a newer root signs: trusted (in the bundle) until then, and signing nothing. */
  readonly trustedUntilMs?: number;
  /** This root's certificate signed by the root before it (a cross certificate), served in chains while that one is trusted. */
  readonly crossPem?: string;
}

export interface TrustRecord {
  readonly version: 1;
  readonly trustDomain: string;
  readonly roots: readonly StoredRoot[];
}

/** What the record's key is sealed for (the AES-GCM additional data). */
export const rootKeyPurpose = "gantry root CA key";

export function parseTrustRecord(text: string, where: string): TrustRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${where}: not JSON`);
  }
  const record = value as Partial<TrustRecord>;
  const rootsOk =
    Array.isArray(record.roots) &&
    record.roots.length > 0 &&
    record.roots.every(
      (r) => typeof r?.certPem === "string" && isSealedText(r.key) && typeof r.createdAtMs === "number",
    );
  if (record.version !== 1 || typeof record.trustDomain !== "string" || !rootsOk) {
    throw new Error(`${where}: not a Gantry trust record (version 1 with roots)`);
  }
  return record as TrustRecord;
}

export function newTrustRecord(trustDomain: string, root: StoredRoot): TrustRecord {
  return { version: 1, trustDomain, roots: [root] };
}

/** The root that signs now. */
export function signingRoot(record: TrustRecord): StoredRoot {
  return record.roots.at(-1) as StoredRoot;
}

/** The roots trusted at `nowMs`: the signing one, and older ones within their transition. */
export function trustedRoots(record: TrustRecord, nowMs: number): StoredRoot[] {
  return record.roots.filter((r) => r.trustedUntilMs === undefined || r.trustedUntilMs > nowMs);
}

/**
 * The CAs to serve between an intermediate and the signing root: its cross certificate while the
 * root before it is still trusted, so peers that hold only the old root verify the new chain.
 */
export function transitionChain(record: TrustRecord, nowMs: number): string[] {
  const signing = signingRoot(record);
  const others = trustedRoots(record, nowMs).filter((r) => r !== signing);
  return signing.crossPem !== undefined && others.length > 0 ? [signing.crossPem] : [];
}

/** The record once `next` signs: the root before it is trusted for `transitionMs` more; roots past theirs are dropped. */
export function rotatedRecord(record: TrustRecord, next: StoredRoot, nowMs: number, transitionMs: number): TrustRecord {
  const roots = trustedRoots(record, nowMs).map((r) =>
    r.trustedUntilMs === undefined ? { ...r, trustedUntilMs: nowMs + transitionMs } : r,
  );
  return { ...record, roots: [...roots, next] };
}
