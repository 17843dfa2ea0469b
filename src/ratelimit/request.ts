import { fromBinary } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { UInt64ValueSchema } from "@bufbuild/protobuf/wkt";
import type { RateLimitDescriptor } from "../gen/envoy/extensions/common/ratelimit/v3/ratelimit_pb.js";
import type { RateLimitRequest } from "../gen/envoy/service/ratelimit/v3/rls_pb.js";
import { GrpcError, GrpcStatus } from "../lib/index.js";
import type { DescriptorEntry, LimitOverride } from "./rules.js";
import { fromOverrideUnit } from "./units.js";

/** A request descriptor, checked: its entries, its own limit if it brings one, and how many hits it adds. */
export interface RequestDescriptor {
  readonly entries: readonly DescriptorEntry[];
  readonly override: LimitOverride | undefined;
  readonly hits: number;
}

/**
 * Bounds on one request. Envoy builds a descriptor per rate-limit action that applies, with an entry per
 * action in it, so real requests carry a handful; the bounds keep one request from costing the server
 * (and every caller waiting behind it) without limit. envoyproxy/ratelimit has none.
 */
export interface RequestLimits {
  readonly maxDescriptors: number;
  readonly maxEntriesPerDescriptor: number;
}

export const defaultRequestLimits: RequestLimits = { maxDescriptors: 1_000, maxEntriesPerDescriptor: 100 };

export interface CheckedRequest {
  readonly domain: string;
  readonly descriptors: readonly RequestDescriptor[];
}

/**
 * Newer Envoy sends a per-descriptor `hits_addend` (google.protobuf.UInt64Value, field 3) that the
 * Envoy protos we generate from predate; it arrives as an unknown field and is read from there.
 */
const descriptorHitsAddendField = 3;

function descriptorHitsAddend(descriptor: RateLimitDescriptor, where: string): number | undefined {
  const field = descriptor.$unknown?.findLast((f) => f.no === descriptorHitsAddendField);
  if (!field) return undefined;
  if (field.wireType !== WireType.LengthDelimited) invalid(`${where}.hits_addend: not a UInt64Value`);
  let value: bigint;
  try {
    value = fromBinary(UInt64ValueSchema, new BinaryReader(field.data).bytes()).value;
  } catch {
    invalid(`${where}.hits_addend: not a UInt64Value`);
  }
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) invalid(`${where}.hits_addend: ${value} is too large`);
  return Number(value);
}

function invalid(message: string): never {
  throw new GrpcError(GrpcStatus.INVALID_ARGUMENT, message);
}

/**
 * Checks a ShouldRateLimit request. An empty domain or descriptor list is answered UNKNOWN with
 * envoyproxy/ratelimit's words (its service returns a plain error there, which gRPC-Go sends as UNKNOWN);
 * a descriptor without entries or with an empty key simply matches nothing, as there. A bad `hits_addend`
 * or override unit is INVALID_ARGUMENT naming the field; so is a request over `limits`, naming the limit.
 */
export function checkRequest(request: RateLimitRequest, limits: RequestLimits = defaultRequestLimits): CheckedRequest {
  if (request.domain === "") throw new GrpcError(GrpcStatus.UNKNOWN, "rate limit domain must not be empty");
  if (request.descriptors.length === 0)
    throw new GrpcError(GrpcStatus.UNKNOWN, "rate limit descriptor list must not be empty");
  if (request.descriptors.length > limits.maxDescriptors) {
    invalid(
      `descriptors: ${request.descriptors.length} descriptors, more than the limit of ${limits.maxDescriptors} (--max-descriptors)`,
    );
  }
  const tooLong = request.descriptors.findIndex((d) => d.entries.length > limits.maxEntriesPerDescriptor);
  if (tooLong >= 0) {
    invalid(
      `descriptors[${tooLong}].entries: ${request.descriptors[tooLong]?.entries.length} entries, more than the limit of ${limits.maxEntriesPerDescriptor} (--max-descriptor-entries)`,
    );
  }
  const requestHits = request.hitsAddend === 0 ? 1 : request.hitsAddend;
  const descriptors = request.descriptors.map((descriptor, i): RequestDescriptor => {
    const where = `descriptors[${i}]`;
    let override: LimitOverride | undefined;
    if (descriptor.limit) {
      const unit = fromOverrideUnit(descriptor.limit.unit);
      if (unit === undefined) invalid(`${where}.limit.unit: unknown unit ${descriptor.limit.unit}`);
      override = { requestsPerUnit: descriptor.limit.requestsPerUnit, unit };
    }
    return {
      entries: descriptor.entries,
      override,
      hits: descriptorHitsAddend(descriptor, where) ?? requestHits,
    };
  });
  return { domain: request.domain, descriptors };
}
