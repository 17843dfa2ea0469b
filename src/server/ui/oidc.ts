// The dashboard's OIDC sign-in on the API port, with the ext-auth server's OIDC provider client
// (discovery, keys, code exchange, ID token validation): /ui/oidc/login starts an authorization
// code flow with PKCE, /ui/oidc/callback exchanges the code and hands the ID token to the page in
// the URL fragment (never sent to a server, kept in sessionStorage); the page then calls the API
// with it as its bearer token, and the API checks it here and maps its groups to a role.
import { createHash, randomBytes } from "node:crypto";
import type { JsonValue } from "@bufbuild/protobuf";
import { LRUCache } from "lru-cache";
import {
  authorizationUrl,
  OidcProviderClient,
  type OidcSettings,
  parseCookies,
} from "../../extauth/evaluators/oidc/index.js";
import type { Timers } from "../../lib/clock.js";
import type { Logger } from "../../lib/logger.js";
import { type ApiCaller, type Identification, type IdTokenVerifier, type Role, roleOfGroups } from "../api/index.js";

export interface UiOidcOptions {
  /** The provider's issuer URL (its discovery document is under it). */
  issuer: string;
  clientId: string;
  /** The client's secret (client_secret_basic at the token endpoint). */
  clientSecret: string;
  /** The dashboard's public URL, ending in /ui/: the redirect URI is `<uiUrl>oidc/callback`. */
  uiUrl: string;
  /** The ID token claim holding the user's groups. Default `groups`. */
  groupsClaim?: string;
  /** Group → role; a user gets the highest of their groups' roles, and is refused without one. */
  groupRoles: ReadonlyMap<string, Role>;
}

/** A login waits this long for the provider to send the browser back. */
const loginTimeoutMs = 10 * 60_000;
/** Logins started and not finished, at most (the oldest is dropped). */
const maxPendingLogins = 10_000;

const jwtShape = /^[\w-]+\.[\w-]+\.[\w-]+$/;
/** The cookie holding the state of the login this browser started. */
const loginCookie = "gantry_ui_login";

function groupsOf(claims: Record<string, JsonValue>, claim: string): string[] {
  const value = claims[claim];
  if (typeof value === "string") return [value];
  return Array.isArray(value) ? value.filter((g): g is string => typeof g === "string") : [];
}

export function checkUiOidcOptions(options: UiOidcOptions): void {
  let url: URL;
  try {
    url = new URL(options.uiUrl);
  } catch {
    throw new Error(`--ui-url "${options.uiUrl}" is not a URL (for example https://gantry.example.com/ui/)`);
  }
  if (!url.pathname.endsWith("/ui/")) throw new Error(`--ui-url "${options.uiUrl}" must end with /ui/`);
  try {
    new URL(options.issuer);
  } catch {
    throw new Error(`--ui-oidc-issuer "${options.issuer}" is not a URL`);
  }
  if (options.clientId === "") throw new Error("--ui-oidc-client-id is required with --ui-oidc-issuer");
  if (options.clientSecret === "") throw new Error("--ui-oidc-client-secret-file is required with --ui-oidc-issuer");
}

export class UiOidc implements IdTokenVerifier {
  readonly #provider: OidcProviderClient;
  readonly #settings: OidcSettings;
  readonly #pending = new Map<string, { nonce: string; codeVerifier: string; expiresAt: number }>();
  /** Verified ID tokens by digest, until they expire: a page's calls verify one token once. */
  readonly #verified = new LRUCache<string, { caller: ApiCaller; expiresAt: number }>({ max: 10_000 });

  constructor(
    private readonly options: UiOidcOptions,
    private readonly timers: Timers,
    logger: Logger,
  ) {
    checkUiOidcOptions(options);
    this.#settings = settingsOf(options);
    this.#provider = new OidcProviderClient(this.#settings, timers, logger);
  }

  accepts(token: string): boolean {
    return jwtShape.test(token);
  }

  async identify(token: string): Promise<Identification> {
    const key = createHash("sha256").update(token).digest("base64url");
    const now = this.timers.now();
    const cached = this.#verified.get(key);
    if (cached && cached.expiresAt > now) return { caller: cached.caller };
    let claims: Record<string, JsonValue>;
    try {
      claims = await this.#provider.validateIdToken(token, undefined);
    } catch (err) {
      return { refused: `the ID token is not valid: ${(err as Error).message}` };
    }
    const groupsClaim = this.options.groupsClaim ?? "groups";
    const role = roleOfGroups(groupsOf(claims, groupsClaim), this.options.groupRoles);
    const subject = String(claims["email"] ?? claims["sub"]);
    if (!role) return { refused: `${subject}: none of the groups in the ID token's ${groupsClaim} claim has a role` };
    const caller: ApiCaller = { role, secrets: false, name: subject };
    this.#verified.set(key, { caller, expiresAt: Number(claims["exp"]) * 1_000 });
    return { caller };
  }

  /**
   * Starts a login: the provider URL to send the browser to, and the cookie that binds the login
   * to that browser (a callback carrying another browser's state is refused: no login CSRF).
   */
  async startLogin(): Promise<{ location: string; cookie: string }> {
    const location = await this.#loginUrl();
    const state = new URL(location).searchParams.get("state") ?? "";
    const secure = this.options.uiUrl.startsWith("https:") ? "; Secure" : "";
    const path = new URL(this.options.uiUrl).pathname;
    return {
      location,
      cookie: `${loginCookie}=${state}; Path=${path}oidc/; Max-Age=${loginTimeoutMs / 1_000}; HttpOnly; SameSite=Lax${secure}`,
    };
  }

  /** Clears the login cookie once the callback used it. */
  clearLoginCookie(): string {
    return `${loginCookie}=; Path=${new URL(this.options.uiUrl).pathname}oidc/; Max-Age=0; HttpOnly; SameSite=Lax`;
  }

  async #loginUrl(): Promise<string> {
    const { authorizationEndpoint } = await this.#provider.metadata();
    const now = this.timers.now();
    for (const [state, login] of this.#pending) {
      if (login.expiresAt <= now || this.#pending.size >= maxPendingLogins) this.#pending.delete(state);
    }
    const login = {
      state: randomBytes(24).toString("base64url"),
      nonce: randomBytes(24).toString("base64url"),
      codeVerifier: randomBytes(48).toString("base64url"),
      returnTo: this.options.uiUrl,
    };
    this.#pending.set(login.state, { ...login, expiresAt: now + loginTimeoutMs });
    return authorizationUrl(authorizationEndpoint, this.#settings, login);
  }

  /**
   * Finishes a login: the code is exchanged and the ID token checked (nonce included) and given a
   * role. Answers where to send the browser: the dashboard with the token, or with the error.
   */
  async callback(query: URLSearchParams, cookieHeader: string | undefined): Promise<string> {
    const fail = (message: string) => `${this.options.uiUrl}#/signin?error=${encodeURIComponent(message)}`;
    const state = query.get("state") ?? "";
    const bound = parseCookies(cookieHeader).get(loginCookie);
    if (state === "" || bound !== state) return fail("the sign-in was not started in this browser");
    const login = this.#pending.get(state);
    this.#pending.delete(state);
    if (query.get("error")) return fail(`the provider refused the sign-in: ${query.get("error")}`);
    if (!login || login.expiresAt <= this.timers.now()) return fail("the sign-in expired or was not started here");
    const code = query.get("code");
    if (!code) return fail("the provider sent no code");
    try {
      const tokens = await this.#provider.exchangeCode(code, login.codeVerifier, AbortSignal.timeout(10_000));
      if (!tokens.idToken) return fail("the provider answered no ID token");
      await this.#provider.validateIdToken(tokens.idToken, login.nonce);
      const identified = await this.identify(tokens.idToken);
      if ("refused" in identified) return fail(identified.refused);
      return `${this.options.uiUrl}#/signin?id_token=${encodeURIComponent(tokens.idToken)}`;
    } catch (err) {
      return fail(`the sign-in failed: ${(err as Error).message}`);
    }
  }
}

/** The ext-auth OIDC settings the provider client reads; the session and cookie parts are unused here. */
function settingsOf(options: UiOidcOptions): OidcSettings {
  const ui = new URL(options.uiUrl);
  return {
    issuer: options.issuer,
    clientId: options.clientId,
    clientAuthentication: { kind: "secret", secret: options.clientSecret, inBody: false },
    appOrigin: ui.origin,
    callbackPath: `${ui.pathname}oidc/callback`,
    redirectUri: `${options.uiUrl}oidc/callback`,
    logoutPath: undefined,
    afterLogoutUrl: options.uiUrl,
    scopes: ["openid", "email", "profile", "groups"],
    authParams: [],
    tokenParams: [],
    discoveryRefreshMs: 15 * 60_000,
    providerTimeoutMs: 5_000,
    clockSkewMs: 30_000,
    loginTimeoutMs,
    refreshBufferMs: 0,
    sessionMaxAgeMs: 0,
    storage: { kind: "cookie", key: new Uint8Array(32) },
    cookie: { name: "unused", secure: true, httpOnly: true, sameSite: "Lax", domain: undefined, path: "/ui/" },
    idTokenHeader: undefined,
    accessTokenHeader: undefined,
    bearer: false,
    claimsToHeaders: [],
    metadataFromClaims: [],
    allowCorsPreflight: false,
  };
}
