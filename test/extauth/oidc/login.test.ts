import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { authorizationUrl, codeChallenge, endSessionUrl } from "../../../src/extauth/evaluators/oidc/login.js";
import type { OidcSettings } from "../../../src/extauth/evaluators/oidc/settings.js";

const settings = {
  clientId: "app",
  redirectUri: "https://app.example/oidc/callback",
  afterLogoutUrl: "https://app.example/bye",
  scopes: ["openid", "email"],
  authParams: [
    ["audience", "api"],
    ["prompt", "login"],
  ],
} as OidcSettings;
const login = { state: "st", nonce: "no", codeVerifier: "verifier", returnTo: "https://app.example/x" };

describe("login URLs", () => {
  it("computes the S256 challenge of RFC 7636's example", () => {
    expect(codeChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")).toBe(
      "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    );
  });

  it("asks for a code with PKCE, state, nonce and the configured parameters", () => {
    const url = new URL(authorizationUrl("https://idp.example/authorize?tenant=t1", settings, login));
    expect(Object.fromEntries(url.searchParams)).toEqual({
      tenant: "t1",
      audience: "api",
      prompt: "login",
      response_type: "code",
      client_id: "app",
      redirect_uri: "https://app.example/oidc/callback",
      scope: "openid email",
      state: "st",
      nonce: "no",
      code_challenge: createHash("sha256").update("verifier").digest("base64url"),
      code_challenge_method: "S256",
    });
  });

  it("ends the provider session with the ID token hint and the after-logout URL", () => {
    const url = new URL(endSessionUrl("https://idp.example/logout", settings, "id.token"));
    expect(Object.fromEntries(url.searchParams)).toEqual({
      client_id: "app",
      post_logout_redirect_uri: "https://app.example/bye",
      id_token_hint: "id.token",
    });
    expect(
      new URL(endSessionUrl("https://idp.example/logout", settings, undefined)).searchParams.has("id_token_hint"),
    ).toBe(false);
  });
});
