import { create, toBinary, type UnknownField } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { UInt64ValueSchema } from "@bufbuild/protobuf/wkt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RateLimitDescriptorSchema } from "../../src/gen/envoy/extensions/common/ratelimit/v3/ratelimit_pb.js";
import { RateLimitResponse_Code as Code } from "../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { ManualClock } from "../../src/lib/index.js";
import { haveRedis, type RedisCluster, type RedisServer, startRedis, startRedisCluster } from "../support/index.js";
import { type Harness, startHarness, yamlConfigs } from "./harness.js";

/**
 * Every behaviour case of the reference, plus Gantry's extensions, against each backend: memory,
 * a real redis-server and a real 3-master Redis Cluster. Time comes from a ManualClock, so window
 * arithmetic is exact; the counters live in the real backends.
 */

const casesYaml = `
domain: cases
descriptors:
  - key: key1
    value: value1
    descriptors:
      - key: subkey1
        rate_limit: { unit: second, requests_per_unit: 5 }
      - key: subkey1
        value: subvalue1
        rate_limit: { unit: second, requests_per_unit: 10 }
  - key: key2
    rate_limit: { unit: minute, requests_per_unit: 20 }
  - key: key2
    value: value2
    rate_limit: { unit: minute, requests_per_unit: 30 }
  - key: key2
    value: value3
  - key: wild
    value: foo*
    rate_limit: { unit: minute, requests_per_unit: 1 }
  - key: wild
    value: bar*b
    rate_limit: { unit: minute, requests_per_unit: 1 }
  - key: wild2
    value: foo*bar*baz
    rate_limit: { unit: minute, requests_per_unit: 1 }
  - key: shadowed
    shadow_mode: true
    rate_limit: { unit: minute, requests_per_unit: 3 }
  - key: foo
    descriptors:
      - key: bar
        value: banned
        rate_limit: { unit: minute, requests_per_unit: 0, name: banned_limit }
  - key: unbanned
    rate_limit:
      unit: minute
      requests_per_unit: 2
      replaces: [{ name: banned_limit }]
  - key: ten
    rate_limit: { unit: minute, requests_per_unit: 10 }
  - key: free
    rate_limit: { unlimited: true }
  - key: twolimits
    rate_limit: { unit: second, requests_per_unit: 3 }
    additional_limits:
      - { unit: minute, requests_per_unit: 5 }
  - key: sliding
    rate_limit: { unit: minute, requests_per_unit: 10, algorithm: sliding_window }
  - key: bucket
    rate_limit: { unit: minute, requests_per_unit: 10, algorithm: token_bucket }
  - key: weekly
    rate_limit: { unit: week, requests_per_unit: 2 }
  - key: yearly
    rate_limit: { unit: year, requests_per_unit: 2 }
set_descriptors:
  - entries: [{ key: plan, value: gold }, { key: user }]
    rate_limit: { unit: minute, requests_per_unit: 3 }
  - entries: [{ key: plan }]
    rate_limit: { unit: minute, requests_per_unit: 100 }
  - entries: [{ key: user }]
    always_apply: true
    rate_limit: { unit: minute, requests_per_unit: 4 }
`;

/** A request descriptor carrying raw unknown fields (what a newer Envoy sends that our protos predate). */
function descriptorWith(key: string, value: string, unknown: UnknownField[]) {
  const descriptor = create(RateLimitDescriptorSchema, { entries: [{ key, value }] });
  descriptor.$unknown = unknown;
  return descriptor;
}

/** A per-descriptor hits_addend (Envoy's field 3, a UInt64Value) as its raw unknown field. */
function hitsAddendField(hits: number): UnknownField {
  const value = toBinary(UInt64ValueSchema, create(UInt64ValueSchema, { value: BigInt(hits) }));
  return { no: 3, wireType: WireType.LengthDelimited, data: new BinaryWriter().bytes(value).finish() };
}

type Backend = { name: string; enabled: boolean; setUp(): Promise<string | undefined>; tearDown(): Promise<void> };

const redisHere = haveRedis();
let redis: RedisServer | undefined;
let cluster: RedisCluster | undefined;
const backends: Backend[] = [
  { name: "memory", enabled: true, setUp: async () => undefined, tearDown: async () => {} },
  {
    name: "redis-server",
    enabled: redisHere,
    setUp: async () => {
      redis = await startRedis();
      return redis.url;
    },
    tearDown: async () => redis?.close(),
  },
  {
    name: "Redis Cluster (3 masters)",
    enabled: redisHere,
    setUp: async () => {
      cluster = await startRedisCluster(3);
      return cluster.url;
    },
    tearDown: async () => cluster?.close(),
  },
];

for (const backend of backends) {
  describe.skipIf(!backend.enabled)(`rate-limit behaviour on ${backend.name}`, () => {
    let redisUrl: string | undefined;
    let harness: Harness;
    let clock: ManualClock;
    let run = 0;

    beforeAll(async () => {
      redisUrl = await backend.setUp();
    });
    afterAll(async () => {
      await backend.tearDown();
    });
    afterEach(async () => {
      await harness?.close();
    });

    async function start(options: { responseHeaders?: boolean; globalShadowMode?: boolean } = {}) {
      // A minute-aligned start, so windows are exact; a fresh key prefix keeps tests apart in Redis.
      clock = new ManualClock(Date.UTC(2026, 0, 5, 12, 0, 0));
      run++;
      harness = await startHarness({
        clock,
        configs: yamlConfigs(casesYaml),
        redisTimeoutMs: 2_000,
        ...(redisUrl ? { redisUrl, redisKeyPrefix: `t${run}:` } : {}),
        ...options,
      });
      return harness;
    }

    function summary(response: Awaited<ReturnType<Harness["call"]>>) {
      return response.statuses.map((s) => ({
        code: Code[s.code],
        limit: s.currentLimit?.requestsPerUnit,
        remaining: s.limitRemaining,
      }));
    }

    it("case 1: matches exact, key-only and nested descriptors, with the depth rule", async () => {
      const h = await start();
      const limitOf = async (...entries: Array<[string, string]>) =>
        (await h.call("cases", [entries])).statuses[0]?.currentLimit?.requestsPerUnit;
      expect(await limitOf(["key1", "value1"], ["subkey1", "x"])).toBe(5);
      expect(await limitOf(["key1", "value1"], ["subkey1", "subvalue1"])).toBe(10);
      expect(await limitOf(["key1", "value1"])).toBeUndefined();
      expect(await limitOf(["key2", "x"])).toBe(20);
      expect(await limitOf(["key2", "value2"])).toBe(30);
      expect(await limitOf(["key2", "value3"])).toBeUndefined();
      expect(await limitOf(["key2", "value2"], ["subkey", "y"])).toBeUndefined();
    });

    it("case 2: 25 calls against 20/min: 20 OK counting down to 0, then 5 OVER_LIMIT", async () => {
      const h = await start();
      const seen: Array<[string | undefined, number]> = [];
      for (let i = 0; i < 25; i++) {
        const status = (await h.call("cases", [[["key2", "k"]]])).statuses[0];
        seen.push([Code[status?.code ?? 0], status?.limitRemaining ?? -1]);
      }
      const expected: Array<[string | undefined, number]> = [];
      for (let i = 1; i <= 20; i++) expected.push(["OK", 20 - i]);
      for (let i = 0; i < 5; i++) expected.push(["OVER_LIMIT", 0]);
      expect(seen).toEqual(expected);
    });

    it("case 3: a trailing `*` is a wildcard (each value counted apart); a `*` elsewhere is literal", async () => {
      const h = await start();
      const code = async (key: string, value: string) =>
        Code[(await h.call("cases", [[[key, value]]])).statuses[0]?.code ?? 0];
      const limited = async (key: string, value: string) =>
        (await h.call("cases", [[[key, value]]])).statuses[0]?.currentLimit !== undefined;
      expect(await code("wild", "foo1")).toBe("OK");
      expect(await code("wild", "foo2")).toBe("OK");
      expect(await code("wild", "foo1")).toBe("OVER_LIMIT");
      expect(await limited("wild", "bar*b")).toBe(true);
      expect(await limited("wild", "barxb")).toBe(false);
      expect(await limited("wild2", "foo*bar*baz")).toBe(true);
      expect(await limited("wild2", "foobarbaz")).toBe(false);
    });

    it("case 4: a shadow-mode rule reports OK past its limit but still counts", async () => {
      const h = await start();
      let last: Awaited<ReturnType<Harness["call"]>> | undefined;
      for (let i = 0; i < 5; i++) last = await h.call("cases", [[["shadowed", "x"]]]);
      expect(last?.overallCode).toBe(Code.OK);
      expect(summary(last as NonNullable<typeof last>)).toEqual([{ code: "OK", limit: 3, remaining: 0 }]);
      expect(await h.metric("gantry_ratelimit_rule_shadow_mode", { rule: "cases.shadowed" })).toBe(2);
      expect(await h.metric("gantry_ratelimit_rule_over_limit", { rule: "cases.shadowed" })).toBe(2);
    });

    it("case 5: a matched limit that replaces another drops it", async () => {
      const h = await start();
      const banned: Array<[string, string]> = [
        ["foo", "x"],
        ["bar", "banned"],
      ];
      expect((await h.call("cases", [banned])).overallCode).toBe(Code.OVER_LIMIT);
      const codes: string[] = [];
      for (let i = 0; i < 3; i++) {
        const response = await h.call("cases", [banned, [["unbanned", "u"]]]);
        codes.push(Code[response.overallCode]);
        expect(response.statuses[0]?.currentLimit).toBeUndefined();
      }
      expect(codes).toEqual(["OK", "OK", "OVER_LIMIT"]);
    });

    it("case 6: response headers from the descriptor closest to its limit", async () => {
      const h = await start({ responseHeaders: true });
      for (let i = 0; i < 10; i++) await h.call("cases", [[["ten", "t"]]]);
      clock.advance(2_000);
      const response = await h.call("cases", [[["key2", "k"]], [["ten", "t"]]]);
      expect(response.overallCode).toBe(Code.OVER_LIMIT);
      const headers = Object.fromEntries(response.responseHeadersToAdd.map((hv) => [hv.key, hv.value]));
      expect(headers).toEqual({ "RateLimit-Limit": "10", "RateLimit-Remaining": "0", "RateLimit-Reset": "58" });
      expect(response.statuses[1]?.durationUntilReset?.seconds).toBe(58n);
    });

    it("answers an unknown domain OK, an unmatched descriptor OK without a limit, unlimited with max remaining", async () => {
      const h = await start();
      const unknown = await h.call("nope", [[["key2", "k"]]]);
      expect(unknown.overallCode).toBe(Code.OK);
      expect(summary(unknown)).toEqual([{ code: "OK", limit: undefined, remaining: 0 }]);
      const free = await h.call("cases", [[["free", "x"]], [["other", "y"]]]);
      expect(summary(free)).toEqual([
        { code: "OK", limit: undefined, remaining: 4294967295 },
        { code: "OK", limit: undefined, remaining: 0 },
      ]);
    });

    it("windows reset with time", async () => {
      const h = await start();
      for (let i = 0; i < 6; i++)
        await h.call("cases", [
          [
            ["key1", "value1"],
            ["subkey1", "s"],
          ],
        ]);
      expect(
        (
          await h.call("cases", [
            [
              ["key1", "value1"],
              ["subkey1", "s"],
            ],
          ])
        ).overallCode,
      ).toBe(Code.OVER_LIMIT);
      clock.advance(1_000);
      expect(
        summary(
          await h.call("cases", [
            [
              ["key1", "value1"],
              ["subkey1", "s"],
            ],
          ]),
        ),
      ).toEqual([{ code: "OK", limit: 5, remaining: 4 }]);
    });

    it("hits_addend per request and per descriptor (0 checks without counting)", async () => {
      const h = await start();
      expect(summary(await h.call("cases", [[["key2", "h"]]], 5))[0]?.remaining).toBe(15);
      const checkOnly = await h.client.shouldRateLimit({
        domain: "cases",
        hitsAddend: 3,
        descriptors: [
          descriptorWith("key2", "h", [hitsAddendField(0)]),
          descriptorWith("key2", "h", [hitsAddendField(4)]),
          { entries: [{ key: "key2", value: "h" }] },
        ],
      });
      // In one turn the three coalesce on one counter, in order: +0, +4, +3.
      expect(summary(checkOnly).map((s) => s.remaining)).toEqual([15, 11, 8]);
    });

    it("a descriptor's own limit overrides the config", async () => {
      const h = await start();
      const override = {
        entries: [["nowhere", "z"]] as Array<[string, string]>,
        limit: { requestsPerUnit: 2, unit: 2 },
      };
      const codes: string[] = [];
      for (let i = 0; i < 3; i++) codes.push(Code[(await h.call("cases", [override])).overallCode]);
      expect(codes).toEqual(["OK", "OK", "OVER_LIMIT"]);
    });

    it("several limits on one descriptor must all pass", async () => {
      const h = await start();
      const call = async () => summary(await h.call("cases", [[["twolimits", "x"]]]))[0];
      expect(await call()).toEqual({ code: "OK", limit: 3, remaining: 2 });
      await call();
      await call();
      expect(await call()).toEqual({ code: "OVER_LIMIT", limit: 3, remaining: 0 });
      clock.advance(1_000);
      // 4 of the minute's 5 are used (the over-limit hit counts, as fixed windows do); one left.
      expect(await call()).toEqual({ code: "OK", limit: 5, remaining: 0 });
      expect(await call()).toEqual({ code: "OVER_LIMIT", limit: 5, remaining: 0 });
    });

    it("sliding window weighs the previous window", async () => {
      const h = await start();
      const code = async () => Code[(await h.call("cases", [[["sliding", "s"]]])).overallCode];
      for (let i = 0; i < 10; i++) expect(await code()).toBe("OK");
      expect(await code()).toBe("OVER_LIMIT");
      clock.advance(60_000);
      expect(await code()).toBe("OVER_LIMIT");
      clock.advance(30_000);
      const codes: string[] = [];
      for (let i = 0; i < 6; i++) codes.push(await code());
      expect(codes).toEqual(["OK", "OK", "OK", "OK", "OK", "OVER_LIMIT"]);
    });

    it("token bucket refills evenly over the unit", async () => {
      const h = await start();
      const call = async () => summary(await h.call("cases", [[["bucket", "b"]]]))[0];
      for (let i = 0; i < 10; i++) expect((await call())?.remaining).toBe(9 - i);
      const over = await h.call("cases", [[["bucket", "b"]]]);
      expect(over.overallCode).toBe(Code.OVER_LIMIT);
      expect(over.statuses[0]?.durationUntilReset?.seconds).toBe(6n);
      clock.advance(6_000);
      expect((await call())?.code).toBe("OK");
      expect((await call())?.code).toBe("OVER_LIMIT");
    });

    it("week and year units count over 7 and 365 days", async () => {
      const h = await start();
      const week = await h.call("cases", [[["weekly", "w"]]]);
      const weekSeconds = 7 * 86_400;
      expect(week.statuses[0]?.durationUntilReset?.seconds).toBe(
        BigInt(weekSeconds - (Math.floor(clock.now() / 1000) % weekSeconds)),
      );
      expect(week.statuses[0]?.currentLimit?.unit).toBe(7);
      const year = await h.call("cases", [[["yearly", "y"]]]);
      expect(year.statuses[0]?.currentLimit?.unit).toBe(6);
      await h.call("cases", [[["weekly", "w"]]]);
      expect((await h.call("cases", [[["weekly", "w"]]])).overallCode).toBe(Code.OVER_LIMIT);
      clock.advance(weekSeconds * 1000);
      expect((await h.call("cases", [[["weekly", "w"]]])).overallCode).toBe(Code.OK);
    });

    it("set-style rules: entries in any order, extras ignored, first match wins unless always_apply", async () => {
      const h = await start();
      const entries: Array<[string, string]> = [
        ["extra", "z"],
        ["user", "alice"],
        ["plan", "gold"],
      ];
      const seen: Array<{ code: string; limit: number | undefined; remaining: number }> = [];
      for (let i = 0; i < 4; i++) seen.push(summary(await h.call("cases", [entries]))[0] as (typeof seen)[number]);
      // gold/user 3/min applies (the plan-only rule is skipped: first match wins), and user 4/min always applies.
      expect(seen).toEqual([
        { code: "OK", limit: 3, remaining: 2 },
        { code: "OK", limit: 3, remaining: 1 },
        { code: "OK", limit: 3, remaining: 0 },
        { code: "OVER_LIMIT", limit: 3, remaining: 0 },
      ]);
      // Another user has separate counters; the user rule (4/min) is the closest now that gold is not matched.
      expect(
        summary(
          await h.call("cases", [
            [
              ["user", "bob"],
              ["plan", "silver"],
            ],
          ]),
        )[0],
      ).toEqual({
        code: "OK",
        limit: 4,
        remaining: 3,
      });
    });

    it("global shadow mode makes only overall_code OK", async () => {
      const h = await start({ globalShadowMode: true });
      const banned = await h.call("cases", [
        [
          ["foo", "x"],
          ["bar", "banned"],
        ],
      ]);
      expect(banned.overallCode).toBe(Code.OK);
      expect(banned.statuses[0]?.code).toBe(Code.OVER_LIMIT);
    });

    it("answers keys known to be over limit from the local cache, and counts per-rule statistics", async () => {
      const h = await start();
      // 3 hits a call against 10/min: counts 3, 6, 9 (near: above 8), 12 (over, cached), then from the cache.
      for (let i = 0; i < 5; i++) await h.call("cases", [[["ten", "c"]]], 3);
      const rule = { rule: "cases.ten" };
      expect(await h.metric("gantry_ratelimit_rule_total_hits", rule)).toBe(15);
      expect(await h.metric("gantry_ratelimit_rule_within_limit", rule)).toBe(9);
      expect(await h.metric("gantry_ratelimit_rule_near_limit", rule)).toBe(3);
      expect(await h.metric("gantry_ratelimit_rule_over_limit", rule)).toBe(6);
      expect(await h.metric("gantry_ratelimit_rule_over_limit_with_local_cache", rule)).toBe(3);
      expect(await h.metric("gantry_ratelimit_request_duration_seconds_count", { code: "OK" })).toBe(5);
    });

    it("answers a malformed request as envoyproxy/ratelimit does (UNKNOWN, INVALID_ARGUMENT) and keeps serving", async () => {
      const h = await start();
      await expect(h.call("", [[["key2", "k"]]])).rejects.toMatchObject({
        code: 2,
        details: "rate limit domain must not be empty",
      });
      await expect(h.call("cases", [])).rejects.toMatchObject({
        code: 2,
        details: "rate limit descriptor list must not be empty",
      });
      expect((await h.call("cases", [[]])).statuses).toMatchObject([{ code: Code.OK, limitRemaining: 0 }]);
      await expect(
        h.client.shouldRateLimit({
          domain: "cases",
          descriptors: [descriptorWith("key2", "k", [{ no: 3, wireType: WireType.Varint, data: new Uint8Array([1]) }])],
        }),
      ).rejects.toMatchObject({ code: 3 });
      expect((await h.call("cases", [[["key2", "k"]]])).overallCode).toBe(Code.OK);
    });
  });
}
