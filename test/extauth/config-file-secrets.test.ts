import { describe, expect, it } from "vitest";
import { parseAuthConfigFile } from "../../src/extauth/config-file.js";

const refusal = (text: string): string => {
  try {
    parseAuthConfigFile(text, "auth.yaml");
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("the file was accepted");
};

describe("auth config file errors never quote a value", () => {
  it("names the field and the kind of value found, not the value (which may be a secret)", () => {
    const number = refusal("shop:\n  configs:\n    - hmacAuth:\n        sharedSecrets:\n          k1: 4242424242\n");
    expect(number).toContain("auth.yaml:");
    expect(number).toContain("shared_secrets");
    expect(number).toContain("got a number");
    expect(number).not.toContain("4242424242");

    const text = refusal("shop:\n  configs:\n    - hmacAuth:\n        sharedSecrets: hunter2-shared-secret\n");
    expect(text).toContain("got a string");
    expect(text).not.toContain("hunter2");

    const pem = refusal(
      'shop:\n  configs:\n    - oauth2:\n        oidcAuthorizationCode:\n          privateKeyJwt: "-----BEGIN PRIVATE KEY----- \\"MIIEvQ"\n',
    );
    expect(pem).toContain("PrivateKeyJwt");
    expect(pem).not.toContain("BEGIN");
    expect(pem).not.toContain("MIIEvQ");
  });
});
