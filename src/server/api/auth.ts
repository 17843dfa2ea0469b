import { timingSafeEqual } from "node:crypto";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

/** The shortest API token accepted: a shorter one is too easy to guess. */
export const minApiTokenLength = 16;

/** Throws when a token is too weak to guard the API; the message never shows the token. */
export function checkApiToken(token: string): void {
  if (token.length < minApiTokenLength) {
    throw new Error(
      `the API token must be at least ${minApiTokenLength} characters (it has ${token.length}); make one with: openssl rand -hex 24`,
    );
  }
}

/**
 * Requires `authorization: Bearer <token>` on every call. The comparison takes the same time
 * whatever the guess, and the token is never logged or echoed.
 */
export function bearerAuth(token: string): Interceptor {
  checkApiToken(token);
  const expected = Buffer.from(token, "utf8");
  return (next) => async (request) => {
    const header = request.header.get("authorization") ?? "";
    const presented = Buffer.from(header.startsWith("Bearer ") ? header.slice(7).trim() : "", "utf8");
    const ok = presented.length === expected.length && timingSafeEqual(presented, expected);
    if (!ok) {
      throw new ConnectError(
        header === "" ? "missing bearer token (set GANTRY_API_TOKEN or --api-token-file)" : "invalid bearer token",
        Code.Unauthenticated,
      );
    }
    return next(request);
  };
}
