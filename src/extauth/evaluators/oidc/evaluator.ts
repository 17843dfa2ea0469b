import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Timers } from "../../../lib/clock.js";
import type { Logger } from "../../../lib/logger.js";
import type { CheckContext, Evaluator, HeaderToAdd, Verdict } from "../../evaluator.js";
import type { SessionStore } from "../../sessions/index.js";
import { clearCookie, parseCookies, setCookie } from "./cookies.js";
import { authorizationUrl, endSessionUrl } from "./login.js";
import {
  IdTokenRejected,
  type OidcProviderClient,
  ProviderUnavailableError,
  TokenRequestRefused,
  type TokenSet,
} from "./provider.js";
import { classifyRequest } from "./request.js";
import {
  decodeLogin,
  decodeSession,
  encodeLogin,
  encodeSession,
  refreshedSince,
  type Session,
  sessionEffects,
  sessionState,
} from "./session.js";
import type { CookieOptions, OidcSettings } from "./settings.js";

export interface OidcStores {
  /** Logged-in sessions, behind the session cookie. */
  sessions: SessionStore;
  /** Logins in progress (state, nonce, PKCE verifier), behind the login cookie. */
  logins: SessionStore;
}

/** The result of refreshing a session's tokens. */
type RefreshOutcome = { kind: "refreshed"; session: Session; handle: string } | { kind: "ended"; reason: string };

/** How long past the provider timeout a refresh claim lasts, and how often a waiter looks for its result. */
const claimMarginMs = 1_000;
const claimPollMs = 25;

/** Browsers keep cookies of at most 4,096 bytes (name, value and attributes). */
const maxCookieBytes = 4_096;

function randomToken(): string {
  return randomBytes(32).toString("base64url");
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.byteLength === right.byteLength && timingSafeEqual(left, right);
}

function setCookieHeader(value: string): HeaderToAdd {
  return { name: "set-cookie", value, append: true };
}

/**
 * The OIDC authorization-code login. Each request is one of: a CORS preflight (passes), the
 * callback (code exchange → session → back to the original URL), the logout path (session gone →
 * provider's end-session endpoint), or a protected request (session valid → allow with tokens;
 * about to expire → refresh first; none or ended → redirect to the provider). Store or provider
 * failures are `error` verdicts; anything the browser sent wrong is a `deny`.
 */
export class OidcEvaluator implements Evaluator {
  /** The login cookies' options (their names come from #loginCookieName). */
  readonly #loginCookie: CookieOptions;
  /** Refreshes under way in this process, by session handle, so concurrent requests share one. */
  readonly #refreshing = new Map<string, Promise<RefreshOutcome>>();

  constructor(
    private readonly settings: OidcSettings,
    private readonly provider: OidcProviderClient,
    private readonly stores: OidcStores,
    private readonly clock: Timers,
    private readonly logger: Logger,
  ) {
    // The callback is a top-level navigation from the provider's site: a Strict cookie would not come back with it.
    const sameSite = settings.cookie.sameSite === "Strict" ? "Lax" : settings.cookie.sameSite;
    // Scoped to the callback: it is needed nowhere else, and must reach it whatever the session cookie's path.
    this.#loginCookie = { ...settings.cookie, sameSite, path: settings.callbackPath };
  }

  /**
   * One login cookie per login, `<name>-login-<hash of state>`, so that logins started at once
   * (two tabs, a page and its background requests) do not overwrite each other.
   */
  #loginCookieName(state: string): string {
    return `${this.settings.cookie.name}-login-${createHash("sha256").update(state).digest("base64url").slice(0, 16)}`;
  }

  async evaluate(context: CheckContext): Promise<Verdict> {
    const http = context.request.attributes?.request?.http;
    const flow = classifyRequest(http?.method ?? "GET", http?.path ?? "/", context.headers, this.settings);
    const cookies = parseCookies(context.headers["cookie"]);
    try {
      switch (flow.kind) {
        case "preflight":
          return { kind: "allow" };
        case "callback":
          return await this.#callback(flow.query, cookies, context.signal);
        case "logout":
          return await this.#logout(cookies.get(this.settings.cookie.name), context.signal);
        case "protected":
          return await this.#protected(flow.returnTo, cookies.get(this.settings.cookie.name), context.signal);
      }
    } catch (err) {
      if (err instanceof ProviderUnavailableError) return { kind: "error", reason: `OIDC provider: ${err.message}` };
      const reason = `OIDC: ${err instanceof Error ? err.message : String(err)}`;
      this.logger.warn({ reason }, "OIDC check failed");
      return { kind: "error", reason };
    }
  }

  async #protected(returnTo: string, handle: string | undefined, signal: AbortSignal): Promise<Verdict> {
    if (handle === undefined || handle === "") return this.#startLogin(returnTo, [], "no session");
    const stored = await this.stores.sessions.get(handle);
    const session = stored === undefined ? undefined : decodeSession(stored);
    const clearSession = [setCookieHeader(clearCookie(this.settings.cookie.name, this.settings.cookie))];
    if (session === undefined) return this.#startLogin(returnTo, clearSession, "session unknown or expired");
    const now = this.clock.now();
    const state = sessionState(session, now, this.settings.refreshBufferMs);
    switch (state.kind) {
      case "valid":
        return { kind: "allow", ...sessionEffects(session, this.settings) };
      case "ended":
        await this.stores.sessions.delete(handle);
        return this.#startLogin(returnTo, clearSession, state.reason);
      case "refresh": {
        const outcome = await this.#refreshOnce(handle, session, signal);
        if (outcome.kind === "ended") return this.#startLogin(returnTo, clearSession, outcome.reason);
        const effects = sessionEffects(outcome.session, this.settings);
        if (outcome.handle === handle) return { kind: "allow", ...effects };
        return {
          kind: "allow",
          ...effects,
          responseHeaders: [this.#sessionCookie(outcome.handle, outcome.session.endsAt - now)],
        };
      }
    }
  }

  #sessionCookie(handle: string, maxAgeMs: number): HeaderToAdd {
    const cookie = setCookie(this.settings.cookie.name, handle, maxAgeMs, this.settings.cookie);
    if (cookie.length > maxCookieBytes) {
      this.logger.warn(
        { cookie: this.settings.cookie.name, bytes: cookie.length },
        "OIDC session cookie is over 4 KB and browsers will drop it; keep sessions in Redis",
      );
    }
    return setCookieHeader(cookie);
  }

  #refreshOnce(handle: string, session: Session, signal: AbortSignal): Promise<RefreshOutcome> {
    let running = this.#refreshing.get(handle);
    if (running === undefined) {
      running = this.#refresh(handle, session, signal).finally(() => this.#refreshing.delete(handle));
      this.#refreshing.set(handle, running);
    }
    return running;
  }

  /**
   * Refreshes under a claim on the session, so that replicas sharing a store do not spend the same
   * refresh token twice (rotating providers answer the second with invalid_grant, and may revoke
   * the whole grant). Whoever does not get the claim waits for the holder's result.
   */
  async #refresh(handle: string, session: Session, signal: AbortSignal): Promise<RefreshOutcome> {
    const release = await this.stores.sessions.claim(handle, this.settings.providerTimeoutMs + claimMarginMs);
    if (release === false) return this.#awaitRefresh(handle, session, signal);
    try {
      // A refresh that finished between our read and our claim already did the work.
      const current = await this.#newerSession(handle, session);
      if (current !== undefined) return { kind: "refreshed", session: current, handle };
      return await this.#refreshTokens(handle, session, signal);
    } finally {
      await release().catch((err: unknown) =>
        this.logger.warn({ err: String(err) }, "OIDC refresh claim release failed"),
      );
    }
  }

  /** The stored session when someone refreshed it since `session` was read, else undefined. */
  async #newerSession(handle: string, session: Session): Promise<Session | undefined> {
    const stored = await this.stores.sessions.get(handle);
    const current = stored === undefined ? undefined : decodeSession(stored);
    return current !== undefined && refreshedSince(current, session) ? current : undefined;
  }

  /** Waits (bounded) for another holder's refresh of this session to land in the store. */
  async #awaitRefresh(handle: string, session: Session, signal: AbortSignal): Promise<RefreshOutcome> {
    const deadline = this.clock.now() + this.settings.providerTimeoutMs + claimMarginMs;
    while (this.clock.now() < deadline && !signal.aborted) {
      await new Promise<void>((resolve) => this.clock.setTimeout(resolve, claimPollMs));
      const stored = await this.stores.sessions.get(handle);
      if (stored === undefined) return { kind: "ended", reason: "session ended by a refresh elsewhere" };
      const current = decodeSession(stored);
      if (current !== undefined && refreshedSince(current, session))
        return { kind: "refreshed", session: current, handle };
    }
    if (this.clock.now() < session.tokensExpireAt) return { kind: "refreshed", session, handle };
    throw new Error("another refresh of this session did not finish in time");
  }

  async #refreshTokens(handle: string, session: Session, signal: AbortSignal): Promise<RefreshOutcome> {
    let tokens: TokenSet;
    try {
      tokens = await this.provider.refresh(session.refreshToken ?? "", signal);
    } catch (err) {
      if (err instanceof TokenRequestRefused) {
        // invalid_grant and the like: the provider ended the grant, so this session is over.
        await this.stores.sessions.delete(handle);
        return { kind: "ended", reason: `refresh refused: ${err.error}` };
      }
      if (this.clock.now() < session.tokensExpireAt) {
        this.logger.warn({ err: String(err) }, "OIDC token refresh failed; the tokens are still valid, using them");
        return { kind: "refreshed", session, handle };
      }
      throw err;
    }
    let claims = session.claims;
    if (tokens.idToken !== undefined) {
      try {
        claims = await this.provider.validateIdToken(tokens.idToken, undefined);
      } catch (err) {
        if (!(err instanceof IdTokenRejected)) throw err;
        await this.stores.sessions.delete(handle);
        return { kind: "ended", reason: `refreshed ${err.message}` };
      }
      if (claims["sub"] !== session.claims["sub"]) {
        await this.stores.sessions.delete(handle);
        return { kind: "ended", reason: "refreshed ID token names another subject" };
      }
    }
    const now = this.clock.now();
    const refreshed: Session = {
      idToken: tokens.idToken ?? session.idToken,
      accessToken: tokens.accessToken ?? session.accessToken,
      // Providers that do not rotate refresh tokens answer without one: the old one stays good.
      refreshToken: tokens.refreshToken ?? session.refreshToken,
      tokensExpireAt: this.#tokensExpireAt(tokens, claims, now),
      endsAt: session.endsAt,
      claims,
    };
    const newHandle = await this.stores.sessions.set(handle, encodeSession(refreshed), refreshed.endsAt - now);
    return { kind: "refreshed", session: refreshed, handle: newHandle };
  }

  #tokensExpireAt(tokens: TokenSet, claims: Session["claims"], now: number): number {
    if (tokens.expiresIn !== undefined) return now + tokens.expiresIn * 1_000;
    const exp = claims["exp"];
    return typeof exp === "number" ? exp * 1_000 : now;
  }

  async #startLogin(returnTo: string, headers: HeaderToAdd[], why: string): Promise<Verdict> {
    const { authorizationEndpoint } = await this.provider.metadata();
    const login = { state: randomToken(), nonce: randomToken(), codeVerifier: randomToken(), returnTo };
    const loginHandle = await this.stores.logins.set(undefined, encodeLogin(login), this.settings.loginTimeoutMs);
    const loginCookie = setCookie(
      this.#loginCookieName(login.state),
      loginHandle,
      this.settings.loginTimeoutMs,
      this.#loginCookie,
    );
    return {
      kind: "redirect",
      location: authorizationUrl(authorizationEndpoint, this.settings, login),
      headers: [...headers, setCookieHeader(loginCookie)],
      reason: `login required: ${why}`,
    };
  }

  async #callback(query: URLSearchParams, cookies: Map<string, string>, signal: AbortSignal): Promise<Verdict> {
    const state = query.get("state");
    if (state === null || state === "") return { kind: "deny", status: 401, reason: "callback without a state" };
    // The login cookie is named after the state: only the browser that started this login has it.
    const loginCookieName = this.#loginCookieName(state);
    const clearLogin = setCookieHeader(clearCookie(loginCookieName, this.#loginCookie));
    const deny = (reason: string): Verdict => ({ kind: "deny", status: 401, reason, headers: [clearLogin] });
    const loginHandle = cookies.get(loginCookieName);
    if (loginHandle === undefined || loginHandle === "") {
      return deny("callback without a login started by this browser for its state");
    }
    const stored = await this.stores.logins.get(loginHandle);
    // A login is used once: a replayed callback finds nothing.
    await this.stores.logins.delete(loginHandle);
    const login = stored === undefined ? undefined : decodeLogin(stored);
    if (login === undefined) return deny("callback for an unknown or expired login");
    if (!sameText(state, login.state)) return deny("callback state does not match this browser's login");
    const providerError = query.get("error");
    if (providerError !== null) return deny(`provider answered the login with error ${providerError}`);
    const code = query.get("code");
    if (code === null || code === "") return deny("callback without a code");
    let tokens: TokenSet;
    let claims: Session["claims"];
    try {
      tokens = await this.provider.exchangeCode(code, login.codeVerifier, signal);
      if (tokens.idToken === undefined) return deny("token endpoint answered without an ID token");
      claims = await this.provider.validateIdToken(tokens.idToken, login.nonce);
    } catch (err) {
      if (err instanceof TokenRequestRefused) return deny(`code exchange refused: ${err.error}`);
      if (err instanceof IdTokenRejected) return deny(err.message);
      throw err;
    }
    const now = this.clock.now();
    const session: Session = {
      idToken: tokens.idToken,
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      tokensExpireAt: this.#tokensExpireAt(tokens, claims, now),
      endsAt: now + this.settings.sessionMaxAgeMs,
      claims,
    };
    const oldHandle = cookies.get(this.settings.cookie.name);
    if (oldHandle !== undefined && oldHandle !== "") await this.stores.sessions.delete(oldHandle);
    const handle = await this.stores.sessions.set(undefined, encodeSession(session), this.settings.sessionMaxAgeMs);
    return {
      kind: "redirect",
      location: login.returnTo,
      headers: [clearLogin, this.#sessionCookie(handle, this.settings.sessionMaxAgeMs)],
      reason: "login complete",
    };
  }

  async #logout(handle: string | undefined, signal: AbortSignal): Promise<Verdict> {
    let session: Session | undefined;
    if (handle !== undefined && handle !== "") {
      const stored = await this.stores.sessions.get(handle);
      session = stored === undefined ? undefined : decodeSession(stored);
      await this.stores.sessions.delete(handle);
    }
    const headers = [setCookieHeader(clearCookie(this.settings.cookie.name, this.settings.cookie))];
    let location = this.settings.afterLogoutUrl;
    // The local session is gone already: a provider failure here only leaves the provider's side alive.
    try {
      if (session?.refreshToken !== undefined)
        await this.provider.revoke(session.refreshToken, "refresh_token", signal);
    } catch (err) {
      this.logger.warn({ err: String(err) }, "OIDC refresh token revocation failed at logout");
    }
    try {
      const { endSessionEndpoint } = await this.provider.metadata();
      if (endSessionEndpoint !== undefined)
        location = endSessionUrl(endSessionEndpoint, this.settings, session?.idToken);
    } catch (err) {
      this.logger.warn({ err: String(err) }, "OIDC provider unreachable at logout; skipping its end-session endpoint");
    }
    return { kind: "redirect", location, headers, reason: "logout" };
  }
}
