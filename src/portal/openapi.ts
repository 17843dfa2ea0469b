// Products' OpenAPI documents as the portal serves them: read (inline, file, or fetched from the
// upstream's schema URL and refreshed), parsed and validated (src/openapi), cached per product.
import type { OpenApiSource } from "../gen/gantry/v1/portal_pb.js";
import { type Clock, systemClock } from "../lib/clock.js";
import { checkDocument, describeSource, type ReadOptions, readSource, refreshMsOf } from "../openapi/index.js";

/** One product's document as last read. */
export interface LoadedDocument {
  /** The document as written (not dereferenced), for the reference renderer; absent when unreadable. */
  document?: Record<string, unknown>;
  /** Why the document is unusable, naming the source (empty: valid). */
  problems: string[];
  /** When it was read (ms). */
  readAt: number;
}

export interface OpenApiOptions extends ReadOptions {
  clock?: Clock;
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
      // A file is read once per source (the portal serves it as it was when first asked for).
      this.#cache.set(product, {
        source: sourceKey,
        loaded: result,
        refreshMs: refreshMsOf(source, Number.POSITIVE_INFINITY),
      });
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
    const read = await readSource(source, this.options);
    if (read === undefined) return { problems: [], readAt: now };
    if ("problem" in read) return { problems: [read.problem], readAt: now };
    const { document, problems } = await checkDocument(read.text, describeSource(source));
    return { ...(document ? { document } : {}), problems, readAt: now };
  }
}
