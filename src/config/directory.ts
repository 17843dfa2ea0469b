import { readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { FileText } from "./file.js";
import { filesLoader, WatchedProvider, type WatchOptions } from "./watched.js";

export type DirectoryProviderOptions<T> = WatchOptions<readonly FileText[], T> & {
  dir: string;
  /** Read sub-folders too. */
  recursive: boolean;
  /** Which files are config, by name (not path). */
  accept(name: string): boolean;
};

/**
 * Whether an entry is a Kubernetes volume's own bookkeeping: a ConfigMap or Secret mounted as a
 * folder holds its files in a `..<timestamp>` folder, a `..data` link to it, and a link per key to
 * `..data/<key>`. The keys' links are the files; reading the folder too would read each one twice.
 */
function isVolumeBookkeeping(name: string): boolean {
  return name.startsWith("..");
}

/** The accepted files under `dir`, in name order, folders in place (depth first). */
async function listFiles(dir: string, options: DirectoryProviderOptions<unknown>): Promise<string[]> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  const files: string[] = [];
  for (const entry of entries) {
    if (isVolumeBookkeeping(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      // Appended one by one: spreading a long list into push() overflows the stack.
      if (options.recursive) for (const file of await listFiles(path, options)) files.push(file);
    } else if (options.accept(entry.name)) {
      files.push(path);
    }
  }
  return files;
}

/**
 * A provider of a folder of files, read as one snapshot: a change to any file is a new version of
 * the whole, so a config spread over files is never seen half old, half new. Files are read through
 * links, so a mounted ConfigMap's atomic swap of `..data` is a change of the files behind its keys.
 */
export function directoryProvider<T>(options: DirectoryProviderOptions<T>): WatchedProvider<T> {
  const dir = resolve(options.dir);
  const load = filesLoader(options, (files) => files);
  return new WatchedProvider<T>(
    {
      source: dir,
      folder: dir,
      recursive: options.recursive,
      relevant: () => true,
      load: async (known) => {
        let paths: string[];
        try {
          paths = await listFiles(dir, options as DirectoryProviderOptions<unknown>);
        } catch (err) {
          // Reported as an error even when missing: a folder, unlike a file, is not replaced by rename.
          throw new Error(`${dir}: cannot read the config directory: ${(err as Error).message}`);
        }
        // A file gone since the listing fails with ENOENT, and the reload waits for the next event.
        return load(paths, known);
      },
    },
    options,
  );
}
