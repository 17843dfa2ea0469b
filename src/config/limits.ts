/**
 * Bounds on one config file, checked before it is parsed: a file over them is refused with an
 * error naming it, and the last good config keeps serving. They bound what one file can make a
 * process spend (time in a worker thread, memory), whatever its shape.
 */
export interface FileLimits {
  /** Bytes in one file, at most (checked before reading it). */
  readonly maxFileBytes: number;
  /** YAML documents (`---`-separated) in one file, at most (counted before parsing). */
  readonly maxDocuments: number;
}

export const defaultFileLimits: FileLimits = { maxFileBytes: 8 * 1024 * 1024, maxDocuments: 10_000 };

/** A file over a FileLimits bound. */
export class FileLimitError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = "FileLimitError";
  }
}

/**
 * The number of YAML documents in `text`, counting at most `max + 1`: a `---` at the start of a
 * line opens one, and content before the first marker is one too. Cheaper than parsing, so a file
 * of 350,000 documents is refused before any is parsed.
 */
export function countDocuments(text: string, max: number): number {
  let count = 0;
  let content = false;
  for (let at = 0; at < text.length && count <= max; ) {
    let end = text.indexOf("\n", at);
    if (end < 0) end = text.length;
    const marker = text.startsWith("---", at) && (end === at + 3 || /[\s]/.test(text[at + 3] ?? ""));
    if (marker) {
      count += 1;
      content = true;
    } else if (!content && !/^\s*(#.*)?$/.test(text.slice(at, Math.min(end, at + 256)))) {
      // Content before any marker is the first document.
      count += 1;
      content = true;
    }
    at = end + 1;
  }
  return count;
}
