import { parseResources } from "../resources/index.js";
import type { ResourceDocument } from "../store/index.js";

/**
 * Checks documents that arrive through the management API as the file loader checks files: the
 * same envelope, names and spec schemas. Messages name the document (its position in the request),
 * the resource and the field.
 */
export function validateDocuments(documents: readonly ResourceDocument[]): string[] {
  const problems: string[] = [];
  documents.forEach((document, index) => {
    const { rejected } = parseResources(JSON.stringify(document), `document ${index + 1}`);
    for (const bad of rejected) problems.push(...bad.errors);
  });
  return problems;
}
