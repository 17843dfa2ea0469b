// The dashboard's built files (dist/ui, made at install by scripts/build-ui.mjs), served under /ui
// on the API port: read once and kept in memory with their gzip form, with caching headers and a
// strict Content-Security-Policy.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import type { ApiRequest, ApiResponse } from "../api/index.js";

/** dist/ui at the package root, from src/server/ui (tests) and dist/server/ui (built) alike. */
export const defaultUiDir = fileURLToPath(new URL("../../../dist/ui/", import.meta.url));

/**
 * Scripts and styles only from the dashboard's own files, calls only to this origin (the API),
 * no frames, no plugins, no inline script: what an injected string could run is nothing.
 */
export const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const securityHeaders = {
  "content-security-policy": contentSecurityPolicy,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
};

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".json": "application/json",
  ".map": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

interface UiFile {
  body: Buffer;
  gzip: Buffer | undefined;
  type: string;
  etag: string;
  /** esbuild names bundles by their content hash (`app-4F2K…`): such a file never changes. */
  immutable: boolean;
}

const hashedName = /-[A-Z0-9]{8}\.(js|css)$/;

/** Every file of the built dashboard, by its path under /ui/. */
export function loadUiFiles(dir: string): Map<string, UiFile> {
  const files = new Map<string, UiFile>();
  const walk = (folder: string) => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) {
        walk(path);
        continue;
      }
      const type = contentTypes[extname(name)];
      if (!type) continue;
      const body = readFileSync(path);
      const compressible = !type.startsWith("image/png");
      files.set(relative(dir, path).split(sep).join("/"), {
        body,
        gzip: compressible && body.length > 1_024 ? gzipSync(body, { level: 9 }) : undefined,
        type,
        etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
        immutable: hashedName.test(name),
      });
    }
  };
  walk(dir);
  return files;
}

/** Serves `path` (under /ui/) from `files`; false when there is no such file (the caller answers). */
export function serveUiFile(
  files: ReadonlyMap<string, UiFile>,
  path: string,
  request: ApiRequest,
  response: ApiResponse,
): boolean {
  const file = files.get(path === "" ? "index.html" : path);
  if (!file) return false;
  const headers: Record<string, string> = {
    ...securityHeaders,
    "content-type": file.type,
    etag: file.etag,
    "cache-control": file.immutable ? "public, max-age=31536000, immutable" : "no-cache",
    vary: "accept-encoding",
  };
  if (request.headers["if-none-match"] === file.etag) {
    response.writeHead(304, headers);
    response.end();
    return true;
  }
  const gzip = file.gzip && /\bgzip\b/.test(String(request.headers["accept-encoding"] ?? "")) ? file.gzip : undefined;
  const body = gzip ?? file.body;
  if (gzip) headers["content-encoding"] = "gzip";
  headers["content-length"] = String(body.length);
  response.writeHead(200, headers);
  if (request.method === "HEAD") response.end();
  else response.end(body);
  return true;
}

/** A small answer with the security headers (errors, redirects). */
export function answer(
  response: ApiResponse,
  status: number,
  text: string | Buffer,
  extra: Record<string, string> = {},
): void {
  response.writeHead(status, {
    ...securityHeaders,
    "content-type": "text/plain; charset=utf-8",
    "cache-control": "no-store",
    ...extra,
  });
  response.end(text);
}
