import { readdir, readFile, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { type Document, LineCounter, parseAllDocuments } from "yaml";
import { clusterNameRule, isClusterName } from "./cluster-name.js";
import {
  apiVersion,
  clusterLabel,
  clusterLabelOf,
  defaultNamespace,
  isKind,
  type Kind,
  kinds,
  type Metadata,
  placedKinds,
  type Resource,
  specSchemas,
} from "./kinds.js";
import { namespacedName, type ResourceRef, refOf, resourceKey } from "./ref.js";
import { checkShape } from "./shape.js";

/** A document that could not be loaded, with every problem found in it. */
export interface RejectedDocument {
  file: string;
  line: number;
  /** Known when the document got as far as naming itself; its status is then INVALID. */
  ref?: ResourceRef<Kind>;
  errors: string[];
}

export interface LoadResult {
  resources: Resource[];
  rejected: RejectedDocument[];
}

const nameRule = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const envelopeFields = new Set(["apiVersion", "kind", "metadata", "spec", "status"]);
const metadataFields = new Set(["name", "namespace", "labels", "clusters"]);

function formatPath(path: (string | number)[]): string {
  let out = "";
  for (const part of path) out += typeof part === "number" ? `[${part}]` : out === "" ? part : `.${part}`;
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function stringMap(value: unknown): Record<string, string> | undefined {
  if (!isObject(value)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") return undefined;
    out[k] = v;
  }
  return out;
}

/**
 * Parses one file's text: YAML (or JSON) holding one or more `gantry/v1` documents separated by
 * `---`. Never throws on bad input: each bad document is rejected with messages naming the file,
 * line, resource and field path, and the good ones are returned.
 */
export function parseResources(text: string, file: string): LoadResult {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const result: LoadResult = { resources: [], rejected: [] };
  if (!Array.isArray(docs)) return result;
  for (const doc of docs) {
    const outcome = parseYamlDocument(doc, file, lineCounter);
    if (outcome === undefined) continue;
    if ("errors" in outcome) result.rejected.push(outcome);
    else result.resources.push(outcome);
  }
  return result;
}

function parseYamlDocument(
  doc: Document,
  file: string,
  lineCounter: LineCounter,
): Resource | RejectedDocument | undefined {
  const lineOf = (path: (string | number)[]): number => {
    const node = path.length === 0 ? doc.contents : doc.getIn(path, true);
    const offset = (node as { range?: [number, number, number] } | undefined)?.range?.[0] ?? doc.range?.[0] ?? 0;
    return lineCounter.linePos(offset).line;
  };
  if (doc.errors.length > 0) {
    return {
      file,
      line: lineCounter.linePos(doc.errors[0]?.pos[0] ?? doc.range?.[0] ?? 0).line,
      errors: doc.errors.map((e) => `${file}:${lineCounter.linePos(e.pos[0]).line}: YAML: ${e.message.split("\n")[0]}`),
    };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // An alias to no anchor ("*x") or one that expands too far parses, then fails here.
    const line = lineCounter.linePos(doc.contents?.range?.[0] ?? doc.range?.[0] ?? 0).line;
    return { file, line, errors: [`${file}:${line}: YAML: ${(err as Error).message.split("\n")[0]}`] };
  }
  if (value === null || value === undefined) return undefined;
  return parseValue(value, file, lineOf);
}

/**
 * Parses one document given as a JSON value (from the management API, or as the store keeps it):
 * the same envelope, names and spec schemas as a file's documents. `where` names it in messages
 * ("document 2"). A JSON value has no lines of its own: every message says line 1, the form API
 * clients have always been given.
 */
export function parseDocument(value: unknown, where: string): Resource | RejectedDocument {
  return parseValue(value, where, () => 1);
}

function parseValue(
  value: unknown,
  file: string,
  lineOf: (path: (string | number)[]) => number,
): Resource | RejectedDocument {
  const startLine = lineOf([]);
  const errors: { path: (string | number)[]; message: string }[] = [];
  const fail = (path: (string | number)[], message: string) => {
    errors.push({ path, message });
  };
  if (!isObject(value)) {
    return {
      file,
      line: startLine,
      errors: [`${file}:${startLine}: expected a mapping with apiVersion, kind, metadata and spec`],
    };
  }
  for (const key of Object.keys(value)) {
    if (!envelopeFields.has(key)) fail([key], `unknown field "${key}" (known: apiVersion, kind, metadata, spec)`);
  }
  if (value["apiVersion"] !== apiVersion)
    fail(["apiVersion"], `expected "${apiVersion}", got ${JSON.stringify(value["apiVersion"])}`);
  const kind = value["kind"];
  if (!isKind(kind)) fail(["kind"], `expected one of ${kinds.join(", ")}, got ${JSON.stringify(kind)}`);
  const metadata = parseMetadata(value["metadata"], fail);
  const who = `${isKind(kind) ? kind : "resource"} ${metadata ? namespacedName(metadata) : "(unnamed)"}`;
  const rejected = (): RejectedDocument => ({
    file,
    line: startLine,
    ...(isKind(kind) && metadata ? { ref: { kind, namespace: metadata.namespace, name: metadata.name } } : {}),
    errors: errors.map((e) => `${file}:${lineOf(e.path)}: ${who}: ${formatPath(e.path)}: ${e.message}`),
  });
  if (isKind(kind) && metadata) checkPlacement(kind, metadata, fail);
  if (!isKind(kind) || !metadata || errors.length > 0) return rejected();
  const schema = specSchemas[kind];
  const specJson = value["spec"] ?? {};
  for (const problem of checkShape(schema, specJson, ["spec"])) fail(problem.path, problem.message);
  if (errors.length > 0) return rejected();
  try {
    const spec = fromJson(schema, specJson as JsonValue);
    const resource = { kind, metadata, spec, source: { file, line: startLine } } as Resource;
    checkClusterLabel(resource, fail);
    return errors.length > 0 ? rejected() : resource;
  } catch (error) {
    fail(["spec"], (error as Error).message);
    return rejected();
  }
}

function parseMetadata(
  value: unknown,
  fail: (path: (string | number)[], message: string) => void,
): Metadata | undefined {
  if (!isObject(value)) {
    fail(["metadata"], "expected a mapping with name (and optionally namespace, labels)");
    return undefined;
  }
  let ok = true;
  for (const key of Object.keys(value)) {
    if (!metadataFields.has(key)) {
      fail(["metadata", key], `unknown field "${key}" (known: name, namespace, labels, clusters)`);
      ok = false;
    }
  }
  const name = value["name"];
  const namespace = value["namespace"] ?? defaultNamespace;
  for (const [field, v] of [
    ["name", name],
    ["namespace", namespace],
  ] as const) {
    if (typeof v !== "string" || !nameRule.test(v) || v.length > 253) {
      fail(["metadata", field], `expected lowercase letters, digits, '-' and '.', got ${JSON.stringify(v)}`);
      ok = false;
    }
  }
  const labels = value["labels"] === undefined ? {} : stringMap(value["labels"]);
  if (labels === undefined) {
    fail(["metadata", "labels"], "expected a mapping of strings to strings (quote numbers)");
    ok = false;
  }
  // Malformed clusters are reported, but the resource still has a name to be rejected by.
  const clusters = parseClusters(value["clusters"], fail) ?? [];
  if (!ok || typeof name !== "string" || typeof namespace !== "string" || !labels) return undefined;
  return { name, namespace, labels, ...(clusters.length > 0 ? { clusters } : {}) };
}

/** `metadata.clusters`: cluster names, each once; undefined (after reporting) when malformed. */
function parseClusters(
  value: unknown,
  fail: (path: (string | number)[], message: string) => void,
): string[] | undefined {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    fail(["metadata", "clusters"], "expected a list of cluster names");
    return undefined;
  }
  let ok = true;
  const seen = new Set<string>();
  value.forEach((cluster, i) => {
    if (!isClusterName(cluster)) {
      fail(["metadata", "clusters", i], `expected a cluster name, ${clusterNameRule}; got ${JSON.stringify(cluster)}`);
      ok = false;
    } else if (seen.has(cluster)) {
      fail(["metadata", "clusters", i], `"${cluster}" is listed twice`);
      ok = false;
    } else seen.add(cluster);
  });
  return ok ? [...seen].sort() : undefined;
}

/** Only some kinds are placed in clusters; a Destination's endpoints run in one. */
function checkPlacement(kind: Kind, metadata: Metadata, fail: (path: (string | number)[], message: string) => void) {
  const clusters = metadata.clusters ?? [];
  if (clusters.length === 0) return;
  const most = placedKinds[kind];
  if (most === undefined) {
    const placed = Object.keys(placedKinds).join(", ");
    fail(["metadata", "clusters"], `a ${kind} is not placed in clusters (only ${placed} are); remove it`);
  } else if (clusters.length > most) {
    fail(
      ["metadata", "clusters"],
      `a ${kind}'s endpoints run in one cluster; name at most ${most}, got ${clusters.length}`,
    );
  }
}

/**
 * The `gantry.io/cluster` label is the older spelling of placement (`placementOf`): it must name a
 * cluster, and may not disagree with `metadata.clusters`, so that the two never mean two things.
 */
function checkClusterLabel(resource: Resource, fail: (path: (string | number)[], message: string) => void) {
  const label = clusterLabelOf(resource);
  if (label === undefined) return;
  const path =
    resource.kind === "Gateway" ? ["spec", "proxies", "labels", clusterLabel] : ["metadata", "labels", clusterLabel];
  if (!isClusterName(label)) {
    fail(path, `expected a cluster name, ${clusterNameRule}; got ${JSON.stringify(label)}`);
    return;
  }
  const clusters = resource.metadata.clusters ?? [];
  if (clusters.length > 0 && (clusters.length !== 1 || clusters[0] !== label)) {
    fail(
      path,
      `places the ${resource.kind} in ${label}, but metadata.clusters says ${clusters.join(", ")}; keep one (metadata.clusters)`,
    );
  }
}

const resourceExtensions = new Set([".yaml", ".yml", ".json"]);

/** Whether a file holds resources, by its name: `.yaml`, `.yml` or `.json`. */
export function isResourceFile(name: string): boolean {
  return resourceExtensions.has(extname(name));
}

async function listFiles(path: string): Promise<string[]> {
  const info = await stat(path);
  if (!info.isDirectory()) return [path];
  const entries = (await readdir(path, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  const files: string[] = [];
  for (const entry of entries) {
    const child = join(path, entry.name);
    // One by one: spreading a long list into push() overflows the call stack.
    if (entry.isDirectory()) for (const file of await listFiles(child)) files.push(file);
    else if (isResourceFile(entry.name)) files.push(child);
  }
  return files;
}

/** Parses files already read, in the order given. A resource defined twice is rejected the second time, naming both places. */
export function parseResourceFiles(files: ReadonlyArray<{ path: string; text: string }>): LoadResult {
  const result: LoadResult = { resources: [], rejected: [] };
  for (const { path, text } of files) {
    const parsed = parseResources(text, path);
    // One by one: a file of 350,000 documents spread into push() overflowed the call stack.
    for (const resource of parsed.resources) result.resources.push(resource);
    for (const rejected of parsed.rejected) result.rejected.push(rejected);
  }
  return rejectDuplicates(result);
}

/**
 * Loads resource files and folders (recursively, `.yaml`/`.yml`/`.json`, in name order).
 * A resource defined twice is rejected the second time, naming both places.
 */
export async function loadResources(paths: readonly string[]): Promise<LoadResult> {
  const files: Array<{ path: string; text: string }> = [];
  for (const path of paths) {
    for (const file of await listFiles(path)) files.push({ path: file, text: await readFile(file, "utf8") });
  }
  return parseResourceFiles(files);
}

/** Keeps the first definition of each resource; later ones are rejected. */
export function rejectDuplicates(result: LoadResult): LoadResult {
  const seen = new Map<string, Resource>();
  const resources: Resource[] = [];
  const rejected = [...result.rejected];
  for (const resource of result.resources) {
    const key = resourceKey(resource);
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, resource);
      resources.push(resource);
      continue;
    }
    const at = (r: Resource) => (r.source ? `${r.source.file}:${r.source.line}` : "(no file)");
    rejected.push({
      file: resource.source?.file ?? "",
      line: resource.source?.line ?? 0,
      ref: refOf(resource),
      errors: [`${at(resource)}: ${key}: defined again (first at ${at(first)}); this definition is ignored`],
    });
  }
  return { resources, rejected };
}
