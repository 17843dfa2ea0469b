import { describe, expect, it } from "vitest";
import {
  decodeLogin,
  decodeSession,
  encodeLogin,
  encodeSession,
  refreshedSince,
  type Session,
  sessionEffects,
  sessionState,
} from "../../../src/extauth/evaluators/oidc/session.js";
import type { OidcSettings } from "../../../src/extauth/evaluators/oidc/settings.js";

const session: Session = {
  idToken: "id.token.sig",
  accessToken: "access",
  refreshToken: "refresh",
  tokensExpireAt: 10_000,
  endsAt: 100_000,
  claims: { sub: "ada", email: "ada@example.test", groups: ["a", "b"], age: 36 },
};

describe("sessionState", () => {
  it("uses the session until the refresh buffer, then refreshes", () => {
    expect(sessionState(session, 6_999, 3_000)).toEqual({ kind: "valid" });
    expect(sessionState(session, 7_000, 3_000)).toEqual({ kind: "refresh" });
    expect(sessionState(session, 50_000, 3_000)).toEqual({ kind: "refresh" });
  });

  it("without a refresh token, uses the tokens until they expire, then ends", () => {
    const noRefresh = { ...session, refreshToken: undefined };
    expect(sessionState(noRefresh, 9_999, 3_000)).toEqual({ kind: "valid" });
    expect(sessionState(noRefresh, 10_000, 3_000)).toMatchObject({ kind: "ended" });
  });

  it("ends at the session's max age whatever the tokens say", () => {
    expect(sessionState({ ...session, tokensExpireAt: 500_000 }, 100_000, 3_000)).toEqual({
      kind: "ended",
      reason: "session reached its max age",
    });
  });
});

describe("refreshedSince", () => {
  it("sees any token change, and nothing else", () => {
    expect(refreshedSince({ ...session }, session)).toBe(false);
    expect(refreshedSince({ ...session, endsAt: 1 }, session)).toBe(false);
    expect(refreshedSince({ ...session, accessToken: "new" }, session)).toBe(true);
    expect(refreshedSince({ ...session, idToken: "new" }, session)).toBe(true);
    expect(refreshedSince({ ...session, refreshToken: "new" }, session)).toBe(true);
  });
});

describe("stored forms", () => {
  it("round-trips sessions and logins and refuses anything else", () => {
    expect(decodeSession(encodeSession(session))).toEqual(session);
    const login = { state: "s", nonce: "n", codeVerifier: "v", returnTo: "https://app/x" };
    expect(decodeLogin(encodeLogin(login))).toEqual(login);
    expect(decodeSession("not json")).toBeUndefined();
    expect(decodeSession('{"idToken":1}')).toBeUndefined();
    expect(decodeSession(JSON.stringify({ ...session, claims: [] }))).toBeUndefined();
    expect(decodeLogin(JSON.stringify({ ...login, nonce: undefined }))).toBeUndefined();
    expect(decodeLogin("[]")).toBeUndefined();
  });
});

describe("sessionEffects", () => {
  const settings = {
    idTokenHeader: "x-id-token",
    accessTokenHeader: "authorization",
    bearer: true,
    claimsToHeaders: [
      { claim: "email", header: "x-email", append: false },
      { claim: "groups", header: "x-groups", append: true },
      { claim: "missing", header: "x-missing", append: false },
    ],
    metadataFromClaims: [
      ["user", "sub"],
      ["age", "age"],
      ["nothing", "missing"],
    ],
  } as unknown as OidcSettings;

  it("forwards tokens, claims as headers (JSON when not a string) and claims as metadata", () => {
    expect(sessionEffects(session, settings)).toEqual({
      headers: [
        { name: "x-id-token", value: "Bearer id.token.sig" },
        { name: "authorization", value: "Bearer access" },
        { name: "x-email", value: "ada@example.test", append: false },
        { name: "x-groups", value: '["a","b"]', append: true },
      ],
      dynamicMetadata: { user: "ada", age: 36 },
    });
  });

  it("forwards raw tokens without bearer and skips an absent access token", () => {
    const plain = { ...settings, bearer: false, claimsToHeaders: [], metadataFromClaims: [] } as OidcSettings;
    expect(sessionEffects({ ...session, accessToken: undefined }, plain)).toEqual({
      headers: [{ name: "x-id-token", value: "id.token.sig" }],
    });
  });
});
