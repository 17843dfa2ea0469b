// Proxy analyzers: disconnected (GTY0201), stale (GTY0202), NACKing (GTY0203), version skew
// (GTY0204). Pure: the input is what the xDS server knows now (ProxyTracker and the ACK ledger).
import type { ClientResourceStatus } from "../../xds/index.js";
import type { Finding, Target } from "../types.js";

export interface ConnectedProxy {
  readonly nodeId: string;
  /** The node's user agent name ("envoy", "gRPC Node"), "" if it sent none. */
  readonly userAgent: string;
  /** Its version as it reports it, "" if none. */
  readonly version: string;
}

export interface DepartedProxy {
  readonly nodeId: string;
  /** Clock ms its last stream closed. */
  readonly since: number;
}

export interface ProxyInput {
  readonly now: number;
  readonly connected: readonly ConnectedProxy[];
  /** Proxies whose every stream closed, and which have not come back. */
  readonly departed: readonly DepartedProxy[];
  /** The ACK ledger's rows: per client and resource. */
  readonly resources: readonly ClientResourceStatus[];
}

export interface ProxyThresholds {
  /** A sent version unanswered this long is stale. Default 60 s. */
  readonly staleAfterMs: number;
  /** A departed proxy is reported after this grace (restarts reconnect within it). Default 30 s. */
  readonly disconnectedAfterMs: number;
  /** A departed proxy is forgotten after this (scaled down on purpose). Default 1 h. */
  readonly forgetAfterMs: number;
}

export const defaultProxyThresholds: ProxyThresholds = {
  staleAfterMs: 60_000,
  disconnectedAfterMs: 30_000,
  forgetAfterMs: 3_600_000,
};

function proxy(nodeId: string): Target {
  return { kind: "Proxy", namespace: "", name: nodeId };
}

function shortType(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf(".") + 1);
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)}s`;
}

export function disconnectedProxies(input: ProxyInput, t: ProxyThresholds = defaultProxyThresholds): Finding[] {
  return input.departed
    .filter((d) => input.now - d.since >= t.disconnectedAfterMs && input.now - d.since < t.forgetAfterMs)
    .map((d) => ({
      code: "GTY0201",
      targets: [proxy(d.nodeId)],
      args: { node: d.nodeId, since: new Date(d.since).toISOString() },
      evidence: { disconnectedAt: new Date(d.since).toISOString() },
    }));
}

/** One finding per client and type: NACKs and stale versions come a response (a type) at a time. */
function byNodeAndType(rows: readonly ClientResourceStatus[]): Map<string, ClientResourceStatus[]> {
  const out = new Map<string, ClientResourceStatus[]>();
  for (const row of rows) {
    const key = `${row.nodeId}\u0000${row.typeUrl}`;
    const list = out.get(key);
    if (list) list.push(row);
    else out.set(key, [row]);
  }
  return out;
}

export function nackingProxies(input: ProxyInput): Finding[] {
  const nacked = input.resources.filter((r) => r.state === "nacked");
  return [...byNodeAndType(nacked).values()].map((rows) => {
    const first = rows[0] as ClientResourceStatus;
    const names = rows.map((r) => r.name).sort();
    return {
      code: "GTY0203",
      targets: [proxy(first.nodeId)],
      subject: first.typeUrl,
      args: { node: first.nodeId, type: shortType(first.typeUrl), resources: names.join(", "), error: first.error },
      evidence: {
        typeUrl: first.typeUrl,
        resources: names.join(","),
        error: first.error,
        refusedVersion: first.version,
        runningVersion: first.clientVersion,
        since: new Date(Math.min(...rows.map((r) => r.since ?? input.now))).toISOString(),
      },
    };
  });
}

export function staleProxies(input: ProxyInput, t: ProxyThresholds = defaultProxyThresholds): Finding[] {
  const stale = input.resources.filter(
    (r) => r.state === "pending" && r.sent && r.since !== undefined && input.now - r.since >= t.staleAfterMs,
  );
  return [...byNodeAndType(stale).values()].map((rows) => {
    const first = rows[0] as ClientResourceStatus;
    const oldest = Math.min(...rows.map((r) => r.since ?? input.now));
    return {
      code: "GTY0202",
      targets: [proxy(first.nodeId)],
      subject: first.typeUrl,
      args: { node: first.nodeId, type: shortType(first.typeUrl), age: seconds(input.now - oldest) },
      evidence: {
        typeUrl: first.typeUrl,
        resources: rows.map((r) => r.name).join(","),
        sentAt: new Date(oldest).toISOString(),
        runningVersion: first.clientVersion,
        sentVersion: first.version,
      },
    };
  });
}

/**
 * Per user agent, the version most proxies run; each proxy running another is reported. A tie
 * takes the higher version as the expected one (a rollout moves forward).
 */
export function versionSkew(input: ProxyInput): Finding[] {
  const byAgent = new Map<string, Map<string, number>>();
  for (const p of input.connected) {
    if (!p.version) continue;
    const counts = byAgent.get(p.userAgent) ?? new Map<string, number>();
    counts.set(p.version, (counts.get(p.version) ?? 0) + 1);
    byAgent.set(p.userAgent, counts);
  }
  const expected = new Map<string, string>();
  for (const [agent, counts] of byAgent) {
    if (counts.size < 2) continue;
    const [top] = [...counts].sort(([va, a], [vb, b]) => b - a || vb.localeCompare(va, undefined, { numeric: true }));
    if (top) expected.set(agent, top[0]);
  }
  return input.connected
    .filter((p) => p.version && expected.has(p.userAgent) && expected.get(p.userAgent) !== p.version)
    .map((p) => {
      const want = expected.get(p.userAgent) ?? "";
      return {
        code: "GTY0204",
        targets: [proxy(p.nodeId)],
        args: { node: p.nodeId, agent: p.userAgent || "proxy", version: p.version, expected: want },
        evidence: { userAgent: p.userAgent, version: p.version, expected: want },
      };
    });
}

export function analyzeProxies(input: ProxyInput, thresholds: ProxyThresholds = defaultProxyThresholds): Finding[] {
  return [
    ...disconnectedProxies(input, thresholds),
    ...nackingProxies(input),
    ...staleProxies(input, thresholds),
    ...versionSkew(input),
  ];
}
