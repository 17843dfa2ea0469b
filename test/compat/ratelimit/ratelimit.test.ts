import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { UInt64ValueSchema } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RateLimitDescriptorSchema } from "../../../src/gen/envoy/extensions/common/ratelimit/v3/ratelimit_pb.js";
import { type RateLimitRequest, RateLimitRequestSchema } from "../../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { haveRedis, type RedisServer, startRedis } from "../../support/redis.js";
import { needTool } from "../../support/tools.js";
import { type CompatCase, cases, type DescriptorInput, type Entries, type Step } from "./cases.js";
import { type Observed, type RlsPeer, startAnchor, startGantry, writeConfigs } from "./peers.js";

const anchorCommand = needTool(
  "service_cmd",
  "build envoyproxy/ratelimit with `node scripts/test-prereqs.mjs` (npm test does this)",
);

const domainOf = (index: number) => `compat-${index}`;

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
async function awayFromWindowEdges(): Promise<void> {
  for (;;) {
    const now = Date.now();
    const wait = now % 60_000 > 59_000 ? 60_000 - (now % 60_000) : now % 1000 > 600 ? 1000 - (now % 1000) : 0;
    if (wait === 0) return;
    await new Promise((resolve) => setTimeout(resolve, wait + 5));
  }
}

describe.skipIf(!anchorCommand || !haveRedis())("envoyproxy/ratelimit and gantry ratelimit answer alike", () => {
  let redis: RedisServer;
  let root: string;
  let anchor: RlsPeer;
  let gantry: RlsPeer;
  /** A second Gantry on the anchor's counters: one fleet half migrated. */
  let mixed: RlsPeer;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "gantry-compat-rl-"));
    const files: Record<string, string> = {};
    cases.forEach((c, i) => {
      if (c.config) files[`${domainOf(i)}.yaml`] = c.config.replaceAll("DOMAIN", domainOf(i));
    });
    files["fleet.yaml"] =
      "domain: fleet\ndescriptors:\n  - key: user\n    rate_limit: { unit: minute, requests_per_unit: 10 }\n";
    writeConfigs(root, files);
    redis = await startRedis();
    anchor = await startAnchor(anchorCommand as string, { root, redisPort: redis.port, keyPrefix: "anchor:" });
    gantry = await startGantry({ root, redisPort: redis.port, keyPrefix: "gantry:" });
    mixed = await startGantry({ root, redisPort: redis.port, keyPrefix: "anchor:" });
  }, 60_000);

  afterAll(async () => {
    await Promise.all([anchor?.stop(), gantry?.stop(), mixed?.stop()]);
    await redis?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("has at least 60 cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
  });

  it.each(cases.map((c, i) => [c.name, c, i] as const))("%s", async (_name, c: CompatCase, index) => {
    await awayFromWindowEdges();
    const domain = domainOf(index);
    const answers: string[] = [];
    for (const [s, step] of c.steps.entries()) {
      for (let n = 0; n < (step.times ?? 1); n++) {
        const request = requestOf(step, domain);
        const theirs = await anchor.call(request);
        const ours = await gantry.call(request);
        expect(alignResets(theirs, ours), `step ${s}, call ${n + 1}`).toEqual(theirs);
        answers.push(JSON.stringify(theirs));
      }
    }
    expect(answers.length).toBeGreaterThan(0);
  });

  it("answers gRPC health for the service name `ratelimit` as the anchor does", async () => {
    expect(await gantry.health("ratelimit")).toBe(await anchor.health("ratelimit"));
    expect(await gantry.health("")).toBe(await anchor.health(""));
  });

  it("a mixed fleet (the anchor and Gantry on one Redis) enforces one shared limit exactly", async () => {
    await awayFromWindowEdges();
    const request = requestOf({ descriptors: [[["user", "shared"]]] }, "fleet");
    const remaining: number[] = [];
    const codes: string[] = [];
    for (let i = 0; i < 14; i++) {
      const answer = await (i % 2 === 0 ? anchor : mixed).call(request);
      if (!("statuses" in answer)) throw new Error(`call ${i}: ${JSON.stringify(answer)}`);
      codes.push(answer.overallCode);
      remaining.push(answer.statuses[0]?.limitRemaining ?? -1);
    }
    expect(codes).toEqual([...Array(10).fill("OK"), ...Array(4).fill("OVER_LIMIT")]);
    expect(remaining).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 0, 0, 0]);
  });
});
