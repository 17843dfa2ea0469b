// The dashboard's OIDC sign-in on the API port, with the ext-auth server's OIDC provider client
// (discovery, keys, code exchange, ID token validation): /ui/oidc/login starts an authorization
// code flow with PKCE (its state sealed in a cookie, so any replica can finish it),
// /ui/oidc/callback exchanges the code, checks the ID token, maps its groups to a role and hands the
// page a sealed session in the URL fragment (never sent to a server, kept in sessionStorage); the
// page then calls the API with it as its bearer token, and any replica holding the session key
// checks it here, without the provider. /ui/oidc/logout signs a session out on every replica that
// shares the sign-outs (the management Redis).
import { createHash, randomBytes } from "node:crypto";
import type { JsonValue } from "@bufbuild/protobuf";
import { LRUCache } from "lru-cache";
import {
  authorizationUrl,
  OidcProviderClient,
  type OidcSettings,
  ProviderUnavailableError,
  parseCookies,
} from "../../extauth/evaluators/oidc/index.js";
import type { Timers } from "../../lib/clock.js";
import type { Logger } from "../../lib/logger.js";
import {
  type ApiCaller,
  type Identification,
  type IdTokenVerifier,
  isRole,
  type Role,
  roleOfGroups,
} from "../api/index.js";
import { isSealed, SealingKeys } from "./sealed.js";
import { MemorySignOuts, type SignOuts } from "./signouts.js";

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
  /**
   * Seal login state and sessions (`--ui-session-key-file`, shared by the replicas). Default: a
   * random key of this process (one replica; its sessions end when it restarts).
   */
  sessionKeys?: SealingKeys;
  /** Where sign-outs are kept (the management Redis for every replica). Default: this replica's memory. */
  signOuts?: SignOuts;
}

/** A login in progress, sealed in the browser's login cookie. */
interface LoginState {
  state: string;
  nonce: string;
  codeVerifier: string;
  /** ms */
  exp: number;
}

/** A signed-in session, sealed: the page's bearer token. */
interface Session {
  sid: string;
  sub: string;
  role: Role;
  /** ms: the ID token's expiry. */
  exp: number;
}

function isLoginState(value: unknown): value is LoginState {
  const v = value as Partial<LoginState> | undefined;
  return (
    typeof v?.state === "string" &&
    typeof v.nonce === "string" &&
    typeof v.codeVerifier === "string" &&
    typeof v.exp === "number"
  );
}

function isSession(value: unknown): value is Session {
  const v = value as Partial<Session> | undefined;
  return typeof v?.sid === "string" && typeof v.sub === "string" && isRole(v.role) && Number.isFinite(v.exp);
}

/** A login waits this long for the provider to send the browser back. */
const loginTimeoutMs = 10 * 60_000;

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
  readonly #keys: SealingKeys;
  readonly #signOuts: SignOuts;
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
    this.#keys = options.sessionKeys ?? SealingKeys.random();
    this.#signOuts = options.signOuts ?? new MemorySignOuts(timers);
  }

  accepts(token: string): boolean {
    return jwtShape.test(token);
  }

  async identify(token: string): Promise<Identification> {
    if (isSealed(token)) return this.#identifySession(token);
    const key = createHash("sha256").update(token).digest("base64url");
    const now = this.timers.now();
    const cached = this.#verified.get(key);
    if (cached && cached.expiresAt > now) return { caller: cached.caller };
    let claims: Record<string, JsonValue>;
    try {
      claims = await this.#provider.validateIdToken(token, undefined);
    } catch (err) {
      // The provider (its keys) not answering says nothing about the token: not a failed authentication.
      if (err instanceof ProviderUnavailableError) {
        return { unavailable: `cannot check the ID token: the OpenID provider is unavailable: ${err.message}` };
      }
      return { refused: `the ID token is not valid: ${(err as Error).message}` };
    }
    const identified = this.#callerOf(claims);
    if ("caller" in identified)
      this.#verified.set(key, { caller: identified.caller, expiresAt: Number(claims["exp"]) * 1_000 });
    return identified;
  }

  /** The role an ID token's groups give (checked already), or why there is none. */
  #callerOf(claims: Record<string, JsonValue>): Exclude<Identification, { unavailable: string }> {
    const groupsClaim = this.options.groupsClaim ?? "groups";
    const role = roleOfGroups(groupsOf(claims, groupsClaim), this.options.groupRoles);
    const subject = String(claims["email"] ?? claims["sub"]);
    if (!role) return { refused: `${subject}: none of the groups in the ID token's ${groupsClaim} claim has a role` };
    return { caller: { role, secrets: false, name: subject } };
  }

  /** A sealed session: any replica with the key opens it; refused once expired or signed out. */
  async #identifySession(token: string): Promise<Identification> {
    const session = this.#keys.open("ui-session", token);
    if (!isSession(session)) return { refused: "the session is not valid here (another session key, or forged)" };
    if (session.exp <= this.timers.now()) return { refused: "the session expired: sign in again" };
    let signedOut: boolean;
    try {
      signedOut = await this.#signOuts.signedOut(session.sid);
    } catch (err) {
      // The sign-outs' store (the management Redis) does not answer: the session is neither good
      // nor bad yet, and the caller must not pay for the outage from its failed-auth budget.
      return { unavailable: `cannot check the session's sign-out: ${(err as Error).message}` };
    }
    if (signedOut) return { refused: "the session was signed out: sign in again" };
    const caller: ApiCaller = { role: session.role, secrets: false, name: session.sub };
    return { caller };
  }

  /**
   * Signs out the session `token` on every replica sharing the sign-outs, until it would have
   * expired. A token that is no valid session is ignored (nothing to sign out).
   */
  async signOut(token: string): Promise<void> {
    const session = isSealed(token) ? this.#keys.open("ui-session", token) : undefined;
    if (!isSession(session) || session.exp <= this.timers.now()) return;
    await this.#signOuts.signOut(session.sid, session.exp);
  }

  /**
   * Starts a login: the provider URL to send the browser to, and the cookie holding the login's
   * state, sealed: the callback may reach any replica with the key, and a callback carrying
   * another browser's state is refused (no login CSRF).
   */
  async startLogin(): Promise<{ location: string; cookie: string }> {
    const { authorizationEndpoint } = await this.#provider.metadata();
    const login: LoginState = {
      state: randomBytes(24).toString("base64url"),
      nonce: randomBytes(24).toString("base64url"),
      codeVerifier: randomBytes(48).toString("base64url"),
      exp: this.timers.now() + loginTimeoutMs,
    };
    const location = authorizationUrl(authorizationEndpoint, this.#settings, {
      ...login,
      returnTo: this.options.uiUrl,
    });
    const secure = this.options.uiUrl.startsWith("https:") ? "; Secure" : "";
    const path = new URL(this.options.uiUrl).pathname;
    const sealed = this.#keys.seal("ui-login", login);
    return {
      location,
      cookie: `${loginCookie}=${sealed}; Path=${path}oidc/; Max-Age=${loginTimeoutMs / 1_000}; HttpOnly; SameSite=Lax${secure}`,
    };
  }

  /** Clears the login cookie once the callback used it. */
  clearLoginCookie(): string {
    return `${loginCookie}=; Path=${new URL(this.options.uiUrl).pathname}oidc/; Max-Age=0; HttpOnly; SameSite=Lax`;
  }

  /**
   * Finishes a login: the code is exchanged and the ID token checked (nonce included) and given a
   * role. Answers where to send the browser: the dashboard with a sealed session, or with the error.
   */
  async callback(query: URLSearchParams, cookieHeader: string | undefined): Promise<string> {
    const fail = (message: string) => `${this.options.uiUrl}#/signin?error=${encodeURIComponent(message)}`;
    const state = query.get("state") ?? "";
    const cookie = parseCookies(cookieHeader).get(loginCookie);
    const login = cookie === undefined ? undefined : this.#keys.open("ui-login", cookie);
    if (state === "" || !isLoginState(login) || login.state !== state) {
      return fail("the sign-in was not started in this browser");
    }
    if (query.get("error")) return fail(`the provider refused the sign-in: ${query.get("error")}`);
    if (login.exp <= this.timers.now()) return fail("the sign-in expired: start again");
    const code = query.get("code");
    if (!code) return fail("the provider sent no code");
    try {
      const tokens = await this.#provider.exchangeCode(code, login.codeVerifier, AbortSignal.timeout(10_000));
      if (!tokens.idToken) return fail("the provider answered no ID token");
      const claims = await this.#provider.validateIdToken(tokens.idToken, login.nonce);
      const identified = this.#callerOf(claims);
      if ("refused" in identified) return fail(identified.refused);
      const exp = Number(claims["exp"]) * 1_000;
      if (!Number.isFinite(exp)) return fail("the provider's ID token has no expiry (exp)");
      const session: Session = {
        sid: randomBytes(18).toString("base64url"),
        sub: identified.caller.name,
        role: identified.caller.role,
        exp,
      };
      return `${this.options.uiUrl}#/signin?session=${encodeURIComponent(this.#keys.seal("ui-session", session))}`;
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
