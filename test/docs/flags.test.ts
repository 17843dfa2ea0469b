import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { buildProgram } from "../../src/cli/main.js";
import { auditedDocs, codeSpans, parseMarkdown, readDoc, type Table } from "./markdown.js";

/**
 * The flags the audited docs name are the CLI's: each flag table's flags, environment variables and
 * defaults are what `gantry <command> --help` shows (read from the CLI's own option definitions), each command table's flags are its command's,
 * and every `--flag` the docs spell in code is a flag of some gantry command (or of the other tool the
 * line runs: kubectl, helm, envoy).
 */

interface Flag {
  env?: string;
  default?: string;
}

/**
 * Each command's flags as `--help` prints them (Commander's own option objects: the env variable, and
 * the default or its description), by command path ("server", "cluster add").
 */
function collect(command: Command, path: string[], into: Map<string, Map<string, Flag>>): void {
  const flags = new Map<string, Flag>();
  for (const option of command.options) {
    if (!option.long) continue;
    const shown =
      option.defaultValueDescription ?? (option.defaultValue === undefined ? undefined : String(option.defaultValue));
    flags.set(option.long, {
      ...(option.envVar ? { env: option.envVar } : {}),
      ...(shown === undefined ? {} : { default: shown }),
    });
  }
  into.set(path.join(" "), flags);
  for (const sub of command.commands) collect(sub, [...path, sub.name()], into);
}

const help = new Map<string, Map<string, Flag>>();
collect(buildProgram(), [], help);

/** The command a flag table documents, by doc and the heading it sits under. */
const tableCommands: Array<{ doc: string; heading: RegExp; command: string }> = [
  { doc: "docs/server.md", heading: /^`gantry server`$/, command: "server" },
  { doc: "docs/xds.md", heading: /^Bounds across connections$/, command: "server" },
  { doc: "docs/multicluster.md", heading: /^`gantry agent`$/, command: "agent" },
  { doc: "docs/multicluster.md", heading: /^Server flags$/, command: "server" },
  { doc: "docs/grpc-proxyless.md", heading: /^1\. Write the bootstrap$/, command: "bootstrap" },
  { doc: "docs/server.md", heading: /^`gantry bootstrap` \(Envoy\)$/, command: "bootstrap" },
  { doc: "docs/kubernetes.md", heading: /^Leader election$/, command: "server" },
];

const flagTables = auditedDocs.flatMap((doc) => parseMarkdown(doc).tables).filter((t) => t.header[0] === "flag");

function commandOf(table: Table): string {
  const found = tableCommands.find((c) => c.doc === table.doc && c.heading.test(table.heading));
  if (!found)
    throw new Error(`${table.doc}:${table.line}: test/docs/flags.test.ts does not know whose flags these are`);
  return found.command;
}

/** A documented default as the CLI would print it: byte sizes in bytes, the value before any remark. */
function normalDefault(cell: string): string | undefined {
  const value = cell.replaceAll("`", "").split(/[\s;(]/)[0] ?? "";
  const bytes = /^(\d+)(Ki|Mi|Gi)$/.exec(value);
  if (bytes) return String(Number(bytes[1]) * 1024 ** ["Ki", "Mi", "Gi"].indexOf(bytes[2] ?? "Ki") * 1024);
  return /^\d+$/.test(value) ? value : undefined;
}

/** Tools other than gantry whose flags the docs show on their own lines. */
const otherTools = /^(kubectl|helm|envoy|docker|curl|ratelimit|npm|node)\b/;

/** Other tools' flags the docs name in prose, for comparison. */
const foreignFlags = new Set([
  "--discovery-token-ca-cert-hash", // kubeadm's, the model of the token's CA pin
  "--trace", // bench/xds-propagation/run.mjs's
]);

describe("the docs' flag tables are the CLI's flags", () => {
  it("finds the tables", () => {
    expect(flagTables.length).toBeGreaterThanOrEqual(6);
  });

  it.each(flagTables.map((t) => [`${t.doc}:${t.line}`, t] as const))("%s", (_, table) => {
    const command = commandOf(table);
    const flags = help.get(command);
    expect(flags, command).toBeDefined();
    const envColumn = table.header.indexOf("env");
    const defaultColumn = table.header.indexOf("default");
    const problems: string[] = [];
    for (const row of table.rows) {
      const named = codeSpans(row[0] ?? "").flatMap((s) => s.match(/--[\w-]+/g) ?? []);
      const envs = envColumn < 0 ? [] : codeSpans(row[envColumn] ?? "").filter((s) => /^GANTRY_\w+$/.test(s));
      named.forEach((flag, i) => {
        const shown = flags?.get(flag);
        if (!shown) {
          problems.push(`${flag}: not a flag of gantry ${command}`);
          return;
        }
        // One env per flag, in order, when the row lists them all; a lone one belongs to the first flag.
        const env = envs.length === named.length ? envs[i] : i === 0 ? envs[0] : undefined;
        if (env !== undefined && shown.env !== env)
          problems.push(`${flag}: env ${env} documented, --help says ${shown.env}`);
        const envCell = envColumn < 0 ? "" : (row[envColumn] ?? "").trim();
        if (envColumn >= 0 && /^(|—|-)$/.test(envCell) && shown.env !== undefined)
          problems.push(`${flag}: no env documented, --help says ${shown.env}`);
        const documented =
          named.length === 1 && defaultColumn >= 0 ? normalDefault(row[defaultColumn] ?? "") : undefined;
        if (documented !== undefined && normalDefault(shown.default ?? "") !== documented)
          problems.push(`${flag}: default ${documented} documented, --help says ${shown.default}`);
      });
    }
    expect(problems).toEqual([]);
  });
});

describe("every flag the docs spell is a gantry flag", () => {
  it.each(auditedDocs.map((d) => [d]))("%s", (doc) => {
    const known = new Set([...help.values()].flatMap((flags) => [...flags.keys()]));
    known.add("--help");
    const text = readDoc(doc);
    const { blocks } = parseMarkdown(doc, text);
    // A command line of another tool (after any VAR=value) is that tool's; everything else is read as gantry's.
    const gantrys = (line: string) =>
      !otherTools.test(
        line
          .replace(/^\$\s*/, "")
          .replace(/^(\w+=\S*\s+)+/, "")
          .trim(),
      );
    const prose = text.replace(/^\s*```[^\n]*\n[\s\S]*?^\s*```\s*$/gm, "");
    const blockLines = blocks
      .filter((b) => b.language !== "yaml" && b.language !== "json")
      .flatMap((b) => b.text.replace(/\\\n\s*/g, " ").split("\n"));
    const spelled = new Set(
      [...codeSpans(prose), ...blockLines]
        .filter(gantrys)
        .flatMap((s) => s.match(/(?<![\w-])--[a-z][\w-]*(\*[\w-]*)*/g) ?? []),
    );
    // `--xds-tls-*`, `--relay-ca-*-file`: a family of flags, at least one of which must exist.
    const exists = (spelling: string) => {
      if (!spelling.includes("*")) return known.has(spelling) || foreignFlags.has(spelling);
      const pattern = new RegExp(`^${spelling.replaceAll("*", "[\\w-]+")}$`);
      return [...known].some((f) => pattern.test(f));
    };
    expect([...spelled].filter((f) => !exists(f)).sort()).toEqual([]);
  });
});

describe("the multicluster commands table", () => {
  it("names only flags its commands have", () => {
    const table = parseMarkdown("docs/multicluster.md").tables.find((t) => t.header[0] === "command");
    const problems: string[] = [];
    for (const row of table?.rows ?? []) {
      const span = codeSpans(row[0] ?? "")[0] ?? "";
      const words = span.split(/\s+/).slice(1);
      const command = words.filter((w, i) => /^[a-z]+$/.test(w) && words.slice(0, i).every((p) => /^[a-z]+$/.test(p)));
      const key = help.has(command.join(" ")) ? command.join(" ") : command.slice(0, 1).join(" ");
      for (const flag of span.match(/--[\w-]+|(?<=[[\s])-o\b/g) ?? []) {
        const long = flag === "-o" ? "--output" : flag;
        if (!help.get(key)?.has(long)) problems.push(`${span}: ${flag} is not a flag of gantry ${key}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
