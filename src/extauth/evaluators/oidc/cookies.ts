import type { CookieOptions } from "./settings.js";

/** The cookies of a `Cookie` request header; the first of duplicate names wins, as browsers send the most specific first. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (!header) return cookies;
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq < 0) continue;
    const name = pair.slice(0, eq).trim();
    let value = pair.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (name !== "" && !cookies.has(name)) cookies.set(name, value);
  }
  return cookies;
}

function attributes(options: CookieOptions): string {
  return [
    options.domain === undefined ? "" : `; Domain=${options.domain}`,
    `; Path=${options.path}`,
    options.secure ? "; Secure" : "",
    options.httpOnly ? "; HttpOnly" : "",
    `; SameSite=${options.sameSite}`,
  ].join("");
}

/** A `Set-Cookie` value that keeps `value` for `maxAgeMs`. Values are base64url and dots, safe as cookie octets. */
export function setCookie(name: string, value: string, maxAgeMs: number, options: CookieOptions): string {
  return `${name}=${value}; Max-Age=${Math.max(0, Math.floor(maxAgeMs / 1_000))}${attributes(options)}`;
}

/** A `Set-Cookie` value that makes the browser forget the cookie. */
export function clearCookie(name: string, options: CookieOptions): string {
  return `${name}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT${attributes(options)}`;
}
