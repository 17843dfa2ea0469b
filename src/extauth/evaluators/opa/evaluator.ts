import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { JsonValue } from "@bufbuild/protobuf";
import { type LoadedPolicy, loadPolicy } from "@open-policy-agent/opa-wasm";
import type { OpaAuth } from "../../../gen/gantry/extauth/v1/opa_pb.js";
import {
  AuthConfigError,
  type CheckContext,
  type Evaluator,
  type EvaluatorFactory,
  type Verdict,
} from "../../evaluator.js";
import { BundleError, compileRego, type PolicyBundle, type RegoSource, readBundle } from "./bundle.js";
import { decisionToVerdict } from "./decision.js";
import { InputError, policyInputJson } from "./input.js";

/** The rule OPA-Envoy asks for when its `path` is not set. */
export const defaultEntrypoint = "envoy/authz/allow";

export interface OpaAuthOptions {
  /** The `opa` executable that compiles Rego. Default: `GANTRY_OPA_COMMAND`, else `opa` on the PATH. */
  opaCommand?: string;
  /**
   * Where compiled bundles are kept. Default: `GANTRY_OPA_CACHE_DIR`, else `gantry/opa` in the user's
   * cache folder (`XDG_CACHE_HOME`, or `~/.cache`): never a shared temp folder, where another user
   * could plant a bundle under a predictable name.
   */
  cacheDir?: string;
  /** Bound on one `opa build`. Default 60 s. */
  compileTimeoutMs?: number;
}

/** WebAssembly pages (64 KiB) a policy may use: bounds the memory a huge request can take. */
const memory = { initial: 5, maximum: 2048 };

/**
 * Builds the opaAuth factory. The policy is compiled (or read) and instantiated when the config
 * loads; a check only builds the input and runs the WebAssembly, synchronously.
 */
export function createOpaAuthFactory(options: OpaAuthOptions = {}): EvaluatorFactory<"opaAuth"> {
  const compile = {
    opaCommand: options.opaCommand ?? process.env["GANTRY_OPA_COMMAND"] ?? "opa",
    cacheDir: options.cacheDir ?? process.env["GANTRY_OPA_CACHE_DIR"] ?? defaultCacheDir(),
    timeoutMs: options.compileTimeoutMs ?? 60_000,
  };
  return async (settings, deps, field) => {
    const entrypoint = normalizeEntrypoint(settings.entrypoint, `${field}.entrypoint`);
    const bundle = await loadBundle(settings, deps.baseDir, entrypoint, compile, field);
    let policy: LoadedPolicy;
    try {
      policy = await loadPolicy(bundle.wasm, { ...memory });
    } catch (err) {
      throw new AuthConfigError(sourceField(settings, field), `cannot load the WebAssembly policy: ${String(err)}`);
    }
    if (!Object.hasOwn(policy.entrypoints as object, entrypoint)) {
      const known = Object.keys(policy.entrypoints as object).join(", ");
      throw new AuthConfigError(`${field}.entrypoint`, `the policy has no entrypoint ${entrypoint} (it has: ${known})`);
    }
    policy.setData({ ...bundle.data, ...(settings.data ?? {}) });
    return new OpaEvaluator(policy, entrypoint, settings.skipRequestBodyParse);
  };
}

function defaultCacheDir(): string {
  return join(process.env["XDG_CACHE_HOME"] || join(homedir(), ".cache"), "gantry", "opa");
}

/** `envoy/authz/allow`, `envoy.authz.allow` and `data.envoy.authz.allow` all name the same rule. */
export function normalizeEntrypoint(given: string, field: string): string {
  if (given === "") return defaultEntrypoint;
  const path = given.replace(/^data[./]/, "").replaceAll(".", "/");
  if (!/^[A-Za-z_][\w-]*(\/[A-Za-z_][\w-]*)*$/.test(path)) {
    throw new AuthConfigError(
      field,
      `"${given}" is not a rule path such as ${defaultEntrypoint} or data.envoy.authz.allow`,
    );
  }
  return path;
}

function sourceField(settings: OpaAuth, field: string): string {
  if (settings.regoFiles.length > 0) return `${field}.regoFiles`;
  if (Object.keys(settings.modules).length > 0) return `${field}.modules`;
  return `${field}.wasmBundle`;
}

async function loadBundle(
  settings: OpaAuth,
  baseDir: string,
  entrypoint: string,
  compile: { opaCommand: string; cacheDir: string; timeoutMs: number },
  field: string,
): Promise<PolicyBundle> {
  const moduleNames = Object.keys(settings.modules).sort();
  const given = [settings.regoFiles.length > 0, moduleNames.length > 0, settings.wasmBundle !== ""].filter(Boolean);
  if (given.length !== 1) {
    throw new AuthConfigError(field, "give exactly one of regoFiles, modules or wasmBundle");
  }
  const where = sourceField(settings, field);
  try {
    if (settings.wasmBundle !== "") {
      return readBundle(await readSource(resolve(baseDir, settings.wasmBundle), where));
    }
    const sources: RegoSource[] = [];
    for (const [index, file] of settings.regoFiles.entries()) {
      const text = (await readSource(resolve(baseDir, file), `${where}[${index}]`)).toString("utf8");
      sources.push({ name: file, text });
    }
    for (const name of moduleNames) {
      if (!/^[\w.-]+$/.test(name)) throw new AuthConfigError(`${where}.${name}`, "a module name is a plain file name");
      sources.push({ name, text: settings.modules[name] ?? "" });
    }
    return readBundle(await compileRego(sources, { entrypoint, v0Compatible: settings.v0Compatible }, compile));
  } catch (err) {
    if (err instanceof BundleError) throw new AuthConfigError(where, err.message);
    throw err;
  }
}

async function readSource(path: string, field: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new AuthConfigError(field, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

const utf8 = new TextEncoder();

class OpaEvaluator implements Evaluator {
  constructor(
    private readonly policy: LoadedPolicy,
    private readonly entrypoint: string,
    private readonly skipRequestBodyParse: boolean,
  ) {}

  evaluate(context: CheckContext): Verdict {
    let input: Uint8Array;
    try {
      // As JSON text (opa-wasm takes it as bytes), so a JSON body's large numbers stay exact.
      input = utf8.encode(policyInputJson(context.request, { skipRequestBodyParse: this.skipRequestBodyParse }));
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      // Refused as the OPA-Envoy plugin refuses it: 400 with its error code and the parse error, the
      // policy not asked (see InputError).
      const problem = `request_parse_error: ${err.message}`;
      return { kind: "deny", status: 400, reason: problem, body: problem };
    }
    let resultSet: Array<{ result: JsonValue }>;
    try {
      resultSet = this.policy.evaluate(input.buffer, this.entrypoint) as Array<{ result: JsonValue }>;
    } catch (err) {
      // A runtime failure (memory exhausted, a builtin failing): the policy could not decide.
      return { kind: "error", reason: `policy evaluation failed: ${String(err)}` };
    }
    return decisionToVerdict(resultSet[0]?.result);
  }
}
