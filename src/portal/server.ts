// `gantry portal`: the developer portal's pages and REST API, its catalogue followed from the
// management server, its keys in the ext-auth Redis (docs/portal.md).
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize, sep } from "node:path";
import { type Logger, type RedisClient, systemClock, type Timer, type Timers } from "../lib/index.js";
import type { Resource } from "../resources/index.js";
import { portalApi } from "./api.js";
import { AppStore } from "./apps.js";
import { buildCatalogue, type Catalogue, type ResourceStatusView } from "./catalogue.js";
import { HttpError, pathSegments, sendJson } from "./http.js";
import { type Developer, IdentityGate, type IdentityOptions } from "./identity.js";
import { OpenApiDocuments } from "./openapi.js";
import { UsageRecorder } from "./usage.js";

/** The desired state the portal reads: resources and their statuses (by `Kind/namespace/name`). */
export interface PortalState {
  resources: Resource[];
  statuses: Map<string, ResourceStatusView>;
}

export interface PortalOptions {
  host: string;
  port: number;
  /** Reads the desired state (the management API's List). */
  readState(): Promise<PortalState>;
  /** How often the desired state is read again. */
  refreshMs: number;
  /** The Portal resource served (`namespace/name`); default: the first. */
  portalName?: string;
  identity: IdentityOptions;
  /** Paths answered by the ext-auth login itself (its callback and logout paths). */
  authPaths: string[];
  /** The ext-auth Redis: keys and apps. */
  redis: RedisClient;
  rotationGraceMs: number;
  /** The rate-limit server's /metrics, for usage; absent: no usage. */
  rateLimitMetricsUrl?: string;
  usageIntervalMs: number;
  /** The built pages (dist/portal/pages). */
  pagesDir: string;
  /** Relative OpenAPI `file` sources are read from here. */
  baseDir: string;
  logger: Logger;
  timers?: Timers;
}

export interface Portal {
  readonly port: number;
  /** Reads the desired state now (tests; otherwise every refreshMs). */
  refresh(): Promise<void>;
  stop(): Promise<void>;
}

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
  ".map": "application/json",
};

const securityHeaders = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "x-frame-options": "DENY",
};

/** The host of an Origin header; undefined for `null` or a malformed one (refused like any other origin). */
function originHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

export async function startPortal(options: PortalOptions): Promise<Portal> {
  const timers = options.timers ?? systemClock;
  const log = options.logger;
  let catalogue: Catalogue | undefined;
  const documents = new OpenApiDocuments({ baseDir: options.baseDir, clock: timers });
  const apps = new AppStore(options.redis, timers);
  const usage = options.rateLimitMetricsUrl
    ? new UsageRecorder({
        metricsUrl: options.rateLimitMetricsUrl,
        redis: options.redis,
        intervalMs: options.usageIntervalMs,
        keep: 360,
        timers,
        onError: (err) => log.warn({ err: err.message }, "cannot read the rate-limit server's metrics"),
      })
    : undefined;
  const gate = new IdentityGate(options.identity);
  const api = portalApi({
    catalogue: () => catalogue,
    documents,
    apps,
    ...(usage ? { usage } : {}),
    rotationGraceMs: options.rotationGraceMs,
    maxBodyBytes: 64 * 1024,
  });

  const refresh = async () => {
    const state = await options.readState();
    catalogue = buildCatalogue(state.resources, state.statuses, options.portalName);
    documents.keepOnly(new Set(catalogue.products.keys()));
  };

  const serveFile = async (res: ServerResponse, segments: string[]): Promise<void> => {
    const root = normalize(options.pagesDir);
    let path = normalize(join(root, ...segments));
    if (path !== root && !path.startsWith(root + sep)) throw new HttpError(404, "not found");
    let info = await stat(path).catch(() => undefined);
    // The pages route on the client: any other path is the app's entry page.
    if (!info?.isFile()) {
      path = join(root, "index.html");
      info = await stat(path).catch(() => undefined);
      if (!info?.isFile())
        throw new HttpError(503, `the portal's pages are not built (${root}); run npm run build:portal`);
    }
    res.writeHead(200, {
      "content-type": contentTypes[extname(path)] ?? "application/octet-stream",
      "content-length": info.size,
      "cache-control": extname(path) === ".html" ? "no-cache" : "public, max-age=300",
      ...securityHeaders,
    });
    createReadStream(path).pipe(res);
  };

  const relay = (res: ServerResponse, answer: { status: number; headers: [string, string][]; body: string }) => {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of answer.headers) {
      const key = name.toLowerCase();
      const had = headers[key];
      headers[key] = had === undefined ? value : [...(Array.isArray(had) ? had : [had]), value];
    }
    res.writeHead(answer.status, headers);
    res.end(answer.body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const segments = pathSegments(req.url ?? "/");
    if (!segments) throw new HttpError(400, "malformed path");
    const path = `/${segments.join("/")}`;
    if (path === "/login" || options.authPaths.includes(path)) {
      const verdict = await gate.check(req, "login");
      if (verdict.type === "answer") return relay(res, verdict.answer);
      // Signed in already: back to where the sign-in started (a path on this portal only).
      const back = new URL(req.url ?? "/", "http://portal").searchParams.get("return") ?? "/";
      res.writeHead(302, { location: back.startsWith("/") && !back.startsWith("//") ? back : "/" });
      res.end();
      return;
    }
    if (segments[0] === "portal" && segments[1] === "v1") {
      const verdict = await gate.check(req, "optional");
      if (verdict.type === "answer") return relay(res, verdict.answer);
      const viewer: Developer | undefined = verdict.type === "developer" ? verdict.developer : undefined;
      if (req.method !== "GET" && req.method !== "HEAD") {
        // Browsers send Origin on every cross-origin write: only the portal's own pages may write.
        const origin = req.headers.origin;
        if (origin !== undefined && originHost(origin) !== req.headers.host) {
          throw new HttpError(403, `cross-origin request from ${origin} refused`);
        }
      }
      return api(segments.slice(2), req, res, viewer);
    }
    if (req.method !== "GET" && req.method !== "HEAD") throw new HttpError(405, `method ${req.method} is not allowed`);
    return serveFile(res, segments);
  };

  const server = createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) return sendJson(res, err.status, { error: err.message });
      // A backend (ext-auth, Redis, the management API) failing is the portal's problem, not the caller's.
      log.error({ err: (err as Error).message, path: req.url }, "portal request failed");
      sendJson(res, 503, { error: "the portal cannot answer right now; try again" });
    });
  });

  await refresh().catch((err: Error) => log.warn({ err: err.message }, "cannot read the desired state yet; retrying"));
  let refreshTimer: Timer | undefined;
  let stopped = false;
  const scheduleRefresh = () => {
    refreshTimer = timers.setTimeout(() => {
      refresh()
        .catch((err: Error) => log.warn({ err: err.message }, "cannot read the desired state; keeping the last one"))
        .finally(() => {
          if (!stopped) scheduleRefresh();
        });
    }, options.refreshMs);
  };
  scheduleRefresh();
  const sweep = timers.setInterval(() => {
    apps
      .expire()
      .then((n) => {
        if (n > 0) log.info({ revoked: n }, "revoked rotated keys whose grace period ended");
      })
      .catch((err: Error) => log.warn({ err: err.message }, "cannot revoke expired keys; retrying"));
  }, 250);
  usage?.start();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  log.info({ port: (server.address() as AddressInfo).port }, "portal listening");
  return {
    port: (server.address() as AddressInfo).port,
    refresh,
    stop: async () => {
      stopped = true;
      refreshTimer?.cancel();
      sweep.cancel();
      usage?.stop();
      gate.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
