// The dashboard on the API port: its built files under /ui/ and its OIDC sign-in. Everything the
// page shows it reads through the public management API, like the CLI ([ui](../../../docs/ui.md)).
import { existsSync } from "node:fs";
import type { Timers } from "../../lib/clock.js";
import type { Logger } from "../../lib/logger.js";
import type { ApiHandler, IdTokenVerifier } from "../api/index.js";
import { faviconSvg } from "./favicon.js";
import { UiOidc, type UiOidcOptions } from "./oidc.js";
import { answer, defaultUiDir, loadUiFiles, serveUiFile } from "./static.js";

export { checkUiOidcOptions, type UiOidcOptions } from "./oidc.js";
export { parseSessionKeyFile, SealingKeys } from "./sealed.js";
export { MemorySignOuts, RedisSignOuts, type SignOuts } from "./signouts.js";
export { contentSecurityPolicy, defaultUiDir } from "./static.js";

export interface UiOptions {
  /** The built dashboard. Default dist/ui of this package (scripts/build-ui.mjs). */
  dir?: string;
  /** Sign-in with an OpenID provider, its groups mapped to roles. */
  oidc?: UiOidcOptions;
}

export interface Ui {
  handler: ApiHandler;
  /** Checks the ID tokens the page sends as bearer tokens; only with `oidc`. */
  oidc: IdTokenVerifier | undefined;
}

export function createUi(options: UiOptions, deps: { logger: Logger; timers: Timers }): Ui {
  const oidc = options.oidc && new UiOidc(options.oidc, deps.timers, deps.logger);
  const dir = options.dir ?? defaultUiDir;
  let files: ReturnType<typeof loadUiFiles> | undefined;
  const config = JSON.stringify({ oidc: oidc !== undefined });
  /**
   * `POST /ui/oidc/logout` with the session as bearer token: signed out on every replica sharing
   * the sign-outs. The token is read from the header, never a cookie, so no other site can sign a
   * user out (or in).
   */
  const signOut: ApiHandler = (request, response) => {
    if (request.method !== "POST") {
      answer(response, 405, "sign out with POST\n", { allow: "POST" });
      return;
    }
    if (!oidc) {
      answer(response, 404, "this server has no OIDC sign-in (--ui-oidc-issuer)\n");
      return;
    }
    const header = request.headers.authorization ?? "";
    const token = header.startsWith("Bearer ") ? header.slice(7).trim() : "";
    oidc.signOut(token).then(
      () => answer(response, 204, ""),
      (err: unknown) => {
        deps.logger.warn({ err: String(err) }, "the dashboard's sign-out could not be recorded");
        answer(response, 503, "the sign-out could not be recorded; try again\n");
      },
    );
  };
  const handler: ApiHandler = (request, response) => {
    // The raw path, never normalized: `/ui/../x` must not become `/x`; files are found by name only.
    const raw = request.url ?? "/";
    const q = raw.indexOf("?");
    const pathname = q < 0 ? raw : raw.slice(0, q);
    const search = new URLSearchParams(q < 0 ? "" : raw.slice(q + 1));
    if (pathname === "/ui/oidc/logout") {
      signOut(request, response);
      return;
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      answer(response, 405, "the dashboard's files are read with GET\n", { allow: "GET, HEAD" });
      return;
    }
    if (pathname === "/favicon.ico" || pathname === "/ui/favicon.svg") {
      answer(response, 200, faviconSvg, { "content-type": "image/svg+xml", "cache-control": "public, max-age=86400" });
      return;
    }
    if (pathname === "/ui") {
      answer(response, 301, "moved to /ui/\n", { location: "/ui/" });
      return;
    }
    const path = pathname.slice("/ui/".length);
    if (path === "config.json") {
      answer(response, 200, config, { "content-type": "application/json" });
      return;
    }
    if (path === "oidc/login" || path === "oidc/callback") {
      if (!oidc) {
        answer(response, 404, "this server has no OIDC sign-in (--ui-oidc-issuer)\n");
        return;
      }
      const next =
        path === "oidc/login"
          ? oidc.startLogin()
          : oidc
              .callback(search, request.headers.cookie)
              .then((location) => ({ location, cookie: oidc.clearLoginCookie() }));
      next.then(
        ({ location, cookie }) => answer(response, 302, "", { location, "set-cookie": cookie }),
        (err: unknown) => {
          deps.logger.warn({ err: String(err) }, "the dashboard's OIDC sign-in could not start");
          answer(response, 502, "the OpenID provider cannot be reached; try again later\n");
        },
      );
      return;
    }
    // Read at the first request, so a server starts before the dashboard is built (it says so).
    if (!files) {
      if (!existsSync(dir)) {
        answer(response, 503, `the dashboard is not built: run npm run build:ui (looked in ${dir})\n`);
        return;
      }
      files = loadUiFiles(dir);
    }
    if (!serveUiFile(files, path, request, response)) answer(response, 404, `no such file: /ui/${path}\n`);
  };
  return { handler, oidc };
}
