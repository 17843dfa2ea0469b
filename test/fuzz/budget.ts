/**
 * How many cases each fuzz property runs. The defaults keep the whole fuzz run in `npm test` to about a
 * minute on two cores; GANTRY_FUZZ_SCALE multiplies them for a longer run (`GANTRY_FUZZ_SCALE=50 npx
 * vitest run test/fuzz`). A failure prints fast-check's seed and path, which replay it exactly.
 */
export function runs(base: number): number {
  return Math.max(1, Math.round(base * scale()));
}

/** A test timeout that grows with the scale, for properties that talk to live servers. */
export function timeoutMs(base = 30_000): number {
  return Math.round(base * Math.max(1, scale()));
}

function scale(): number {
  const value = Number(process.env["GANTRY_FUZZ_SCALE"] ?? "1");
  return Number.isFinite(value) && value > 0 ? value : 1;
}
