// `gantry_insight`: one series per active, unsilenced insight's labels (value: how many insights
// share them). Labels are bounded: codes, severities and categories are the registry's; targets
// are only those with an active insight, and past `maxSeries` the rest fold into one series per
// code with empty target labels, so a fleet-wide problem cannot explode the series count.
import { Gauge, type Registry } from "../lib/metrics.js";
import { type InsightBook, isSilenced } from "./book.js";

export const insightMetricName = "gantry_insight";
const labelNames = [
  "code",
  "severity",
  "category",
  "cluster",
  "target_kind",
  "target_namespace",
  "target_name",
] as const;

export function registerInsightMetric(
  registry: Registry,
  book: InsightBook,
  maxSeries = 500,
): Gauge<(typeof labelNames)[number]> {
  return new Gauge({
    name: insightMetricName,
    help: "Active insights (not silenced), by code, severity, category, cluster and primary target",
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      const silences = book.silences;
      let series = 0;
      const seen = new Set<string>();
      for (const insight of book.active()) {
        if (isSilenced(insight, silences)) continue;
        const t = insight.targets[0];
        const full = {
          code: insight.code,
          severity: insight.severity,
          category: insight.category,
          cluster: insight.cluster,
          target_kind: t?.kind ?? "",
          target_namespace: t?.namespace ?? "",
          target_name: t?.name ?? "",
        };
        const key = JSON.stringify(full);
        const labels =
          seen.has(key) || series < maxSeries
            ? full
            : { ...full, target_kind: "", target_namespace: "", target_name: "" };
        if (labels === full && !seen.has(key)) {
          seen.add(key);
          series++;
        }
        this.inc(labels);
      }
    },
  });
}
