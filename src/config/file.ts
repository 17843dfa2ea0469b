import { basename, dirname, resolve } from "node:path";
import { filesLoader, WatchedProvider, type WatchOptions } from "./watched.js";

/** What a file provider parses: the file's text and where it came from (for error messages). */
export interface FileText {
  readonly path: string;
  readonly text: string;
}

export type FileProviderOptions<T> = WatchOptions<FileText, T> & { file: string };

/**
 * A provider of one file. Its folder is watched, not the file, because editors and Kubernetes
 * ConfigMaps replace files by renaming (a ConfigMap swaps its `..data` link); a write that leaves
 * the content as it was makes no new snapshot. Off the thread (`worker`), the parser gets a list
 * of one file.
 */
export function fileProvider<T>(options: FileProviderOptions<T>): WatchedProvider<T> {
  const path = resolve(options.file);
  const name = basename(path);
  const load = filesLoader(options, (files) => files[0] as FileText);
  return new WatchedProvider<T>(
    {
      source: path,
      folder: dirname(path),
      recursive: false,
      relevant: (changed) => changed === null || changed === name || changed.startsWith(".."),
      load: (known) => load([path], known),
    },
    options,
  );
}
