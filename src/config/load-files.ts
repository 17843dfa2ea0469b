import { readFile, stat } from "node:fs/promises";
import { toErrorData, type WorkerErrorData } from "../lib/index.js";
import type { FileText } from "./file.js";
import { countDocuments, FileLimitError, type FileLimits } from "./limits.js";
import { contentVersion } from "./version.js";

/** What reading and parsing a source gave: a config, an error, or the same version as one already known. */
export type Loading<T> =
  | { readonly version: string; readonly unchanged: true }
  | { readonly version: string; readonly config: T }
  | { readonly version: string; readonly error: Error };

/** Turns files read into a validated config, or throws an error naming the file, line and field. */
export type FilesParser<T> = (files: readonly FileText[], options: unknown) => T | Promise<T>;

export interface FilesInput {
  readonly paths: readonly string[];
  readonly limits: FileLimits;
  /** Versions already taken or already refused: such a reading is not parsed again. */
  readonly known: readonly string[];
  /** Passed to the parser as is (plain data). */
  readonly options?: unknown;
}

/**
 * Reads `paths` within `limits` and parses them. A file that cannot be read throws (a missing one
 * with its ENOENT code, so a file being replaced is waited for); a file over a limit, or that does
 * not parse, is an error with a version, so it is reported once and not retried until it changes.
 */
export async function loadFiles<T>(input: FilesInput, parse: FilesParser<T>): Promise<Loading<T>> {
  const { limits } = input;
  const files: FileText[] = [];
  const parts: string[] = [];
  let refused: Error | undefined;
  for (const path of input.paths) {
    const info = await stat(path);
    if (info.size > limits.maxFileBytes) {
      refused ??= new FileLimitError(
        path,
        `${info.size} bytes, over the limit of ${limits.maxFileBytes} (--config-max-file-bytes); not read`,
      );
      parts.push(path, `size:${info.size}:${info.mtimeMs}`);
      continue;
    }
    const text = await readFile(path, "utf8");
    parts.push(path, text);
    files.push({ path, text });
    const documents = countDocuments(text, limits.maxDocuments);
    if (documents > limits.maxDocuments) {
      refused ??= new FileLimitError(
        path,
        `more than ${limits.maxDocuments} YAML documents, over the limit (--config-max-documents); not parsed`,
      );
    }
  }
  const version = contentVersion(parts);
  if (input.known.includes(version)) return { version, unchanged: true };
  if (refused) return { version, error: refused };
  try {
    return { version, config: await parse(files, input.options) };
  } catch (err) {
    return { version, error: err instanceof Error ? err : new Error(String(err)) };
  }
}

/** What crosses back from a worker thread: the error as plain data. */
export type PlainLoading<T> =
  | { readonly version: string; readonly unchanged: true }
  | { readonly version: string; readonly config: T }
  | { readonly version: string; readonly failure: WorkerErrorData };

export interface FilesTaskInput extends FilesInput {
  /** The parser: a module's URL (compiled JavaScript) and the name of its exported FilesParser. */
  readonly parser: { readonly module: string; readonly name: string };
}

/** The worker thread's task: `loadFiles` with a parser named by module and export. */
export async function loadFilesTask(input: FilesTaskInput): Promise<PlainLoading<unknown>> {
  const module = (await import(input.parser.module)) as Record<string, unknown>;
  const parse = module[input.parser.name];
  if (typeof parse !== "function") throw new Error(`${input.parser.module} exports no parser "${input.parser.name}"`);
  const loading = await loadFiles(input, parse as FilesParser<unknown>);
  if (!("error" in loading)) return loading;
  return { version: loading.version, failure: toErrorData(loading.error) };
}
