import { describe, expect, it } from "vitest";
import { judgeClaims } from "../../../../src/extauth/evaluators/access-token/claims.js";

describe("claims to headers and metadata", () => {
  const rules = {
    requiredScopes: [],
    claimsToHeaders: [
      ["sub", "x-user"],
      ["constructor", "x-constructor"],
      ["toString", "x-to-string"],
    ] as const,
    claimsToMetadata: [["__proto__", "proto"]] as const,
  };

  it("copies only the token's own claims, never what every object inherits", () => {
    const verdict = judgeClaims(JSON.parse('{"sub":"ada"}') as Record<string, unknown>, rules);
    expect(verdict.kind).toBe("allow");
    if (verdict.kind !== "allow") return;
    expect(verdict.headers).toEqual([{ name: "x-user", value: "ada" }]);
    expect(verdict.dynamicMetadata).toEqual({});
  });

  it("copies a claim that happens to share such a name when the token has it", () => {
    const verdict = judgeClaims(JSON.parse('{"sub":"ada","constructor":"c"}') as Record<string, unknown>, rules);
    expect(verdict.kind === "allow" && verdict.headers).toEqual([
      { name: "x-user", value: "ada" },
      { name: "x-constructor", value: "c" },
    ]);
  });
});
