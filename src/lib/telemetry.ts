import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { DeadlineError, withDeadline } from "./deadline.js";
import type { Logger } from "./logger.js";

/**
 * What `/readyz` reports. A service is ready when it has config and its backends answer. `detail`
 * lines (the state of each dependency) follow the first line of the body either way.
 */
export type Readiness = { ready: true; detail?: string[] } | { ready: false; reason: string; detail?: string[] };

export interface TelemetryServerOptions {
  registry: Registry;
  host?: string;
  /** 0 picks a free port. */
  port: number;
  readiness?: () => Readiness | Promise<Readiness>;
  /** A readiness check that has not answered by then reports not-ready. Default 2,000 ms. */
  readinessTimeoutMs?: number;
  logger?: Logger;
}

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
  const readinessTimeoutMs = options.readinessTimeoutMs ?? 2_000;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0];
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
        res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
        return;
      case "/readyz":
        withDeadline(
          Promise.resolve<Readiness>(readiness ? readiness() : { ready: true }),
          readinessTimeoutMs,
          "readiness check",
        ).then(
          (state) => {
            const detail = (state.detail ?? []).map((line) => `${line}\n`).join("");
            if (state.ready) res.writeHead(200, { "content-type": "text/plain" }).end(`ready\n${detail}`);
            else res.writeHead(503, { "content-type": "text/plain" }).end(`not ready: ${state.reason}\n${detail}`);
          },
          (err: unknown) => {
            options.logger?.error({ err }, "readiness check failed");
            const why = err instanceof DeadlineError ? `did not answer within ${readinessTimeoutMs} ms` : "failed";
            res.writeHead(503, { "content-type": "text/plain" }).end(`not ready: readiness check ${why}\n`);
          },
        );
        return;
      default:
        res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  });
  server.listen(options.port, options.host ?? "0.0.0.0");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
