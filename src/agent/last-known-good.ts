// The agent's last-known-good output on disk: the latest output the server sent, written atomically
// (a temporary file, fsync, rename), so the agent serves it across its own restarts while the server
// is unreachable, and a crash mid-write leaves the previous file whole.
import { open, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { versionOf, type XdsResource } from "../envoy/index.js";
import { type ClusterOutput, type GroupMeta, type OutputEntry, outputVersion } from "../server/relay/index.js";

export const lastKnownGoodFile = "output.json";

export interface LastKnownGood {
  readonly output: ClusterOutput;
  /** When the server sent it (clock ms): the agent is stale since then when it restarts without a server. */
  readonly receivedAtMs: number;
  /** The server replica that sent it. */
  readonly server: string;
}

interface FileForm {
  version: string;
  receivedAtMs: number;
  server: string;
  groups: GroupMeta[];
  entries: Array<{ key: string; typeUrl: string; name: string; version: string; value: string }>;
}

/** Writes the output to `dir` atomically. */
export async function saveLastKnownGood(dir: string, lkg: LastKnownGood): Promise<void> {
  const form: FileForm = {
    version: lkg.output.version,
    receivedAtMs: lkg.receivedAtMs,
    server: lkg.server,
    groups: [...lkg.output.groups],
    entries: [...lkg.output.entries.values()].map(({ key, resource }) => ({
      key,
      typeUrl: resource.typeUrl,
      name: resource.name,
      version: resource.version,
      value: Buffer.from(resource.value).toString("base64"),
    })),
  };
  const path = join(dir, lastKnownGoodFile);
  const temporary = `${path}.${process.pid}.tmp`;
  const file = await open(temporary, "w", 0o600);
  try {
    await file.writeFile(JSON.stringify(form));
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await rename(temporary, path);
  } catch (err) {
    await rm(temporary, { force: true });
    throw err;
  }
}

/**
 * Reads the output saved in `dir`; undefined when there is none. Throws, naming the file, when it
 * cannot be read or does not add up to its version (the agent then starts with nothing).
 */
export async function loadLastKnownGood(dir: string): Promise<LastKnownGood | undefined> {
  const path = join(dir, lastKnownGoodFile);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(`${path}: cannot read the last-known-good output: ${(err as Error).message}`);
  }
  let form: FileForm;
  try {
    form = JSON.parse(text) as FileForm;
  } catch (err) {
    throw new Error(`${path}: not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(form.entries) || !Array.isArray(form.groups) || typeof form.version !== "string") {
    throw new Error(`${path}: not a last-known-good output (version, groups and entries are required)`);
  }
  const entries = new Map<string, OutputEntry>();
  for (const e of form.entries) {
    const resource: XdsResource = {
      typeUrl: e.typeUrl,
      name: e.name,
      version: e.version,
      value: new Uint8Array(Buffer.from(e.value, "base64")),
    };
    // A flipped byte on disk must not reach a proxy under a version it already has.
    if (versionOf(resource.value) !== e.version)
      throw new Error(`${path}: entry "${e.key}" does not match its version`);
    entries.set(e.key, { key: e.key, resource });
  }
  const version = outputVersion(entries, form.groups);
  if (version !== form.version) throw new Error(`${path}: its entries hash to ${version}, not ${form.version}`);
  return {
    output: { version, entries, groups: form.groups },
    receivedAtMs: Number(form.receivedAtMs) || 0,
    server: String(form.server ?? ""),
  };
}
