import { describe, expect, it } from "vitest";
import { compileRe2, maxProgramSize, re2Problem } from "../../src/lib/re2.js";

describe("RE2 regexes, as Envoy and gRPC clients read them", () => {
  it("accepts RE2 syntax that JavaScript's RegExp refuses", () => {
    for (const pattern of ["(?i)^/api/.*", "^/\\pL+$", "(?P<version>v[0-9]+)", "(?s).*"]) {
      expect({ pattern, problem: re2Problem(pattern) }).toEqual({ pattern, problem: undefined });
    }
  });

  it("refuses what RE2 cannot do, with RE2's message", () => {
    expect(re2Problem("^/a(?=b)")).toContain("invalid or unsupported Perl syntax: `(?=`");
    expect(re2Problem("(?<=a)b")).toMatch(/^error parsing regexp: /);
    expect(re2Problem("(a)\\1")).toContain("invalid escape sequence");
    expect(re2Problem("[z-a]")).toContain("invalid character class range");
    expect(re2Problem("a{1001}")).toContain("invalid repeat count");
  });

  it("refuses a program larger than Envoy's default limit", () => {
    expect(re2Problem("(a|b|c|d){50}")).toContain(`at most ${maxProgramSize}`);
    expect(re2Problem("^/api/v[0-9]+/users/[^/]+$")).toBeUndefined();
    expect(re2Problem("(a|b|c|d){50}", 1_000)).toBeUndefined();
  });

  it("matches whole inputs with RE2 semantics", () => {
    const re = compileRe2("(?i)/API/v[0-9]+");
    expect(re.matches("/api/v2")).toBe(true);
    expect(re.matches("/api/v2/more")).toBe(false);
    expect(() => compileRe2("(?=x)")).toThrow();
  });
});
