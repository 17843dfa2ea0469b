// The management server's edge for OpenAPI documents: each product's source is read (and URLs and
// files read again on their interval) and checked off the translation path; the results, kept by
// source, are an input of the translation, which turns them into the product's status. A text
// already checked is not checked again (results are kept by its SHA-256).
import { createHash } from "node:crypto";
import type { OpenApiSource } from "../gen/gantry/v1/portal_pb.js";
import type { Timer, Timers } from "../lib/clock.js";
import { checkDocumentText, type DocumentCheck } from "./check.js";
import { describeSource, type ReadOptions, readSource, refreshMsOf, sourceKey } from "./source.js";

export interface OpenApiChecksOptions extends ReadOptions {
  timers: Timers;
  /** Parses and validates one text; default in this thread (the server runs it in its worker pool). */
  check?: (input: { text: string; where: string }) => Promise<DocumentCheck>;
  /** How often a `file` source is read again. Default 60 s. */
  fileRefreshMs?: number;
  /** A source's result changed: translate again. */
  onChange(): void;
}

interface Entry {
  readonly source: OpenApiSource;
  result?: DocumentCheck;
  /** The key of the text last checked (where + SHA-256), when it was readable. */
  textKey?: string;
  timer?: Timer;
  stopped: boolean;
}

function sameCheck(a: DocumentCheck | undefined, b: DocumentCheck): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

/** Follows the OpenAPI sources of the products in the desired state and keeps each one's check. */
export class OpenApiChecks {
  readonly #entries = new Map<string, Entry>();
  /** Checks by text, so an unchanged document read again is not parsed again. */
  readonly #byText = new Map<string, DocumentCheck>();
  readonly #check: (input: { text: string; where: string }) => Promise<DocumentCheck>;
  #version = 0;

  constructor(private readonly options: OpenApiChecksOptions) {
    this.#check = options.check ?? checkDocumentText;
  }

  /** Bumped on every changed result: a translation made at an older version is out of date. */
  get version(): number {
    return this.#version;
  }

  /** The sources in the desired state now: new ones are read and checked, gone ones dropped. */
  track(sources: Iterable<OpenApiSource | undefined>): void {
    const live = new Set<string>();
    for (const source of sources) {
      const key = sourceKey(source);
      if (key === undefined || source === undefined) continue;
      live.add(key);
      if (this.#entries.has(key)) continue;
      const entry: Entry = { source, stopped: false };
      this.#entries.set(key, entry);
      void this.#run(entry);
    }
    for (const [key, entry] of this.#entries) {
      if (live.has(key)) continue;
      entry.stopped = true;
      entry.timer?.cancel();
      this.#entries.delete(key);
    }
    const held = new Set([...this.#entries.values()].flatMap((e) => (e.textKey ? [e.textKey] : [])));
    for (const key of this.#byText.keys()) if (!held.has(key)) this.#byText.delete(key);
  }

  /** Each checked source's result, by `sourceKey`; a source not checked yet is absent. */
  results(): ReadonlyMap<string, DocumentCheck> {
    const out = new Map<string, DocumentCheck>();
    for (const [key, entry] of this.#entries) if (entry.result) out.set(key, entry.result);
    return out;
  }

  stop(): void {
    for (const entry of this.#entries.values()) {
      entry.stopped = true;
      entry.timer?.cancel();
    }
    this.#entries.clear();
    this.#byText.clear();
  }

  async #run(entry: Entry): Promise<void> {
    const where = describeSource(entry.source);
    const read = await readSource(entry.source, this.options);
    let result: DocumentCheck;
    if (read === undefined) return;
    if ("problem" in read) {
      result = { problems: [read.problem], operations: [] };
      delete entry.textKey;
    } else {
      const textKey = `${where}\u0000${createHash("sha256").update(read.text).digest("hex")}`;
      const known = this.#byText.get(textKey);
      result =
        known ??
        (await this.#check({ text: read.text, where }).catch((err: Error) => ({
          problems: [`${where}: cannot be checked: ${err.message}`],
          operations: [],
        })));
      entry.textKey = textKey;
      if (!entry.stopped) this.#byText.set(textKey, result);
    }
    if (entry.stopped) return;
    if (!sameCheck(entry.result, result)) {
      entry.result = result;
      this.#version++;
      this.options.onChange();
    }
    const refreshMs = refreshMsOf(entry.source, this.options.fileRefreshMs ?? 60_000);
    if (Number.isFinite(refreshMs)) {
      entry.timer = this.options.timers.setTimeout(() => void this.#run(entry), refreshMs);
    }
  }
}
