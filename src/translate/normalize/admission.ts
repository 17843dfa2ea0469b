// Which route tables a gateway's listeners admit, and, for one none serves, why: the user sees which
// listeners there are and what each wanted (hosts, namespace, labels) or why it did not serve it.
import type { RouteTableSelector } from "../../gen/gantry/v1/gateway_pb.js";
import { matchesSelector, type ResourceOf } from "../../resources/index.js";

/** A listener as admission sees it. */
export interface ListenerAdmission {
  /** How the message names it: `listener web (port 8080)`, or `its gRPC clients` for a proxyless gateway. */
  label: string;
  /** The field of its selectors: `spec.listeners[0].allowedRouteTables`. */
  field: string;
  selectors: readonly RouteTableSelector[];
  /** An EAST_WEST listener, which takes no route tables. */
  eastWest: boolean;
}

export function admits(selectors: readonly RouteTableSelector[], rt: ResourceOf<"RouteTable">): boolean {
  if (selectors.length === 0) return true;
  return selectors.some((s) => selectorMisses(s, rt).length === 0);
}

/** What a selector wants that the route table does not have; empty when it admits it. */
function selectorMisses(selector: RouteTableSelector, rt: ResourceOf<"RouteTable">): string[] {
  const misses: string[] = [];
  if (selector.host !== "" && !rt.spec.hosts.includes(selector.host)) misses.push(`host "${selector.host}"`);
  if (selector.namespace !== "" && selector.namespace !== rt.metadata.namespace) {
    misses.push(`namespace ${selector.namespace}`);
  }
  if (!matchesSelector({ labels: selector.labels, namespace: "" }, rt.metadata)) {
    misses.push(`labels ${labelsText(selector.labels)}`);
  }
  return misses;
}

function labelsText(labels: Readonly<Record<string, string>>): string {
  const entries = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.length === 0 ? "none" : entries.map(([k, v]) => `${k}=${v}`).join(",");
}

/** Why one listener does not serve the route table. */
function listenerReason(listener: ListenerAdmission, rt: ResourceOf<"RouteTable">): string {
  if (listener.eastWest) return `${listener.label} is EAST_WEST and takes no route tables`;
  if (admits(listener.selectors, rt)) {
    return rt.spec.hosts.length === 0
      ? `${listener.label} admits it, but it has no spec.hosts`
      : `${listener.label} admits it, but another route table serves each of its hosts there`;
  }
  const wants = listener.selectors.map((s, i) => `[${i}] wants ${selectorMisses(s, rt).join(" and ")}`);
  return `${listener.label}: ${listener.field}${wants.join(", ")}`;
}

/**
 * The status message of a route table that names a gateway none of whose listeners serves it:
 * "not admitted" when none admits it, "not served" when one does but serves none of its hosts.
 */
export function notServedMessage(
  gateway: string,
  listeners: readonly ListenerAdmission[],
  rt: ResourceOf<"RouteTable">,
): string {
  const admitted = listeners.some((l) => !l.eastWest && admits(l.selectors, rt));
  const head = `${admitted ? "not served" : "not admitted"} by any listener of Gateway ${gateway}`;
  if (listeners.length === 0) return `${head}: it has no listeners`;
  const facts = `(hosts ${rt.spec.hosts.join(",") || "none"}; labels ${labelsText(rt.metadata.labels)})`;
  return `${head} ${facts}: ${listeners.map((l) => listenerReason(l, rt)).join("; ")}`;
}
