// The shapes every analyzer and every consumer of insights shares.
import { refKey } from "../resources/index.js";

export type Severity = "INFO" | "WARNING" | "ERROR";
export type Category = "config" | "proxies" | "security" | "data-plane" | "platform";

export const severities: readonly Severity[] = ["INFO", "WARNING", "ERROR"];
export const categories: readonly Category[] = ["config", "proxies", "security", "data-plane", "platform"];

/**
 * What an insight is about. Gantry resources by their kind; other things by a kind of their own:
 * `Proxy` (name: node id), `Redis` (name: its role, e.g. `management`), `Service` (`ratelimit`,
 * `extauth`), `Agent` (name: the agent's cluster). Namespace is "" for those.
 */
export interface Target {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

/** One problem an analyzer found, before the engine gives it times. */
export interface Finding {
  readonly code: string;
  /** The first is the primary target (the metric's labels and `describe` use it); never empty. */
  readonly targets: readonly Target[];
  /** The workload cluster it concerns; "" for the management server's own. */
  readonly cluster?: string;
  /** Tells apart findings of one code on one target (a route's name, a type URL). */
  readonly subject?: string;
  /** The values of the code's summary placeholders. */
  readonly args: Readonly<Record<string, string>>;
  /** What triggered it: values, versions, error text. Never secret material. */
  readonly evidence: Readonly<Record<string, string>>;
}

/** A finding the engine keeps: with its identity and times (clock ms). */
export interface Insight {
  /** Stable across runs: code, cluster, primary target and subject. */
  readonly id: string;
  readonly code: string;
  readonly severity: Severity;
  readonly category: Category;
  readonly summary: string;
  readonly targets: readonly Target[];
  readonly cluster: string;
  readonly subject: string;
  readonly evidence: Readonly<Record<string, string>>;
  readonly firstSeen: number;
  readonly lastSeen: number;
  /** Set once the condition is gone; such an insight is history. */
  readonly resolvedAt?: number;
}

export function targetKey(target: Target): string {
  return refKey(target);
}
