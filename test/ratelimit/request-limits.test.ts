import { create, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import {
  RateLimitResponse_Code as Code,
  RateLimitRequestSchema,
} from "../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { Flag, FrameType, Setting, windowUpdateFrame } from "../../src/lib/h2/frames.js";
import { encodeHeaders } from "../../src/lib/h2/hpack.js";
import { GrpcStatus } from "../../src/lib/index.js";
import { type CounterStore, MemoryCounterStore } from "../../src/ratelimit/index.js";
import { RawH2Client, type ReceivedFrame } from "../lib/h2/raw-client.js";
import { type Entries, type Harness, startHarness, yamlConfigs } from "./harness.js";

// Bounds on one ShouldRateLimit request, and a large request worked through in slices so that the
// calls behind it are not starved.

const config = yamlConfigs(
  "domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: minute, requests_per_unit: 1000000}\n",
);

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const many = (n: number): Entries[] => Array.from({ length: n }, (_, i) => [["k", `v${i}`]] as Entries);

async function failure(call: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await call;
  } catch (err) {
    return err as { code: number; details: string };
  }
  throw new Error("the call succeeded");
}

describe("per-request limits", () => {
  it("answers a request with more descriptors than the limit INVALID_ARGUMENT, naming the limit", async () => {
    harness = await startHarness({ configs: config, requestLimits: { maxDescriptors: 3 } });
    expect((await harness.call("d", many(3))).overallCode).toBe(Code.OK);
    const err = await failure(harness.call("d", many(4)));
    expect(err.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(err.details).toBe("descriptors: 4 descriptors, more than the limit of 3 (--max-descriptors)");
  });

  it("answers a descriptor with more entries than the limit INVALID_ARGUMENT, naming the descriptor", async () => {
    harness = await startHarness({ configs: config, requestLimits: { maxEntriesPerDescriptor: 2 } });
    const long: Entries = [
      ["k", "1"],
      ["k", "2"],
      ["k", "3"],
    ];
    const err = await failure(harness.call("d", [[["k", "a"]], long]));
    expect(err.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(err.details).toBe("descriptors[1].entries: 3 entries, more than the limit of 2 (--max-descriptor-entries)");
  });

  it("defaults to 1,000 descriptors", async () => {
    harness = await startHarness({ configs: config });
    expect((await harness.call("d", many(1_000))).statuses).toHaveLength(1_000);
    expect((await failure(harness.call("d", many(1_001)))).code).toBe(GrpcStatus.INVALID_ARGUMENT);
  });
});

/** One ShouldRateLimit call in DATA frames of at most 16 KiB, as the raw client must send it. */
function sendCall(client: RawH2Client, id: number, descriptors: Entries[]): void {
  const bytes = toBinary(
    RateLimitRequestSchema,
    create(RateLimitRequestSchema, {
      domain: "d",
      descriptors: descriptors.map((entries) => ({ entries: entries.map(([key, value]) => ({ key, value })) })),
    }),
  );
  const body = Buffer.alloc(5 + bytes.length);
  body.writeUInt32BE(bytes.length, 1);
  body.set(bytes, 5);
  client.sendFrame(FrameType.HEADERS, Flag.END_HEADERS, id, rlsHeaders);
  for (let at = 0; at < body.length; at += 16_384) {
    const end = Math.min(body.length, at + 16_384);
    client.sendFrame(FrameType.DATA, end === body.length ? Flag.END_STREAM : 0, id, body.subarray(at, end));
  }
}

const rlsHeaders = encodeHeaders([
  [":method", "POST"],
  [":scheme", "http"],
  [":path", "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit"],
  [":authority", "localhost"],
  ["content-type", "application/grpc"],
  ["te", "trailers"],
]);

describe("a request of 50,000 descriptors", () => {
  it("does not hold up a small call sent while it is being worked through", async () => {
    // The small call is sent once the big one reaches the counter store: the big one is then under way.
    let sendSmall: (() => void) | undefined;
    const memory = new MemoryCounterStore();
    const store: CounterStore = {
      apply(groups, nowMs) {
        sendSmall?.();
        sendSmall = undefined;
        return memory.apply(groups, nowMs);
      },
      close: () => memory.close(),
    };
    // Counting 50,000 hits in memory takes longer than the default Redis bound of 50 ms.
    harness = await startHarness({
      configs: config,
      store,
      redisTimeoutMs: 10_000,
      requestLimits: { maxDescriptors: 50_000 },
    });
    // Windows wide open, so that the big answer (half a megabyte) is never held by flow control.
    const client = await RawH2Client.open(harness.server.grpcPort, [[Setting.INITIAL_WINDOW_SIZE, 2 ** 31 - 1]]);
    client.send(windowUpdateFrame(0, 2 ** 31 - 1 - 65_535));
    try {
      sendSmall = () => sendCall(client, 3, [[["k", "small"]]]);
      sendCall(client, 1, many(50_000));
      // The order the answers leave the server in, on the one connection both calls share.
      const trailers = (id: number) => (f: ReceivedFrame) =>
        f.type === FrameType.HEADERS && f.id === id && f.headers?.["grpc-status"] !== undefined;
      const big = await client.waitFor("the big call's answer", trailers(1));
      const small = await client.waitFor("the small call's answer", trailers(3));
      expect([big.headers?.["grpc-status"], small.headers?.["grpc-status"]]).toEqual(["0", "0"]);
      expect(client.frames.indexOf(small)).toBeLessThan(client.frames.indexOf(big));
    } finally {
      client.close();
    }
  });
});
