import type { OidcSettings } from "./settings.js";

/** Which part of the login flow a request is. */
export type FlowRequest =
  | { kind: "preflight" }
  | { kind: "callback"; query: URLSearchParams }
  | { kind: "logout" }
  | { kind: "protected"; returnTo: string };

/**
 * Classifies a request by method, path and headers. The return URL is always built on the app's
 * own origin, so a crafted path (`//evil.example/`) cannot turn the login into an open redirect.
 */
export function classifyRequest(
  method: string,
  path: string,
  headers: Readonly<Record<string, string>>,
  settings: OidcSettings,
): FlowRequest {
  if (
    settings.allowCorsPreflight &&
    method.toUpperCase() === "OPTIONS" &&
    headers["origin"] !== undefined &&
    headers["access-control-request-method"] !== undefined
  ) {
    return { kind: "preflight" };
  }
  const url = new URL(settings.appOrigin + (path.startsWith("/") ? path : `/${path}`));
  if (url.pathname === settings.callbackPath) return { kind: "callback", query: url.searchParams };
  if (settings.logoutPath !== undefined && url.pathname === settings.logoutPath) return { kind: "logout" };
  return { kind: "protected", returnTo: url.href };
}
