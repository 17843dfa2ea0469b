import { describe, expect, it } from "vitest";
import { resolveKind } from "../../src/cli/commands/resources.js";

describe("resolveKind", () => {
  it("reads a kind in any case, singular or plural", () => {
    expect(resolveKind("routetables")).toBe("RouteTable");
    expect(resolveKind("HeaderPolicy")).toBe("HeaderPolicy");
    // Every kind by its plural, as kubectl names the CRDs: the policies' end in -ies.
    expect(resolveKind("accesspolicies")).toBe("AccessPolicy");
    expect(resolveKind("RetryTimeoutPolicies")).toBe("RetryTimeoutPolicy");
    expect(resolveKind("gateways")).toBe("Gateway");
  });

  it("names, for an unknown kind, what else the command takes and nothing it does not", () => {
    expect(() => resolveKind("widget", ["proxies", "clusters"])).toThrow(
      /^unknown kind "widget" \(known: Gateway, .*, Portal, and "proxies", and "clusters"\)$/,
    );
    // `describe` takes a cluster but not proxies; `delete` neither.
    expect(() => resolveKind("widget", ["cluster"])).toThrow(/, Portal, and "cluster"\)$/);
    expect(() => resolveKind("widget")).toThrow(/, Portal\)$/);
  });
});
