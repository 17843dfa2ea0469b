import { createHash } from "node:crypto";
import type { PendingLogin } from "./session.js";
import type { OidcSettings } from "./settings.js";

/** The S256 PKCE challenge of a verifier (RFC 7636). */
export function codeChallenge(codeVerifier: string): string {
  return createHash("sha256").update(codeVerifier).digest("base64url");
}

/** The provider URL that starts a login: code flow, PKCE S256, state and nonce, plus configured params. */
export function authorizationUrl(endpoint: string, settings: OidcSettings, login: PendingLogin): string {
  const url = new URL(endpoint);
  for (const [key, value] of settings.authParams) url.searchParams.set(key, value);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", settings.clientId);
  url.searchParams.set("redirect_uri", settings.redirectUri);
  url.searchParams.set("scope", settings.scopes.join(" "));
  url.searchParams.set("state", login.state);
  url.searchParams.set("nonce", login.nonce);
  url.searchParams.set("code_challenge", codeChallenge(login.codeVerifier));
  url.searchParams.set("code_challenge_method", "S256");
  return url.href;
}

/** The provider URL that ends the provider's session too (RP-initiated logout). */
export function endSessionUrl(endpoint: string, settings: OidcSettings, idToken: string | undefined): string {
  const url = new URL(endpoint);
  url.searchParams.set("client_id", settings.clientId);
  url.searchParams.set("post_logout_redirect_uri", settings.afterLogoutUrl);
  if (idToken !== undefined) url.searchParams.set("id_token_hint", idToken);
  return url.href;
}
