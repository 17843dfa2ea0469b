import { describe, expect, it } from "vitest";
import { checkClusterName as checkAgentCluster } from "../../src/cluster/index.js";
import { checkClusterName, isClusterName } from "../../src/resources/index.js";

describe("the one cluster-name rule", () => {
  it("takes DNS labels only: no dots, no capitals, at most 63, a letter or digit at each end", () => {
    for (const name of ["east", "e", "eu-west-1", "0", "a".repeat(63)]) expect(isClusterName(name)).toBe(true);
    for (const name of ["east.eu", "East", "-east", "east-", "", "a".repeat(64), "east_1", 7, undefined]) {
      expect(isClusterName(name)).toBe(false);
    }
  });

  it("is the very function the agents' registry checks names with", () => {
    expect(checkAgentCluster).toBe(checkClusterName);
    expect(() => checkClusterName("east.eu", "--cluster")).toThrow('--cluster "east.eu": must be a DNS label');
  });
});
