import { RE2JS } from "re2js";

/**
 * Regexes as Envoy and every gRPC xDS client read them: RE2 syntax, not JavaScript's. RE2 refuses
 * what a linear-time engine cannot do (lookaround, backreferences) and accepts what JavaScript does
 * not (`(?i)`, `\pL`, `(?P<name>…)`), so a pattern checked with `RegExp` can be published and then
 * NACKed, or refused although every client would take it.
 *
 * re2js (a port of RE2/J) rather than the `re2` native binding: the binding ships no prebuilt
 * binaries in the npm package (its install script downloads one, or compiles RE2 with node-gyp),
 * which a fresh offline `npm ci` cannot do; re2-wasm runs out of its fixed 16 MiB heap after some
 * thousands of patterns, as compiled patterns cannot be freed. Measured on this machine: about
 * 0.1-0.3 ms per compile with re2js, which Gantry does once per pattern per translation.
 */

/**
 * Envoy refuses a regex whose compiled program is larger than this (its runtime key
 * `re2.max_program_size.error_level`, 100 by default), since matching cost grows with it.
 */
export const maxProgramSize = 100;

/** Why RE2 (or Envoy's program-size limit) refuses the pattern, or undefined when it is fine. */
export function re2Problem(pattern: string, limit = maxProgramSize): string | undefined {
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(pattern);
  } catch (err) {
    return (err as Error).message;
  }
  const size = compiled.programSize();
  if (size > limit) {
    return `the compiled regex is too large (program size ${size}, at most ${limit}): simplify it, for example with fewer or smaller repetitions`;
  }
  return undefined;
}

/** A compiled RE2 pattern; throws with RE2's message when the pattern is not valid RE2. */
export function compileRe2(pattern: string): { matches(input: string): boolean } {
  const compiled = RE2JS.compile(pattern);
  return { matches: (input) => compiled.matches(input) };
}
