import { readdirSync, readFileSync } from "node:fs";

/** The Grafana dashboards the local stack provisions (deploy/grafana/dashboards). */
const folder = new URL("../../deploy/grafana/dashboards/", import.meta.url);

export interface PanelQuery {
  dashboard: string;
  panel: string;
  expr: string;
}

interface Dashboard {
  uid: string;
  title: string;
  panels: Array<{ title: string; targets?: Array<{ expr?: string }> }>;
}

export function dashboards(): Array<{ file: string; dashboard: Dashboard }> {
  return readdirSync(folder)
    .filter((file) => file.endsWith(".json"))
    .sort()
    .map((file) => ({ file, dashboard: JSON.parse(readFileSync(new URL(file, folder), "utf8")) as Dashboard }));
}

/** Every PromQL query of every panel. */
export function panelQueries(): PanelQuery[] {
  return dashboards().flatMap(({ file, dashboard }) =>
    dashboard.panels.flatMap((panel) =>
      (panel.targets ?? []).flatMap((t) => (t.expr ? [{ dashboard: file, panel: panel.title, expr: t.expr }] : [])),
    ),
  );
}

/**
 * Metrics a dashboard or alert queries that no test here makes a process export yet, with the reason.
 * A query on one of them must still parse; it may return no series. Empty this as the work lands.
 */
export const pendingMetrics: ReadonlyMap<string, string> = new Map<string, string>([]);
