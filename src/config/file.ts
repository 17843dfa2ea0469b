import { readFile } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { contentVersion, WatchedProvider, type WatchOptions } from "./watched.js";

/** What a file provider parses: the file's text and where it came from (for error messages). */
export interface FileText {
  readonly path: string;
  readonly text: string;
}

export interface FileProviderOptions<T> extends WatchOptions<FileText, T> {
  file: string;
}

/**
 * A provider of one file. Its folder is watched, not the file, because editors and Kubernetes
 * ConfigMaps replace files by renaming (a ConfigMap swaps its `..data` link); a write that leaves
 * the content as it was makes no new snapshot.
 */
export function fileProvider<T>(options: FileProviderOptions<T>): WatchedProvider<FileText, T> {
  const path = resolve(options.file);
  const name = basename(path);
  return new WatchedProvider<FileText, T>(
    {
      source: path,
      folder: dirname(path),
      recursive: false,
      relevant: (changed) => changed === null || changed === name || changed.startsWith(".."),
      read: async () => {
        const text = await readFile(path, "utf8");
        return { version: contentVersion([text]), input: { path, text } };
      },
    },
    options,
  );
}
