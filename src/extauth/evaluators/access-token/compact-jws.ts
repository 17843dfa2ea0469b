import { malformedToken, type Refusal } from "./refusals.js";

/** A compact JWS whose header was read and checked; its signature is not verified yet. */
export interface CompactJws {
  readonly kind: "jws";
  readonly alg: string;
  readonly kid: string | undefined;
  /** `<header>.<payload>` as ASCII bytes: what was signed. */
  readonly signingInput: Buffer;
  readonly signature: Buffer;
  /** The payload, still base64url: it is only read once the signature holds. */
  readonly encodedPayload: string;
}

/**
 * Bounds on what is parsed before the signature is checked. Envoy's default header limit is 60 KiB;
 * access tokens with many groups reach a few KiB, a header with an x5c chain a few more.
 */
export const maxTokenLength = 32 * 1024;
export const maxHeaderLength = 8 * 1024;

const base64urlText = /^[A-Za-z0-9_-]*$/;

/** The 6-bit value of a base64url character already known to be in the alphabet. */
function sextet(code: number): number {
  if (code === 45) return 62; // "-"
  if (code === 95) return 63; // "_"
  if (code >= 97) return code - 71; // a-z → 26..51
  if (code >= 65) return code - 65; // A-Z → 0..25
  return code + 4; // 0-9 → 52..61
}

/**
 * Strict base64url (RFC 7515 §2): the URL-safe alphabet only, no padding, no whitespace, and the
 * unused low bits of the last character zero, so that one value has exactly one encoding.
 * Node's own decoder skips characters it does not know; it is only given checked text.
 */
export function decodeBase64url(text: string): Buffer | undefined {
  const rest = text.length % 4;
  if (rest === 1 || !base64urlText.test(text)) return undefined;
  if (rest !== 0 && (sextet(text.charCodeAt(text.length - 1)) & (rest === 2 ? 0x0f : 0x03)) !== 0) return undefined;
  return Buffer.from(text, "base64url");
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** UTF-8 bytes holding a JSON object (a JOSE header or a JWT claims set), or undefined. */
function jsonObject(bytes: Buffer): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch {
    return undefined;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/**
 * Reads a compact JWS (RFC 7515 §7.1) and checks its header: `alg` must be one of `allowed` (which
 * never holds `none`), `kid` a string if present, and no `crit` extension (none is understood, so
 * RFC 7515 §4.1.11 requires refusing any). Refuses before any key or signature work.
 */
export function parseCompactJws(token: string, allowed: ReadonlySet<string>): CompactJws | Refusal {
  if (token.length > maxTokenLength) return malformedToken("ERR_JWS_INVALID");
  const firstDot = token.indexOf(".");
  const secondDot = firstDot < 0 ? -1 : token.indexOf(".", firstDot + 1);
  if (secondDot < 0 || token.indexOf(".", secondDot + 1) >= 0 || firstDot > maxHeaderLength) {
    return malformedToken("ERR_JWS_INVALID");
  }
  const headerBytes = decodeBase64url(token.slice(0, firstDot));
  const header = headerBytes && jsonObject(headerBytes);
  if (!header) return malformedToken("ERR_JWS_INVALID");
  const { alg, kid, crit } = header;
  if (crit !== undefined) {
    const wellFormed =
      Array.isArray(crit) && crit.length > 0 && crit.every((name) => typeof name === "string" && name !== "");
    return malformedToken(wellFormed ? "ERR_JOSE_NOT_SUPPORTED" : "ERR_JWS_INVALID");
  }
  if (typeof alg !== "string" || alg === "") return malformedToken("ERR_JWS_INVALID");
  if (!allowed.has(alg)) return malformedToken("ERR_JOSE_ALG_NOT_ALLOWED");
  if (kid !== undefined && typeof kid !== "string") return malformedToken("ERR_JWS_INVALID");
  const encodedPayload = token.slice(firstDot + 1, secondDot);
  // The payload is signed as text; it must be base64url too (its bytes are read only after the signature holds).
  if (!base64urlText.test(encodedPayload)) return malformedToken("ERR_JWS_INVALID");
  const signature = decodeBase64url(token.slice(secondDot + 1));
  if (!signature) return malformedToken("ERR_JWS_INVALID");
  return {
    kind: "jws",
    alg,
    kid,
    signingInput: Buffer.from(token.slice(0, secondDot), "latin1"),
    signature,
    encodedPayload,
  };
}

/** The claims set of a JWS whose signature holds: a JSON object (RFC 7519 §7.2). */
export function readClaims(jws: CompactJws): { kind: "claims"; claims: Record<string, unknown> } | Refusal {
  const bytes = decodeBase64url(jws.encodedPayload);
  if (!bytes) return malformedToken("ERR_JWS_INVALID");
  const claims = jsonObject(bytes);
  return claims ? { kind: "claims", claims } : malformedToken("ERR_JWT_INVALID");
}
