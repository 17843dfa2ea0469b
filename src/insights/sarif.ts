// Findings as a SARIF 2.1.0 log, for code scanning in users' CI: one rule per registry code, one
// result per finding, located at the file and line of the resource it concerns.
import { codeInfo, docsAnchor, insightCodes, summarize } from "./codes.js";
import { type Finding, type Severity, targetKey } from "./types.js";

export const sarifSchemaUri = "https://json.schemastore.org/sarif-2.1.0.json";

const levels: Record<Severity, "error" | "warning" | "note"> = { ERROR: "error", WARNING: "warning", INFO: "note" };

export interface Located {
  readonly finding: Finding;
  /** The file (relative to the analyzed folder, `/`-separated) and line of the primary target, when known. */
  readonly location?: { readonly file: string; readonly line: number };
}

export function toSarif(located: readonly Located[], toolVersion: string): object {
  const rules = [...insightCodes.values()].filter((c) => c.category === "config" || c.category === "security");
  const ruleIndex = new Map(rules.map((r, i) => [r.code, i]));
  return {
    $schema: sarifSchemaUri,
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "gantry",
            version: toolVersion,
            rules: rules.map((r) => ({
              id: r.code,
              name: r.name,
              shortDescription: { text: r.name.replace(/([a-z])([A-Z])/g, "$1 $2") },
              fullDescription: { text: r.details },
              help: { text: `${r.resolution} (docs/insights.md#${docsAnchor(r.code)})` },
              defaultConfiguration: { level: levels[r.severity] },
              properties: { category: r.category },
            })),
          },
        },
        results: located.map(({ finding, location }) => ({
          ruleId: finding.code,
          ...(ruleIndex.has(finding.code) ? { ruleIndex: ruleIndex.get(finding.code) } : {}),
          level: levels[codeInfo(finding.code).severity],
          message: { text: summarize(finding.code, finding.args) },
          ...(location
            ? {
                locations: [
                  {
                    physicalLocation: {
                      artifactLocation: { uri: location.file },
                      region: { startLine: Math.max(1, location.line) },
                    },
                  },
                ],
              }
            : {}),
          partialFingerprints: {
            gantryInsight: [finding.code, ...finding.targets.map(targetKey), finding.subject ?? ""].join("|"),
          },
        })),
      },
    ],
  };
}
