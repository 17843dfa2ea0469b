// How `gantry apply` shows the API's answer: kubectl's one line per resource, then its status and
// warnings indented; or the same as data for `-o json` / `-o yaml`.
import { type ApplyResponse, type ApplyResult, ApplyResult_Action } from "../gen/gantry/api/v1/management_pb.js";
import { ResourceStatus_State } from "../gen/gantry/v1/status_pb.js";

/** One resource of the report, as `-o json` and `-o yaml` print it. */
export interface ApplyResultView {
  kind: string;
  namespace: string;
  name: string;
  action: "created" | "configured" | "unchanged";
  /** Rejected: the translator does not serve it as applied (`reasons` say why). */
  status: "Accepted" | "Rejected";
  /** The translator's state: ACCEPTED, WARNING, INVALID or FAILED. */
  state: string;
  reasons: string[];
  warnings: string[];
}

export interface ApplyReportView {
  dryRun: boolean;
  revision: number;
  resources: ApplyResultView[];
}

const actions: Record<ApplyResult_Action, ApplyResultView["action"] | undefined> = {
  [ApplyResult_Action.ACTION_UNSPECIFIED]: undefined,
  [ApplyResult_Action.CREATED]: "created",
  [ApplyResult_Action.CONFIGURED]: "configured",
  [ApplyResult_Action.UNCHANGED]: "unchanged",
};

function resultView(result: ApplyResult): ApplyResultView {
  const action = actions[result.action];
  if (!action) throw new Error(`the server answered an apply without saying what it did to ${result.ref?.name}`);
  return {
    kind: result.ref?.kind ?? "",
    namespace: result.ref?.namespace ?? "",
    name: result.ref?.name ?? "",
    action,
    status: result.rejected ? "Rejected" : "Accepted",
    state: ResourceStatus_State[result.status?.state ?? ResourceStatus_State.STATE_UNSPECIFIED] ?? "UNKNOWN",
    reasons: result.rejected ? [...(result.status?.messages ?? [])] : [],
    warnings: [...result.warnings],
  };
}

export function applyReportView(response: ApplyResponse): ApplyReportView {
  if (response.results.length === 0) {
    // A server from before per-resource results: say what it did rather than print nothing.
    throw new Error(
      `the server ${response.dryRun ? "checked" : `applied (revision ${response.revision}): ${response.changed.length} changed, ${response.unchanged.length} unchanged,`} ` +
        "but reports no per-resource results: it is older than this gantry",
    );
  }
  return { dryRun: response.dryRun, revision: Number(response.revision), resources: response.results.map(resultView) };
}

/**
 * `routetable/default/shop configured` (with ` (dry run)` on a dry run), then `status: Accepted` or
 * `status: Rejected` with a `reason:` line each, then a `warning:` line each.
 */
export function formatApplyReport(report: ApplyReportView): string {
  const lines: string[] = [];
  for (const r of report.resources) {
    lines.push(`${r.kind.toLowerCase()}/${r.namespace}/${r.name} ${r.action}${report.dryRun ? " (dry run)" : ""}`);
    lines.push(`  status: ${r.status}`);
    for (const reason of r.reasons) lines.push(`  reason: ${reason}`);
    for (const warning of r.warnings) lines.push(`  warning: ${warning}`);
  }
  return lines.map((line) => `${line}\n`).join("");
}
