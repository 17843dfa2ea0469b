// The metric names and labels the docs, the README, the alert rules and the Grafana dashboards
// name, and what a process's /metrics actually exports, so a test can hold the first to the second.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("../../", import.meta.url).pathname;

/** The files a user reads metric names from. */
export function documentedFiles(): string[] {
  const docs = readdirSync(join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => join("docs", f));
  const dashboards = readdirSync(join(root, "deploy/grafana/dashboards"))
    .filter((f) => f.endsWith(".json"))
    .map((f) => join("deploy/grafana/dashboards", f));
  return ["README.md", ...docs, "deploy/prometheus/alerts.yml", ...dashboards].sort();
}

/** `gantry_…` words that are no metric, with what they are. */
const notMetrics: ReadonlyMap<string, string> = new Map([
  ["gantry_ui_login", "the dashboard's login cookie (docs/ui.md)"],
]);

export interface MetricMention {
  /** As written: a family, or a histogram's `_bucket` / `_sum` / `_count` series. */
  name: string;
  file: string;
  /** Label names in a selector right after the name (`name{a="x", b}`). */
  labels: string[];
}

// A selector's label names: each word that starts a matcher (`a=`, `a!=`, `a=~`, `a!~`) or stands
// alone as docs write it (`{reason}`, `{kind,state}`), once quoted values are gone.
function selectorLabels(selector: string): string[] {
  const bare = selector.replace(/\\?"(?:[^"\\]|\\.)*?\\?"/g, '""');
  return [...bare.matchAll(/(?:^|[{,])\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?=!=|=~|!~|=|,|\}|$)/g)].map(
    (m) => m[1] as string,
  );
}

/** Every mention of a metric in `text` (of `file`), with the labels of its selector. */
export function metricMentions(text: string, file: string): MetricMention[] {
  const mentions: MetricMention[] = [];
  for (const m of text.matchAll(/\b(gantry_[a-z0-9_]*[a-z0-9])(\{[^}\n]*\})?/g)) {
    const name = m[1] as string;
    if (notMetrics.has(name)) continue;
    mentions.push({ name, file, labels: m[2] ? selectorLabels(m[2]) : [] });
  }
  return mentions;
}

/**
 * The labels of a metrics table's label cell: the backticked names outside parentheses, and where
 * the cell reads "`label`: its values", only the names before a colon.
 */
function labelCell(cell: string): string[] {
  const bare = cell.replace(/\([^)]*\)/g, "");
  const named = [...bare.matchAll(/`([a-z_][a-z0-9_]*)`:/g)].map((m) => m[1] as string);
  return named.length > 0 ? named : [...bare.matchAll(/`([a-z_][a-z0-9_]*)`/g)].map((m) => m[1] as string);
}

/**
 * The rows of the docs' metrics tables (a first column of metric names, a column headed
 * "labels"): each metric of a row with the labels its row lists.
 */
export function metricTableRows(text: string, file: string): MetricMention[] {
  const rows: MetricMention[] = [];
  let labelsColumn = -1;
  for (const line of text.split("\n")) {
    if (!line.startsWith("|")) {
      labelsColumn = -1;
      continue;
    }
    const cells = line.split(/(?<!\\)\|/).slice(1, -1);
    if (labelsColumn < 0) {
      labelsColumn = cells.findIndex((c) => c.trim().toLowerCase() === "labels");
      if (labelsColumn >= 0 && !/`gantry_/.test(cells[0] ?? "") && !/metric/i.test(cells[0] ?? "")) labelsColumn = -1;
      continue;
    }
    const labels = labelCell(cells[labelsColumn] ?? "");
    for (const m of (cells[0] ?? "").matchAll(/`(gantry_[a-z0-9_]*[a-z0-9])`/g)) {
      rows.push({ name: m[1] as string, file, labels });
    }
  }
  return rows;
}

/** Every mention in every documented file, and every row of its metrics tables. */
export function documentedMetrics(): MetricMention[] {
  return documentedFiles().flatMap((file) => {
    const text = readFileSync(join(root, file), "utf8");
    return [...metricMentions(text, file), ...metricTableRows(text, file)];
  });
}

/**
 * The PromQL of the alert rules and dashboards, each with the labels it aggregates by
 * (`by (a, b)`, `without (a)`) and the metrics it reads.
 */
export function deployedQueries(): Array<{ file: string; expr: string; metrics: string[]; byLabels: string[] }> {
  const exprs: Array<{ file: string; expr: string }> = [];
  const alerts = readFileSync(join(root, "deploy/prometheus/alerts.yml"), "utf8");
  // Each rule's expression: a one-line `expr:` or a block scalar under it.
  for (const m of alerts.matchAll(/^(\s*)expr:\s*(?:[|>]-?\s*\n((?:\1\s+.*\n?)+)|(.+))$/gm)) {
    exprs.push({ file: "deploy/prometheus/alerts.yml", expr: (m[2] ?? m[3] ?? "").trim() });
  }
  for (const file of documentedFiles().filter((f) => f.endsWith(".json"))) {
    const dashboard = JSON.parse(readFileSync(join(root, file), "utf8")) as {
      panels: Array<{ targets?: Array<{ expr?: string }> }>;
    };
    for (const panel of dashboard.panels)
      for (const t of panel.targets ?? []) if (t.expr) exprs.push({ file, expr: t.expr });
  }
  return exprs.map(({ file, expr }) => ({
    file,
    expr,
    metrics: [...new Set([...expr.matchAll(/\bgantry_[a-z0-9_]*[a-z0-9]/g)].map((m) => m[0]))],
    byLabels: [...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) =>
      (m[1] as string)
        .split(",")
        .map((l) => l.trim())
        .filter((l) => l !== ""),
    ),
  }));
}

export interface ExportedFamily {
  type: string;
  /** Label names seen on its samples (none when it has no sample yet). */
  labels: Set<string>;
  sampled: boolean;
}

/** The families of a Prometheus text exposition (`# TYPE` lines), with their samples' label names. */
export function exportedFamilies(
  exposition: string,
  into = new Map<string, ExportedFamily>(),
): Map<string, ExportedFamily> {
  const lines = exposition.split("\n");
  for (const line of lines) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type && !into.has(type[1] as string))
      into.set(type[1] as string, { type: type[2] as string, labels: new Set(), sampled: false });
  }
  for (const line of lines) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s/.exec(line);
    if (!sample) continue;
    const family = familyOf(sample[1] as string, into);
    if (!family) continue;
    family.sampled = true;
    for (const m of (sample[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) family.labels.add(m[1] as string);
  }
  return into;
}

/** The family a series name belongs to: itself, or the histogram or summary it is a part of. */
export function familyOf(name: string, families: ReadonlyMap<string, ExportedFamily>): ExportedFamily | undefined {
  const exact = families.get(name);
  if (exact) return exact;
  const part = /^(.*)_(bucket|sum|count)$/.exec(name);
  const base = part ? families.get(part[1] as string) : undefined;
  if (
    base &&
    (base.type === "histogram" || base.type === "summary") &&
    (part?.[2] !== "bucket" || base.type === "histogram")
  ) {
    return base;
  }
  return undefined;
}

/** Labels every series carries without the exporter naming them: Prometheus's target labels, a histogram's `le`. */
export const implicitLabels = new Set(["job", "instance", "le", "quantile"]);
