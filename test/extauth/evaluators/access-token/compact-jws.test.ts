import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  decodeBase64url,
  maxTokenLength,
  parseCompactJws,
} from "../../../../src/extauth/evaluators/access-token/compact-jws.js";

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

describe("decodeBase64url", () => {
  it("reads every length and byte value, and nothing but the one canonical encoding", () => {
    for (let length = 0; length < 40; length++) {
      const bytes = randomBytes(length);
      const text = bytes.toString("base64url");
      expect(decodeBase64url(text)?.equals(bytes)).toBe(true);
      if (text.length % 4 === 0) continue;
      // Any other last character decodes to the same bytes in Node's lenient decoder; only one is right.
      const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
      const accepted = [...alphabet].filter((c) => decodeBase64url(`${text.slice(0, -1)}${c}`)?.equals(bytes));
      expect(accepted).toEqual([text.at(-1)]);
    }
  });

  it("refuses padding, the standard alphabet, whitespace and impossible lengths", () => {
    for (const text of ["QQ==", "a+b/", "QU E", "QUJDR", "QUJD\n"]) expect(decodeBase64url(text), text).toBeUndefined();
  });
});

describe("parseCompactJws", () => {
  const allowed = new Set(["RS256", "ES256"]);
  const payload = b64url({ sub: "u1" });

  it("reads alg, kid, the signing input and the signature", () => {
    const header = b64url({ alg: "ES256", kid: "k1", typ: "at+jwt" });
    const signature = randomBytes(64);
    const jws = parseCompactJws(`${header}.${payload}.${signature.toString("base64url")}`, allowed);
    expect(jws).toMatchObject({ kind: "jws", alg: "ES256", kid: "k1", encodedPayload: payload });
    if (jws.kind !== "jws") throw new Error("not parsed");
    expect(jws.signingInput.toString()).toBe(`${header}.${payload}`);
    expect(jws.signature.equals(signature)).toBe(true);
  });

  it("names what is wrong with the code of the refusal", () => {
    const sig = randomBytes(8).toString("base64url");
    const reason = (token: string) => {
      const jws = parseCompactJws(token, allowed);
      return jws.kind === "invalid" ? jws.reason : "parsed";
    };
    expect(reason(`${b64url({ alg: "HS256" })}.${payload}.${sig}`)).toBe("token invalid (ERR_JOSE_ALG_NOT_ALLOWED)");
    expect(reason(`${b64url({ alg: "none" })}.${payload}.`)).toBe("token invalid (ERR_JOSE_ALG_NOT_ALLOWED)");
    expect(reason(`${b64url({ alg: "RS256", crit: ["exp"] })}.${payload}.${sig}`)).toBe(
      "token invalid (ERR_JOSE_NOT_SUPPORTED)",
    );
    expect(reason(`${b64url({ alg: "RS256", crit: [] })}.${payload}.${sig}`)).toBe("token invalid (ERR_JWS_INVALID)");
    expect(reason(`${b64url({ alg: "" })}.${payload}.${sig}`)).toBe("token invalid (ERR_JWS_INVALID)");
    expect(reason(`${b64url(null)}.${payload}.${sig}`)).toBe("token invalid (ERR_JWS_INVALID)");
    expect(reason(`${b64url({ alg: "RS256", pad: "x".repeat(9_000) })}.${payload}.${sig}`)).toBe(
      "token invalid (ERR_JWS_INVALID)",
    );
    const header = b64url({ alg: "RS256" });
    expect(reason(`${header}.${"A".repeat(maxTokenLength)}.${sig}`)).toBe("token invalid (ERR_JWS_INVALID)");
    expect(reason(`${header}.${"A".repeat(maxTokenLength - header.length - sig.length - 2)}.${sig}`)).toBe("parsed");
  });
});
