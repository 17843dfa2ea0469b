// What an apply does to each resource, decided by comparing documents with what is stored: the
// same comparison the store makes when it leaves identical documents unwritten.
import { refKey } from "../../resources/index.js";
import {
  canonicalJson,
  keyOf,
  type ResourceDocument,
  type ResourceKey,
  type StoredResource,
} from "../../store/index.js";

/** As kubectl says it. An apply never deletes: resources it does not name are left alone. */
export type ApplyAction = "created" | "configured" | "unchanged";

export interface PlannedChange {
  key: ResourceKey;
  action: ApplyAction;
}

/**
 * Per document, in order: `created` when nothing is stored under its key, `unchanged` when the
 * stored document is the same in canonical JSON, `configured` otherwise.
 */
export function planApply(stored: readonly StoredResource[], documents: readonly ResourceDocument[]): PlannedChange[] {
  const byKey = new Map(stored.map((s) => [refKey(s.key), s.document]));
  return documents.map((document) => {
    const key = keyOf(document);
    const before = byKey.get(refKey(key));
    const action: ApplyAction =
      before === undefined ? "created" : canonicalJson(before) === canonicalJson(document) ? "unchanged" : "configured";
    return { key, action };
  });
}

/**
 * A plan made from a snapshot read before the write, made true to what the write reports: another
 * writer may have stored the same document meanwhile (then nothing changed here), or changed one
 * the plan saw as identical (then this write configured it back).
 */
export function settleApply(plan: readonly PlannedChange[], changed: readonly ResourceKey[]): PlannedChange[] {
  const written = new Set(changed.map(refKey));
  return plan.map(({ key, action }) => {
    if (!written.has(refKey(key))) return { key, action: "unchanged" };
    return { key, action: action === "unchanged" ? "configured" : action };
  });
}
