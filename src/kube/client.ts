// The few Kubernetes API calls Gantry makes (list, watch, patch), behind a small interface so the
// informer's decisions are tested without a cluster. @kubernetes/client-node reads the kubeconfig or
// the in-cluster service account and signs each request (tokens, client certificates, exec plugins);
// the requests themselves are plain HTTPS, because a watch must be read line by line as it streams.
import type { IncomingMessage } from "node:http";
import { type RequestOptions, request } from "node:https";
import { createInterface } from "node:readline";
import type { KubeConfig } from "@kubernetes/client-node";
import type { KubeObject } from "./objects.js";

/** A list, get or patch fails when its connection is silent this long (a hung API server). */
const requestTimeoutMs = 30_000;

/** How long the API server keeps one watch open before it ends it (it is then resumed). */
const watchSeconds = 300;

/** An API answer that is not a success, with the code and message of its Status. */
export class KubeError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = "KubeError";
    this.code = code;
  }
}

export interface KubeList {
  items: KubeObject[];
  resourceVersion: string;
}

export interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: KubeObject & { code?: number; message?: string; reason?: string };
}

export interface KubeClient {
  /** GET a collection (`/apis/gantry.dev/v1/routetables`). */
  list(path: string): Promise<KubeList>;
  /**
   * Watches a collection from `resourceVersion`, with bookmarks, until the server ends the stream
   * (resolves) or the request fails (rejects; a KubeError with 410 when the version is gone).
   */
  watch(
    path: string,
    resourceVersion: string,
    onEvent: (event: WatchEvent) => void,
    signal: AbortSignal,
  ): Promise<void>;
  /** GET one object. */
  get(path: string): Promise<KubeObject>;
  /** PATCH with a JSON merge patch (`.../name/status` for the status subresource). */
  mergePatch(path: string, body: unknown): Promise<KubeObject>;
}

/** Where the Kubernetes API is: a kubeconfig file, or the service account of the pod this runs in. */
export type KubeConfigSource = { kubeconfig: string } | { inCluster: true };

/**
 * Reads the configuration; errors name the file. The library is loaded here, not at start: it is
 * large, and every `gantry` command would pay for it otherwise.
 */
export async function loadKubeConfig(source: KubeConfigSource): Promise<KubeConfig> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const config = new KubeConfig();
  try {
    if ("kubeconfig" in source) config.loadFromFile(source.kubeconfig);
    else config.loadFromCluster();
  } catch (err) {
    const what = "kubeconfig" in source ? `--kubeconfig ${source.kubeconfig}` : "in-cluster configuration";
    throw new Error(`${what}: ${(err as Error).message}`);
  }
  const cluster = config.getCurrentCluster();
  if (!cluster) {
    const what = "kubeconfig" in source ? `--kubeconfig ${source.kubeconfig}` : "in-cluster configuration";
    throw new Error(`${what}: no current cluster (set current-context)`);
  }
  return config;
}

async function statusError(res: IncomingMessage): Promise<KubeError> {
  let text = "";
  for await (const chunk of res) text += chunk;
  let message = text.trim() || `HTTP ${res.statusCode}`;
  try {
    message = (JSON.parse(text) as { message?: string }).message ?? message;
  } catch {
    // not a Status
  }
  return new KubeError(res.statusCode ?? 0, message);
}

/** A KubeClient over HTTPS, each request signed by the configuration. */
export class HttpKubeClient implements KubeClient {
  readonly #config: KubeConfig;
  readonly #server: URL;

  constructor(config: KubeConfig) {
    this.#config = config;
    this.#server = new URL(config.getCurrentCluster()?.server ?? "");
  }

  async #send(
    method: string,
    path: string,
    body: { type: string; data: string } | undefined,
    /** The connection may stay silent this long; then the call fails (a hung server, a dead peer). */
    idleMs: number,
    signal?: AbortSignal,
  ): Promise<IncomingMessage> {
    const options: RequestOptions & { headers: Record<string, string> } = {
      method,
      hostname: this.#server.hostname.replace(/^\[|\]$/g, ""),
      port: this.#server.port,
      path: `${this.#server.pathname.replace(/\/$/, "")}${path}`,
      headers: { accept: "application/json", ...(body ? { "content-type": body.type } : {}) },
      ...(signal ? { signal } : {}),
    };
    await this.#config.applyToHTTPSOptions(options);
    return new Promise((resolve, reject) => {
      const req = request(options, resolve);
      req.setTimeout(idleMs, () => req.destroy(new Error(`${method} ${path}: silent for ${idleMs} ms`)));
      req.on("error", reject);
      req.end(body?.data);
    });
  }

  async #json(method: string, path: string, body?: { type: string; data: string }): Promise<unknown> {
    const res = await this.#send(method, path, body, requestTimeoutMs);
    if ((res.statusCode ?? 0) >= 300) throw await statusError(res);
    let text = "";
    for await (const chunk of res) text += chunk;
    return JSON.parse(text);
  }

  async list(path: string): Promise<KubeList> {
    const list = (await this.#json("GET", path)) as { items?: KubeObject[]; metadata?: { resourceVersion?: string } };
    return { items: list.items ?? [], resourceVersion: list.metadata?.resourceVersion ?? "" };
  }

  async watch(
    path: string,
    resourceVersion: string,
    onEvent: (event: WatchEvent) => void,
    signal: AbortSignal,
  ): Promise<void> {
    // The server ends each watch after timeoutSeconds, and it is resumed; a connection silent for
    // longer than that is dead (a peer gone without closing it) and is dropped, then resumed too.
    const query = new URLSearchParams({
      watch: "1",
      allowWatchBookmarks: "true",
      resourceVersion,
      timeoutSeconds: String(watchSeconds),
    });
    const res = await this.#send("GET", `${path}?${query}`, undefined, (watchSeconds + 30) * 1000, signal);
    if ((res.statusCode ?? 0) >= 300) throw await statusError(res);
    try {
      for await (const line of createInterface({ input: res, crlfDelay: Number.POSITIVE_INFINITY })) {
        if (line.trim() !== "") onEvent(JSON.parse(line) as WatchEvent);
      }
    } finally {
      res.destroy();
    }
    // A stream cut by the server going away ends like a finished one; only a clean end is a resolve.
    if (!res.complete) throw new Error(`the watch of ${path} was cut`);
  }

  async get(path: string): Promise<KubeObject> {
    return (await this.#json("GET", path)) as KubeObject;
  }

  async mergePatch(path: string, body: unknown): Promise<KubeObject> {
    const data = JSON.stringify(body);
    return (await this.#json("PATCH", path, { type: "application/merge-patch+json", data })) as KubeObject;
  }
}
