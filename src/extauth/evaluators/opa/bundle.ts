import { execFile } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";

const run = promisify(execFile);

/** A compiled policy: the WebAssembly module and the data document that came with it. */
export interface PolicyBundle {
  wasm: Uint8Array;
  data: Record<string, unknown>;
}

/** Why a bundle could not be made; the factory names the field. */
export class BundleError extends Error {}

export interface RegoSource {
  /** What `opa build` is given: a file path, or a name for an inline module. */
  name: string;
  text: string;
}

export interface CompileOptions {
  /** The `opa` executable. */
  opaCommand: string;
  /** Where compiled bundles are kept, by content hash. */
  cacheDir: string;
  /** Bound on one `opa build` run. */
  timeoutMs: number;
}

export interface CompileTarget {
  entrypoint: string;
  /** Rego written for OPA before 1.0. */
  v0Compatible: boolean;
}

/**
 * Compiles Rego to a WebAssembly bundle with `opa build -t wasm -e <entrypoint>`, once per content:
 * the bundle is kept under the cache folder by a hash of the opa version, the build flags and the
 * sources, so a reload or a second replica with the same policy does not compile again.
 */
export async function compileRego(
  sources: RegoSource[],
  target: CompileTarget,
  options: CompileOptions,
): Promise<Uint8Array> {
  const version = await opaVersion(options.opaCommand);
  const flags = ["-t", "wasm", "-e", target.entrypoint, ...(target.v0Compatible ? ["--v0-compatible"] : [])];
  const hash = createHash("sha256").update(version).update("\0").update(flags.join(" "));
  for (const source of sources) hash.update("\0").update(source.name).update("\0").update(source.text);
  const cached = join(options.cacheDir, `${hash.digest("hex")}.tar.gz`);
  try {
    return await readFile(cached);
  } catch {
    // not compiled yet
  }
  const workDir = await mkdtemp(join(tmpdir(), "gantry-opa-build-"));
  try {
    const files: string[] = [];
    for (const [index, source] of sources.entries()) {
      // Each module gets its own folder so two sources with the same base name cannot collide.
      const dir = join(workDir, String(index));
      await mkdir(dir);
      const file = join(dir, source.name.replaceAll("/", "_"));
      await writeFile(file, source.text);
      files.push(file);
    }
    const output = join(workDir, "bundle.tar.gz");
    try {
      await run(options.opaCommand, ["build", ...flags, "-o", output, ...files], {
        timeout: options.timeoutMs,
        cwd: workDir,
      });
    } catch (err) {
      throw new BundleError(`opa build failed: ${buildFailure(err, workDir, sources)}`);
    }
    const bundle = await readFile(output);
    await keep(bundle, cached);
    return bundle;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * Writes the bundle to the cache, then renames it into place so a concurrent reader never sees half
 * a bundle. The cache only saves time: a folder that cannot be written costs a compile next time.
 */
async function keep(bundle: Uint8Array, cached: string): Promise<void> {
  const partial = `${cached}.${randomUUID()}.partial`;
  try {
    await mkdir(dirname(cached), { recursive: true });
    await writeFile(partial, bundle);
    await rename(partial, cached);
  } catch {
    await rm(partial, { force: true }).catch(() => undefined);
  }
}

async function opaVersion(opaCommand: string): Promise<string> {
  try {
    const { stdout } = await run(opaCommand, ["version"], { timeout: 10_000 });
    return stdout.split("\n")[0] ?? "";
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? "not found" : String(err);
    throw new BundleError(
      `the opa CLI (${opaCommand}) is needed to compile Rego and was ${reason}; install it, or give a prebuilt wasmBundle`,
    );
  }
}

/** opa's own message, with the scratch paths turned back into the names the user gave. */
function buildFailure(err: unknown, workDir: string, sources: RegoSource[]): string {
  const { stderr, stdout, killed } = err as { stderr?: string; stdout?: string; killed?: boolean };
  if (killed) return "timed out";
  let message = (stderr || stdout || String(err)).trim();
  for (const [index, source] of sources.entries()) {
    message = message.replaceAll(join(workDir, String(index), source.name.replaceAll("/", "_")), source.name);
  }
  return message.replaceAll(`${workDir}/`, "");
}

/**
 * Reads what `opa build -t wasm` wrote: a gzipped tar with `/policy.wasm` and `/data.json`, or a bare
 * `policy.wasm` (recognised by the WebAssembly magic number).
 */
export function readBundle(bytes: Uint8Array): PolicyBundle {
  if (bytes[0] === 0x00 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d)
    return { wasm: bytes, data: {} };
  let tar: Buffer;
  try {
    tar = gunzipSync(bytes);
  } catch {
    throw new BundleError("not a WebAssembly module nor a gzipped bundle from `opa build -t wasm`");
  }
  const files = readTar(tar);
  const wasm = files.get("policy.wasm");
  if (!wasm) throw new BundleError("the bundle has no policy.wasm (was it built with `-t wasm`?)");
  const dataText = files.get("data.json");
  let data: unknown = {};
  if (dataText) {
    try {
      data = JSON.parse(dataText.toString("utf8"));
    } catch {
      throw new BundleError("the bundle's data.json is not JSON");
    }
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new BundleError("the bundle's data.json is not an object");
  }
  return { wasm, data: data as Record<string, unknown> };
}

const block = 512;

/** Regular files of a ustar archive by path (leading `/` and `./` dropped). */
function readTar(tar: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let offset = 0;
  while (offset + block <= tar.length) {
    const header = tar.subarray(offset, offset + block);
    if (header.every((b) => b === 0)) break;
    const name = field(header, 0, 100);
    const prefix = header.subarray(257, 262).toString("latin1") === "ustar" ? field(header, 345, 155) : "";
    const size = Number.parseInt(field(header, 124, 12).trim() || "0", 8);
    const type = String.fromCharCode(header[156] ?? 0);
    if (!Number.isFinite(size) || offset + block + size > tar.length) throw new BundleError("the bundle is truncated");
    const path = (prefix ? `${prefix}/${name}` : name).replace(/^(\.?\/)+/, "");
    if (type === "0" || type === "\0") files.set(path, tar.subarray(offset + block, offset + block + size));
    offset += block + Math.ceil(size / block) * block;
  }
  return files;
}

function field(header: Buffer, start: number, length: number): string {
  const raw = header.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? length : end).toString("utf8");
}
