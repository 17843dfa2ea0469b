import { createHash } from "node:crypto";
import { type FSWatcher, watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname } from "node:path";

export interface ConfigFileWatch {
  close(): void;
}

/**
 * Calls `onChange` with the file's new text whenever it changes. The folder is watched, not the
 * file, because editors and Kubernetes ConfigMaps replace files by renaming; events are
 * coalesced over `quietMs`, and a write that leaves the content as it was is ignored. Read and
 * `onChange` failures go to `onError`.
 */
export function watchConfigFile(
  file: string,
  initialText: string,
  onChange: (text: string) => Promise<void>,
  onError: (err: unknown) => void,
  quietMs = 100,
): ConfigFileWatch {
  const digest = (text: string) => createHash("sha256").update(text).digest("hex");
  let lastDigest = digest(initialText);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let closed = false;

  const check = () => {
    running = running
      .then(async () => {
        if (closed) return;
        let text: string;
        try {
          text = await readFile(file, "utf8");
        } catch (err) {
          // A file mid-replacement can be missing for a moment; the rename's event comes next.
          if ((err as NodeJS.ErrnoException).code !== "ENOENT") onError(err);
          return;
        }
        const next = digest(text);
        if (next === lastDigest) return;
        lastDigest = next;
        await onChange(text);
      })
      .catch(onError);
  };
  const name = basename(file);
  const watcher: FSWatcher = watch(dirname(file), (_event, changed) => {
    if (changed !== null && changed !== name && !changed.startsWith("..")) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(check, quietMs);
  });
  // A watcher error (the folder removed, say) is reported, never thrown: the last configs stay served.
  watcher.on("error", onError);
  return {
    close: () => {
      closed = true;
      if (timer) clearTimeout(timer);
      watcher.close();
    },
  };
}
