import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileRe2 } from "../../src/lib/re2.js";
import type { ModelHeaderMatch, ModelMatch, ModelRoute } from "../../src/translate/index.js";
import { covers, shadowedRoutes } from "../../src/translate/shadowing.js";

const match = (path: ModelMatch["path"], more: Partial<ModelMatch> = {}): ModelMatch => ({
  path,
  headers: [],
  queryParams: [],
  methods: [],
  ignoreCase: false,
  ...more,
});
const prefix = (value: string, more: Partial<ModelMatch> = {}) => match({ kind: "prefix", value }, more);
const exact = (value: string, more: Partial<ModelMatch> = {}) => match({ kind: "exact", value }, more);
const regex = (value: string, more: Partial<ModelMatch> = {}) => match({ kind: "regex", value }, more);
const header = (name: string, value: string, more: Partial<ModelHeaderMatch> = {}): ModelHeaderMatch => ({
  name,
  value,
  regex: false,
  invert: false,
  ...more,
});
const route = (name: string, m: ModelMatch): ModelRoute => ({
  name,
  match: m,
  action: { type: "direct", status: 200, body: "" },
  policies: {},
  origins: [],
});

/** A request as a route sees it. */
interface Request {
  path: string;
  headers: Record<string, string>;
  query: Record<string, string>;
  method: string;
}

const compiled = new Map<string, { matches(input: string): boolean }>();
const re2 = (pattern: string) => {
  let re = compiled.get(pattern);
  if (!re) {
    re = compileRe2(pattern);
    compiled.set(pattern, re);
  }
  return re;
};

const asciiLower = (s: string) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

/**
 * Envoy's route match, written from its documentation and source (the oracle the analysis must
 * never contradict): exact and prefix paths with `case_sensitive`, RE2 full matches on the path
 * (case_sensitive does not apply), header matchers with `invert_match` (a missing header fails a
 * value match, inverted or not; an inverted presence check matches a missing header), query
 * parameters, methods as `:method`.
 */
function envoyMatches(m: ModelMatch, r: Request): boolean {
  const p = m.path;
  const path = m.ignoreCase && p.kind !== "regex" ? asciiLower(r.path) : r.path;
  const value = m.ignoreCase && p.kind !== "regex" ? asciiLower(p.value) : p.value;
  if (p.kind === "exact" && path !== value) return false;
  if (p.kind === "prefix" && !path.startsWith(value)) return false;
  if (p.kind === "regex" && !re2(p.value).matches(r.path)) return false;
  for (const h of m.headers) {
    const got = r.headers[h.name];
    if (got === undefined) {
      if (!(h.invert && h.value === "")) return false;
      continue;
    }
    const hit = h.value === "" ? true : h.regex ? re2(h.value).matches(got) : got === h.value;
    if (hit === h.invert) return false;
  }
  for (const q of m.queryParams) {
    const got = r.query[q.name];
    if (got === undefined) return false;
    if (q.value !== "" && !(q.regex ? re2(q.value).matches(got) : got === q.value)) return false;
  }
  return m.methods.length === 0 || m.methods.includes(r.method);
}

describe("covers: an earlier match takes every request of a later one", () => {
  it.each([
    ["prefix / before prefix /a", prefix("/"), prefix("/a"), true],
    ["identical prefixes", prefix("/a"), prefix("/a"), true],
    ["a longer prefix before a shorter one", prefix("/ab"), prefix("/a"), false],
    ["prefix before an exact path under it", prefix("/a"), exact("/a/b"), true],
    ["exact before a prefix", exact("/a"), prefix("/a"), false],
    ["identical exact paths", exact("/a"), exact("/a"), true],
    ["a case-insensitive prefix before a case-sensitive one", prefix("/A", { ignoreCase: true }), prefix("/ab"), true],
    ["a case-sensitive prefix before a case-insensitive one", prefix("/a"), prefix("/ab", { ignoreCase: true }), false],
    ["prefix / before any case-insensitive path", prefix("/"), prefix("/x", { ignoreCase: true }), true],
    ["regex literal.* before a prefix under it", regex("/api/.*"), prefix("/api/v1"), true],
    ["anchored regex literal.* before a prefix", regex("^/api/.*$"), prefix("/api/v1"), true],
    ["(?i) regex before a prefix in another case", regex("(?i)/API/.*"), prefix("/api/v1"), true],
    ["a prefix before a (?i) regex", prefix("/a"), regex("(?i)/a"), false],
    ["a regex with a class before an exact path it matches", regex("/[ab]"), exact("/a"), false],
    ["identical regexes", regex("/[ab]+"), regex("/[ab]+"), true],
    ["an escaped dot is a literal", prefix("/a.b"), regex("/a\\.b"), true],
    ["an unescaped dot is not", prefix("/a.b"), regex("/a.b"), false],
    ["a ? in a prefix is never reasoned about", prefix("/a?"), prefix("/a?"), false],
    [
      "header presence before a header value",
      prefix("/", { headers: [header("x", "")] }),
      prefix("/", { headers: [header("x", "1")] }),
      true,
    ],
    [
      "a header value before presence",
      prefix("/", { headers: [header("x", "1")] }),
      prefix("/", { headers: [header("x", "")] }),
      false,
    ],
    [
      "an inverted header before none",
      prefix("/", { headers: [header("x", "1", { invert: true })] }),
      prefix("/"),
      false,
    ],
    [
      "methods GET, POST before GET",
      prefix("/", { methods: ["GET", "POST"] }),
      prefix("/", { methods: ["GET"] }),
      true,
    ],
    ["methods GET before any method", prefix("/", { methods: ["GET"] }), prefix("/"), false],
    [
      "query presence before a query value",
      prefix("/", { queryParams: [{ name: "q", value: "", regex: false }] }),
      prefix("/", { queryParams: [{ name: "q", value: "1", regex: false }] }),
      true,
    ],
    [
      "a condition the later route lacks",
      prefix("/", { queryParams: [{ name: "q", value: "", regex: false }] }),
      prefix("/a"),
      false,
    ],
  ])("%s", (_name, earlier, later, expected) => {
    expect(covers(earlier, later)).toBe(expected);
  });
});

describe("shadowedRoutes", () => {
  it("names each unreachable route with the earliest route that takes its requests", () => {
    const routes = [
      route("ns/rt/all", prefix("/")),
      route("ns/rt/api", prefix("/api")),
      route("ns/rt/again", prefix("/")),
    ];
    expect(shadowedRoutes(routes).map((s) => [s.route.name, s.by.name])).toEqual([
      ["ns/rt/api", "ns/rt/all"],
      ["ns/rt/again", "ns/rt/all"],
    ]);
  });

  it("does not report the matchers of one route against each other", () => {
    expect(shadowedRoutes([route("ns/rt/a#0", prefix("/")), route("ns/rt/a#1", prefix("/a"))])).toEqual([]);
  });
});

// Small alphabets, so that generated matchers and requests meet often; with the Kelvin sign, which
// RE2's (?i) folds with k and K while Envoy's case_sensitive: false does not.
const pathText = fc
  .array(fc.constantFrom("a", "A", "k", "\u212A", "/", ".", "-"), { maxLength: 4 })
  .map((chars) => `/${chars.join("")}`);
const escapeRe2 = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const pathMatch: fc.Arbitrary<ModelMatch["path"]> = fc.oneof(
  pathText.map((value) => ({ kind: "exact" as const, value })),
  pathText.map((value) => ({ kind: "prefix" as const, value })),
  fc
    .tuple(
      pathText,
      fc.constantFrom("lit", "lit.*", "^lit$", "^lit.*$", "(?i)lit", "(?i)lit.*", "raw.*", "/[ab]+", ".*", "/a|/b"),
    )
    .map(([text, form]) => ({
      kind: "regex" as const,
      value: form.includes("lit") ? form.replace("lit", escapeRe2(text)) : form.replace("raw", text),
    })),
);
const headerMatch: fc.Arbitrary<ModelHeaderMatch> = fc.record({
  name: fc.constantFrom("x", "y"),
  value: fc.constantFrom("", "1", "2", "1|2"),
  regex: fc.boolean(),
  invert: fc.boolean(),
});
const modelMatch: fc.Arbitrary<ModelMatch> = fc.record({
  path: pathMatch,
  headers: fc.array(headerMatch, { maxLength: 2 }),
  queryParams: fc.array(
    fc.record({ name: fc.constant("q"), value: fc.constantFrom("", "1", "[12]"), regex: fc.boolean() }),
    { maxLength: 1 },
  ),
  methods: fc.subarray(["GET", "POST"]),
  ignoreCase: fc.boolean(),
});

/** Requests that the later match is likely to take: its path values, extended and re-cased. */
function requests(later: ModelMatch): fc.Arbitrary<Request[]> {
  const flip = (s: string, mask: number) =>
    [...s].map((c, i) => ((mask >> i) & 1 ? (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) : c)).join("");
  const seedPath = later.path.value
    .replace(/^\(\?[is]+\)/, "")
    .replace(/\.\*/g, "")
    .replace(/\\(.)/g, "$1")
    .replace(/[\^$*+?()[\]|]/g, "");
  const path = fc.oneof(
    pathText,
    fc.tuple(fc.nat(255), pathText).map(([mask, suffix]) => flip(seedPath, mask) + suffix.slice(1)),
    fc.nat(255).map((mask) => flip(seedPath, mask)),
    fc.constant(seedPath.replace(/[kK]/g, "\u212A")),
  );
  const values = fc.option(fc.constantFrom<string>("1", "2", "3"), { nil: undefined });
  const request = fc
    .record({ path, x: values, y: values, q: values, method: fc.constantFrom("GET", "POST", "PUT") })
    .map(({ path, x, y, q, method }): Request => {
      const headers: Record<string, string> = {};
      if (x !== undefined) headers["x"] = x;
      if (y !== undefined) headers["y"] = y;
      return { path, headers, query: q === undefined ? {} : { q }, method };
    });
  return fc.array(request, { minLength: 1, maxLength: 20 });
}

describe("covers, against Envoy's matching (property)", () => {
  it("is sound: when it says covered, every request the later match takes, the earlier takes too", () => {
    fc.assert(
      fc.property(
        fc.tuple(modelMatch, modelMatch).chain(([a, b]) => fc.tuple(fc.constant(a), fc.constant(b), requests(b))),
        ([earlier, later, sample]) => {
          if (!covers(earlier, later)) return;
          for (const r of sample) {
            if (envoyMatches(later, r)) expect(envoyMatches(earlier, r), JSON.stringify(r)).toBe(true);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("is sound for matches derived from one another (where covering is common)", () => {
    const narrowed = fc
      .record({
        full: modelMatch,
        // Half the cases without conditions, so that requests meet the paths' corner cases often.
        pathsOnly: fc.boolean(),
        suffix: fc.constantFrom("", "a", "/b", "B", "k"),
        asRegex: fc.option(fc.constantFrom("lit", "lit.*", "(?i)lit", "(?i)lit.*", "^lit$"), { nil: undefined }),
        extraHeader: fc.option(headerMatch, { nil: undefined }),
        dropMethod: fc.boolean(),
        toggleCase: fc.boolean(),
        toggleRegex: fc.boolean(),
      })
      .map(({ full, pathsOnly, suffix, asRegex, extraHeader, dropMethod, toggleCase, toggleRegex }) => {
        const a: ModelMatch = pathsOnly ? { ...full, headers: [], queryParams: [], methods: [] } : full;
        const value = a.path.value + (a.path.kind === "prefix" ? suffix : "");
        const b: ModelMatch = {
          ...a,
          path:
            a.path.kind === "regex"
              ? a.path
              : asRegex
                ? { kind: "regex", value: asRegex.replace("lit", escapeRe2(value)) }
                : { kind: a.path.kind, value },
          headers: (extraHeader ? [...a.headers, extraHeader] : a.headers).map((h, i) =>
            toggleRegex && i === 0 ? { ...h, regex: !h.regex } : h,
          ),
          queryParams: a.queryParams.map((q) => (toggleRegex ? { ...q, regex: !q.regex } : q)),
          methods: dropMethod && a.methods.length > 1 ? a.methods.slice(1) : a.methods,
          ignoreCase: a.ignoreCase !== toggleCase,
        };
        return [a, b] as const;
      });
    fc.assert(
      fc.property(
        narrowed.chain(([a, b]) => fc.tuple(fc.constant(a), fc.constant(b), requests(b))),
        ([earlier, later, sample]) => {
          if (!covers(earlier, later)) return;
          for (const r of sample) {
            if (envoyMatches(later, r)) expect(envoyMatches(earlier, r), JSON.stringify(r)).toBe(true);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("finds every identical matcher (without ? or # in a path value)", () => {
    fc.assert(
      fc.property(modelMatch, (m) => {
        expect(covers(m, structuredClone(m))).toBe(true);
      }),
    );
  });
});
