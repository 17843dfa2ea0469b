import { describe, expect, it } from "vitest";
import { exposureWarning } from "../../src/up/index.js";

describe("gantry up beyond loopback", () => {
  it("says nothing on loopback addresses", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"])
      expect(exposureWarning(host)).toBeUndefined();
  });

  it("warns, naming the flag, that no port has TLS and which commands do", () => {
    for (const host of ["0.0.0.0", "::", "10.0.0.5"]) {
      const warning = exposureWarning(host);
      expect(warning).toContain(`--host ${host}`);
      expect(warning).toMatch(/none of its ports has TLS/);
      expect(warning).toMatch(/gantry server, gantry extauth and gantry ratelimit/);
    }
  });
});
