import { randomBytes } from "node:crypto";
import type { JsonObject } from "@bufbuild/protobuf";
import {
  createLocalJWKSet,
  errors,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
  SignJWT,
} from "jose";
import type { Timers } from "../../../lib/clock.js";
import type { Logger } from "../../../lib/logger.js";
import { timeoutSignal } from "../../../lib/timeout-signal.js";
import type { OidcSettings } from "./settings.js";

/** The parts of the provider's discovery document the login uses, with its keys. */
export interface ProviderMetadata {
  authorizationEndpoint: string;
  tokenEndpoint: string;
  endSessionEndpoint: string | undefined;
  revocationEndpoint: string | undefined;
  keys: JWTVerifyGetKey;
}

/** What the token endpoint answers. */
export interface TokenSet {
  idToken: string | undefined;
  accessToken: string | undefined;
  refreshToken: string | undefined;
  /** Seconds the access token lives, when the provider says. */
  expiresIn: number | undefined;
}

/** The provider could not be reached or answered something unusable: a backend failure. */
export class ProviderUnavailableError extends Error {
  override name = "ProviderUnavailableError";
}

/** The token endpoint refused the request (e.g. `invalid_grant`): a verdict, not a failure. */
export class TokenRequestRefused extends Error {
  override name = "TokenRequestRefused";
  constructor(
    readonly error: string,
    readonly status: number,
  ) {
    super(`token endpoint refused the request: ${error} (HTTP ${status})`);
  }
}

/** The ID token failed validation. */
export class IdTokenRejected extends Error {
  override name = "IdTokenRejected";
}

/** After a failed background reload of the discovery document, the next try waits this long. */
const reloadRetryMs = 30_000;

/** Keys are re-read on an unknown `kid` at most this often, so forged tokens cannot hammer the provider. */
const keyRefetchCooldownMs = 30_000;

function stringField(document: Record<string, unknown>, name: string, where: string): string {
  const value = document[name];
  if (typeof value !== "string" || value === "") {
    throw new ProviderUnavailableError(`${where} has no ${name}`);
  }
  return value;
}

/**
 * Talks to one OpenID provider: discovery and keys (cached, refreshed on an interval and on an
 * unknown key id, the last good copy kept while the provider is down), the token endpoint with the
 * configured client authentication, and ID token validation. Every call is bounded in time.
 */
export class OidcProviderClient {
  #metadata: { value: ProviderMetadata; fetchedAt: number } | undefined;
  #loading: Promise<ProviderMetadata> | undefined;
  #keysFetchedAt = Number.NEGATIVE_INFINITY;
  /** No background reload before this time (set after a failed one). */
  #retryAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly settings: OidcSettings,
    private readonly clock: Timers,
    private readonly logger: Logger,
  ) {}

  /**
   * The provider's metadata. Only the first load is waited for: once there is a copy, a stale one
   * is served while a reload runs in the background, so no request waits on the provider for it,
   * and a failed reload is retried after a pause rather than on every request.
   */
  async metadata(): Promise<ProviderMetadata> {
    const cached = this.#metadata;
    if (cached === undefined) return this.#reload();
    const now = this.clock.now();
    if (now - cached.fetchedAt >= this.settings.discoveryRefreshMs && now >= this.#retryAt) {
      this.#reload().catch((err: unknown) => {
        this.#retryAt = this.clock.now() + Math.min(this.settings.discoveryRefreshMs, reloadRetryMs);
        this.logger.warn(
          { issuer: this.settings.issuer, err: String(err) },
          "OIDC discovery refresh failed; keeping the last copy",
        );
      });
    }
    return cached.value;
  }

  /** One load at a time, shared by every request waiting for it. */
  #reload(): Promise<ProviderMetadata> {
    this.#loading ??= this.#load().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async #load(): Promise<ProviderMetadata> {
    const discoveryUrl = `${this.settings.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
    const document = await this.#getJson(discoveryUrl, "discovery document");
    const issuer = stringField(document, "issuer", "discovery document");
    if (issuer !== this.settings.issuer) {
      throw new ProviderUnavailableError(`discovery document names issuer ${issuer}, expected ${this.settings.issuer}`);
    }
    const jwksUri = stringField(document, "jwks_uri", "discovery document");
    const jwks = await this.#getJson(jwksUri, "JWKS");
    if (!Array.isArray(jwks["keys"])) throw new ProviderUnavailableError(`${jwksUri} has no keys array`);
    const optional = (name: string): string | undefined => {
      const value = document[name];
      return typeof value === "string" && value !== "" ? value : undefined;
    };
    const value: ProviderMetadata = {
      authorizationEndpoint: stringField(document, "authorization_endpoint", "discovery document"),
      tokenEndpoint: stringField(document, "token_endpoint", "discovery document"),
      endSessionEndpoint: optional("end_session_endpoint"),
      revocationEndpoint: optional("revocation_endpoint"),
      keys: createLocalJWKSet(jwks as unknown as JSONWebKeySet),
    };
    const now = this.clock.now();
    this.#metadata = { value, fetchedAt: now };
    this.#keysFetchedAt = now;
    return value;
  }

  async #getJson(url: string, what: string): Promise<Record<string, unknown>> {
    let response: Response;
    try {
      response = await fetch(url, {
        headers: { accept: "application/json" },
        signal: timeoutSignal(this.clock, this.settings.providerTimeoutMs),
      });
    } catch (err) {
      throw new ProviderUnavailableError(`cannot fetch the ${what} from ${url}: ${errorText(err)}`);
    }
    if (!response.ok) throw new ProviderUnavailableError(`${url} answered HTTP ${response.status} for the ${what}`);
    const body: unknown = await response.json().catch(() => undefined);
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new ProviderUnavailableError(`${url} did not answer a JSON object for the ${what}`);
    }
    return body as Record<string, unknown>;
  }

  /** Exchanges an authorization code (with its PKCE verifier) for tokens. */
  exchangeCode(code: string, codeVerifier: string, signal: AbortSignal): Promise<TokenSet> {
    return this.#tokenRequest(
      { grant_type: "authorization_code", code, redirect_uri: this.settings.redirectUri, code_verifier: codeVerifier },
      signal,
    );
  }

  /** Trades a refresh token for fresh tokens. */
  refresh(refreshToken: string, signal: AbortSignal): Promise<TokenSet> {
    return this.#tokenRequest({ grant_type: "refresh_token", refresh_token: refreshToken }, signal);
  }

  /** Revokes a token (RFC 7009) at the provider's revocation endpoint. */
  async revoke(token: string, tokenTypeHint: string, signal: AbortSignal): Promise<void> {
    const { revocationEndpoint, tokenEndpoint } = await this.metadata();
    if (revocationEndpoint === undefined) return;
    const params = new URLSearchParams({ token, token_type_hint: tokenTypeHint });
    const response = await this.#post(revocationEndpoint, tokenEndpoint, params, signal);
    await response.body?.cancel();
    if (!response.ok) throw new ProviderUnavailableError(`revocation endpoint answered HTTP ${response.status}`);
  }

  async #tokenRequest(grant: Record<string, string>, signal: AbortSignal): Promise<TokenSet> {
    const { tokenEndpoint } = await this.metadata();
    const body = new URLSearchParams(grant);
    for (const [key, value] of this.settings.tokenParams) body.set(key, value);
    const response = await this.#post(tokenEndpoint, tokenEndpoint, body, signal);
    const json: unknown = await response.json().catch(() => undefined);
    const answer = typeof json === "object" && json !== null ? (json as Record<string, unknown>) : {};
    if (!response.ok) {
      const error = answer["error"];
      if (response.status >= 400 && response.status < 500 && typeof error === "string") {
        throw new TokenRequestRefused(error, response.status);
      }
      throw new ProviderUnavailableError(`token endpoint ${tokenEndpoint} answered HTTP ${response.status}`);
    }
    const optional = (name: string) => (typeof answer[name] === "string" ? (answer[name] as string) : undefined);
    const expiresIn = Number(answer["expires_in"]);
    return {
      idToken: optional("id_token"),
      accessToken: optional("access_token"),
      refreshToken: optional("refresh_token"),
      expiresIn: Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : undefined,
    };
  }

  /** A form POST to one of the provider's endpoints, authenticated as this client. */
  async #post(endpoint: string, tokenEndpoint: string, body: URLSearchParams, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = {
      accept: "application/json",
      "content-type": "application/x-www-form-urlencoded",
    };
    const auth = this.settings.clientAuthentication;
    switch (auth.kind) {
      case "secret":
        if (auth.inBody) {
          body.set("client_id", this.settings.clientId);
          body.set("client_secret", auth.secret);
        } else {
          // RFC 6749 §2.3.1: both parts are form-encoded before Basic encoding.
          const pair = `${formEncode(this.settings.clientId)}:${formEncode(auth.secret)}`;
          headers["authorization"] = `Basic ${Buffer.from(pair).toString("base64")}`;
        }
        break;
      case "privateKeyJwt":
        body.set("client_id", this.settings.clientId);
        body.set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
        body.set("client_assertion", await this.#clientAssertion(tokenEndpoint, auth));
        break;
    }
    try {
      return await fetch(endpoint, {
        method: "POST",
        headers,
        body,
        signal: AbortSignal.any([signal, timeoutSignal(this.clock, this.settings.providerTimeoutMs)]),
      });
    } catch (err) {
      throw new ProviderUnavailableError(`${endpoint} unreachable: ${errorText(err)}`);
    }
  }

  #clientAssertion(
    tokenEndpoint: string,
    auth: Extract<OidcSettings["clientAuthentication"], { kind: "privateKeyJwt" }>,
  ): Promise<string> {
    const now = Math.floor(this.clock.now() / 1_000);
    return new SignJWT({})
      .setProtectedHeader(auth.keyId === undefined ? { alg: auth.algorithm } : { alg: auth.algorithm, kid: auth.keyId })
      .setIssuer(this.settings.clientId)
      .setSubject(this.settings.clientId)
      .setAudience(tokenEndpoint)
      .setJti(randomBytes(16).toString("base64url"))
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(auth.key);
  }

  /**
   * Validates an ID token: signature by the provider's keys, issuer, audience (and `azp` when there
   * are several), expiry with the configured skew, and the nonce when one is expected. Resolves to
   * the claims.
   */
  async validateIdToken(idToken: string, expectedNonce: string | undefined): Promise<JsonObject> {
    let payload: JWTPayload;
    try {
      payload = await this.#verify(idToken, (await this.metadata()).keys);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw rejection(err);
      // The provider may have rotated its keys: re-read them, but not more often than the cooldown.
      if (this.clock.now() - this.#keysFetchedAt < keyRefetchCooldownMs) throw rejection(err);
      try {
        payload = await this.#verify(idToken, (await this.#reload()).keys);
      } catch (retryErr) {
        throw rejection(retryErr);
      }
    }
    if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload["azp"] !== this.settings.clientId) {
      throw new IdTokenRejected("ID token has several audiences and its azp is not this client");
    }
    if (expectedNonce !== undefined && payload["nonce"] !== expectedNonce) {
      throw new IdTokenRejected("ID token nonce does not match the login");
    }
    return payload as JsonObject;
  }

  async #verify(idToken: string, keys: JWTVerifyGetKey): Promise<JWTPayload> {
    const { payload } = await jwtVerify(idToken, keys, {
      issuer: this.settings.issuer,
      audience: this.settings.clientId,
      currentDate: new Date(this.clock.now()),
      clockTolerance: Math.round(this.settings.clockSkewMs / 1_000),
      requiredClaims: ["exp", "iat", "sub"],
    });
    return payload;
  }
}

function rejection(err: unknown): Error {
  if (err instanceof ProviderUnavailableError) return err;
  return new IdTokenRejected(`ID token rejected: ${errorText(err)}`);
}

function formEncode(text: string): string {
  return encodeURIComponent(text).replace(/%20/g, "+");
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? ` (${err.cause.message})` : "";
    return `${err.message}${cause}`;
  }
  return String(err);
}
