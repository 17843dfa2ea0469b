// Parsing and validating an OpenAPI document (2.0, 3.0, 3.1) with @apidevtools/swagger-parser.
import { parse as parseYaml } from "yaml";
import { type Operation, operationsOf } from "./coverage.js";

/** A document as checked: problems naming where it came from (empty: valid), and its operations. */
export interface DocumentCheck {
  problems: string[];
  /** The operations it documents, base path included; empty when it has problems. */
  operations: Operation[];
}

/** A check with the document itself, as written (not dereferenced), when it is at least an object. */
export interface CheckedDocument extends DocumentCheck {
  document?: Record<string, unknown>;
}

/** Parses and validates a document's text. Never throws: problems name `where`. */
export async function checkDocument(text: string, where: string): Promise<CheckedDocument> {
  let value: unknown;
  try {
    // YAML is a superset of JSON: one parser reads both.
    value = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    return { problems: [`${where}: not YAML or JSON: ${(err as Error).message.split("\n")[0]}`], operations: [] };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { problems: [`${where}: not an OpenAPI document (expected an object)`], operations: [] };
  }
  const document = value as Record<string, unknown>;
  // Loaded on first use: the translator imports this folder for its pure parts only.
  const { default: SwaggerParser } = await import("@apidevtools/swagger-parser");
  try {
    // On a copy: the parser dereferences in place. External references are not followed: a
    // fetched document must not make the reader open its own files or other hosts.
    await SwaggerParser.validate(structuredClone(document) as never, { resolve: { external: false } });
  } catch (err) {
    // The parser's message spans lines (a heading, then one line per finding): one line here.
    const message = (err as Error).message.trim().replace(/\.?\s*\n\s*/g, ": ");
    return { document, problems: [`${where}: invalid OpenAPI document: ${message}`], operations: [] };
  }
  return { document, problems: [], operations: operationsOf(document) };
}

/** The check without the document, as plain data: what a worker thread sends back. */
export async function checkDocumentText(input: { text: string; where: string }): Promise<DocumentCheck> {
  const { problems, operations } = await checkDocument(input.text, input.where);
  return { problems, operations };
}
