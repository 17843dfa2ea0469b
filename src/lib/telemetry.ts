import { once } from "node:events";
import { createServer, type Server, type ServerOptions } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { DeadlineError, withDeadline } from "./deadline.js";
import type { Logger } from "./logger.js";
import { createTlsServer, type TlsFileWatch } from "./tls.js";

/**
 * What `/readyz` reports. A service is ready when it has config and its backends answer. `detail`
 * lines (the state of each dependency) follow the first line of the body either way.
 */
export type Readiness = { ready: true; detail?: string[] } | { ready: false; reason: string; detail?: string[] };

/** Where `/metrics` comes from: a registry, or the metrics of several workers added up. */
export type MetricsSource = Pick<Registry, "metrics" | "contentType">;

export interface TelemetryServerOptions {
  registry: MetricsSource;
  host?: string;
  /** 0 picks a free port. */
  port: number;
  readiness?: () => Readiness | Promise<Readiness>;
  /** What `/healthz` checks beyond "the process answers" (every worker of `--workers`). Default none. */
  liveness?: () => Readiness | Promise<Readiness>;
  /** A readiness check that has not answered by then reports not-ready. Default 2,000 ms. */
  readinessTimeoutMs?: number;
  logger?: Logger;
  /** Defaults in `defaultTelemetryLimits`. */
  limits?: Partial<TelemetryLimits>;
  /**
   * Serve HTTPS with the certificates this watch holds (with a client CA, scrapers must show a
   * certificate it signed); the handshake is bounded by `headersTimeoutMs`. Stopped with the server.
   */
  tls?: TlsFileWatch;
}

/**
 * The bounds of a metrics port, which has no token: it reads no request body at all, and each
 * connection is bounded in time and number, so that it cannot be held open or filled.
 */
export interface TelemetryLimits {
  /** A connection must send a request's headers within this. */
  headersTimeoutMs: number;
  /** A request must be received whole within this. */
  requestTimeoutMs: number;
  /** A kept-alive connection with no request is closed after this. */
  idleTimeoutMs: number;
  /** Connections open at once; further ones are closed on accept. */
  maxConnections: number;
}

export const defaultTelemetryLimits: TelemetryLimits = {
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  idleTimeoutMs: 5_000,
  maxConnections: 100,
};

export interface TelemetryServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves `/metrics` (Prometheus text), `/healthz` (the process answers) and `/readyz`
 * (the service can take traffic) on the service's metrics port.
 */
export async function startTelemetryServer(options: TelemetryServerOptions): Promise<TelemetryServer> {
  const { registry, readiness } = options;
  const limits = { ...defaultTelemetryLimits, ...options.limits };
  const readinessTimeoutMs = options.readinessTimeoutMs ?? 2_000;
  const serverOptions: ServerOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.idleTimeoutMs,
    // Node checks the two timeouts above on this period (30 s by default, too coarse for them).
    connectionsCheckingInterval: Math.min(1_000, Math.max(10, Math.floor(limits.headersTimeoutMs / 4))),
  };
  const server: Server = createServer(serverOptions, (req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0];
    // Nothing here takes a body: one is refused unread, and the connection ends with the answer.
    if (req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined) {
      const empty = req.headers["content-length"] === "0";
      if (!empty) {
        res.writeHead(413, { connection: "close", "content-type": "text/plain" }).end("no request body expected\n");
        res.once("finish", () => req.socket.destroySoon());
        return;
      }
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    switch (path) {
      case "/metrics":
        registry.metrics().then(
          (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
          (err: unknown) => {
            options.logger?.error({ err }, "collecting metrics failed");
            res.writeHead(500, { "content-type": "text/plain" }).end("collecting metrics failed\n");
          },
        );
        return;
      case "/healthz":
        if (!options.liveness) {
          res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
          return;
        }
        answerState(options.liveness, "ok", "unhealthy", "health check");
        return;
      case "/readyz":
        answerState(readiness, "ready", "not ready", "readiness check");
        return;
      default:
        res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
    function answerState(
      check: (() => Readiness | Promise<Readiness>) | undefined,
      good: string,
      bad: string,
      what: string,
    ): void {
      withDeadline(Promise.resolve<Readiness>(check ? check() : { ready: true }), readinessTimeoutMs, what).then(
        (state) => {
          const detail = (state.detail ?? []).map((line) => `${line}\n`).join("");
          if (state.ready) res.writeHead(200, { "content-type": "text/plain" }).end(`${good}\n${detail}`);
          else res.writeHead(503, { "content-type": "text/plain" }).end(`${bad}: ${state.reason}\n${detail}`);
        },
        (err: unknown) => {
          options.logger?.error({ err }, `${what} failed`);
          const why = err instanceof DeadlineError ? `did not answer within ${readinessTimeoutMs} ms` : "failed";
          res.writeHead(503, { "content-type": "text/plain" }).end(`${bad}: ${what} ${why}\n`);
        },
      );
    }
  });
  const { tls } = options;
  // With TLS, the TLS server accepts and hands each socket to the HTTP server once its handshake is done.
  const listener = tls
    ? createTlsServer(
        tls,
        ["http/1.1"],
        (socket) => server.emit("connection", socket),
        options.logger,
        limits.headersTimeoutMs,
      )
    : server;
  // The HTTP server then never listens itself; Node starts its timeout sweep on "listening".
  if (tls) server.emit("listening");
  listener.maxConnections = limits.maxConnections;
  listener.listen(options.port, options.host ?? "0.0.0.0");
  await once(listener, "listening");
  const port = (listener.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        tls?.stop();
        listener.close((err) => (err ? reject(err) : resolve()));
        if (tls) server.close();
        server.closeAllConnections();
      }),
  };
}
