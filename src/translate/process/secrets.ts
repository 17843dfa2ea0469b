// Secrets: the certificates the group's listeners serve and its clusters present or trust.

import { kindKey } from "../../resources/index.js";
import type { GroupContext } from "./group.js";

/** The secrets the group's listeners and clusters name, in name order; blamed on the secret. */
export function processSecrets(group: GroupContext): void {
  const { gateway, model, compute } = group;
  const names = new Set<string>();
  for (const listener of gateway.listeners) {
    if (listener.tls) names.add(listener.tls.secret);
    if (listener.tls?.clientCa) names.add(listener.tls.clientCa);
  }
  for (const name of group.clusters) {
    const tls = model.clusters.get(name)?.tls;
    if (tls?.caSecret) names.add(tls.caSecret);
    if (tls?.clientSecret) names.add(tls.clientSecret);
  }
  for (const name of [...names].sort()) {
    const secret = model.secrets.get(name);
    if (secret) group.add(compute.secret(secret), kindKey("Secret", name), "Secret", name);
  }
}
