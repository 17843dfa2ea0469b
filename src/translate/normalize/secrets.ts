// Secrets: certificate and key pairs, CA bundles.
import { resourceKey } from "../../resources/index.js";
import type { ModelSecret } from "../model.js";
import type { StatusCollector } from "../status.js";
import type { Index } from "./common.js";

export function normalizeSecrets(index: Index, statuses: StatusCollector): Map<string, ModelSecret> {
  const secrets = new Map<string, ModelSecret>();
  for (const [name, secret] of index.of("Secret")) {
    const key = resourceKey(secret);
    const kind = secret.spec.kind;
    const source = (ds: { source: { case: "inline" | "file"; value: string } | { case: undefined } } | undefined) => {
      if (!ds || ds.source.case === undefined || ds.source.value === "") return undefined;
      return ds.source.case === "inline" ? { inline: ds.source.value } : { file: ds.source.value };
    };
    if (kind.case === "tls") {
      const certificateChain = source(kind.value.certificateChain);
      const privateKey = source(kind.value.privateKey);
      if (!certificateChain) statuses.invalid(key, "spec.tls.certificateChain: required (inline or file)");
      if (!privateKey) statuses.invalid(key, "spec.tls.privateKey: required (inline or file)");
      if (certificateChain && privateKey) secrets.set(name, { name, type: "tls", certificateChain, privateKey });
    } else if (kind.case === "ca") {
      const certificates = source(kind.value.certificates);
      if (!certificates) statuses.invalid(key, "spec.ca.certificates: required (inline or file)");
      else secrets.set(name, { name, type: "ca", certificates });
    } else {
      statuses.invalid(key, "spec: one of tls or ca is required");
    }
  }
  return secrets;
}
