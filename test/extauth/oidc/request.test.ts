import { describe, expect, it } from "vitest";
import { classifyRequest } from "../../../src/extauth/evaluators/oidc/request.js";
import type { OidcSettings } from "../../../src/extauth/evaluators/oidc/settings.js";

const settings = {
  appOrigin: "https://app.example",
  callbackPath: "/oidc/callback",
  logoutPath: "/logout",
  allowCorsPreflight: true,
} as OidcSettings;
const preflightHeaders = { origin: "https://web.example", "access-control-request-method": "PUT" };

describe("classifyRequest", () => {
  it("finds the callback with its query, and the logout path", () => {
    const callback = classifyRequest("GET", "/oidc/callback?code=c&state=s", {}, settings);
    expect(callback.kind).toBe("callback");
    expect(callback.kind === "callback" && callback.query.get("code")).toBe("c");
    expect(classifyRequest("GET", "/logout", {}, settings)).toEqual({ kind: "logout" });
    expect(classifyRequest("GET", "/logout/more", {}, settings).kind).toBe("protected");
  });

  it("builds the return URL on the app's origin, so a crafted path cannot redirect elsewhere", () => {
    expect(classifyRequest("GET", "/a/b?c=d", {}, settings)).toEqual({
      kind: "protected",
      returnTo: "https://app.example/a/b?c=d",
    });
    expect(classifyRequest("GET", "//evil.example/x", {}, settings)).toEqual({
      kind: "protected",
      returnTo: "https://app.example//evil.example/x",
    });
    expect(classifyRequest("GET", "evil", {}, settings)).toEqual({
      kind: "protected",
      returnTo: "https://app.example/evil",
    });
  });

  it("passes CORS preflights only when configured and only with both headers", () => {
    expect(classifyRequest("OPTIONS", "/api", preflightHeaders, settings)).toEqual({ kind: "preflight" });
    expect(classifyRequest("OPTIONS", "/api", { origin: "https://web.example" }, settings).kind).toBe("protected");
    expect(classifyRequest("GET", "/api", preflightHeaders, settings).kind).toBe("protected");
    const off = { ...settings, allowCorsPreflight: false };
    expect(classifyRequest("OPTIONS", "/api", preflightHeaders, off).kind).toBe("protected");
  });
});
