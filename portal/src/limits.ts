import type { Plan } from "./api.js";

/** A plan's limits in words: "5 per second, 1000 per day". */
export function limitsText(limits: Plan["limits"]): string {
  const parts: string[] = [];
  if (limits.perSecond) parts.push(`${limits.perSecond} per second`);
  if (limits.perMinute) parts.push(`${limits.perMinute} per minute`);
  if (limits.perDay) parts.push(`${limits.perDay} per day`);
  if (limits.perMonth) parts.push(`${limits.perMonth} per month`);
  return parts.join(", ") || "no limit";
}
