import type { FileText } from "../config/index.js";
import {
  type LoadResult,
  parseDocument,
  parseResourceFiles,
  type RejectedDocument,
  type Resource,
  resourceKey,
} from "../resources/index.js";
import type { ResourceDocument } from "../store/index.js";
import { resourceToDocument } from "./documents.js";

/**
 * The management server's parsing, as pure functions of plain data: what runs in a worker thread
 * (config folder files, documents an apply sends) so that a large input never holds the event
 * loop that serves xDS and the API. Everything returned is plain data: protobuf-es messages are
 * plain objects, so they cross threads as they are.
 */

/** A config folder's files parsed, with each resource's canonical stored form. */
export interface ParsedFiles extends LoadResult {
  /** `resourceToDocument` of each resource, in the same order. */
  readonly documents: ResourceDocument[];
}

export function parseConfigDirFiles(files: readonly FileText[]): ParsedFiles {
  const loaded = parseResourceFiles(files);
  return { ...loaded, documents: loaded.resources.map(resourceToDocument) };
}

/** Parses one document given as a JSON value; `where` names it in messages. */
export type DocumentParser = (value: unknown, where: string) => Resource | RejectedDocument;

export interface CheckedDocuments {
  resources: Resource[];
  problems: string[];
}

/**
 * Parses documents as the file loader checks files: the same envelope, names and spec schemas.
 * A document may be JSON text (parsed here, so in the worker thread). Either the resources, or every problem, each naming the document (its position in the
 * request), the resource and the field.
 */
export function checkDocuments(documents: readonly unknown[], parse: DocumentParser = parseDocument): CheckedDocuments {
  const resources: Resource[] = [];
  const problems: string[] = [];
  /** Where each resource was first seen: one apply names a resource once. */
  const seen = new Map<string, number>();
  documents.forEach((document, index) => {
    const value = typeof document === "string" ? parseJsonText(document, index) : document;
    if (value instanceof JsonTextError) {
      problems.push(value.message);
      return;
    }
    const parsed = parse(value, `document ${index + 1}`);
    if ("errors" in parsed) {
      for (const error of parsed.errors) problems.push(error);
      return;
    }
    const key = resourceKey(parsed);
    const first = seen.get(key);
    if (first !== undefined) {
      const { namespace, name } = parsed.metadata;
      problems.push(
        `document ${index + 1}: ${parsed.kind} ${namespace}/${name}: also in document ${first + 1}; an apply names each resource once`,
      );
      return;
    }
    seen.set(key, index);
    resources.push(parsed);
  });
  return { resources, problems };
}

class JsonTextError {
  constructor(readonly message: string) {}
}

/** A document sent as JSON text (ApplyRequest.documents_json): a JSON object, or a problem naming it. */
function parseJsonText(text: string, index: number): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return new JsonTextError(`document ${index + 1}: not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return new JsonTextError(
      `document ${index + 1}: expected a JSON object (one resource), got ${Array.isArray(value) ? "an array" : typeof value === "object" ? "null" : typeof value}`,
    );
  }
  return value;
}

/** The worker thread's form of checkDocuments (its parser is the schema's). */
export function checkDocumentsTask(documents: readonly unknown[]): CheckedDocuments {
  return checkDocuments(documents);
}
