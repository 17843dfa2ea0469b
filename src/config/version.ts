import { createHash } from "node:crypto";

/** A hash of the parts read, in order: the version of a file or folder snapshot. */
export function contentVersion(parts: readonly string[]): string {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part).update("\0");
  return hash.digest("hex").slice(0, 16);
}
