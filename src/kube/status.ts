// What Gantry writes in a custom resource's status, decided purely from the translation's outcome:
// one `Accepted` condition (observedGeneration, reason, message), the state for `kubectl get`, and
// the policies attached to the resource's routes. Written only when it differs from what is there.
import { refKey } from "../resources/index.js";
import {
  appliedPolicies,
  type ProxyGroup,
  policyKinds,
  routeTablesOf,
  State,
  type Status,
} from "../translate/index.js";

export type StatusState = "Accepted" | "Warning" | "Invalid" | "Failed" | "Pending";

export interface Condition {
  type: "Accepted";
  status: "True" | "False" | "Unknown";
  observedGeneration: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface GantryStatus {
  state: StatusState;
  /** The policies applied to the resource's routes, `Kind/namespace/name`, comma-separated. */
  policies: string;
  conditions: Condition[];
}

/** The outcome a status is made from: the translator's, or the loader's refusal of the object. */
export type Outcome = { translated: Status | undefined } | { invalid: readonly string[] };

const byState: Record<State, { state: StatusState; status: Condition["status"]; message: string }> = {
  [State.STATE_UNSPECIFIED]: { state: "Pending", status: "Unknown", message: "not translated yet" },
  [State.ACCEPTED]: { state: "Accepted", status: "True", message: "accepted and served" },
  [State.WARNING]: { state: "Warning", status: "True", message: "" },
  [State.INVALID]: { state: "Invalid", status: "False", message: "" },
  [State.FAILED]: { state: "Failed", status: "False", message: "" },
};

/** Kubernetes keeps times to the second: a time with milliseconds would differ from itself read back. */
function kubeTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

function currentCondition(current: unknown): Partial<Condition> | undefined {
  const conditions = (current as { conditions?: unknown } | undefined)?.conditions;
  if (!Array.isArray(conditions)) return undefined;
  return conditions.find((c: Partial<Condition> | null) => c?.type === "Accepted") as Partial<Condition> | undefined;
}

/**
 * The status an object should have. Its condition's time moves only when the condition's status
 * does (True, False, Unknown), as Kubernetes' conventions ask.
 */
export function desiredStatus(input: {
  outcome: Outcome;
  generation: number;
  policies: readonly string[];
  current: unknown;
  nowMs: number;
}): GantryStatus {
  const { outcome } = input;
  const shape =
    "invalid" in outcome
      ? {
          state: "Invalid" as const,
          status: "False" as const,
          message: `${outcome.invalid.join("\n")}\n(the last valid version is kept)`,
        }
      : (() => {
          const state = outcome.translated?.state ?? State.STATE_UNSPECIFIED;
          const base = byState[state];
          const messages = outcome.translated?.messages ?? [];
          return { ...base, message: messages.length > 0 ? messages.join("\n") : base.message };
        })();
  const previous = currentCondition(input.current);
  const lastTransitionTime =
    previous?.status === shape.status && typeof previous.lastTransitionTime === "string"
      ? previous.lastTransitionTime
      : kubeTime(input.nowMs);
  return {
    state: shape.state,
    policies: [...input.policies].sort().join(", "),
    conditions: [
      {
        type: "Accepted",
        status: shape.status,
        observedGeneration: input.generation,
        lastTransitionTime,
        reason: shape.state,
        message: shape.message,
      },
    ],
  };
}

/** JSON with keys sorted: the same status read back from the API server compares equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

/** Whether the object already shows this status (then nothing is written). */
export function sameStatus(current: unknown, desired: GantryStatus): boolean {
  return canonical(current) === canonical(desired);
}

/**
 * The policies applied to each resource's routes, by `Kind/namespace/name`: a route table's, a
 * destination's and a gateway's rows in `kubectl get` show what shapes their traffic.
 */
export function attachedPolicies(groups: readonly ProxyGroup[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const add = (key: string, policies: readonly string[]) => {
    if (policies.length === 0 || policyKinds.some((kind) => key.startsWith(`${kind}/`))) return;
    const set = out.get(key) ?? new Set<string>();
    out.set(key, set);
    for (const policy of policies) set.add(policy);
  };
  for (const group of groups) {
    const [namespace = "", name = ""] = group.name.split("/", 2);
    const gateway = refKey({ kind: "Gateway", namespace, name });
    for (const listener of group.listeners)
      for (const vhost of listener.virtualHosts)
        for (const route of vhost.routes) {
          const policies = appliedPolicies(route);
          add(gateway, policies);
          for (const key of route.origins) add(key, policies);
          for (const key of routeTablesOf(route)) add(key, policies);
        }
  }
  return out;
}
