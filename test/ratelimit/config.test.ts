import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  RateLimitAlgorithm,
  RateLimitConfigSchema,
  RateLimitUnit,
} from "../../src/gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { checkConfigs, loadConfigDir, parseRateLimitYaml, RateLimitConfigError } from "../../src/ratelimit/index.js";
import { compileRules, matchDescriptor } from "../../src/ratelimit/rules.js";

function errorOf(yaml: string, file = "rules/api.yaml"): RateLimitConfigError {
  try {
    parseRateLimitYaml(yaml, file);
  } catch (err) {
    if (err instanceof RateLimitConfigError) return err;
    throw err;
  }
  throw new Error("expected the config to be rejected");
}

describe("rate-limit YAML config", () => {
  it("reads envoyproxy/ratelimit's format unchanged into the RateLimitConfig proto", () => {
    const config = parseRateLimitYaml(
      `
domain: api
descriptors:
  - key: remote_address
    rate_limit:
      unit: MINUTE
      requests_per_unit: 60
      name: per_ip
    shadow_mode: true
    detailed_metric: true
    descriptors:
      - key: path
        value: /login*
        rate_limit: { unit: second, requests_per_unit: 1, replaces: [{ name: per_ip }] }
  - key: internal
    rate_limit: { unlimited: true }
`,
      "api.yaml",
    );
    expect(config.name).toBe("api.yaml");
    expect(config.domain).toBe("api");
    const [ip, internal] = config.descriptors;
    expect(ip?.rateLimit?.unit).toBe(RateLimitUnit.MINUTE);
    expect(ip?.rateLimit?.requestsPerUnit).toBe(60);
    expect(ip?.shadowMode).toBe(true);
    expect(ip?.detailedMetric).toBe(true);
    expect(ip?.descriptors[0]?.value).toBe("/login*");
    expect(ip?.descriptors[0]?.rateLimit?.replaces.map((r) => r.name)).toEqual(["per_ip"]);
    expect(internal?.rateLimit?.unlimited).toBe(true);
  });

  it("reads Gantry's extension fields", () => {
    const config = parseRateLimitYaml(
      `
domain: api
descriptors:
  - key: user
    rate_limit: { unit: second, requests_per_unit: 10, algorithm: token_bucket }
    additional_limits:
      - { unit: hour, requests_per_unit: 1000, algorithm: sliding_window }
      - { unit: year, requests_per_unit: 100000 }
set_descriptors:
  - entries: [{ key: plan, value: gold }, { key: user }]
    always_apply: true
    rate_limit: { unit: week, requests_per_unit: 5 }
`,
      "api.yaml",
    );
    const user = config.descriptors[0];
    expect(user?.rateLimit?.algorithm).toBe(RateLimitAlgorithm.TOKEN_BUCKET);
    expect(user?.additionalLimits.map((l) => [l.unit, l.algorithm])).toEqual([
      [RateLimitUnit.HOUR, RateLimitAlgorithm.SLIDING_WINDOW],
      [RateLimitUnit.YEAR, RateLimitAlgorithm.FIXED_WINDOW],
    ]);
    expect(config.setDescriptors[0]?.entries.map((e) => `${e.key}=${e.value}`)).toEqual(["plan=gold", "user="]);
    expect(config.setDescriptors[0]?.alwaysApply).toBe(true);
    expect(config.setDescriptors[0]?.rateLimit?.unit).toBe(RateLimitUnit.WEEK);
  });

  // Each load error the reference lists, plus the ones Gantry's extensions add: file, line, field, problem.
  const cases: Array<[what: string, yaml: string, message: string]> = [
    [
      "an unknown key",
      "domain: a\ndescriptors:\n  - key: k\n    rate_limt: {}\n",
      "rules/api.yaml:4: descriptors[0].rate_limt: unknown field",
    ],
    [
      "an unknown key in a limit",
      "domain: a\ndescriptors:\n  - key: k\n    rate_limit: { unit: second, requests: 1 }\n",
      "rules/api.yaml:4: descriptors[0].rate_limit.requests: unknown field",
    ],
    ["an empty domain", 'domain: ""\n', "rules/api.yaml:1: domain: empty"],
    ["a missing domain", "descriptors: []\n", "rules/api.yaml: domain: empty"],
    ["an empty file", "", "rules/api.yaml: domain: missing (the file is empty)"],
    ["an empty key", "domain: a\ndescriptors:\n  - key: ''\n", "rules/api.yaml:3: descriptors[0].key: empty"],
    ["a missing key", "domain: a\ndescriptors:\n  - value: v\n", "rules/api.yaml:3: descriptors[0].key: empty"],
    [
      "a duplicate key+value at one level",
      "domain: a\ndescriptors:\n  - key: k\n    value: v\n  - key: k\n    value: v\n",
      'rules/api.yaml:5: descriptors[1]: duplicate descriptor key "k" value "v" (first at descriptors[0])',
    ],
    [
      "a duplicate key-only descriptor in a nested level",
      "domain: a\ndescriptors:\n  - key: k\n    descriptors:\n      - key: s\n      - key: s\n",
      'rules/api.yaml:6: descriptors[0].descriptors[1]: duplicate descriptor key "s" (first at descriptors[0].descriptors[0])',
    ],
    [
      "a bad unit",
      "domain: a\ndescriptors:\n  - key: k\n    rate_limit: { unit: fortnight, requests_per_unit: 1 }\n",
      'rules/api.yaml:4: descriptors[0].rate_limit.unit: bad unit "fortnight"',
    ],
    [
      "a limit without a unit",
      "domain: a\ndescriptors:\n  - key: k\n    rate_limit: { requests_per_unit: 1 }\n",
      "rules/api.yaml:4: descriptors[0].rate_limit.unit: missing",
    ],
    [
      "unlimited together with a unit",
      "domain: a\ndescriptors:\n  - key: k\n    rate_limit: { unlimited: true, unit: second }\n",
      "rules/api.yaml:4: descriptors[0].rate_limit.unit: `unlimited` cannot be combined with a unit",
    ],
    [
      "an empty replaces entry",
      "domain: a\ndescriptors:\n  - key: k\n    rate_limit:\n      unit: second\n      requests_per_unit: 1\n      replaces: [{}]\n",
      "rules/api.yaml:7: descriptors[0].rate_limit.replaces[0].name: empty",
    ],
    [
      "a replaces entry naming its own limit",
      "domain: a\ndescriptors:\n  - key: k\n    rate_limit:\n      unit: second\n      requests_per_unit: 1\n      name: me\n      replaces: [{ name: me }]\n",
      'rules/api.yaml:8: descriptors[0].rate_limit.replaces[0].name: "me" names this limit itself',
    ],
    [
      "a wrong type",
      "domain: a\ndescriptors:\n  - key: k\n    rate_limit: { unit: second, requests_per_unit: lots }\n",
      "rules/api.yaml:4: descriptors[0].rate_limit.requests_per_unit: expected a whole number",
    ],
    [
      "a negative count",
      "domain: a\ndescriptors:\n  - key: k\n    rate_limit: { unit: second, requests_per_unit: -1 }\n",
      "requests_per_unit: expected a whole number",
    ],
    [
      "descriptors that are not a list",
      "domain: a\ndescriptors: { key: k }\n",
      "rules/api.yaml:2: descriptors: expected a list",
    ],
    ["invalid YAML", "domain: a\ndescriptors: [\n", "rules/api.yaml:3: not valid YAML"],
    [
      "a bad algorithm",
      "domain: a\ndescriptors:\n  - key: k\n    rate_limit: { unit: second, requests_per_unit: 1, algorithm: leaky }\n",
      'descriptors[0].rate_limit.algorithm: bad algorithm "leaky"',
    ],
    [
      "an unlimited additional limit",
      "domain: a\ndescriptors:\n  - key: k\n    rate_limit: { unit: second, requests_per_unit: 1 }\n    additional_limits: [{ unlimited: true }]\n",
      "rules/api.yaml:5: descriptors[0].additional_limits[0].unlimited: an additional limit cannot be unlimited",
    ],
    [
      "additional limits without a first limit",
      "domain: a\ndescriptors:\n  - key: k\n    additional_limits: [{ unit: second, requests_per_unit: 1 }]\n",
      "rules/api.yaml:4: descriptors[0].additional_limits: needs `rate_limit` as the first limit",
    ],
    [
      "two limits of one descriptor on the same counter",
      "domain: a\ndescriptors:\n  - key: k\n    rate_limit: { unit: second, requests_per_unit: 1 }\n    additional_limits: [{ unit: second, requests_per_unit: 5 }]\n",
      "rules/api.yaml:5: descriptors[0].additional_limits[0]: same unit and algorithm as descriptors[0].rate_limit",
    ],
    [
      "a set rule without entries",
      "domain: a\nset_descriptors:\n  - rate_limit: { unit: second, requests_per_unit: 1 }\n",
      "set_descriptors[0].entries: a set rule needs entries",
    ],
    [
      "a set rule without a limit",
      "domain: a\nset_descriptors:\n  - entries: [{ key: k }]\n",
      "rules/api.yaml:3: set_descriptors[0].rate_limit: missing",
    ],
    [
      "a token bucket too large to count exactly",
      "domain: a\ndescriptors:\n  - key: k\n    rate_limit: { unit: year, requests_per_unit: 1000000, algorithm: token_bucket }\n",
      "descriptors[0].rate_limit.requests_per_unit: too large for a token bucket",
    ],
  ];

  for (const [what, yaml, message] of cases) {
    it(`rejects ${what}`, () => {
      expect(errorOf(yaml).message).toContain(message);
    });
  }

  it("rejects a domain given in two files, naming both", () => {
    const a = parseRateLimitYaml("domain: shared\n", "conf/a.yaml");
    const b = parseRateLimitYaml("domain: shared\n", "conf/b.yaml");
    expect(() => checkConfigs([a, b])).toThrow('conf/b.yaml: domain: duplicate domain "shared" (also in conf/a.yaml)');
  });

  it("checks configs that come as protos (xDS, gantry up) by the same rules", () => {
    const config = create(RateLimitConfigSchema, {
      name: "xds/api",
      domain: "api",
      descriptors: [{ key: "k", rateLimit: { unit: 99 as RateLimitUnit, requestsPerUnit: 1 } }],
    });
    expect(() => checkConfigs([config])).toThrow("xds/api: descriptors[0].rate_limit.unit: unknown unit 99");
    expect(() => checkConfigs([create(RateLimitConfigSchema, { domain: "" })])).toThrow("config[0]: domain: empty");
  });
});

describe("the example config", () => {
  it("loads", () => {
    const [config] = loadConfigDir(fileURLToPath(new URL("../../examples/ratelimit", import.meta.url)));
    expect(config?.domain).toBe("gateway");
    expect(config?.setDescriptors).toHaveLength(2);
  });

  it("limits the crawler its comment names: a trailing * is the only wildcard", () => {
    const configs = loadConfigDir(fileURLToPath(new URL("../../examples/ratelimit", import.meta.url)));
    const book = compileRules(configs);
    const crawler = matchDescriptor(book, "gateway", [{ key: "user_agent", value: "Googlebot/2.1" }]);
    expect(crawler.kind === "limited" && crawler.limits[0]?.rule).toMatchObject({
      requestsPerUnit: 30,
      shadowMode: true,
    });
    expect(matchDescriptor(book, "gateway", [{ key: "user_agent", value: "curl/8.5" }]).kind).toBe("none");
  });
});
