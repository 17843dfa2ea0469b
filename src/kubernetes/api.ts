// Gantry's one client of the Kubernetes API (the server's custom resources, statuses, webhook
// configuration and Lease; the agent's discovery and TokenReviews): requests, paged lists and
// watches, with one error shape (the apiserver's Status: HTTP code, reason, message) for all of them. Connection details
// and credentials come from @kubernetes/client-node's KubeConfig (kubeconfig files, in-cluster
// service-account tokens, client certificates, exec plugins); the requests themselves are plain
// HTTP so that what is sent (a Lease's MicroTime, a TokenReview) is exactly what the apiserver
// expects and no error message ever carries a request body.
import { request as httpRequest, type IncomingMessage, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import { createInterface } from "node:readline";
import type { KubeConfig } from "@kubernetes/client-node";

/** A request fails when its connection is silent this long (a hung apiserver). */
const requestIdleMs = 30_000;
/** How long the apiserver keeps a watch open when the caller names no bound (then it is resumed). */
const defaultWatchSeconds = 300;

/** The parts of an object's metadata Gantry reads. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export interface KubeList<T> {
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK";

export interface WatchEvent<T> {
  type: WatchEventType;
  object: T;
}

/** A refusal or failure from the apiserver: `status` is the HTTP code (410: the resourceVersion is too old). */
export class KubeApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly reason: string,
  ) {
    super(message);
    this.name = "KubeApiError";
  }
}

/** Where the client's connection comes from: a kubeconfig file, or the pod's own service account. */
export type KubeSource = { kubeconfig: string } | { inCluster: true };

/**
 * Loads a kubeconfig file or the in-cluster config; errors name the flag and file. The client
 * library is loaded here, on first use, so that commands that never talk to Kubernetes start as fast as before.
 */
export async function loadKubeConfig(source: KubeSource): Promise<KubeConfig> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const config = new KubeConfig();
  if ("kubeconfig" in source) {
    try {
      config.loadFromFile(source.kubeconfig);
    } catch (err) {
      throw new Error(`--kubeconfig ${source.kubeconfig}: ${(err as Error).message}`);
    }
    if (!config.getCurrentCluster()) {
      throw new Error(`--kubeconfig ${source.kubeconfig}: its current context names no cluster`);
    }
    return config;
  }
  if (!process.env["KUBERNETES_SERVICE_HOST"]) {
    throw new Error(
      "in-cluster Kubernetes config: KUBERNETES_SERVICE_HOST is not set (not in a pod); give --kubeconfig",
    );
  }
  config.loadFromCluster();
  return config;
}

export interface RequestArgs {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** The body's type; default `application/json` (a PATCH names its kind: `application/merge-patch+json`). */
  contentType?: string;
  signal?: AbortSignal;
}

/** What a caller of the Kubernetes API needs; tests give a fake. */
export interface KubeApi {
  /** The apiserver's URL, for messages. */
  readonly server: string;
  request<T>(method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE", path: string, args?: RequestArgs): Promise<T>;
  /** Lists a collection whole, page by page; the list's resourceVersion is the last page's. */
  list<T>(path: string, args?: { pageSize?: number; signal?: AbortSignal }): Promise<KubeList<T>>;
  /**
   * Watches a collection from `resourceVersion` until the server ends the stream (resolves) or it
   * fails (rejects; a KubeApiError with status 410 when the version is too old to resume from).
   */
  watch<T>(
    path: string,
    resourceVersion: string,
    onEvent: (event: WatchEvent<T>) => void,
    args?: { timeoutSeconds?: number; signal?: AbortSignal },
  ): Promise<void>;
}

/** The Status the apiserver answers a refusal with, as a KubeApiError. */
function statusError(what: string, code: number, body: string): KubeApiError {
  let reason = "";
  let message = body.trim().slice(0, 500);
  try {
    const status = JSON.parse(body) as { reason?: string; message?: string };
    reason = status.reason ?? "";
    message = status.message ?? message;
  } catch {
    // not a Status: the text (cut short) says what happened
  }
  return new KubeApiError(`${what}: HTTP ${code}${reason ? ` ${reason}` : ""}: ${message}`, code, reason);
}

async function readAll(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** A KubeApi over a KubeConfig's current context. */
export class KubeClient implements KubeApi {
  readonly server: string;

  constructor(readonly config: KubeConfig) {
    const cluster = config.getCurrentCluster();
    if (!cluster) throw new Error("Kubernetes config: the current context names no cluster");
    this.server = cluster.server.replace(/\/+$/, "");
  }

  /** Sends a request; its connection may stay silent `idleMs`, then it fails (a hung server, a dead peer). */
  async #open(method: string, path: string, args: RequestArgs, idleMs = requestIdleMs): Promise<IncomingMessage> {
    const url = new URL(this.server + path);
    for (const [key, value] of Object.entries(args.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const options: RequestOptions = { method, headers: { accept: "application/json" } };
    // Credentials (bearer token, client certificate, CA) as the kubeconfig gives them, fresh per call:
    // an in-cluster token file is rotated by the kubelet.
    await this.config.applyToHTTPSOptions(options);
    const body = args.body === undefined ? undefined : Buffer.from(JSON.stringify(args.body));
    options.headers = {
      ...options.headers,
      ...(body
        ? { "content-type": args.contentType ?? "application/json", "content-length": String(body.length) }
        : {}),
    };
    if (args.signal) options.signal = args.signal;
    // A plain-HTTP apiserver (`kubectl proxy`) takes no TLS agent.
    if (url.protocol === "http:") delete options.agent;
    const send = url.protocol === "http:" ? httpRequest : httpsRequest;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = send(url, options, resolve);
      req.setTimeout(idleMs, () => req.destroy(new Error(`silent for ${idleMs} ms`)));
      req.on("error", (err) => reject(new Error(`${method} ${url.pathname} at ${this.server}: ${err.message}`)));
      req.end(body);
    });
  }

  async request<T>(
    method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
    path: string,
    args: RequestArgs = {},
  ): Promise<T> {
    const response = await this.#open(method, path, args);
    const text = await readAll(response);
    const code = response.statusCode ?? 0;
    if (code < 200 || code > 299) throw statusError(`${method} ${path}`, code, text);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new KubeApiError(`${method} ${path}: the apiserver answered something that is not JSON`, code, "");
    }
  }

  async list<T>(path: string, args: { pageSize?: number; signal?: AbortSignal } = {}): Promise<KubeList<T>> {
    const items: T[] = [];
    let next: string | undefined;
    for (;;) {
      const page: KubeList<T> = await this.request<KubeList<T>>("GET", path, {
        query: { limit: args.pageSize ?? 500, continue: next },
        ...(args.signal ? { signal: args.signal } : {}),
      });
      items.push(...(page.items ?? []));
      next = page.metadata?.continue || undefined;
      if (!next) return { metadata: { resourceVersion: page.metadata?.resourceVersion ?? "" }, items };
    }
  }

  async watch<T>(
    path: string,
    resourceVersion: string,
    onEvent: (event: WatchEvent<T>) => void,
    args: { timeoutSeconds?: number; signal?: AbortSignal } = {},
  ): Promise<void> {
    // The apiserver ends each watch after timeoutSeconds, and the caller resumes it; a connection
    // silent for longer than that is dead (a peer gone without closing it) and is dropped.
    const timeoutSeconds = args.timeoutSeconds ?? defaultWatchSeconds;
    const response = await this.#open(
      "GET",
      path,
      {
        query: { watch: 1, resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
        ...(args.signal ? { signal: args.signal } : {}),
      },
      (timeoutSeconds + 30) * 1000,
    );
    const code = response.statusCode ?? 0;
    if (code !== 200) throw statusError(`watch ${path}`, code, await readAll(response));
    try {
      const lines = createInterface({ input: response, crlfDelay: Number.POSITIVE_INFINITY });
      for await (const line of lines) {
        if (!line.trim()) continue;
        const event = JSON.parse(line) as { type: string; object: unknown };
        if (event.type === "ERROR") {
          // Sent inside the stream, e.g. 410 when the version asked for was compacted away.
          const status = event.object as { code?: number; reason?: string; message?: string };
          throw new KubeApiError(
            `watch ${path}: ${status.reason ?? "error"}: ${status.message ?? ""}`,
            status.code ?? 500,
            status.reason ?? "",
          );
        }
        onEvent(event as WatchEvent<T>);
      }
    } finally {
      response.destroy();
    }
    // A stream cut by the apiserver going away ends like a finished one; only a clean end resolves.
    if (!response.complete) throw new Error(`watch ${path} at ${this.server}: the stream was cut`);
  }
}
