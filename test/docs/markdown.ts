import { readFileSync } from "node:fs";
import { join } from "node:path";

/** What the docs tests read of a markdown file: its fenced code blocks and its tables, with where they are. */

export const root = new URL("../..", import.meta.url).pathname;

/** The docs whose claims these tests hold to the code (the management server, xDS, resources, multicluster, Kubernetes). */
export const auditedDocs = [
  "README.md",
  "docs/server.md",
  "docs/xds.md",
  "docs/resources.md",
  "docs/translation.md",
  "docs/grpc-proxyless.md",
  "docs/multicluster.md",
  "docs/multicluster-routing.md",
  "docs/kubernetes.md",
] as const;

export function readDoc(doc: string): string {
  return readFileSync(join(root, doc), "utf8");
}

export interface CodeBlock {
  doc: string;
  /** The line of the opening fence (1-based). */
  line: number;
  language: string;
  text: string;
  /** The nearest heading above it, without its `#`s. */
  heading: string;
}

export interface Table {
  doc: string;
  line: number;
  heading: string;
  header: string[];
  rows: string[][];
}

/** Splits a table row into cells; `\|` inside a cell is a literal bar. */
function cells(line: string): string[] {
  const inner = line.trim().replace(/^\|/, "").replace(/\|$/, "");
  return inner.split(/(?<!\\)\|/).map((c) => c.trim().replaceAll("\\|", "|"));
}

/** Every fenced code block and every table of a document (tables inside code blocks are not tables). */
export function parseMarkdown(doc: string, text = readDoc(doc)): { blocks: CodeBlock[]; tables: Table[] } {
  const lines = text.split("\n");
  const blocks: CodeBlock[] = [];
  const tables: Table[] = [];
  let heading = "";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const fence = /^(\s*)```(\S*)\s*$/.exec(line);
    if (fence) {
      const indent = fence[1]?.length ?? 0;
      const body: string[] = [];
      let j = i + 1;
      for (; j < lines.length && !/^\s*```\s*$/.test(lines[j] ?? ""); j++) body.push((lines[j] ?? "").slice(indent));
      blocks.push({ doc, line: i + 1, language: fence[2] ?? "", text: `${body.join("\n")}\n`, heading });
      i = j;
      continue;
    }
    const h = /^#+\s+(.*)$/.exec(line);
    if (h) {
      heading = h[1] ?? "";
      continue;
    }
    if (line.startsWith("|") && /^\|[\s:|-]+\|\s*$/.test(lines[i + 1] ?? "")) {
      const table: Table = { doc, line: i + 1, heading, header: cells(line), rows: [] };
      let j = i + 2;
      for (; j < lines.length && (lines[j] ?? "").startsWith("|"); j++) table.rows.push(cells(lines[j] ?? ""));
      tables.push(table);
      i = j - 1;
    }
  }
  return { blocks, tables };
}

/** The contents of the backtick code spans of a markdown text. */
export function codeSpans(text: string): string[] {
  return [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? "");
}
