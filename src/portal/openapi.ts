// Products' OpenAPI documents: read (inline, file, or fetched from the upstream's schema URL and
// refreshed), parsed and validated with @apidevtools/swagger-parser (OpenAPI 2.0 and 3.x).
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import SwaggerParser from "@apidevtools/swagger-parser";
import { parse as parseYaml } from "yaml";
import type { OpenApiSource } from "../gen/gantry/v1/portal_pb.js";
import { type Clock, systemClock } from "../lib/clock.js";

/** One product's document as last read. */
export interface LoadedDocument {
  /** The document as written (not dereferenced), for the reference renderer; absent when unreadable. */
  document?: Record<string, unknown>;
  /** Why the document is unusable, naming the source (empty: valid). */
  problems: string[];
  /** When it was read (ms). */
  readAt: number;
}

export interface OpenApiOptions {
  /** Relative `file` sources are read from here. */
  baseDir: string;
  clock?: Clock;
  /** Bound on one schema URL fetch. */
  fetchTimeoutMs?: number;
  /** Largest document read, in bytes. */
  maxBytes?: number;
}

const defaultRefreshMs = 5 * 60_000;

/** Where a source is, for messages and as the cache key. */
export function describeSource(source: OpenApiSource | undefined): string {
  switch (source?.source.case) {
    case "inline":
      return "spec.openapi.inline";
    case "file":
      return `spec.openapi.file ${source.source.value}`;
    case "url":
      return `spec.openapi.url ${source.source.value.url}`;
    default:
      return "spec.openapi";
  }
}

/** Parses and validates a document's text. Never throws: problems name `where`. */
export async function checkDocument(text: string, where: string): Promise<Omit<LoadedDocument, "readAt">> {
  let value: unknown;
  try {
    // YAML is a superset of JSON: one parser reads both.
    value = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    return { problems: [`${where}: not YAML or JSON: ${(err as Error).message.split("\n")[0]}`] };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { problems: [`${where}: not an OpenAPI document (expected an object)`] };
  }
  const document = value as Record<string, unknown>;
  try {
    // On a copy: the parser dereferences in place. External references are not followed: a
    // fetched document must not make the portal read its own files or other hosts.
    await SwaggerParser.validate(structuredClone(document) as never, { resolve: { external: false } });
  } catch (err) {
    // The parser's message spans lines (a heading, then one line per finding): one line here.
    const message = (err as Error).message.trim().replace(/\.?\s*\n\s*/g, ": ");
    return { document, problems: [`${where}: invalid OpenAPI document: ${message}`] };
  }
  return { document, problems: [] };
}

/** Reads and caches each product's document; URL sources are fetched again once older than their refresh interval. */
export class OpenApiDocuments {
  readonly #cache = new Map<string, { source: string; loaded: LoadedDocument; refreshMs: number }>();
  readonly #loading = new Map<string, Promise<LoadedDocument>>();
  readonly #clock: Clock;

  constructor(private readonly options: OpenApiOptions) {
    this.#clock = options.clock ?? systemClock;
  }

  /** The product's document, read now if it was never read, its source changed, or a fetched copy is stale. */
  async get(product: string, source: OpenApiSource | undefined): Promise<LoadedDocument> {
    const sourceKey = JSON.stringify(source?.source ?? null, (_k, v: unknown) =>
      typeof v === "bigint" ? String(v) : v,
    );
    const cached = this.#cache.get(product);
    const now = this.#clock.now();
    if (cached && cached.source === sourceKey && now - cached.loaded.readAt < cached.refreshMs) return cached.loaded;
    const running = this.#loading.get(product);
    if (running) return running;
    const load = this.#load(source, now).then((loaded) => {
      // A failed refresh of a fetched document keeps the copy already held.
      const keep = cached && cached.source === sourceKey && loaded.document === undefined && cached.loaded.document;
      const result = keep ? { ...cached.loaded, readAt: loaded.readAt } : loaded;
      this.#cache.set(product, { source: sourceKey, loaded: result, refreshMs: refreshOf(source) });
      return result;
    });
    this.#loading.set(product, load);
    try {
      return await load;
    } finally {
      this.#loading.delete(product);
    }
  }

  /** Drops documents of products that no longer exist. */
  keepOnly(products: ReadonlySet<string>): void {
    for (const product of this.#cache.keys()) if (!products.has(product)) this.#cache.delete(product);
  }

  async #load(source: OpenApiSource | undefined, now: number): Promise<LoadedDocument> {
    const where = describeSource(source);
    const maxBytes = this.options.maxBytes ?? 8 * 1024 * 1024;
    let text: string;
    try {
      switch (source?.source.case) {
        case "inline":
          text = source.source.value;
          break;
        case "file":
          text = await readFile(resolve(this.options.baseDir, source.source.value), "utf8");
          break;
        case "url": {
          const response = await fetch(source.source.value.url, {
            signal: AbortSignal.timeout(this.options.fetchTimeoutMs ?? 5_000),
            headers: { accept: "application/json, application/yaml, text/yaml, */*" },
          });
          if (!response.ok) throw new Error(`answered HTTP ${response.status}`);
          text = await response.text();
          break;
        }
        default:
          return { problems: [], readAt: now };
      }
    } catch (err) {
      return { problems: [`${where}: cannot read: ${(err as Error).message}`], readAt: now };
    }
    if (Buffer.byteLength(text) > maxBytes) {
      return { problems: [`${where}: larger than ${maxBytes} bytes`], readAt: now };
    }
    return { ...(await checkDocument(text, where)), readAt: now };
  }
}

function refreshOf(source: OpenApiSource | undefined): number {
  if (source?.source.case !== "url") return Number.POSITIVE_INFINITY;
  const interval = source.source.value.refreshInterval;
  if (!interval) return defaultRefreshMs;
  return Number(interval.seconds) * 1_000 + Math.floor(interval.nanos / 1e6);
}
