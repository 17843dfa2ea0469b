import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/lib/index.js";
import { parseKeyCounters, UsageRecorder } from "../../src/portal/index.js";

const exposition = (hits: number, over: number) => `# HELP gantry_ratelimit_rule_total_hits hits
# TYPE gantry_ratelimit_rule_total_hits counter
gantry_ratelimit_rule_total_hits{rule="gantry-portal.portal_product_ns/pets.portal_plan_ns/free.api_key_0a1b"} ${hits}
gantry_ratelimit_rule_total_hits{rule="gantry-portal.portal_product_ns/pets.portal_plan_ns/free.api_key_0a1b/limit1"} ${hits}
gantry_ratelimit_rule_over_limit{rule="gantry-portal.portal_product_ns/pets.portal_plan_ns/free.api_key_0a1b"} ${over}
gantry_ratelimit_rule_total_hits{rule="shop.route_account.user"} 99
`;

describe("usage from the rate-limit server's per-key counters", () => {
  it("reads each key's requests (its first limit) and rejections", () => {
    expect(parseKeyCounters(exposition(12, 3))).toEqual([
      { product: "ns/pets", plan: "ns/free", key: "0a1b", requests: 12, rejected: 3 },
    ]);
  });

  it("records increases per sample, and counts from zero after the counters went down", () => {
    const clock = new ManualClock(1_000);
    const recorder = new UsageRecorder({ metricsUrl: "http://unused", intervalMs: 1_000, keep: 2, timers: clock });
    recorder.record(parseKeyCounters(exposition(5, 0)), 1_000);
    recorder.record(parseKeyCounters(exposition(9, 1)), 2_000);
    recorder.record(parseKeyCounters(exposition(2, 0)), 3_000);
    expect(recorder.usage("0a1b")).toEqual({
      points: [
        { at: 2_000, requests: 4, rejected: 1 },
        { at: 3_000, requests: 2, rejected: 0 },
      ],
      requests: 2,
      rejected: 0,
    });
  });
});
