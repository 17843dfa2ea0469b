import type { Duration } from "@bufbuild/protobuf/wkt";

/** Milliseconds of a protobuf Duration, or undefined when it is not set. */
export function durationMs(duration: Duration | undefined): number | undefined {
  if (duration === undefined) return undefined;
  return Number(duration.seconds) * 1000 + Math.round(duration.nanos / 1e6);
}
