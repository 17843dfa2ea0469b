import { create, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { UInt64ValueSchema } from "@bufbuild/protobuf/wkt";
import { expect } from "vitest";
import { RateLimitDescriptorSchema } from "../../../src/gen/envoy/extensions/common/ratelimit/v3/ratelimit_pb.js";
import { type RateLimitRequest, RateLimitRequestSchema } from "../../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import type { CompatCase, DescriptorInput, Entries, Step } from "./cases.js";
import type { Observed, RlsPeer } from "./peers.js";

/** Each case has its own domain, so cases never share counters. */
export const domainOf = (index: number) => `compat-${index}`;

/** A per-descriptor hits_addend (Envoy's field 3, a UInt64Value) as the raw field our older protos lack. */
function withHitsAddend(input: DescriptorInput) {
  const descriptor = create(RateLimitDescriptorSchema, {
    entries: input.entries.map(([key, value]) => ({ key, value })),
    ...(input.limit ? { limit: input.limit } : {}),
  });
  if (input.hitsAddend !== undefined) {
    const value = toBinary(UInt64ValueSchema, create(UInt64ValueSchema, { value: BigInt(input.hitsAddend) }));
    descriptor.$unknown = [
      { no: 3, wireType: WireType.LengthDelimited, data: new BinaryWriter().bytes(value).finish() },
    ];
  }
  return descriptor;
}

export function requestOf(step: Step, domain: string): RateLimitRequest {
  return create(RateLimitRequestSchema, {
    domain: step.domain ?? domain,
    hitsAddend: step.hitsAddend ?? 0,
    descriptors: step.descriptors.map((d) =>
      withHitsAddend(Array.isArray(d) ? { entries: d as Entries } : (d as DescriptorInput)),
    ),
  });
}

/** The two answers, with Gantry's reset times taken as the anchor's when they are within 1 s of each other. */
export function alignResets(anchor: Observed, gantry: Observed): Observed {
  if (!("statuses" in anchor) || !("statuses" in gantry)) return gantry;
  const close = (a: number | undefined, b: number | undefined) =>
    a !== undefined && b !== undefined && Math.abs(a - b) <= 1 ? a : b;
  return {
    ...gantry,
    statuses: gantry.statuses.map((s, i) => {
      const reset = close(anchor.statuses[i]?.durationUntilReset, s.durationUntilReset);
      return reset === undefined ? s : { ...s, durationUntilReset: reset };
    }),
    headers: gantry.headers.map(([k, v], i) => {
      const theirs = anchor.headers[i];
      if (!theirs || theirs[0] !== k || !/reset/i.test(k)) return [k, v] as const;
      return [k, String(close(Number(theirs[1]), Number(v)))] as const;
    }),
  };
}

/** Waits, if need be, so that a case's few milliseconds of calls do not straddle a second or minute boundary. */
export async function awayFromWindowEdges(): Promise<void> {
  for (;;) {
    const now = Date.now();
    const wait = now % 60_000 > 59_000 ? 60_000 - (now % 60_000) : now % 1000 > 600 ? 1000 - (now % 1000) : 0;
    if (wait === 0) return;
    await new Promise((resolve) => setTimeout(resolve, wait + 5));
  }
}

/** Sends every step of a case to both servers in turn and expects Gantry's answer to be the anchor's. */
export async function compareCase(anchor: RlsPeer, gantry: RlsPeer, c: CompatCase, domain: string): Promise<void> {
  await awayFromWindowEdges();
  let calls = 0;
  for (const [s, step] of c.steps.entries()) {
    for (let n = 0; n < (step.times ?? 1); n++) {
      const request = requestOf(step, domain);
      const theirs = await anchor.call(request);
      const ours = await gantry.call(request);
      expect(alignResets(theirs, ours), `step ${s}, call ${n + 1}`).toEqual(theirs);
      calls++;
    }
  }
  expect(calls).toBeGreaterThan(0);
}
