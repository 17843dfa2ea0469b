import type { Duration } from "@bufbuild/protobuf/wkt";
import { AuthConfigError } from "../evaluator.js";

/** A Duration setting in milliseconds, or its default when unset; must be positive. */
export function durationMs(value: Duration | undefined, defaultMs: number, field: string): number {
  if (!value) return defaultMs;
  const ms = Number(value.seconds) * 1000 + Math.floor(value.nanos / 1e6);
  if (ms <= 0) throw new AuthConfigError(field, "must be positive");
  return ms;
}
