import { readFileSync } from "node:fs";
import type { Command, Option } from "commander";
import { describe, expect, it } from "vitest";
import { buildProgram } from "../../src/cli/main.js";

/**
 * The flag tables of docs/extauth.md and docs/ratelimit.md say what each flag of `gantry extauth` and
 * `gantry ratelimit` is called, which environment variable sets it and what its default is. Both
 * directions are checked against the commands themselves: every row names real flags with those
 * variables and defaults, and every flag of the command has a row. docs/security.md's tables of the
 * server's and the agent's trust flags are checked the first way (they list only those flags).
 */
interface FlagRow {
  readonly flags: string[];
  readonly envs: string[];
  readonly defaultText: string;
  readonly line: string;
}

const root = new URL("../..", import.meta.url).pathname;

/** The flag rows of a doc's tables; with `after`, only the first table after the line starting so. */
function flagRows(doc: string, after?: string): FlagRow[] {
  const text = readFileSync(`${root}${doc}`, "utf8");
  const ticks = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? "");
  let lines = text.split("\n");
  if (after !== undefined) {
    const start = lines.findIndex((l) => l.startsWith(after));
    if (start < 0) throw new Error(`${doc}: no line starts with ${after}`);
    const tableStart = lines.findIndex((l, i) => i > start && l.startsWith("|"));
    const tableEnd = lines.findIndex((l, i) => i > tableStart && !l.startsWith("|"));
    lines = lines.slice(tableStart, tableEnd);
  }
  return lines
    .filter((line) => line.startsWith("| `--"))
    .map((line) => {
      const [flagCell = "", envCell = "", defaultCell = ""] = line.split("|").slice(1);
      return {
        flags: ticks(flagCell).filter((t) => t.startsWith("--")),
        envs: ticks(envCell),
        defaultText: defaultCell.trim(),
        line,
      };
    });
}

/** The words a table uses for "no default": the feature is off or the value unset. */
const unset = /^(—|none\b|plaintext\b|generated\b)/;

/** "off": a switch that defaults to false, or a setting with no value (the feature is off). */
const off = Symbol("off");

/** What the command's option defaults to, as the table writes it. */
function documentedDefault(option: Option, row: FlagRow): unknown {
  const text = row.defaultText.replaceAll("`", "");
  if (option.negate) return text === "cache on" ? true : text;
  if (/^off\b/.test(text)) return off;
  if (unset.test(text)) return undefined;
  // "8388608 (8 MiB)": the value, then a gloss.
  const value = text.replace(/\s+\(.*\)$/, "");
  return /^\d+(\.\d+)?$/.test(value) ? Number(value) : value;
}

function actualDefault(option: Option): unknown {
  if (option.negate) return option.defaultValue ?? true;
  // A default shown as a word ("256Mi", "the number of cores") is documented as that word.
  if (option.defaultValueDescription !== undefined) return option.defaultValueDescription;
  return option.defaultValue;
}

function subcommand(name: string): Command {
  const command = buildProgram().commands.find((c) => c.name() === name);
  if (!command) throw new Error(`no subcommand ${name}`);
  return command;
}

describe.each([
  { name: "extauth", doc: "docs/extauth.md", complete: true },
  { name: "ratelimit", doc: "docs/ratelimit.md", complete: true },
  { name: "server", doc: "docs/security.md", after: "Server (`gantry server`", complete: false },
  { name: "agent", doc: "docs/security.md", after: "Agent (`gantry agent`)", complete: false },
])("gantry $name's flags in $doc", ({ name, doc, after, complete }) => {
  const command = subcommand(name);
  const rows = flagRows(doc, after);
  const options = new Map(command.options.map((o) => [o.long ?? "", o]));

  it("finds the table", () => {
    expect(rows.length).toBeGreaterThan(0);
  });

  it("lists each flag once", () => {
    const flags = rows.flatMap((r) => r.flags);
    expect(flags.filter((f, i) => flags.indexOf(f) !== i)).toEqual([]);
  });

  it("names flags the command has, with the environment variable it reads", () => {
    const wrong: string[] = [];
    for (const row of rows) {
      row.flags.forEach((flag, i) => {
        const option = options.get(flag);
        if (!option) wrong.push(`${flag}: no such flag`);
        else if (option.envVar !== row.envs[i])
          wrong.push(`${flag}: env ${option.envVar}, the doc says ${row.envs[i]}`);
      });
    }
    expect(wrong).toEqual([]);
  });

  it("gives each flag's default", () => {
    const wrong: string[] = [];
    for (const row of rows) {
      for (const flag of row.flags) {
        const option = options.get(flag);
        if (!option) continue;
        const [actual, documented] = [actualDefault(option), documentedDefault(option, row)];
        const matches = documented === off ? actual === false || actual === undefined : actual === documented;
        if (!matches)
          wrong.push(`${flag}: default ${String(actual)}, the doc says ${String(documented)} (${row.defaultText})`);
      }
    }
    expect(wrong).toEqual([]);
  });

  // The security tables list only the flags about keys and certificates: no test is declared for them
  // (a skipped test would read as a missing tool).
  if (complete) {
    it("has a row for every flag of the command", () => {
      const documented = new Set(rows.flatMap((r) => r.flags));
      const missing = [...options.keys()].filter((flag) => flag !== "--help" && !documented.has(flag));
      expect(missing).toEqual([]);
    });
  }
});
