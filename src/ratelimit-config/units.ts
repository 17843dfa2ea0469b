import { RateLimitUnit } from "../gen/ratelimit/config/ratelimit/v3/rls_conf_pb.js";

const day = 86_400;

/** The length of each unit's window in seconds (week 7 d, month 30 d, year 365 d, as envoyproxy/ratelimit counts). */
const seconds = new Map<RateLimitUnit, number>([
  [RateLimitUnit.SECOND, 1],
  [RateLimitUnit.MINUTE, 60],
  [RateLimitUnit.HOUR, 3_600],
  [RateLimitUnit.DAY, day],
  [RateLimitUnit.WEEK, 7 * day],
  [RateLimitUnit.MONTH, 30 * day],
  [RateLimitUnit.YEAR, 365 * day],
]);

export function isKnownUnit(unit: RateLimitUnit): boolean {
  return seconds.has(unit);
}

export function unitSeconds(unit: RateLimitUnit): number {
  const value = seconds.get(unit);
  if (value === undefined) throw new RangeError(`unknown rate-limit unit ${unit}`);
  return value;
}
