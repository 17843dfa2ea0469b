import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { AllowEffects, HeaderToAdd } from "../../evaluator.js";
import type { OidcSettings } from "./settings.js";

/** What a logged-in browser's session holds. */
export interface Session {
  idToken: string;
  accessToken: string | undefined;
  refreshToken: string | undefined;
  /** When the tokens expire (ms since epoch): the access token's expires_in, else the ID token's exp. */
  tokensExpireAt: number;
  /** When the session ends (login + maxAge). Refreshing never moves it. */
  endsAt: number;
  /** The ID token's claims. */
  claims: JsonObject;
}

/** A started login, kept until the provider sends the browser back. */
export interface PendingLogin {
  state: string;
  nonce: string;
  codeVerifier: string;
  /** The URL the browser asked for, on the app's origin. */
  returnTo: string;
}

export type SessionState = { kind: "valid" } | { kind: "refresh" } | { kind: "ended"; reason: string };

/** What to do with a session now: use it, refresh its tokens first, or end it. */
export function sessionState(session: Session, now: number, refreshBufferMs: number): SessionState {
  if (now >= session.endsAt) return { kind: "ended", reason: "session reached its max age" };
  if (now < session.tokensExpireAt - refreshBufferMs) return { kind: "valid" };
  if (session.refreshToken !== undefined) return { kind: "refresh" };
  if (now >= session.tokensExpireAt) return { kind: "ended", reason: "tokens expired and there is no refresh token" };
  return { kind: "valid" };
}

/** Whether `current` holds other tokens than `before`: someone refreshed the session in between. */
export function refreshedSince(current: Session, before: Session): boolean {
  return (
    current.accessToken !== before.accessToken ||
    current.idToken !== before.idToken ||
    current.refreshToken !== before.refreshToken
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown): value is string | undefined {
  return value === undefined || typeof value === "string";
}

export function encodeSession(session: Session): string {
  return JSON.stringify(session);
}

/** The session from its stored form, or undefined when it is not one (an old format or garbage). */
export function decodeSession(text: string): Session | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (
    !isObject(value) ||
    typeof value["idToken"] !== "string" ||
    !optionalString(value["accessToken"]) ||
    !optionalString(value["refreshToken"]) ||
    typeof value["tokensExpireAt"] !== "number" ||
    typeof value["endsAt"] !== "number" ||
    !isObject(value["claims"])
  ) {
    return undefined;
  }
  return {
    idToken: value["idToken"],
    accessToken: value["accessToken"],
    refreshToken: value["refreshToken"],
    tokensExpireAt: value["tokensExpireAt"],
    endsAt: value["endsAt"],
    claims: value["claims"] as JsonObject,
  };
}

export function encodeLogin(login: PendingLogin): string {
  return JSON.stringify(login);
}

export function decodeLogin(text: string): PendingLogin | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(value)) return undefined;
  const { state, nonce, codeVerifier, returnTo } = value;
  if (typeof state !== "string" || typeof nonce !== "string" || typeof codeVerifier !== "string") return undefined;
  if (typeof returnTo !== "string") return undefined;
  return { state, nonce, codeVerifier, returnTo };
}

/** A claim as a header value: strings as they are, anything else as JSON. */
function claimText(value: JsonValue): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** What a valid session contributes to the request: tokens and claims as headers, claims as metadata. */
export function sessionEffects(session: Session, settings: OidcSettings): AllowEffects {
  const headers: HeaderToAdd[] = [];
  const prefix = settings.bearer ? "Bearer " : "";
  if (settings.idTokenHeader !== undefined) {
    headers.push({ name: settings.idTokenHeader, value: prefix + session.idToken });
  }
  if (settings.accessTokenHeader !== undefined && session.accessToken !== undefined) {
    headers.push({ name: settings.accessTokenHeader, value: prefix + session.accessToken });
  }
  for (const { claim, header, append } of settings.claimsToHeaders) {
    const value = session.claims[claim];
    if (value !== undefined && value !== null) headers.push({ name: header, value: claimText(value), append });
  }
  const effects: AllowEffects = { headers };
  if (settings.metadataFromClaims.length > 0) {
    const metadata: JsonObject = {};
    for (const [key, claim] of settings.metadataFromClaims) {
      const value = session.claims[claim];
      if (value !== undefined) metadata[key] = value;
    }
    effects.dynamicMetadata = metadata;
  }
  return effects;
}
