import { secretMatches } from "./token.js";

/*
 * The registry's decisions, as pure functions of a cluster's record and the time: what a token, a
 * certificate or a removal does to it. The stores (memory, Redis) only apply them atomically, so
 * every replica decides alike and a token is used once, whichever replica sees it first.
 */

/** A certificate issued to a cluster; serials are lower-case hex without leading zeros. */
export interface IssuedCertificate {
  readonly serial: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

/** What the agent last reported through the relay (written by the relay, read by get/describe). */
export interface AgentReport {
  readonly connected: boolean;
  /** The server replica the agent's relay stream is on. */
  readonly server: string;
  readonly agentVersion: string;
  readonly snapshotVersion: string;
  readonly resources: number;
  readonly proxies: number;
  /** Set while the agent serves last-known-good configuration. */
  readonly staleSinceMs?: number;
}

export interface ClusterRecord {
  readonly name: string;
  readonly createdAtMs: number;
  readonly token: {
    readonly id: string;
    /** SHA-256 of the secret, hex: the secret itself is never stored. */
    readonly secretSha256: string;
    readonly expiresAtMs: number;
    readonly usedAtMs?: number;
  };
  /** The certificates accepted now: the latest last, and the one it replaced until the agent is done with it. */
  readonly certificates: readonly IssuedCertificate[];
  readonly revokedAtMs?: number;
  readonly lastSeenMs?: number;
  readonly report?: AgentReport;
}

/** Why a registration, a rotation or a relay connection was refused: the metric's `reason` label. */
export type RefusalReason =
  | "token_malformed"
  | "token_invalid"
  | "token_used"
  | "token_expired"
  | "cluster_unknown"
  | "cluster_revoked"
  | "cluster_mismatch"
  | "certificate_missing"
  | "certificate_revoked"
  | "csr_invalid"
  | "ca_mismatch";

export const refusalReasons: readonly RefusalReason[] = [
  "token_malformed",
  "token_invalid",
  "token_used",
  "token_expired",
  "cluster_unknown",
  "cluster_revoked",
  "cluster_mismatch",
  "certificate_missing",
  "certificate_revoked",
  "csr_invalid",
  "ca_mismatch",
];

export class RegistrationRefused extends Error {
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
    this.name = "RegistrationRefused";
  }
}

export class ClusterExists extends Error {
  constructor(name: string) {
    super(`cluster ${name} exists: remove it first (gantry cluster remove ${name}) to register it again`);
    this.name = "ClusterExists";
  }
}

/** A new cluster, or a removed one registered again (its old certificates stay refused: they are not listed). */
export function addedCluster(
  current: ClusterRecord | undefined,
  added: { name: string; tokenId: string; secretSha256: string; tokenTtlMs: number },
  nowMs: number,
): ClusterRecord {
  if (current && current.revokedAtMs === undefined) throw new ClusterExists(added.name);
  return {
    name: added.name,
    createdAtMs: nowMs,
    token: { id: added.tokenId, secretSha256: added.secretSha256, expiresAtMs: nowMs + added.tokenTtlMs },
    certificates: [],
  };
}

export function removedCluster(current: ClusterRecord | undefined, name: string, nowMs: number): ClusterRecord {
  if (!current) throw new RegistrationRefused("cluster_unknown", `cluster ${name} is not registered`);
  if (current.revokedAtMs !== undefined) return current;
  const { report: _dropped, ...rest } = current;
  return { ...rest, certificates: [], revokedAtMs: nowMs };
}

function usable(current: ClusterRecord | undefined, name: string): ClusterRecord {
  if (!current) throw new RegistrationRefused("cluster_unknown", `cluster ${name} is not registered on this server`);
  if (current.revokedAtMs !== undefined) {
    throw new RegistrationRefused(
      "cluster_revoked",
      `cluster ${name} was removed at ${new Date(current.revokedAtMs).toISOString()}`,
    );
  }
  return current;
}

/** The record once `token` is used for `certificate`; refused unless the token is this cluster's, unused and unexpired. */
export function enrolledCluster(
  current: ClusterRecord | undefined,
  request: { name: string; tokenId: string; secret: string; certificate: IssuedCertificate },
  nowMs: number,
): ClusterRecord {
  const record = usable(current, request.name);
  const { token } = record;
  if (token.id !== request.tokenId || !secretMatches(request.secret, token.secretSha256)) {
    throw new RegistrationRefused(
      "token_invalid",
      `the token is not cluster ${request.name}'s current registration token (make a new one: remove and add the cluster)`,
    );
  }
  if (token.usedAtMs !== undefined) {
    throw new RegistrationRefused(
      "token_used",
      `cluster ${request.name}'s registration token was already used at ${new Date(token.usedAtMs).toISOString()}; tokens are single-use`,
    );
  }
  if (nowMs >= token.expiresAtMs) {
    throw new RegistrationRefused(
      "token_expired",
      `cluster ${request.name}'s registration token expired at ${new Date(token.expiresAtMs).toISOString()}`,
    );
  }
  return { ...record, token: { ...token, usedAtMs: nowMs }, certificates: [request.certificate] };
}

/** The certificate `serial` presented for `name`: accepted only if it is one the registry holds now. */
export function acceptedCertificate(
  current: ClusterRecord | undefined,
  name: string,
  serial: string,
  nowMs: number,
): IssuedCertificate {
  const record = usable(current, name);
  const found = record.certificates.find((c) => c.serial === serial);
  if (!found || nowMs >= found.notAfterMs) {
    throw new RegistrationRefused(
      "certificate_revoked",
      `certificate ${serial} of cluster ${name} is no longer accepted (replaced, expired or from an earlier registration)`,
    );
  }
  return found;
}

/** The record once the holder of certificate `presented` got `next`: the two are accepted, older ones no more. */
export function rotatedCluster(
  current: ClusterRecord | undefined,
  request: { name: string; presented: string; next: IssuedCertificate },
  nowMs: number,
): ClusterRecord {
  const record = usable(current, request.name);
  const presented = acceptedCertificate(record, request.name, request.presented, nowMs);
  return { ...record, certificates: [presented, request.next] };
}

/** The record with the agent's report; a removed or unknown cluster takes none. */
export function reportedCluster(
  current: ClusterRecord | undefined,
  name: string,
  report: AgentReport,
  nowMs: number,
): ClusterRecord {
  return { ...usable(current, name), lastSeenMs: nowMs, report };
}

export type ClusterState = "pending" | "registered" | "revoked";

export function stateOf(record: ClusterRecord): ClusterState {
  if (record.revokedAtMs !== undefined) return "revoked";
  return record.token.usedAtMs === undefined ? "pending" : "registered";
}

/**
 * Whether the agent is connected now: it said so, and said it recently (a replica that died cannot
 * say its agents left, so a report older than `presenceTtlMs` counts as disconnected).
 */
export function isConnected(record: ClusterRecord, nowMs: number, presenceTtlMs: number): boolean {
  return (
    record.report?.connected === true && record.lastSeenMs !== undefined && nowMs - record.lastSeenMs < presenceTtlMs
  );
}
