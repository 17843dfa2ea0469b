// Routes that can never be reached: an earlier route of the same virtual host matches every request
// they match, so Envoy and gRPC clients (first match wins) never get to them. Pure and conservative:
// a route is reported only when that is certain; matches this cannot reason about are never reported.
import type { ModelHeaderMatch, ModelMatch, ModelRoute, PathMatch } from "./model.js";

/** A route no request reaches, and the earliest route before it that takes all its requests. */
export interface ShadowedRoute {
  route: ModelRoute;
  by: ModelRoute;
}

/**
 * In serving order, each route whose every request an earlier route matches first. Matchers of one
 * route (`name#0`, `name#1`) are not reported against each other: their requests go to the same place.
 */
export function shadowedRoutes(routes: readonly ModelRoute[]): ShadowedRoute[] {
  const out: ShadowedRoute[] = [];
  routes.forEach((route, j) => {
    for (let i = 0; i < j; i++) {
      const earlier = routes[i] as ModelRoute;
      if (routeOf(earlier) === routeOf(route)) continue;
      if (covers(earlier.match, route.match)) {
        out.push({ route, by: earlier });
        return;
      }
    }
  });
  return out;
}

/** A route's name without the `#n` that numbers its matchers. */
function routeOf(route: ModelRoute): string {
  return route.name.replace(/#\d+$/, "");
}

/** True only when every request `later` matches is certainly matched by `earlier`. */
export function covers(earlier: ModelMatch, later: ModelMatch): boolean {
  return (
    pathCovers(earlier, later) &&
    earlier.headers.every((h) => headerImplied(h, later.headers)) &&
    earlier.queryParams.every((q) => queryImplied(q, later.queryParams)) &&
    (earlier.methods.length === 0 ||
      (later.methods.length > 0 && later.methods.every((m) => earlier.methods.includes(m))))
  );
}

/**
 * Paths as a set: those equal to `value`, or starting with it; with `ignoreCase`, up to the case of
 * ASCII letters (Envoy's `case_sensitive: false`).
 */
interface PathSet {
  kind: "exact" | "prefix";
  value: string;
  ignoreCase: boolean;
}

function pathCovers(earlier: ModelMatch, later: ModelMatch): boolean {
  if (earlier.path.kind === "regex" && later.path.kind === "regex" && earlier.path.value === later.path.value) {
    return true;
  }
  const outer = pathSet(earlier.path, earlier.ignoreCase, "covering");
  const inner = pathSet(later.path, later.ignoreCase, "covered");
  return outer !== undefined && inner !== undefined && included(inner, outer);
}

/**
 * A path matcher as a PathSet, when it can be one: the covering side may be smaller than what it
 * matches, the covered side larger, never the other way. Exact and prefix values holding `?` or
 * `#` are left out: Envoy compares prefixes with the query string and exact paths without it.
 * Regexes (`case_sensitive` does not apply to them) are understood in these forms only, with an
 * optional `^` and `$`: a literal (an exact path); a literal then `.*` (a prefix; a request path
 * holds no line break for `.` to miss); either after `(?i)` on the covering side, where RE2's case
 * folding matches at least every ASCII case variant.
 */
function pathSet(path: PathMatch, ignoreCase: boolean, side: "covering" | "covered"): PathSet | undefined {
  if (path.kind !== "regex") {
    if (/[?#]/.test(path.value)) return undefined;
    return { kind: path.kind, value: path.value, ignoreCase };
  }
  const flags = /^\(\?([is]+)\)/.exec(path.value);
  const folds = flags?.[1]?.includes("i") ?? false;
  if (folds && side === "covered") return undefined;
  let rest = path.value.slice(flags?.[0].length ?? 0);
  if (rest.startsWith("^")) rest = rest.slice(1);
  let kind: PathSet["kind"] = "exact";
  if (rest.endsWith(".*$")) {
    kind = "prefix";
    rest = rest.slice(0, -3);
  } else if (rest.endsWith(".*")) {
    kind = "prefix";
    rest = rest.slice(0, -2);
  } else if (rest.endsWith("$") && !rest.endsWith("\\$")) {
    rest = rest.slice(0, -1);
  }
  const value = regexLiteral(rest);
  return value === undefined ? undefined : { kind, value, ignoreCase: folds };
}

/** The text an RE2 pattern made only of literal characters (and escaped punctuation) matches. */
function regexLiteral(pattern: string): string | undefined {
  let out = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === "\\") {
      const next = pattern[i + 1];
      // A backslash before a letter or digit is a class or an assertion (\d, \b, \Q), not a literal.
      if (next === undefined || !/[!-/:-@[-`{-~]/.test(next)) return undefined;
      out += next;
      i++;
    } else if ("\\.+*?()|[]{}^$".includes(c)) {
      return undefined;
    } else {
      out += c;
    }
  }
  return out;
}

function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** Text that only one spelling matches whatever the case rule: ASCII without letters. */
function caseless(text: string): boolean {
  return /^[\0-@[-`{-\x7f]*$/.test(text);
}

/** Whether every path of `inner` is in `outer`. */
function included(inner: PathSet, outer: PathSet): boolean {
  if (outer.kind === "exact") {
    if (inner.kind !== "exact") return false;
    if (outer.ignoreCase) return asciiLower(inner.value) === asciiLower(outer.value);
    return inner.value === outer.value && (!inner.ignoreCase || caseless(inner.value));
  }
  // Every path of `inner` starts with inner.value (up to case when inner ignores it).
  if (outer.ignoreCase) return asciiLower(inner.value).startsWith(asciiLower(outer.value));
  return inner.value.startsWith(outer.value) && (!inner.ignoreCase || caseless(outer.value));
}

/**
 * A header condition of the earlier route holds for every request of the later one: the later
 * route has the same condition, or it is a presence check and the later route requires a value
 * for that header (a header that must match a value is present: Envoy and gRPC clients fail a
 * value match on a missing header).
 */
function headerImplied(condition: ModelHeaderMatch, later: readonly ModelHeaderMatch[]): boolean {
  return later.some(
    (h) =>
      h.name === condition.name &&
      h.invert === condition.invert &&
      ((h.value === condition.value && h.regex === condition.regex) || (condition.value === "" && !condition.invert)),
  );
}

function queryImplied(condition: ModelMatch["queryParams"][number], later: ModelMatch["queryParams"]): boolean {
  return later.some(
    (q) =>
      q.name === condition.name &&
      ((q.value === condition.value && q.regex === condition.regex) || condition.value === ""),
  );
}
