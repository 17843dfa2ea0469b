// Cluster agents: disconnected (GTY0505), stale snapshot (GTY0506) and discovered names a user's
// resources hold (GTY0507). The agent subsystem is built
// apart; it feeds this analyzer through the small interface below.
import { parseRefKey } from "../../resources/index.js";
import type { Finding, Target } from "../types.js";

export interface AgentState {
  /** The workload cluster the agent serves. */
  readonly cluster: string;
  readonly connected: boolean;
  /** Clock ms of its last contact (connected: now, or its last heartbeat). */
  readonly lastSeen: number;
  /** The snapshot version the server published for its cluster, and the one the agent last took. */
  readonly publishedVersion: string;
  readonly agentVersion: string;
  /** Clock ms the published version was published. */
  readonly publishedAt: number;
  /** Its discovered documents left out for a user's resource of the stored name (`Kind/namespace/name` keys). */
  readonly conflicts?: readonly { stored: string; discovered: string }[];
}

export interface AgentThresholds {
  /** A disconnected agent is reported after this grace. Default 60 s. */
  readonly disconnectedAfterMs: number;
  /** A snapshot not taken this long after publication is stale. Default 120 s. */
  readonly staleAfterMs: number;
}

export const defaultAgentThresholds: AgentThresholds = { disconnectedAfterMs: 60_000, staleAfterMs: 120_000 };

function agent(cluster: string): Target {
  return { kind: "Agent", namespace: "", name: cluster };
}

export function analyzeAgents(
  agents: readonly AgentState[],
  now: number,
  t: AgentThresholds = defaultAgentThresholds,
): Finding[] {
  const out: Finding[] = [];
  for (const a of agents) {
    for (const { stored, discovered } of a.conflicts ?? []) {
      out.push({
        code: "GTY0507",
        targets: [parseRefKey(stored), agent(a.cluster)],
        cluster: a.cluster,
        subject: discovered,
        args: { cluster: a.cluster, stored, discovered },
        evidence: { stored, discovered },
      });
    }
    if (!a.connected) {
      if (now - a.lastSeen >= t.disconnectedAfterMs) {
        const since = new Date(a.lastSeen).toISOString();
        out.push({
          code: "GTY0505",
          targets: [agent(a.cluster)],
          cluster: a.cluster,
          args: { cluster: a.cluster, since },
          evidence: { lastSeen: since },
        });
      }
      continue;
    }
    if (a.agentVersion !== a.publishedVersion && now - a.publishedAt >= t.staleAfterMs) {
      const behind = `${Math.round((now - a.publishedAt) / 1000)}s`;
      out.push({
        code: "GTY0506",
        targets: [agent(a.cluster)],
        cluster: a.cluster,
        args: { cluster: a.cluster, agentVersion: a.agentVersion || "none", version: a.publishedVersion, behind },
        evidence: {
          agentVersion: a.agentVersion,
          publishedVersion: a.publishedVersion,
          publishedAt: new Date(a.publishedAt).toISOString(),
        },
      });
    }
  }
  return out;
}
