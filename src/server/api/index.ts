import type { Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { ManagementService } from "../../gen/gantry/api/v1/management_pb.js";
import type { Logger } from "../../lib/logger.js";
import type { TlsFileWatch } from "../../lib/tls.js";
import { bearerAuth } from "./auth.js";
import { type ApiListener, listenHttp } from "./http.js";
import { type ManagementDeps, managementService } from "./service.js";

export { bearerAuth } from "./auth.js";
export type { ManagementDeps, ProxyStatusView } from "./service.js";

export interface ManagementApiOptions {
  host: string;
  port: number;
  /** The bearer token every call must present; `undefined` only with `insecure` (local development). */
  token: string | undefined;
  insecure?: boolean;
  deps: ManagementDeps;
  logger?: Logger;
  /** Serve HTTPS (ALPN h2 and http/1.1) with the certificates this watch holds; stopped with the API. */
  tls?: TlsFileWatch;
}

/** Serves the management API (Connect JSON, gRPC and gRPC-Web) on one port, HTTP/1.1 and h2c, or HTTPS (h2, http/1.1). */
export async function startManagementApi(options: ManagementApiOptions): Promise<ApiListener> {
  const interceptors: Interceptor[] = [];
  if (options.token !== undefined) interceptors.push(bearerAuth(options.token));
  else if (!options.insecure)
    throw new Error("the management API needs a token (--api-token-file or GANTRY_API_TOKEN), or --insecure-api");
  const handler = connectNodeAdapter({
    routes: (router) => router.service(ManagementService, managementService(options.deps)),
    interceptors,
    fallback: (_req, res) => {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found: the management API lives under /gantry.api.v1.ManagementService/\n");
    },
  });
  return listenHttp(handler, options.host, options.port, options.tls);
}
