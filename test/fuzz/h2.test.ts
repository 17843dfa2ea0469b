import { fc, test } from "@fast-check/vitest";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { RateLimitResponse_Code as Code } from "../../src/gen/envoy/service/ratelimit/v3/rls_pb.js";
import { FrameReader, type FrameSink } from "../../src/lib/h2/frame-reader.js";
import { ConnectionError, Flag, FrameType, frame, PREFACE } from "../../src/lib/h2/frames.js";
import { encodeHeaders } from "../../src/lib/h2/hpack.js";
import { RawH2Client } from "../lib/h2/raw-client.js";
import { type Harness, startHarness, yamlConfigs } from "../ratelimit/harness.js";
import { waitFor } from "../support/wait.js";
import { runs, timeoutMs } from "./budget.js";

interface Frame {
  type: number;
  flags: number;
  id: number;
  payload: Uint8Array;
}

/** Records what the reader cuts out of the bytes. */
function collector(): FrameSink & { frames: Frame[] } {
  const frames: Frame[] = [];
  return { frames, ended: false, onFrame: (type, flags, id, payload) => frames.push({ type, flags, id, payload }) };
}

const anyFrame = fc.record({
  type: fc.integer({ min: 0, max: 12 }),
  flags: fc.integer({ min: 0, max: 255 }),
  id: fc.oneof(fc.constantFrom(0, 1, 3, 5, 2), fc.integer({ min: 0, max: 0x7fffffff })),
  payload: fc.uint8Array({ maxLength: 200 }),
});

/** A gRPC request's HEADERS for ShouldRateLimit, so that frames after it reach a stream that exists. */
const requestHeaders = encodeHeaders([
  [":method", "POST"],
  [":scheme", "http"],
  [":path", "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit"],
  [":authority", "fuzz"],
  ["content-type", "application/grpc"],
  ["te", "trailers"],
]);
const openStream = fc.constantFrom<Frame>(
  { type: FrameType.HEADERS, flags: Flag.END_HEADERS, id: 1, payload: requestHeaders },
  { type: FrameType.HEADERS, flags: Flag.END_HEADERS, id: 3, payload: requestHeaders },
);

describe("HTTP/2 frame reader (fuzz)", () => {
  test.prop([fc.array(anyFrame, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 10 })], { numRuns: runs(500) })(
    "cuts the same frames out of the bytes wherever the socket splits them",
    (frames, cuts) => {
      const bytes = Buffer.concat([PREFACE, ...frames.map((f) => frame(f.type, f.flags, f.id, f.payload))]);
      const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      const reader = new FrameReader();
      const sink = collector();
      let from = 0;
      for (const to of [...at, bytes.length]) {
        reader.read(bytes.subarray(from, to), sink);
        from = to;
      }
      expect(sink.frames.map((f) => ({ ...f, payload: Buffer.from(f.payload) }))).toEqual(
        frames.map((f) => ({ ...f, id: f.id & 0x7fffffff, payload: Buffer.from(f.payload) })),
      );
    },
  );

  test.prop([fc.uint8Array({ maxLength: 400 }), fc.boolean()], { numRuns: runs(2000) })(
    "answers arbitrary bytes with frames or a ConnectionError, nothing else",
    (bytes, withPreface) => {
      const reader = new FrameReader();
      try {
        reader.read(withPreface ? Buffer.concat([PREFACE, bytes]) : Buffer.from(bytes), collector());
      } catch (err) {
        expect(err).toBeInstanceOf(ConnectionError);
      }
    },
  );
});

describe("a live gRPC server under fuzzed frames", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({
      configs: yamlConfigs(
        "domain: d\ndescriptors:\n  - key: k\n    rate_limit: { unit: hour, requests_per_unit: 1000000 }\n",
      ),
    });
  });
  afterAll(async () => {
    await harness?.close();
  });

  let probe = 0;
  test.prop([fc.array(fc.oneof(anyFrame, openStream), { minLength: 1, maxLength: 8 })], { numRuns: runs(120) })(
    "handles every frame sequence, ends a connection with GOAWAY, and keeps serving others",
    async (frames) => {
      const client = await RawH2Client.open(harness.server.grpcPort);
      try {
        for (const f of frames) client.sendFrame(f.type, f.flags, f.id, f.payload);
        // A PING after the fuzz: its ACK (or the connection's end) says the server has read every frame before it.
        const mark = Buffer.alloc(8);
        mark.writeUInt32BE(++probe);
        client.sendFrame(FrameType.PING, 0, 0, mark);
        await waitFor(
          () =>
            client.closed ||
            client.frames.some(
              (f) => f.type === FrameType.PING && f.flags & Flag.ACK && Buffer.from(f.payload).equals(mark),
            ),
          { what: "the PING's ACK or the connection's end" },
        );
        // A server ends a connection with GOAWAY, unless the client said GOAWAY first (then closing is enough).
        const clientWentAway = frames.some((f) => f.type === FrameType.GOAWAY && f.id === 0 && f.payload.length >= 8);
        if (client.closed && !clientWentAway) expect(client.frames.some((f) => f.type === FrameType.GOAWAY)).toBe(true);
      } finally {
        client.close();
      }
      expect((await harness.call("d", [[["k", "v"]]])).overallCode).toBe(Code.OK);
    },
    timeoutMs(),
  );
});
