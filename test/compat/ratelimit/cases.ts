/**
 * The table of cases run against envoyproxy/ratelimit and `gantry ratelimit` side by side. Each case has
 * its own domain (`DOMAIN` in its config stands for it), so cases never share counters. A case whose
 * name starts with "(gantry differs)" documents a deliberate difference; there are none in this table,
 * which keeps to what both servers read (docs/migrating-from-envoy-ratelimit.md lists Gantry's extras).
 */

export type Entries = ReadonlyArray<readonly [key: string, value: string]>;

export interface DescriptorInput {
  readonly entries: Entries;
  /** A request-level `limit` override (Envoy's envoy.type.v3.RateLimitUnit numbers). */
  readonly limit?: { readonly requestsPerUnit: number; readonly unit: number };
  /** Per-descriptor `hits_addend` (newer Envoy's field 3). */
  readonly hitsAddend?: number;
}

export interface Step {
  readonly descriptors: ReadonlyArray<Entries | DescriptorInput>;
  readonly hitsAddend?: number;
  /** Sends the same request this many times, comparing every answer. Default 1. */
  readonly times?: number;
  /** The request's domain, when not the case's own ("" for an empty one). */
  readonly domain?: string;
}

export interface CompatCase {
  readonly name: string;
  /** One YAML file for the case's domain; none for cases about unknown domains. */
  readonly config?: string;
  readonly steps: readonly Step[];
}

const one = (key: string, value: string, times = 1): Step => ({ descriptors: [[[key, value]]], times });

/** Units as envoyproxy/ratelimit's YAML spells them, and how the RLS response numbers them. */
const units = ["second", "minute", "hour", "day", "week", "month", "year"] as const;

const unitCases: CompatCase[] = units.map((unit) => ({
  name: `unit ${unit}: 2 per ${unit}, the third is over`,
  config: `domain: DOMAIN\ndescriptors:\n  - key: k\n    rate_limit: { unit: ${unit}, requests_per_unit: 2 }\n`,
  steps: [one("k", "v", 3)],
}));

const limit = (unit: string, n: number, extra = "") => `rate_limit: { unit: ${unit}, requests_per_unit: ${n}${extra} }`;

export const cases: readonly CompatCase[] = [
  ...unitCases,
  {
    name: "unit names in any case (MINUTE, Hour)",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    rate_limit: { unit: MINUTE, requests_per_unit: 1 }\n  - key: b\n    rate_limit: { unit: Hour, requests_per_unit: 1 }\n`,
    steps: [{ descriptors: [[["a", "1"]], [["b", "1"]]], times: 2 }],
  },
  {
    name: "requests_per_unit 0: always over",
    config: `domain: DOMAIN\ndescriptors:\n  - key: k\n    ${limit("minute", 0)}\n`,
    steps: [one("k", "v", 2)],
  },
  {
    name: "a key that no descriptor names: OK, no limit",
    config: `domain: DOMAIN\ndescriptors:\n  - key: k\n    ${limit("minute", 1)}\n`,
    steps: [one("other", "v", 2)],
  },
  {
    name: "key without value matches every value, one counter per value",
    config: `domain: DOMAIN\ndescriptors:\n  - key: user\n    ${limit("minute", 2)}\n`,
    steps: [one("user", "ada", 3), one("user", "grace", 1)],
  },
  {
    name: "key+value beats the key alone",
    config: `domain: DOMAIN\ndescriptors:\n  - key: user\n    ${limit("minute", 5)}\n  - key: user\n    value: vip\n    ${limit("minute", 1)}\n`,
    steps: [one("user", "vip", 2), one("user", "bob", 2)],
  },
  {
    name: "an empty value matches the key alone",
    config: `domain: DOMAIN\ndescriptors:\n  - key: k\n    ${limit("minute", 1)}\n`,
    steps: [one("k", "", 2)],
  },
  {
    name: "nested: the limit at the second level",
    config: `domain: DOMAIN\ndescriptors:\n  - key: route\n    value: api\n    descriptors:\n      - key: user\n        ${limit("minute", 2)}\n`,
    steps: [
      {
        descriptors: [
          [
            ["route", "api"],
            ["user", "u1"],
          ],
        ],
        times: 3,
      },
    ],
  },
  {
    name: "nested: a request shorter than the config gets no limit",
    config: `domain: DOMAIN\ndescriptors:\n  - key: route\n    value: api\n    descriptors:\n      - key: user\n        ${limit("minute", 1)}\n`,
    steps: [{ descriptors: [[["route", "api"]]], times: 2 }],
  },
  {
    name: "nested: a request deeper than the config gets no limit",
    config: `domain: DOMAIN\ndescriptors:\n  - key: route\n    value: api\n    ${limit("minute", 1)}\n`,
    steps: [
      {
        descriptors: [
          [
            ["route", "api"],
            ["user", "u1"],
          ],
        ],
        times: 2,
      },
    ],
  },
  {
    name: "nested: limits at both levels, each applies at its own depth",
    config: `domain: DOMAIN\ndescriptors:\n  - key: route\n    value: api\n    ${limit("minute", 3)}\n    descriptors:\n      - key: user\n        ${limit("minute", 1)}\n`,
    steps: [
      { descriptors: [[["route", "api"]]], times: 2 },
      {
        descriptors: [
          [
            ["route", "api"],
            ["user", "u1"],
          ],
        ],
        times: 2,
      },
    ],
  },
  {
    name: "nested three levels with a key-only level in the middle",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    value: x\n    descriptors:\n      - key: b\n        descriptors:\n          - key: c\n            value: z\n            ${limit("hour", 2)}\n`,
    steps: [
      {
        descriptors: [
          [
            ["a", "x"],
            ["b", "anything"],
            ["c", "z"],
          ],
        ],
        times: 3,
      },
      {
        descriptors: [
          [
            ["a", "x"],
            ["b", "else"],
            ["c", "z"],
          ],
        ],
      },
      {
        descriptors: [
          [
            ["a", "x"],
            ["b", "else"],
            ["c", "other"],
          ],
        ],
      },
    ],
  },
  {
    name: "nested: a mismatch at the first level stops the walk",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    value: x\n    descriptors:\n      - key: b\n        ${limit("minute", 1)}\n`,
    steps: [
      {
        descriptors: [
          [
            ["a", "y"],
            ["b", "1"],
          ],
        ],
        times: 2,
      },
    ],
  },
  {
    name: "several descriptors: one over makes the whole answer over",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    ${limit("minute", 1)}\n  - key: b\n    ${limit("minute", 5)}\n`,
    steps: [{ descriptors: [[["a", "1"]], [["b", "1"]]], times: 3 }],
  },
  {
    name: "the same descriptor twice in one request counts twice",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    ${limit("minute", 3)}\n`,
    steps: [{ descriptors: [[["a", "1"]], [["a", "1"]]], times: 2 }],
  },
  {
    name: "five descriptors with different units in one request",
    config: `domain: DOMAIN\ndescriptors:\n${units
      .slice(1, 6)
      .map((u, i) => `  - key: k${i}\n    ${limit(u, i + 1)}\n`)
      .join("")}`,
    steps: [{ descriptors: [0, 1, 2, 3, 4].map((i) => [[`k${i}`, "v"]] as Entries), times: 3 }],
  },
  {
    name: "values with spaces, dots, colons and non-ASCII letters count apart",
    config: `domain: DOMAIN\ndescriptors:\n  - key: k\n    ${limit("minute", 1)}\n`,
    steps: [one("k", "a b", 2), one("k", "a.b:c", 2), one("k", "zürich ✓", 2)],
  },
  {
    name: "the same key in two domains counts apart",
    config: `domain: DOMAIN\ndescriptors:\n  - key: k\n    ${limit("minute", 1)}\n`,
    steps: [one("k", "v", 2), { descriptors: [[["k", "v"]]], domain: "other-domain" }],
  },
  // Wildcards
  {
    name: "wildcard: a trailing * matches by prefix, one counter per value",
    config: `domain: DOMAIN\ndescriptors:\n  - key: path\n    value: /api/*\n    ${limit("minute", 2)}\n`,
    steps: [one("path", "/api/a", 3), one("path", "/api/b", 1), one("path", "/web/a", 1)],
  },
  {
    name: "wildcard: * alone matches every value",
    config: `domain: DOMAIN\ndescriptors:\n  - key: k\n    value: "*"\n    ${limit("minute", 1)}\n`,
    steps: [one("k", "x", 2), one("k", "", 2)],
  },
  {
    name: "wildcard: a * in the middle is a literal character",
    config: `domain: DOMAIN\ndescriptors:\n  - key: k\n    value: a*b\n    ${limit("minute", 1)}\n`,
    steps: [one("k", "axxb", 2), one("k", "a*b", 2)],
  },
  {
    name: "wildcard: a * at the start is a literal character",
    config: `domain: DOMAIN\ndescriptors:\n  - key: k\n    value: "*b"\n    ${limit("minute", 1)}\n`,
    steps: [one("k", "ab", 2), one("k", "*b", 2)],
  },
  {
    name: "wildcard: two stars, only the last is a wildcard",
    config: `domain: DOMAIN\ndescriptors:\n  - key: k\n    value: a*b*\n    ${limit("minute", 1)}\n`,
    steps: [one("k", "axb1", 2), one("k", "a*b1", 2)],
  },
  {
    name: "wildcard: an exact value beats a wildcard",
    config: `domain: DOMAIN\ndescriptors:\n  - key: k\n    value: foo*\n    ${limit("minute", 5)}\n  - key: k\n    value: foo1\n    ${limit("minute", 1)}\n`,
    steps: [one("k", "foo1", 2), one("k", "foo2", 2)],
  },
  {
    name: "wildcard: the first wildcard in file order wins",
    config: `domain: DOMAIN\ndescriptors:\n  - key: k\n    value: fo*\n    ${limit("minute", 5, ", name: short")}\n  - key: k\n    value: foo*\n    ${limit("minute", 1, ", name: long")}\n`,
    steps: [one("k", "foo1", 2)],
  },
  {
    name: "wildcard: a value shorter than the prefix does not match",
    config: `domain: DOMAIN\ndescriptors:\n  - key: k\n    value: foo*\n    ${limit("minute", 1)}\n`,
    steps: [one("k", "fo", 2)],
  },
  {
    name: "wildcard: beats the key alone",
    config: `domain: DOMAIN\ndescriptors:\n  - key: k\n    ${limit("minute", 5, ", name: any")}\n  - key: k\n    value: x*\n    ${limit("minute", 1, ", name: x")}\n`,
    steps: [one("k", "x1", 2), one("k", "y1", 2)],
  },
  {
    name: "wildcard: with nested descriptors below it",
    config: `domain: DOMAIN\ndescriptors:\n  - key: path\n    value: /v1/*\n    descriptors:\n      - key: user\n        ${limit("minute", 1)}\n`,
    steps: [
      {
        descriptors: [
          [
            ["path", "/v1/a"],
            ["user", "u"],
          ],
        ],
        times: 2,
      },
      {
        descriptors: [
          [
            ["path", "/v1/b"],
            ["user", "u"],
          ],
        ],
      },
    ],
  },
  // share_threshold
  {
    name: "share_threshold: every value matching the wildcard counts on one counter",
    config: `domain: DOMAIN\ndescriptors:\n  - key: file\n    value: files*\n    share_threshold: true\n    ${limit("minute", 3)}\n`,
    steps: [one("file", "files1", 2), one("file", "files2", 2), one("file", "files3", 1)],
  },
  {
    name: "share_threshold: with the limit on a nested descriptor",
    config: `domain: DOMAIN\ndescriptors:\n  - key: file\n    value: files*\n    share_threshold: true\n    descriptors:\n      - key: user\n        ${limit("minute", 2)}\n`,
    steps: [
      {
        descriptors: [
          [
            ["file", "files1"],
            ["user", "u"],
          ],
        ],
      },
      {
        descriptors: [
          [
            ["file", "files2"],
            ["user", "u"],
          ],
        ],
        times: 2,
      },
      {
        descriptors: [
          [
            ["file", "files2"],
            ["user", "w"],
          ],
        ],
      },
    ],
  },
  {
    name: "share_threshold: an exact match beside it keeps its own counter",
    config: `domain: DOMAIN\ndescriptors:\n  - key: file\n    value: files*\n    share_threshold: true\n    ${limit("minute", 2)}\n  - key: file\n    value: files9\n    ${limit("minute", 2)}\n`,
    steps: [one("file", "files1", 2), one("file", "files9", 2), one("file", "files2", 1)],
  },
  // replaces
  {
    name: "replaces: a named limit is dropped by one that replaces it",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    ${limit("minute", 1, ", name: first")}\n  - key: b\n    rate_limit:\n      unit: minute\n      requests_per_unit: 3\n      replaces: [{ name: first }]\n`,
    steps: [{ descriptors: [[["a", "1"]], [["b", "1"]]], times: 3 }, one("a", "1", 2)],
  },
  {
    name: "replaces: an unlimited limit still drops the limits it names",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    ${limit("minute", 1, ", name: tight")}\n  - key: vip\n    rate_limit:\n      unlimited: true\n      replaces: [{ name: tight }]\n`,
    steps: [{ descriptors: [[["a", "1"]], [["vip", "yes"]]], times: 3 }],
  },
  {
    name: "replaces: naming a limit the request does not match changes nothing",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    ${limit("minute", 1, ", name: first")}\n  - key: b\n    rate_limit:\n      unit: minute\n      requests_per_unit: 2\n      replaces: [{ name: nothing }]\n`,
    steps: [{ descriptors: [[["a", "1"]], [["b", "1"]]], times: 3 }],
  },
  {
    name: "replaces: a replaced limit's own replaces still count",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    rate_limit: { unit: minute, requests_per_unit: 1, name: A, replaces: [{ name: B }] }\n  - key: b\n    rate_limit: { unit: minute, requests_per_unit: 1, name: B, replaces: [{ name: C }] }\n  - key: c\n    rate_limit: { unit: minute, requests_per_unit: 1, name: C }\n`,
    steps: [{ descriptors: [[["a", "1"]], [["b", "1"]], [["c", "1"]]], times: 2 }],
  },
  {
    name: "replaces: the limit's name is reported in the status",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    ${limit("hour", 2, ", name: hourly")}\n`,
    steps: [one("a", "1", 3)],
  },
  // shadow mode
  {
    name: "shadow_mode: over the limit answers OK, with remaining 0",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    shadow_mode: true\n    ${limit("minute", 1)}\n`,
    steps: [one("a", "1", 3)],
  },
  {
    name: "shadow_mode beside an enforced limit that is over",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    shadow_mode: true\n    ${limit("minute", 1)}\n  - key: b\n    ${limit("minute", 2)}\n`,
    steps: [{ descriptors: [[["a", "1"]], [["b", "1"]]], times: 3 }],
  },
  {
    name: "shadow_mode on a nested descriptor",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    value: x\n    descriptors:\n      - key: b\n        shadow_mode: true\n        ${limit("second", 1)}\n`,
    steps: [
      {
        descriptors: [
          [
            ["a", "x"],
            ["b", "1"],
          ],
        ],
        times: 3,
      },
    ],
  },
  // unlimited
  {
    name: "unlimited: OK with remaining 4294967295 and no limit",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    rate_limit: { unlimited: true }\n`,
    steps: [one("a", "1", 3)],
  },
  {
    name: "unlimited beside a limited descriptor",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    rate_limit: { unlimited: true, name: free }\n  - key: b\n    ${limit("minute", 1)}\n`,
    steps: [{ descriptors: [[["a", "1"]], [["b", "1"]]], times: 2 }],
  },
  {
    name: "unlimited on a nested level under a limited parent",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    ${limit("minute", 1)}\n    descriptors:\n      - key: b\n        value: free\n        rate_limit: { unlimited: true }\n`,
    steps: [
      {
        descriptors: [
          [
            ["a", "1"],
            ["b", "free"],
          ],
        ],
        times: 2,
      },
      { descriptors: [[["a", "1"]]], times: 2 },
    ],
  },
  // quota mode
  {
    name: "quota_mode: over the limit is reported, but answered OK",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    quota_mode: true\n    ${limit("minute", 2)}\n`,
    steps: [one("a", "1", 4)],
  },
  {
    name: "quota_mode beside an enforced limit that is over",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    quota_mode: true\n    ${limit("minute", 1)}\n  - key: b\n    ${limit("minute", 2)}\n`,
    steps: [{ descriptors: [[["a", "1"]], [["b", "1"]]], times: 3 }],
  },
  {
    name: "quota_mode with shadow_mode",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    quota_mode: true\n    shadow_mode: true\n    ${limit("minute", 1)}\n`,
    steps: [one("a", "1", 3)],
  },
  {
    name: "quota_mode on a nested descriptor under a wildcard",
    config: `domain: DOMAIN\ndescriptors:\n  - key: p\n    value: q*\n    descriptors:\n      - key: u\n        quota_mode: true\n        ${limit("hour", 1)}\n`,
    steps: [
      {
        descriptors: [
          [
            ["p", "q1"],
            ["u", "x"],
          ],
        ],
        times: 3,
      },
    ],
  },
  // metrics-only fields: accepted, no change to answers
  {
    name: "detailed_metric: accepted, answers unchanged",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    detailed_metric: true\n    ${limit("minute", 2)}\n`,
    steps: [one("a", "1", 3), one("a", "2", 1)],
  },
  {
    name: "value_to_metric: accepted, answers unchanged",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    value: x*\n    value_to_metric: true\n    ${limit("minute", 1)}\n`,
    steps: [one("a", "x1", 2), one("a", "x2", 1)],
  },
  {
    name: "detailed_metric with share_threshold",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    value: x*\n    detailed_metric: true\n    share_threshold: true\n    ${limit("minute", 2)}\n`,
    steps: [one("a", "x1", 2), one("a", "x2", 1)],
  },
  // hits_addend
  {
    name: "hits_addend on the request counts that many hits",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    ${limit("minute", 5)}\n`,
    steps: [{ descriptors: [[["a", "1"]]], hitsAddend: 3, times: 2 }, one("a", "1")],
  },
  {
    name: "hits_addend larger than the limit at once",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    ${limit("minute", 5)}\n`,
    steps: [{ descriptors: [[["a", "1"]]], hitsAddend: 6 }, one("a", "2")],
  },
  {
    name: "hits_addend per descriptor",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    ${limit("minute", 5)}\n`,
    steps: [{ descriptors: [{ entries: [["a", "1"]], hitsAddend: 2 }, [["a", "2"]]], times: 3 }],
  },
  {
    name: "hits_addend 0 per descriptor checks without counting",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    ${limit("minute", 2)}\n`,
    steps: [
      { descriptors: [{ entries: [["a", "1"]], hitsAddend: 0 }], times: 2 },
      one("a", "1", 3),
      { descriptors: [{ entries: [["a", "1"]], hitsAddend: 0 }] },
    ],
  },
  {
    name: "hits_addend per descriptor beats the request's",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    ${limit("minute", 10)}\n`,
    steps: [{ descriptors: [{ entries: [["a", "1"]], hitsAddend: 1 }, [["a", "2"]]], hitsAddend: 4, times: 3 }],
  },
  // request-level limit override
  {
    name: "override: applies where the config has no limit",
    config: `domain: DOMAIN\ndescriptors:\n  - key: other\n    ${limit("minute", 100)}\n`,
    steps: [{ descriptors: [{ entries: [["a", "1"]], limit: { requestsPerUnit: 2, unit: 2 } }], times: 3 }],
  },
  {
    name: "override: replaces the config's limit",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    ${limit("hour", 100, ", name: configured")}\n`,
    steps: [
      { descriptors: [{ entries: [["a", "1"]], limit: { requestsPerUnit: 1, unit: 2 } }], times: 2 },
      one("a", "1"),
    ],
  },
  {
    name: "override: every unit, WEEK is 7",
    config: `domain: DOMAIN\ndescriptors:\n  - key: other\n    ${limit("minute", 100)}\n`,
    steps: [1, 2, 3, 4, 5, 6, 7].map((unit) => ({
      descriptors: [{ entries: [["u", String(unit)]], limit: { requestsPerUnit: 1, unit } }],
      times: 2,
    })),
  },
  {
    name: "override: in an unknown domain no limit applies",
    steps: [
      {
        descriptors: [{ entries: [["a", "1"]], limit: { requestsPerUnit: 1, unit: 2 } }],
        domain: "no-such-domain",
        times: 2,
      },
    ],
  },
  {
    name: "override: beside a shadow_mode descriptor it is enforced",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    shadow_mode: true\n    ${limit("minute", 5)}\n`,
    steps: [{ descriptors: [{ entries: [["a", "1"]], limit: { requestsPerUnit: 1, unit: 2 } }], times: 2 }],
  },
  // domains and request shapes
  {
    name: "unknown domain: OK, no limit",
    steps: [{ descriptors: [[["a", "1"]], [["b", "2"]]], domain: "unknown-domain", times: 2 }],
  },
  { name: "empty domain: the anchor's error code", steps: [{ descriptors: [[["a", "1"]]], domain: "" }] },
  {
    name: "no descriptors: the anchor's error code",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    ${limit("minute", 1)}\n`,
    steps: [{ descriptors: [] }],
  },
  {
    name: "a descriptor without entries",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    ${limit("minute", 1)}\n`,
    steps: [{ descriptors: [[]], times: 2 }],
  },
  {
    name: "an entry with an empty key",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    ${limit("minute", 1)}\n`,
    steps: [{ descriptors: [[["", "1"]]], times: 2 }],
  },
  // response headers
  {
    name: "headers: from the descriptor with the least remaining",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    ${limit("minute", 10)}\n  - key: b\n    ${limit("hour", 3)}\n`,
    steps: [{ descriptors: [[["a", "1"]], [["b", "1"]]], times: 2 }],
  },
  {
    name: "headers: from the descriptor that is over",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    ${limit("minute", 1)}\n  - key: b\n    ${limit("hour", 1)}\n`,
    steps: [{ descriptors: [[["b", "1"]], [["a", "1"]]], times: 2 }],
  },
  {
    name: "headers: none when nothing is limited",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    rate_limit: { unlimited: true }\n`,
    steps: [{ descriptors: [[["a", "1"]], [["zzz", "1"]]] }],
  },
  {
    name: "headers: a quota_mode descriptor over its limit",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    quota_mode: true\n    ${limit("minute", 1)}\n  - key: b\n    ${limit("minute", 5)}\n`,
    steps: [{ descriptors: [[["a", "1"]], [["b", "1"]]], times: 3 }],
  },
  {
    name: "headers: a shadow_mode descriptor over its limit",
    config: `domain: DOMAIN\ndescriptors:\n  - key: a\n    shadow_mode: true\n    ${limit("minute", 1)}\n  - key: b\n    ${limit("minute", 5)}\n`,
    steps: [{ descriptors: [[["a", "1"]], [["b", "1"]]], times: 3 }],
  },
];

/**
 * The cases whose config the anchor's xDS proto can carry, with their index in `cases` (their domain):
 * quota_mode, share_threshold and value_to_metric exist only in its YAML files (Gantry serves them as
 * fields >= 100, which it skips as unknown).
 */
export const xdsCases: ReadonlyArray<{ readonly c: CompatCase; readonly index: number }> = cases
  .map((c, index) => ({ c, index }))
  .filter(({ c }) => !/quota_mode|share_threshold|value_to_metric/.test(c.config ?? ""));
