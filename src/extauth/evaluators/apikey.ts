import type { ApiKeyAuth } from "../../gen/gantry/extauth/v1/api_key_pb.js";
import type { ApiKeyDirectory, ApiKeyRecord } from "../apikeys/index.js";
import {
  AuthConfigError,
  type CheckContext,
  type Evaluator,
  type EvaluatorDeps,
  type HeaderToAdd,
  type Verdict,
} from "../evaluator.js";

interface MetadataHeader {
  readonly header: string;
  readonly entry: string;
  readonly required: boolean;
}

const missingKey: Verdict = { kind: "deny", status: 401, reason: "missing API key" };
const unknownKey: Verdict = { kind: "deny", status: 401, reason: "unknown API key" };

function backendFailure(err: unknown): Verdict {
  return { kind: "error", reason: `API key lookup failed: ${err instanceof Error ? err.message : String(err)}` };
}

class ApiKeyEvaluator implements Evaluator {
  readonly #directory: ApiKeyDirectory;
  readonly #headerName: string;
  readonly #selector: ReadonlyArray<readonly [string, string]>;
  readonly #metadataHeaders: readonly MetadataHeader[];
  /** A found key's verdict depends only on its record: made once per cached record, frozen so its response is encoded once too. */
  readonly #verdicts = new WeakMap<ApiKeyRecord, Verdict>();

  constructor(directory: ApiKeyDirectory, headerName: string, settings: ApiKeyAuth) {
    this.#directory = directory;
    this.#headerName = headerName;
    this.#selector = Object.entries(settings.labelSelector);
    this.#metadataHeaders = Object.entries(settings.headersFromMetadata).map(([header, from]) => ({
      header: header.toLowerCase(),
      entry: from.entry,
      required: from.required,
    }));
  }

  evaluate(context: CheckContext): Verdict | Promise<Verdict> {
    const key = context.headers[this.#headerName];
    if (!key) return missingKey;
    let found: ApiKeyRecord | undefined | Promise<ApiKeyRecord | undefined>;
    try {
      found = this.#directory.find(key);
    } catch (err) {
      return backendFailure(err);
    }
    if (found instanceof Promise) {
      const lookup = context.span?.child("redis apikey lookup", { "db.system": "redis" });
      context.span?.setAttribute("gantry.cache_hit", false);
      if (!lookup) return found.then((record) => this.#judge(record), backendFailure);
      return found.then(
        (record) => {
          lookup.end();
          return this.#judge(record);
        },
        (err: unknown) => {
          const verdict = backendFailure(err);
          lookup.fail(verdict.kind === "error" ? verdict.reason : "failed");
          lookup.end();
          return verdict;
        },
      );
    }
    context.span?.setAttribute("gantry.cache_hit", true);
    return this.#judge(found);
  }

  #judge(record: ApiKeyRecord | undefined): Verdict {
    if (!record) return unknownKey;
    let verdict = this.#verdicts.get(record);
    if (!verdict) {
      verdict = Object.freeze(this.#verdictFor(record));
      this.#verdicts.set(record, verdict);
    }
    return verdict;
  }

  #verdictFor(record: ApiKeyRecord): Verdict {
    for (const [label, value] of this.#selector) {
      if (record.labels[label] !== value) {
        return { kind: "deny", status: 403, reason: `API key ${record.id} does not carry label ${label}=${value}` };
      }
    }
    const headers: HeaderToAdd[] = [];
    for (const { header, entry, required } of this.#metadataHeaders) {
      const value = record.metadata[entry];
      if (value !== undefined) headers.push({ name: header, value });
      else if (required) {
        return { kind: "deny", status: 403, reason: `API key ${record.id} has no metadata entry "${entry}"` };
      }
    }
    return {
      kind: "allow",
      headers,
      // The key is a credential: it does not travel further than the ext-auth check.
      headersToRemove: [this.#headerName],
      dynamicMetadata: { api_key: { id: record.id, name: record.name, metadata: { ...record.metadata } } },
    };
  }
}

export function createApiKeyEvaluator(settings: ApiKeyAuth, deps: EvaluatorDeps, field: string): Evaluator {
  if (!deps.apiKeys) throw new AuthConfigError(field, "API keys need the ext-auth Redis (start with --redis-url)");
  const headerName = (settings.headerName || "api-key").toLowerCase();
  if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(headerName)) {
    throw new AuthConfigError(`${field}.headerName`, `"${settings.headerName}" is not an HTTP header name`);
  }
  for (const [header, from] of Object.entries(settings.headersFromMetadata)) {
    if (from.entry === "") throw new AuthConfigError(`${field}.headersFromMetadata.${header}.entry`, "is empty");
  }
  return new ApiKeyEvaluator(deps.apiKeys, headerName, settings);
}
