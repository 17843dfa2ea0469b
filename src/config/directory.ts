import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { FileText } from "./file.js";
import { contentVersion, WatchedProvider, type WatchOptions } from "./watched.js";

export interface DirectoryProviderOptions<T> extends WatchOptions<readonly FileText[], T> {
  dir: string;
  /** Read sub-folders too. */
  recursive: boolean;
  /** Which files are config, by name (not path). */
  accept(name: string): boolean;
}

/** The accepted files under `dir`, in name order, folders in place (depth first). */
async function listFiles(dir: string, options: DirectoryProviderOptions<unknown>): Promise<string[]> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (options.recursive) files.push(...(await listFiles(path, options)));
    } else if (options.accept(entry.name)) {
      files.push(path);
    }
  }
  return files;
}

/**
 * A provider of a folder of files, read as one snapshot: a change to any file is a new version of
 * the whole, so a config spread over files is never seen half old, half new.
 */
export function directoryProvider<T>(options: DirectoryProviderOptions<T>): WatchedProvider<readonly FileText[], T> {
  const dir = resolve(options.dir);
  return new WatchedProvider<readonly FileText[], T>(
    {
      source: dir,
      folder: dir,
      recursive: options.recursive,
      relevant: () => true,
      read: async () => {
        let paths: string[];
        try {
          paths = await listFiles(dir, options);
        } catch (err) {
          // Reported as an error even when missing: a folder, unlike a file, is not replaced by rename.
          throw new Error(`${dir}: cannot read the config directory: ${(err as Error).message}`);
        }
        // A file gone since the listing fails with ENOENT, and the reload waits for the next event.
        const files = await Promise.all(paths.map(async (path) => ({ path, text: await readFile(path, "utf8") })));
        return { version: contentVersion(files.flatMap((f) => [f.path, f.text])), input: files };
      },
    },
    options,
  );
}
