import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  RateLimitResponse_Code as Code,
  RateLimitResponseSchema,
  RateLimitResponse_RateLimit_Unit as Unit,
} from "../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { encodeRateLimitAnswer, type RateLimitAnswer } from "../../src/ratelimit/response-encoding.js";

/** protobuf-es's encoding of the same answer: the reference the hand-written encoder must match byte for byte. */
const reference = (answer: RateLimitAnswer) =>
  toBinary(RateLimitResponseSchema, create(RateLimitResponseSchema, answer));

/** A small deterministic generator, so a failure names a seed that reproduces it. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

function randomAnswer(next: () => number): RateLimitAnswer {
  const pick = <T>(values: readonly T[]): T => values[Math.floor(next() * values.length)] as T;
  const statuses = Array.from({ length: Math.floor(next() * 4) }, () => ({
    code: pick([Code.UNKNOWN, Code.OK, Code.OVER_LIMIT]),
    limitRemaining: pick([0, 1, 99, 127, 128, 16_384, 0xffff_ffff]),
    ...(next() < 0.7
      ? {
          currentLimit: {
            requestsPerUnit: pick([0, 1, 100, 1_000_000_000, 0xffff_ffff]),
            unit: pick([Unit.UNKNOWN, Unit.SECOND, Unit.MINUTE, Unit.HOUR, Unit.DAY, Unit.MONTH, Unit.YEAR]),
            name: pick(["", "per-ip", "ünïcode-límit", "x".repeat(200)]),
          },
        }
      : {}),
    ...(next() < 0.7 ? { durationUntilReset: { seconds: pick([0n, 1n, 59n, 3_600n, 31_536_000n, 2n ** 40n]) } } : {}),
  }));
  const answer: RateLimitAnswer = { overallCode: pick([Code.UNKNOWN, Code.OK, Code.OVER_LIMIT]), statuses };
  if (next() < 0.5) {
    answer.responseHeadersToAdd = [
      { key: "RateLimit-Limit", value: String(Math.floor(next() * 1000)) },
      { key: pick(["RateLimit-Remaining", ""]), value: pick(["", "0", "ü"]) },
    ];
  }
  return answer;
}

describe("the hand-written RateLimitResponse encoder", () => {
  it("writes the bytes protobuf-es writes, for the answers the server gives", () => {
    const cases: RateLimitAnswer[] = [
      { overallCode: Code.OK, statuses: [] },
      { overallCode: Code.OK, statuses: [{ code: Code.OK, limitRemaining: 0xffff_ffff }] },
      {
        overallCode: Code.OVER_LIMIT,
        statuses: [
          {
            code: Code.OVER_LIMIT,
            limitRemaining: 0,
            currentLimit: { requestsPerUnit: 100, unit: Unit.MINUTE, name: "" },
            durationUntilReset: { seconds: 30n },
          },
          { code: Code.OK, limitRemaining: 0 },
        ],
        responseHeadersToAdd: [
          { key: "RateLimit-Limit", value: "100" },
          { key: "RateLimit-Remaining", value: "0" },
          { key: "RateLimit-Reset", value: "30" },
        ],
      },
    ];
    for (const answer of cases) expect(encodeRateLimitAnswer(answer)).toEqual(reference(answer));
  });

  it("matches protobuf-es on 2,000 generated answers", () => {
    for (let seed = 1; seed <= 2_000; seed++) {
      const answer = randomAnswer(random(seed));
      const bytes = encodeRateLimitAnswer(answer);
      expect({ seed, bytes }).toEqual({ seed, bytes: reference(answer) });
      // And it reads back as the answer that was meant.
      expect(fromBinary(RateLimitResponseSchema, bytes)).toEqual(create(RateLimitResponseSchema, answer));
    }
  });
});
