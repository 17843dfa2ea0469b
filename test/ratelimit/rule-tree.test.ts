// The rule book a reload builds crosses from the config worker thread as a few values, whatever
// the config's size: built from an object per descriptor, its arrival and its garbage collection
// held the event loop for 70–250 ms at 20,000 descriptors (issue #17).
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  type RateLimitConfig,
  RateLimitConfigSchema,
  RateLimitUnit,
} from "../../src/gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { PlainAssembler, toPlainBatches } from "../../src/lib/plain-batches.js";
import { compileRules, matchDescriptor } from "../../src/ratelimit/rules.js";
import { yamlConfigs } from "./harness.js";

/** A config of `count` descriptors, each with its limit (made directly: parsing is not what is tested). */
function config(count: number): RateLimitConfig {
  const descriptors = [];
  for (let i = 0; i < count; i++)
    descriptors.push({
      key: `k${i}`,
      value: `v${i}`,
      rateLimit: { unit: RateLimitUnit.SECOND, requestsPerUnit: 10 },
    });
  return create(RateLimitConfigSchema, { domain: "d", descriptors });
}

function steps(value: unknown): number {
  let count = 0;
  for (const batch of toPlainBatches(value)) count += batch.tags.length;
  return count;
}

describe("the packed rule book", () => {
  it("crosses threads in the same few steps for 10 or 20,000 descriptors", () => {
    const small = steps(compileRules([config(10)]));
    const big = steps(compileRules([config(20_000)]));
    expect(big).toBe(small);
    expect(big).toBeLessThan(50);
  });

  it("matches after crossing, and decodes a node once", () => {
    const compiled = compileRules(
      yamlConfigs(`
domain: d
descriptors:
  - key: a
    value: "x*"
    share_threshold: true
    descriptors:
      - key: b
        rate_limit: { unit: minute, requests_per_unit: 3, name: inner }
  - key: a
    value: xy
    rate_limit: { unit: second, requests_per_unit: 1 }
`),
    );
    const assembler = new PlainAssembler();
    for (const batch of toPlainBatches(compiled)) assembler.add(batch);
    const book = assembler.result as typeof compiled;
    const first = matchDescriptor(book, "d", [
      { key: "a", value: "xz" },
      { key: "b", value: "anything" },
    ]);
    expect(first).toMatchObject({
      kind: "limited",
      limits: [
        { counterKey: "d_a_x*_b_anything_", statsName: "d.a_x*.b", rule: { requestsPerUnit: 3, name: "inner" } },
      ],
    });
    const again = matchDescriptor(book, "d", [
      { key: "a", value: "xq" },
      { key: "b", value: "other" },
    ]);
    expect(again.kind === "limited" && first.kind === "limited" && again.limits[0]?.rule).toBe(
      first.kind === "limited" && first.limits[0]?.rule,
    );
    expect(matchDescriptor(book, "d", [{ key: "a", value: "xy" }])).toMatchObject({
      limits: [{ rule: { requestsPerUnit: 1 } }],
    });
    expect(matchDescriptor(book, "d", [{ key: "a", value: "y" }])).toEqual({ kind: "none" });
  });
});
