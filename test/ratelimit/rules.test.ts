import { describe, expect, it } from "vitest";
import { RateLimitUnit } from "../../src/gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { compileRules, type DescriptorMatch, matchDescriptor } from "../../src/ratelimit/rules.js";
import { yamlConfigs } from "./harness.js";

const book = compileRules(
  yamlConfigs(`
domain: d
descriptors:
  - key: k
    value: exact
    rate_limit: { unit: second, requests_per_unit: 1 }
  - key: k
    value: ex*
    rate_limit: { unit: second, requests_per_unit: 2 }
  - key: k
    value: e*
    rate_limit: { unit: second, requests_per_unit: 3 }
  - key: k
    rate_limit: { unit: second, requests_per_unit: 4 }
    detailed_metric: true
  - key: parent
    descriptors:
      - key: child
        rate_limit: { unit: minute, requests_per_unit: 5 }
set_descriptors:
  - entries: [{ key: a }, { key: b, value: two }]
    rate_limit: { unit: hour, requests_per_unit: 6 }
  - entries: [{ key: a }]
    rate_limit: { unit: hour, requests_per_unit: 7 }
  - entries: [{ key: b }]
    always_apply: true
    rate_limit: { unit: hour, requests_per_unit: 8 }
`),
);

function limits(match: DescriptorMatch): number[] {
  return match.kind === "limited" ? match.limits.map((l) => l.rule.requestsPerUnit) : [];
}

function match(...entries: Array<[string, string]>): DescriptorMatch {
  return matchDescriptor(
    book,
    "d",
    entries.map(([key, value]) => ({ key, value })),
  );
}

describe("descriptor matching", () => {
  it("prefers exact, then the first wildcard in config order, then the key alone", () => {
    expect(limits(match(["k", "exact"]))).toEqual([1]);
    expect(limits(match(["k", "extra"]))).toEqual([2]);
    expect(limits(match(["k", "eel"]))).toEqual([3]);
    expect(limits(match(["k", "other"]))).toEqual([4]);
  });

  it("counts on the request's own entries and labels statistics by rule (or by value when detailed)", () => {
    const wildcard = match(["k", "extra"]);
    const keyOnly = match(["k", "other"]);
    expect(wildcard.kind === "limited" && wildcard.limits[0]).toMatchObject({
      counterKey: "d_k_extra_",
      statsName: "d.k_ex*",
    });
    expect(keyOnly.kind === "limited" && keyOnly.limits[0]).toMatchObject({ statsName: "d.k_other" });
  });

  it("applies a limit only at the request's last entry", () => {
    expect(match(["parent", "p"]).kind).toBe("none");
    expect(limits(match(["parent", "p"], ["child", "c"]))).toEqual([5]);
    expect(match(["parent", "p"], ["child", "c"], ["deeper", "x"]).kind).toBe("none");
    expect(match(["k", "exact"], ["child", "c"]).kind).toBe("none");
  });

  it("set rules: all entries in any order, extras ignored, first wins, always_apply adds", () => {
    expect(limits(match(["x", "1"], ["b", "two"], ["a", "one"]))).toEqual([6, 8]);
    expect(limits(match(["a", "one"]))).toEqual([7]);
    expect(limits(match(["b", "three"], ["a", "one"]))).toEqual([7, 8]);
    expect(match(["c", "1"]).kind).toBe("none");
  });

  it("uses a request's limit override even where the config has none", () => {
    const overridden = matchDescriptor(book, "d", [{ key: "nowhere", value: "v" }], {
      requestsPerUnit: 9,
      unit: RateLimitUnit.MINUTE,
    });
    expect(limits(overridden)).toEqual([9]);
  });

  it("an unknown domain matches nothing, even with a limit override (as envoyproxy/ratelimit)", () => {
    expect(matchDescriptor(book, "other", [{ key: "k", value: "exact" }]).kind).toBe("none");
    const override = { requestsPerUnit: 9, unit: RateLimitUnit.MINUTE };
    expect(matchDescriptor(book, "other", [{ key: "k", value: "v" }], override).kind).toBe("none");
  });

  it("only a trailing * is a wildcard; elsewhere it is a literal character", () => {
    const literal = compileRules(
      yamlConfigs(
        "domain: l\ndescriptors:\n  - key: k\n    value: a*b\n    rate_limit: { unit: second, requests_per_unit: 1 }\n",
      ),
    );
    expect(matchDescriptor(literal, "l", [{ key: "k", value: "axxb" }]).kind).toBe("none");
    expect(matchDescriptor(literal, "l", [{ key: "k", value: "a*b" }]).kind).toBe("limited");
  });

  it("share_threshold: every value under the wildcard counts on the wildcard's counter", () => {
    const shared = compileRules(
      yamlConfigs(
        "domain: s\ndescriptors:\n  - key: f\n    value: files*\n    share_threshold: true\n    rate_limit: { unit: second, requests_per_unit: 1 }\n",
      ),
    );
    const found = matchDescriptor(shared, "s", [{ key: "f", value: "files7" }]);
    expect(found.kind === "limited" && found.limits[0]).toMatchObject({
      counterKey: "s_f_files*_",
      statsName: "s.f_files*",
    });
  });

  it("an unlimited limit keeps what it replaces", () => {
    const unlimited = compileRules(
      yamlConfigs(
        "domain: u\ndescriptors:\n  - key: k\n    rate_limit: { unlimited: true, replaces: [{ name: x }] }\n",
      ),
    );
    expect(matchDescriptor(unlimited, "u", [{ key: "k", value: "v" }])).toEqual({ kind: "unlimited", replaces: ["x"] });
  });
});
