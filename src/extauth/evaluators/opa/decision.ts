import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { HeaderToAdd, Verdict } from "../../evaluator.js";

/** Status of a denial whose decision does not name one, as in OPA-Envoy. */
const defaultDenyStatus = 403;

class DecisionError extends Error {}

/**
 * Turns a policy's decision into a verdict, reading it as the OPA-Envoy plugin does: a boolean, or
 * an object with a boolean `allowed` and optional `headers`, `request_headers_to_remove`,
 * `response_headers_to_add`, `query_parameters_to_set`, `query_parameters_to_remove` (on allow),
 * `body`, `http_status` (on deny) and `dynamic_metadata` (either way). An undefined or malformed
 * decision is a policy bug, not an outage, so it denies (it must never open the door through
 * failureModeAllow), with a reason that says what is wrong.
 */
export function decisionToVerdict(decision: JsonValue | undefined): Verdict {
  if (decision === undefined) return policyBug("the decision is undefined (give the rule a default)");
  if (typeof decision === "boolean") {
    return decision ? { kind: "allow" } : { kind: "deny", status: defaultDenyStatus, reason: "denied by policy" };
  }
  if (!isObject(decision)) return policyBug(`the decision is ${describe(decision)}, not a boolean or an object`);
  try {
    return objectDecision(decision);
  } catch (err) {
    if (err instanceof DecisionError) return policyBug(err.message);
    throw err;
  }
}

function objectDecision(decision: JsonObject): Verdict {
  const allowed = decision["allowed"];
  if (typeof allowed !== "boolean") throw new DecisionError("`allowed` must be a boolean");
  const dynamicMetadata = optionalObject(decision, "dynamic_metadata");
  if (!allowed) {
    const status = optionalStatus(decision);
    const headers = optionalHeaders(decision, "headers", true);
    const body = optionalString(decision, "body");
    return {
      kind: "deny",
      status,
      reason: "denied by policy",
      ...(headers && { headers }),
      ...(body !== undefined && { body }),
      ...(dynamicMetadata && { dynamicMetadata }),
    };
  }
  const headers = optionalHeaders(decision, "headers", true);
  const headersToRemove = optionalStrings(decision, "request_headers_to_remove");
  const responseHeaders = optionalHeaders(decision, "response_headers_to_add", true);
  const queryParametersToSet = optionalHeaders(decision, "query_parameters_to_set")?.map(({ name, value }) => ({
    key: name,
    value,
  }));
  const queryParametersToRemove = optionalStrings(decision, "query_parameters_to_remove");
  return {
    kind: "allow",
    ...(headers && { headers }),
    ...(headersToRemove && { headersToRemove }),
    ...(responseHeaders && { responseHeaders }),
    ...(queryParametersToSet && { queryParametersToSet }),
    ...(queryParametersToRemove && { queryParametersToRemove }),
    ...(dynamicMetadata && { dynamicMetadata }),
  };
}

function policyBug(problem: string): Verdict {
  return { kind: "deny", status: defaultDenyStatus, reason: `invalid policy decision: ${problem}` };
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: JsonValue): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `a ${typeof value}`;
}

function optionalObject(decision: JsonObject, key: string): JsonObject | undefined {
  const value = decision[key];
  if (value === undefined) return undefined;
  if (!isObject(value)) throw new DecisionError(`\`${key}\` must be an object`);
  return value;
}

function optionalString(decision: JsonObject, key: string): string | undefined {
  const value = decision[key];
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new DecisionError(`\`${key}\` must be a string`);
  return value;
}

function optionalStrings(decision: JsonObject, key: string): string[] | undefined {
  const value = decision[key];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw new DecisionError(`\`${key}\` must be an array of strings`);
  }
  return value as string[];
}

/**
 * A map of names to a string or an array of strings — or, for headers (`lists`), also an array of such
 * maps, as the OPA-Envoy plugin takes them. The first value of a name replaces what is there; further
 * values of the same name are appended, so every value arrives.
 */
function optionalHeaders(decision: JsonObject, key: string, lists = false): HeaderToAdd[] | undefined {
  const value = decision[key];
  if (value === undefined) return undefined;
  const maps = lists && Array.isArray(value) ? value : [value];
  const headers: HeaderToAdd[] = [];
  const seen = new Set<string>();
  for (const [m, map] of maps.entries()) {
    const at = maps.length > 1 || Array.isArray(value) ? `${key}[${m}]` : key;
    if (!isObject(map))
      throw new DecisionError(`\`${at}\` must be an object${lists ? " (or an array of objects)" : ""}`);
    for (const [name, entry] of Object.entries(map)) {
      const values = typeof entry === "string" ? [entry] : entry;
      if (!Array.isArray(values) || !values.every((v) => typeof v === "string")) {
        throw new DecisionError(`\`${at}.${name}\` must be a string or an array of strings`);
      }
      for (const v of values) {
        headers.push(seen.has(name) ? { name, value: v as string, append: true } : { name, value: v as string });
        seen.add(name);
      }
    }
  }
  return headers;
}

function optionalStatus(decision: JsonObject): number {
  const value = decision["http_status"];
  if (value === undefined) return defaultDenyStatus;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 100 || value > 599) {
    throw new DecisionError("`http_status` must be an HTTP status code (100-599)");
  }
  return value;
}
