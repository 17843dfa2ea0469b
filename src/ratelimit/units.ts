import { RateLimitResponse_RateLimit_Unit as ResponseUnit } from "../gen/envoy/service/ratelimit/v3/rls_pb.js";
import { RateLimitUnit as OverrideUnit } from "../gen/envoy/type/v3/ratelimit_unit_pb.js";
import { RateLimitUnit } from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";

/** Unit names as the YAML files spell them (any case). */
export const unitsByName: ReadonlyMap<string, RateLimitUnit> = new Map([
  ["second", RateLimitUnit.SECOND],
  ["minute", RateLimitUnit.MINUTE],
  ["hour", RateLimitUnit.HOUR],
  ["day", RateLimitUnit.DAY],
  ["week", RateLimitUnit.WEEK],
  ["month", RateLimitUnit.MONTH],
  ["year", RateLimitUnit.YEAR],
]);

/** Envoy's RLS response numbers the units differently past DAY (MONTH 5, YEAR 6, WEEK 7). */
const responseUnits = new Map<RateLimitUnit, number>([
  [RateLimitUnit.SECOND, ResponseUnit.SECOND],
  [RateLimitUnit.MINUTE, ResponseUnit.MINUTE],
  [RateLimitUnit.HOUR, ResponseUnit.HOUR],
  [RateLimitUnit.DAY, ResponseUnit.DAY],
  [RateLimitUnit.WEEK, 7],
  [RateLimitUnit.MONTH, ResponseUnit.MONTH],
  [RateLimitUnit.YEAR, ResponseUnit.YEAR],
]);

export function toResponseUnit(unit: RateLimitUnit): ResponseUnit {
  return (responseUnits.get(unit) ?? ResponseUnit.UNKNOWN) as ResponseUnit;
}

/** A request's per-descriptor `limit` override uses envoy.type.v3.RateLimitUnit (WEEK is 7 there). */
const overrideUnits = new Map<number, RateLimitUnit>([
  [OverrideUnit.SECOND, RateLimitUnit.SECOND],
  [OverrideUnit.MINUTE, RateLimitUnit.MINUTE],
  [OverrideUnit.HOUR, RateLimitUnit.HOUR],
  [OverrideUnit.DAY, RateLimitUnit.DAY],
  [OverrideUnit.MONTH, RateLimitUnit.MONTH],
  [OverrideUnit.YEAR, RateLimitUnit.YEAR],
  [7, RateLimitUnit.WEEK],
]);

export function fromOverrideUnit(unit: number): RateLimitUnit | undefined {
  return overrideUnits.get(unit);
}
