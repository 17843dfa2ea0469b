// The management API as the page calls it: Connect JSON over fetch, the same calls as the CLI.
// The bearer token (API token or OIDC ID token) lives in sessionStorage: gone with the tab.
import { inSessionOutage, isSessionOutage, sessionsCheckable, untilSessionsCheckable } from "./outage";

const service = "/gantry.api.v1.ManagementService";
const tokenKey = "gantry.token";

export function token(): string | undefined {
  return sessionStorage.getItem(tokenKey) ?? undefined;
}

export function signIn(value: string): void {
  sessionStorage.setItem(tokenKey, value);
}

export function signOut(): void {
  sessionStorage.removeItem(tokenKey);
}

/**
 * Signs out for good: an OIDC session (sealed, `gs1.…`) is also signed out at the server, so a
 * copy of it is refused from then on; an API token only leaves this tab.
 */
export async function signOutEverywhere(): Promise<void> {
  const bearer = token();
  signOut();
  if (!bearer?.startsWith("gs1.")) return;
  await fetch("/ui/oidc/logout", { method: "POST", headers: { authorization: `Bearer ${bearer}` } }).catch(
    () => undefined,
  );
}

/** An API error: the Connect code (`permission_denied`, `unauthenticated`, …) and the server's message. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Told when the server no longer accepts the token (expired ID token, rotated API token). */
let onUnauthenticated: () => void = () => {};
export function whenUnauthenticated(listener: () => void): void {
  onUnauthenticated = listener;
}

function headers(contentType: string): Record<string, string> {
  const bearer = token();
  return {
    "content-type": contentType,
    "connect-protocol-version": "1",
    ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
  };
}

async function failure(response: Response): Promise<ApiError> {
  const body = (await response.json().catch(() => ({}))) as { code?: string; message?: string };
  const error = new ApiError(body.code ?? `http_${response.status}`, body.message ?? response.statusText);
  if (error.code === "unauthenticated") onUnauthenticated();
  return error;
}

function post(method: string, request: object): Promise<Response> {
  return fetch(`${service}/${method}`, {
    method: "POST",
    headers: headers("application/json"),
    body: JSON.stringify(request),
  });
}

/** The cheapest read: does the gate check the session again? */
const probeSessions = async () => !isSessionOutage(await post("ListInsights", { severity: "ERROR" }));

/**
 * One unary call, e.g. `call("List", {})`. While the server cannot check the session it waits
 * (outage.ts) and then asks again: the gate answered before serving anything, so nothing ran twice.
 */
export async function call<T>(method: string, request: object = {}): Promise<T> {
  for (;;) {
    // Made during an outage, a call waits for the probe instead of adding to the 503s.
    if (inSessionOutage()) await untilSessionsCheckable(probeSessions);
    const response = await post(method, request);
    if (isSessionOutage(response)) {
      await untilSessionsCheckable(probeSessions);
      continue;
    }
    // Any other answer, even a refusal, means the session could be checked.
    sessionsCheckable();
    if (!response.ok) throw await failure(response);
    return (await response.json()) as T;
  }
}

export interface WatchEvent {
  revision?: string;
  upserted?: Ref[];
  deleted?: Ref[];
  resync?: boolean;
  proxiesChanged?: boolean;
  insightsChanged?: boolean;
}

/**
 * The Watch stream (Connect streaming over fetch: 5-byte envelopes, the last one flagged end of
 * stream with its error, if any). Resolves when the stream ends; rejects on an error.
 */
export async function watch(
  onOpen: () => void,
  onEvent: (event: WatchEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  const json = new TextEncoder().encode(JSON.stringify({ status: true }));
  const envelope = new Uint8Array(5 + json.length);
  new DataView(envelope.buffer).setUint32(1, json.length);
  envelope.set(json, 5);
  const response = await fetch(`${service}/Watch`, {
    method: "POST",
    headers: headers("application/connect+json"),
    body: envelope,
    signal,
  });
  if (isSessionOutage(response)) void untilSessionsCheckable(probeSessions);
  else sessionsCheckable();
  if (!response.ok || !response.body) throw await failure(response);
  onOpen();
  const reader = response.body.getReader();
  let buffer = new Uint8Array(0);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const joined = new Uint8Array(buffer.length + value.length);
    joined.set(buffer);
    joined.set(value, buffer.length);
    buffer = joined;
    while (buffer.length >= 5) {
      const flags = buffer[0] ?? 0;
      const length = new DataView(buffer.buffer, buffer.byteOffset).getUint32(1);
      if (buffer.length < 5 + length) break;
      const message = JSON.parse(new TextDecoder().decode(buffer.subarray(5, 5 + length))) as unknown;
      buffer = buffer.slice(5 + length);
      if (flags & 0x02) {
        const end = message as { error?: { code?: string; message?: string } };
        if (end.error) throw new ApiError(end.error.code ?? "unknown", end.error.message ?? "the stream ended");
        return;
      }
      onEvent(message as WatchEvent);
    }
  }
}

// The API's JSON shapes (proto3 JSON of proto/gantry/api/v1), as far as the pages read them.

export interface Ref {
  kind: string;
  namespace?: string;
  name: string;
}

export type State = "STATE_UNSPECIFIED" | "ACCEPTED" | "WARNING" | "INVALID" | "FAILED";

export interface ResourceStatus {
  state?: State;
  messages?: string[];
  since?: string;
}

export interface Resource {
  ref: Ref;
  document: {
    metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; clusters?: string[] };
    spec?: unknown;
  } & Record<string, unknown>;
  revision?: string;
  status?: ResourceStatus;
}

export interface ProxyClient {
  nodeId: string;
  streams?: string[];
  inSync?: number;
  pending?: number;
  nacked?: number;
  lastNackError?: string;
  lastNackTime?: string;
  metadata?: Record<string, unknown>;
  server?: string;
}

export interface ProxyResource {
  typeUrl: string;
  name: string;
  state: "in-sync" | "pending" | "nacked";
  version?: string;
  clientVersion?: string;
  sent?: boolean;
  error?: string;
  since?: string;
}

export interface ProxyDetail {
  nodeId: string;
  metadata?: Record<string, unknown>;
  streams?: string[];
  resources?: ProxyResource[];
  config?: Array<Record<string, unknown>>;
  lastNackError?: string;
  lastNackTime?: string;
}

export interface Insight {
  id: string;
  code: string;
  severity: "ERROR" | "WARNING" | "INFO";
  category?: string;
  summary: string;
  targets?: Ref[];
  cluster?: string;
  subject?: string;
  evidence?: Record<string, string>;
  firstSeen?: string;
  lastSeen?: string;
  resolvedAt?: string;
  silenced?: boolean;
  name?: string;
  resolution?: string;
  docsAnchor?: string;
}

export interface Silence {
  code: string;
  target?: Ref;
  createdAt?: string;
  reason?: string;
}

export interface Cluster {
  name: string;
  state: string;
  connected?: boolean;
  stale?: boolean;
  lastSeen?: string;
  agentVersion?: string;
  resources?: number;
  proxies?: number;
  identity?: string;
}

export interface AttachedPolicy {
  policy: Ref;
  effect?: string;
}

export interface ServedRoute {
  name: string;
  gateway?: Ref;
  listener?: string;
  routeTable?: Ref;
  hosts?: string[];
  match?: string;
  action?: string;
  destinations?: Ref[];
  policies?: AttachedPolicy[];
}

export interface ClientResourceStatus {
  nodeId: string;
  state: string;
  clientVersion?: string;
  version?: string;
  error?: string;
  since?: string;
}

export interface Description {
  resource: Resource;
  publishedRevision?: string;
  servedBy?: Array<{
    nodeId: string;
    role?: string;
    gateways?: string[];
    acked?: boolean;
    pendingTypes?: string[];
    lastNackError?: string;
  }>;
  gateways?: Ref[];
  routeTables?: Ref[];
  policies?: Ref[];
  routes?: ServedRoute[];
  clusters?: string[];
  rateLimitDomain?: string;
  authConfigId?: string;
  envoyResources?: Array<{
    typeUrl: string;
    name: string;
    version?: string;
    gateways?: string[];
    clients?: ClientResourceStatus[];
  }>;
  insights?: Insight[];
}

export function refText(ref: Ref): string {
  return `${ref.kind} ${ref.namespace || "default"}/${ref.name}`;
}

export function refHref(ref: Ref): string {
  return `#/resources/${encodeURIComponent(ref.kind)}/${encodeURIComponent(ref.namespace || "default")}/${encodeURIComponent(ref.name)}`;
}

export interface DataPlaneRates {
  windowSeconds?: number;
  extAuth?: { total?: number; denied?: number; errors?: number };
  rateLimit?: { total?: number; overLimit?: number; redisErrors?: number };
}
