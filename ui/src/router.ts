// Pages live in the URL fragment (`#/resources/Gateway/shop/edge?tab=yaml`): links work, the
// server serves one file, and the fragment (which may carry a sign-in's ID token) never leaves the browser.
import { useEffect, useState } from "preact/hooks";

export interface Route {
  /** Decoded path segments: `#/resources/Gateway/shop/edge` → ["resources", "Gateway", "shop", "edge"]. */
  path: string[];
  query: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const text = hash.replace(/^#\/?/, "");
  const q = text.indexOf("?");
  const pathText = q < 0 ? text : text.slice(0, q);
  return {
    path: pathText.split("/").filter(Boolean).map(decodeURIComponent),
    query: new URLSearchParams(q < 0 ? "" : text.slice(q + 1)),
  };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const listener = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", listener);
    return () => removeEventListener("hashchange", listener);
  }, []);
  return route;
}

/** Replaces the query of the current page (filters), without a new history entry per keystroke. */
export function setQuery(route: Route, changes: Record<string, string>): void {
  const query = new URLSearchParams(route.query);
  for (const [key, value] of Object.entries(changes)) {
    if (value === "") query.delete(key);
    else query.set(key, value);
  }
  const text = query.toString();
  const hash = `#/${route.path.map(encodeURIComponent).join("/")}${text ? `?${text}` : ""}`;
  history.replaceState(null, "", hash);
  dispatchEvent(new HashChangeEvent("hashchange"));
}
