import type { JsonObject } from "@bufbuild/protobuf";
import type { PassThroughHttp } from "../../../gen/gantry/extauth/v1/pass_through_pb.js";
import type { Timers } from "../../../lib/clock.js";
import type { Logger } from "../../../lib/logger.js";
import { timeoutSignal } from "../../../lib/timeout-signal.js";
import type { CheckContext, Evaluator, HeaderToAdd, Verdict } from "../../evaluator.js";

export interface HttpPassThroughSettings {
  url: string;
  allowedHeaders: string[];
  headersToAdd: Record<string, string>;
  passThroughState: boolean;
  passThroughBody: boolean;
  allowedUpstreamHeaders: string[];
  allowedClientHeadersOnDenied: string[];
  readStateFromResponse: boolean;
  config: JsonObject | undefined;
  timeoutMs: number;
}

export function httpSettings(http: PassThroughHttp, config: JsonObject | undefined, timeoutMs: number) {
  const lower = (names: string[]) => names.map((n) => n.toLowerCase());
  return {
    url: http.url,
    allowedHeaders: lower(http.request?.allowedHeaders ?? []),
    headersToAdd: { ...(http.request?.headersToAdd ?? {}) },
    passThroughState: http.request?.passThroughState ?? false,
    passThroughBody: http.request?.passThroughBody ?? false,
    allowedUpstreamHeaders: lower(http.response?.allowedUpstreamHeaders ?? []),
    allowedClientHeadersOnDenied: lower(http.response?.allowedClientHeadersOnDenied ?? []),
    readStateFromResponse: http.response?.readStateFromResponse ?? false,
    config,
    timeoutMs,
  } satisfies HttpPassThroughSettings;
}

/**
 * POSTs `{body?, state?, config?}` as JSON to an HTTP service with the allowed request headers. A 2xx
 * answer allows (its allowed headers go upstream, its `state` may feed later steps); a 3xx or 4xx
 * answer denies with that status (its allowed headers go to the client); a 5xx answer, a network
 * failure or a timeout is a backend failure.
 */
export class HttpPassThrough implements Evaluator {
  constructor(
    private readonly settings: HttpPassThroughSettings,
    private readonly clock: Timers,
    private readonly logger: Logger,
  ) {}

  async evaluate(context: CheckContext): Promise<Verdict> {
    const { settings } = this;
    let response: Response;
    try {
      response = await fetch(settings.url, {
        method: "POST",
        headers: this.#requestHeaders(context),
        body: JSON.stringify(this.#requestBody(context)),
        redirect: "manual",
        signal: AbortSignal.any([timeoutSignal(this.clock, settings.timeoutMs), context.signal]),
      });
    } catch (err) {
      return { kind: "error", reason: `pass-through to ${settings.url} failed: ${describeFetchError(err)}` };
    }
    if (response.status >= 500) {
      await response.body?.cancel();
      return { kind: "error", reason: `pass-through to ${settings.url} answered ${response.status}` };
    }
    if (response.status < 200 || response.status >= 300) {
      await response.body?.cancel();
      const headers = pick(response.headers, settings.allowedClientHeadersOnDenied);
      return {
        kind: "deny",
        status: response.status,
        reason: `denied by ${settings.url} (HTTP ${response.status})`,
        ...(headers.length > 0 && { headers }),
      };
    }
    if (settings.readStateFromResponse) await this.#readState(response, context);
    else await response.body?.cancel();
    const headers = pick(response.headers, settings.allowedUpstreamHeaders);
    return { kind: "allow", ...(headers.length > 0 && { headers }) };
  }

  #requestHeaders(context: CheckContext): Record<string, string> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    for (const name of this.settings.allowedHeaders) {
      const value = context.headers[name];
      if (value !== undefined) headers[name] = value;
    }
    return { ...headers, ...this.settings.headersToAdd };
  }

  #requestBody(context: CheckContext): JsonObject {
    const body: JsonObject = {};
    if (this.settings.passThroughBody) body["body"] = context.request.attributes?.request?.http?.body ?? "";
    if (this.settings.passThroughState) body["state"] = jsonState(context.state);
    if (this.settings.config) body["config"] = this.settings.config;
    return body;
  }

  async #readState(response: Response, context: CheckContext): Promise<void> {
    let answer: unknown;
    try {
      answer = await response.json();
    } catch (err) {
      this.logger.warn({ url: this.settings.url, err: (err as Error).message }, "pass-through answer is not JSON");
      return;
    }
    const state = (answer as { state?: unknown } | null)?.state;
    if (typeof state !== "object" || state === null || Array.isArray(state)) return;
    for (const [key, value] of Object.entries(state)) context.state.set(key, value);
  }
}

/** The check's state as JSON; entries that cannot be JSON (e.g. live objects) are left out. */
function jsonState(state: Map<string, unknown>): JsonObject {
  const json: JsonObject = {};
  for (const [key, value] of state) {
    try {
      const text = JSON.stringify(value);
      if (text !== undefined) json[key] = JSON.parse(text);
    } catch {
      // not representable as JSON
    }
  }
  return json;
}

function pick(headers: Headers, names: string[]): HeaderToAdd[] {
  const picked: HeaderToAdd[] = [];
  for (const name of names) {
    const value = headers.get(name);
    if (value !== null) picked.push({ name, value });
  }
  return picked;
}

function describeFetchError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === "TimeoutError") return "timed out";
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? err.message;
}
