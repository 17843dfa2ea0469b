import { describe, expect, it } from "vitest";
import { clearCookie, parseCookies, setCookie } from "../../../src/extauth/evaluators/oidc/cookies.js";
import type { CookieOptions } from "../../../src/extauth/evaluators/oidc/settings.js";

const options: CookieOptions = {
  name: "__session",
  secure: true,
  httpOnly: true,
  sameSite: "Lax",
  domain: undefined,
  path: "/",
};

describe("cookies", () => {
  it("parses a Cookie header, the first of a duplicated name winning", () => {
    const cookies = parseCookies('a=1; __session=abc.def ; b="quoted"; a=2; junk');
    expect([...cookies]).toEqual([
      ["a", "1"],
      ["__session", "abc.def"],
      ["b", "quoted"],
    ]);
    expect(parseCookies(undefined).size).toBe(0);
  });

  it("writes Set-Cookie with every option", () => {
    expect(setCookie("__session", "id", 3_600_500, options)).toBe(
      "__session=id; Max-Age=3600; Path=/; Secure; HttpOnly; SameSite=Lax",
    );
    const custom = {
      ...options,
      secure: false,
      httpOnly: false,
      sameSite: "Strict" as const,
      domain: ".example",
      path: "/app",
    };
    expect(setCookie("sid", "v", 1_000, custom)).toBe("sid=v; Max-Age=1; Domain=.example; Path=/app; SameSite=Strict");
  });

  it("clears a cookie with the same scope it was set with", () => {
    expect(clearCookie("__session", { ...options, domain: ".example" })).toBe(
      "__session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Domain=.example; Path=/; Secure; HttpOnly; SameSite=Lax",
    );
  });
});
