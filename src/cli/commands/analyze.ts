// `gantry analyze DIR`: the configuration (and certificate) analyzers on resource files, offline.
// Exits 1 when any finding is an ERROR; `--format sarif` writes SARIF 2.1.0 for code scanning.
import { writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { relative } from "node:path";
import { type Command, Option } from "commander";
import { analyzeFiles, codeInfo, docsAnchor, type Located, summarize, toSarif } from "../../insights/index.js";
import { loadResources } from "../../resources/index.js";
import { ExitStatus } from "../exit.js";
import { formatTable } from "../table.js";

type Format = "text" | "json" | "sarif";

async function toolVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL("../../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

function textReport(located: readonly Located[]): string {
  if (located.length === 0) return "No findings.\n";
  return formatTable(
    ["SEVERITY", "CODE", "WHERE", "SUMMARY"],
    located.map(({ finding, location }) => [
      codeInfo(finding.code).severity,
      finding.code,
      location ? `${location.file}:${location.line}` : "-",
      summarize(finding.code, finding.args),
    ]),
  );
}

function jsonReport(located: readonly Located[]): object {
  return {
    findings: located.map(({ finding, location }) => {
      const info = codeInfo(finding.code);
      return {
        code: finding.code,
        name: info.name,
        severity: info.severity,
        category: info.category,
        summary: summarize(finding.code, finding.args),
        targets: finding.targets,
        ...(finding.subject ? { subject: finding.subject } : {}),
        evidence: finding.evidence,
        ...(location ? { file: location.file, line: location.line } : {}),
        resolution: info.resolution,
        docs: `docs/insights.md#${docsAnchor(finding.code)}`,
      };
    }),
  };
}

export function registerAnalyze(program: Command): void {
  program
    .command("analyze")
    .description(
      "analyze resource files offline (the configuration and certificate insights); exit status 1 on a finding of --fail-on severity",
    )
    .argument("<paths...>", "files or folders of gantry/v1 YAML documents (folders are read recursively)")
    .addOption(new Option("--format <format>", "report format").choices(["text", "json", "sarif"]).default("text"))
    .option("--output <file>", "write the report to this file instead of standard output")
    .option("--fail-on <severity>", "the lowest severity that makes the exit status 1 (ERROR, WARNING, INFO)", "ERROR")
    .action(async (paths: string[], flags: { format: Format; output?: string; failOn: string }) => {
      const failOn = flags.failOn.toUpperCase();
      const order = ["INFO", "WARNING", "ERROR"];
      if (!order.includes(failOn)) throw new Error(`--fail-on "${flags.failOn}": expected ERROR, WARNING or INFO`);
      const loaded = await loadResources(paths).catch((err: unknown) => {
        throw new Error(`cannot read ${paths.join(", ")}: ${(err as Error).message}`);
      });
      const base = process.cwd();
      const located = await analyzeFiles(loaded, Date.now(), (file) => relative(base, file).split("\\").join("/"));
      const report =
        flags.format === "sarif"
          ? `${JSON.stringify(toSarif(located, await toolVersion()), null, 2)}\n`
          : flags.format === "json"
            ? `${JSON.stringify(jsonReport(located), null, 2)}\n`
            : textReport(located);
      if (flags.output) writeFileSync(flags.output, report);
      else process.stdout.write(report);
      const failing = located.filter(
        ({ finding }) => order.indexOf(codeInfo(finding.code).severity) >= order.indexOf(failOn),
      );
      if (failing.length > 0) {
        throw new ExitStatus(1, `${failing.length} finding(s) at ${failOn} or above`);
      }
    });
}
