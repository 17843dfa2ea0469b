// What a source that provides its whole set of resources at once (a config folder, a cluster's
// custom resources) does with each snapshot: bring the store in step with it. One reconciler per
// source, so each source deletes only what it defined itself.
import { refKey } from "../resources/index.js";
import type { ResourceKey, WriteResult } from "./types.js";

/** One source's whole set, as its provider offers it. */
export interface SourceSet<R> {
  /** The valid entries. */
  readonly valid: readonly R[];
  /** Entries the source still names but refused: their last good version stays stored. */
  readonly refused: readonly ResourceKey[];
}

export interface ReconcilerOptions<R> {
  keyOf(entry: R): ResourceKey;
  /** Stores entries, all or none. */
  write(entries: readonly R[]): Promise<WriteResult>;
  delete(keys: readonly ResourceKey[]): Promise<WriteResult>;
  /**
   * The form of an entry compared with the one last written: an entry whose form did not change
   * since (and that was not refused meanwhile) is not written again, for a source whose snapshot
   * follows every change of any one entry. Without it every valid entry is written on every
   * snapshot, so a reload re-asserts the source over other writers (the store itself skips
   * identical documents).
   */
  formOf?(entry: R): string;
}

export interface Reconciled<R> {
  /** The entries given to `write` (none when nothing was to be written). */
  written: readonly R[];
  /** The write's result, when there was one. */
  result: WriteResult | undefined;
  /** Keys the source defined before and no longer names, given to `delete`. */
  gone: readonly ResourceKey[];
  /** Keys whose stored content changed by the write, and by the deletion. */
  applied: ResourceKey[];
  deleted: ResourceKey[];
}

export class SourceReconciler<R> {
  readonly #options: ReconcilerOptions<R>;
  /** What the source named at the last snapshot taken (valid or refused), by `Kind/namespace/name`. */
  #owned = new Map<string, ResourceKey>();
  /** The form last written of each entry (kept while it is refused), when `formOf` is given. */
  readonly #forms = new Map<string, string>();
  #refused = new Set<string>();

  constructor(options: ReconcilerOptions<R>) {
    this.#options = options;
  }

  /**
   * Writes the new or changed entries in one batch, then deletes what the source no longer names.
   * A failure rejects and leaves what this reconciler knows as it was, so the same snapshot (or a
   * later one) can be reconciled again: nothing is counted as done that was not.
   */
  async reconcile(set: SourceSet<R>): Promise<Reconciled<R>> {
    const { keyOf, formOf } = this.#options;
    const present = new Map<string, ResourceKey>();
    const forms = new Map<string, string>();
    const written: R[] = [];
    for (const entry of set.valid) {
      const key = keyOf(entry);
      const k = refKey(key);
      present.set(k, key);
      if (!formOf) {
        written.push(entry);
        continue;
      }
      const form = formOf(entry);
      forms.set(k, form);
      if (form !== this.#forms.get(k) || this.#refused.has(k)) written.push(entry);
    }
    for (const key of set.refused) present.set(refKey(key), key);
    const gone = [...this.#owned].filter(([k]) => !present.has(k)).map(([, key]) => key);
    const result = written.length > 0 ? await this.#options.write(written) : undefined;
    const deleted = gone.length > 0 ? (await this.#options.delete(gone)).changed : [];
    this.#owned = present;
    for (const [k, form] of forms) this.#forms.set(k, form);
    for (const key of gone) this.#forms.delete(refKey(key));
    this.#refused = new Set(set.refused.map(refKey));
    return { written, result, gone, applied: result?.changed ?? [], deleted };
  }
}
