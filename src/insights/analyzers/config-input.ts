// What the configuration analyzers read: the resources, and what translation made of them. The
// server passes its last translation; `gantry analyze` translates the files itself.
import type { RejectedDocument, Resource } from "../../resources/index.js";
import {
  type GatewayKind,
  type ModelListener,
  type Status,
  type Translation,
  translate,
} from "../../translate/index.js";

export interface ConfigInput {
  readonly resources: readonly Resource[];
  /** Every resource's status, by `Kind/namespace/name`. */
  readonly statuses: ReadonlyMap<string, Status>;
  /** Each gateway's (`namespace/name`) kind of client and listeners, as served. */
  readonly gateways: readonly {
    readonly name: string;
    readonly kind: GatewayKind;
    readonly listeners: readonly ModelListener[];
  }[];
}

export function configInputOf(resources: readonly Resource[], translation: Translation): ConfigInput {
  return {
    resources,
    statuses: translation.statuses,
    gateways: translation.groups.map((g) => ({ name: g.name, kind: g.kind, listeners: g.listeners })),
  };
}

/** Translates resources read from files (pure), for analysis without a server. */
export function translateForAnalysis(
  resources: readonly Resource[],
  rejected: readonly RejectedDocument[],
): ConfigInput {
  return configInputOf(resources, translate(resources, {}, rejected));
}
