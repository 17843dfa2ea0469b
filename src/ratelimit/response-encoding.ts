import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { HeaderValueSchema } from "../gen/envoy/config/core/v3/base_pb.js";
import {
  type RateLimitResponse_Code,
  RateLimitResponse_DescriptorStatusSchema,
  type RateLimitResponse_RateLimit_Unit,
  RateLimitResponse_RateLimitSchema,
  RateLimitResponseSchema,
} from "../gen/envoy/service/ratelimit/v3/rls_pb.js";

/**
 * Everything a ShouldRateLimit answer from this server can hold: a subset of RateLimitResponse, so it
 * is also a valid protobuf-es init shape.
 */
export interface RateLimitAnswer {
  overallCode: RateLimitResponse_Code;
  statuses: DescriptorStatusAnswer[];
  responseHeadersToAdd?: { key: string; value: string }[];
}

export interface DescriptorStatusAnswer {
  code: RateLimitResponse_Code;
  limitRemaining: number;
  currentLimit?: { requestsPerUnit: number; unit: RateLimitResponse_RateLimit_Unit; name: string };
  durationUntilReset?: { seconds: bigint };
}

// Field numbers come from the generated descriptors, not from literals.
const response = RateLimitResponseSchema.field;
const status = RateLimitResponse_DescriptorStatusSchema.field;
const limit = RateLimitResponse_RateLimitSchema.field;
const duration = DurationSchema.field;
const header = HeaderValueSchema.field;

/**
 * Encodes an answer straight to protobuf wire bytes, as protobuf-es's `toBinary(create(...))` would
 * (fields in number order, proto3 defaults left out; a test holds the two byte-identical). Building
 * the message first costs about as much as the rest of a cached answer; this runs on every call.
 */
export function encodeRateLimitAnswer(answer: RateLimitAnswer): Uint8Array {
  const w = new BinaryWriter();
  if (answer.overallCode !== 0) w.tag(response.overallCode.number, WireType.Varint).int32(answer.overallCode);
  for (const s of answer.statuses) {
    w.tag(response.statuses.number, WireType.LengthDelimited).fork();
    if (s.code !== 0) w.tag(status.code.number, WireType.Varint).int32(s.code);
    if (s.currentLimit) {
      const { requestsPerUnit, unit, name } = s.currentLimit;
      w.tag(status.currentLimit.number, WireType.LengthDelimited).fork();
      if (requestsPerUnit !== 0) w.tag(limit.requestsPerUnit.number, WireType.Varint).uint32(requestsPerUnit);
      if (unit !== 0) w.tag(limit.unit.number, WireType.Varint).int32(unit);
      if (name !== "") w.tag(limit.name.number, WireType.LengthDelimited).string(name);
      w.join();
    }
    if (s.limitRemaining !== 0) w.tag(status.limitRemaining.number, WireType.Varint).uint32(s.limitRemaining);
    if (s.durationUntilReset) {
      w.tag(status.durationUntilReset.number, WireType.LengthDelimited).fork();
      if (s.durationUntilReset.seconds !== 0n) {
        w.tag(duration.seconds.number, WireType.Varint).int64(s.durationUntilReset.seconds);
      }
      w.join();
    }
    w.join();
  }
  for (const h of answer.responseHeadersToAdd ?? []) {
    w.tag(response.responseHeadersToAdd.number, WireType.LengthDelimited).fork();
    if (h.key !== "") w.tag(header.key.number, WireType.LengthDelimited).string(h.key);
    if (h.value !== "") w.tag(header.value.number, WireType.LengthDelimited).string(h.value);
    w.join();
  }
  return w.finish();
}
