import { RateLimitResponse_RateLimit_Unit as ResponseUnit } from "../gen/envoy/service/ratelimit/v3/rls_pb.js";
import type { RateLimitUnit as OverrideUnit } from "../gen/envoy/type/v3/ratelimit_unit_pb.js";
import { RateLimitUnit } from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";
import { isKnownUnit } from "../ratelimit-config/index.js";

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

/**
 * envoyproxy/ratelimit's config units, Envoy's RLS response units and envoy.type.v3.RateLimitUnit (a
 * request's `limit` override) number the units alike (MONTH 5, YEAR 6, WEEK 7), so a unit crosses
 * between them unchanged.
 */
export function toResponseUnit(unit: RateLimitUnit): ResponseUnit {
  return (isKnownUnit(unit) ? unit : ResponseUnit.UNKNOWN) as number as ResponseUnit;
}

export function fromOverrideUnit(unit: OverrideUnit): RateLimitUnit | undefined {
  const value = unit as number as RateLimitUnit;
  return isKnownUnit(value) ? value : undefined;
}
