// Where a product's OpenAPI document comes from, and reading it: inline, a file, or the upstream's
// schema URL.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { resolve, sep } from "node:path";
import type { OpenApiSource } from "../gen/gantry/v1/portal_pb.js";

/** Where a source is, as messages name it: the field and its value. */
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

/**
 * A source's identity, the key its check is kept under: an inline document by its content's
 * SHA-256, a file by its path, a URL by itself and its refresh interval. Undefined for no source. The same in the
 * translator (which looks checks up) and at the edge (which makes them).
 */
export function sourceKey(source: OpenApiSource | undefined): string | undefined {
  switch (source?.source.case) {
    case "inline":
      return `inline:${createHash("sha256").update(source.source.value).digest("hex")}`;
    case "file":
      return `file:${source.source.value}`;
    case "url":
      // With its interval: a source read on another schedule is another source.
      return `url:${refreshMsOf(source, 0)}:${source.source.value.url}`;
    default:
      return undefined;
  }
}

export interface ReadOptions {
  /** `file` sources are read from here, and only under it. */
  baseDir: string;
  /** Bound on one schema URL fetch. Default 5 s. */
  fetchTimeoutMs?: number;
  /** Largest document read, in bytes. Default 8 MiB. */
  maxBytes?: number;
}

export const defaultMaxDocumentBytes = 8 * 1024 * 1024;

/** A source's text, or why it cannot be read (naming the source). Never throws. */
export async function readSource(
  source: OpenApiSource | undefined,
  options: ReadOptions,
): Promise<{ text: string } | { problem: string } | undefined> {
  const where = describeSource(source);
  const maxBytes = options.maxBytes ?? defaultMaxDocumentBytes;
  let text: string;
  try {
    switch (source?.source.case) {
      case "inline":
        text = source.source.value;
        break;
      case "file": {
        // Only under the base directory: a resource must not make Gantry read (and quote) its other files.
        const base = resolve(options.baseDir);
        const path = resolve(base, source.source.value);
        if (!path.startsWith(base + sep)) return { problem: `${where}: outside ${base}; only files under it are read` };
        text = await readFile(path, "utf8");
        break;
      }
      case "url": {
        const response = await fetch(source.source.value.url, {
          signal: AbortSignal.timeout(options.fetchTimeoutMs ?? 5_000),
          headers: { accept: "application/json, application/yaml, text/yaml, */*" },
        });
        if (!response.ok) throw new Error(`answered HTTP ${response.status}`);
        const body = await readAtMost(response, maxBytes);
        if (body === undefined) return { problem: `${where}: larger than ${maxBytes} bytes` };
        text = body;
        break;
      }
      default:
        return undefined;
    }
  } catch (err) {
    return { problem: `${where}: cannot read: ${(err as Error).message}` };
  }
  if (Buffer.byteLength(text) > maxBytes) return { problem: `${where}: larger than ${maxBytes} bytes` };
  return { text };
}

/** A response's body as text, or undefined (and the rest not read) once it passes `maxBytes`. */
async function readAtMost(response: Response, maxBytes: number): Promise<string | undefined> {
  if (Number(response.headers.get("content-length") ?? "0") > maxBytes || !response.body) {
    await response.body?.cancel();
    return response.body ? undefined : "";
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      // Leaving the loop cancels the stream: a server streaming without end is not read further.
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** How often a source is read again: a URL's refresh interval (default 5 minutes); inline never. */
export function refreshMsOf(source: OpenApiSource | undefined, fileRefreshMs: number): number {
  switch (source?.source.case) {
    case "url": {
      const interval = source.source.value.refreshInterval;
      if (!interval) return 5 * 60_000;
      return Number(interval.seconds) * 1_000 + Math.floor(interval.nanos / 1e6);
    }
    case "file":
      return fileRefreshMs;
    default:
      return Number.POSITIVE_INFINITY;
  }
}
