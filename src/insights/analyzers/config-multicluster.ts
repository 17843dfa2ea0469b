// Multi-cluster analyzers: a VirtualDestination member cluster that Envoy callers elsewhere cannot
// reach, for want of an east-west gateway (GTY0111). Translation decides it; this reports it.
import { parseRefKey } from "../../resources/index.js";
import { unreachableClusterOf } from "../../translate/index.js";
import type { Finding } from "../types.js";
import type { ConfigInput } from "./config-input.js";

export function missingEastWestGateways(input: ConfigInput): Finding[] {
  const out: Finding[] = [];
  for (const [key, status] of input.statuses) {
    if (!key.startsWith("VirtualDestination/")) continue;
    const target = parseRefKey(key);
    for (const message of status.messages) {
      const unreachable = unreachableClusterOf(message);
      if (!unreachable) continue;
      out.push({
        code: "GTY0111",
        targets: [target, parseRefKey(`Gateway/${unreachable.gateway}`)],
        subject: `${unreachable.cluster}|${unreachable.gateway}`,
        args: { name: `${target.namespace}/${target.name}`, ...unreachable },
        evidence: { message },
      });
    }
  }
  return out;
}
