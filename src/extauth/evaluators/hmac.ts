import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { HmacAuth } from "../../gen/gantry/extauth/v1/hmac_pb.js";
import type { Clock, RedisClient } from "../../lib/index.js";
import { AuthConfigError, type CheckContext, type Evaluator, type EvaluatorDeps, type Verdict } from "../evaluator.js";
import { durationMs } from "./duration.js";

const algorithms = { "hmac-sha256": "sha256", "hmac-sha512": "sha512" } as const;
type Algorithm = keyof typeof algorithms;
const requestTarget = "@request-target";

/** The parameters of `Authorization: hmac keyId="…", algorithm="…", headers="…", signature="…"`. */
export interface SignatureParameters {
  keyId: string;
  algorithm: string;
  headers: string[];
  signature: string;
}

export function parseSignatureHeader(authorization: string | undefined): SignatureParameters | undefined {
  if (authorization?.slice(0, 5).toLowerCase() !== "hmac ") return undefined;
  const parameters = new Map<string, string>();
  const pattern = /\s*([A-Za-z]+)="([^"]*)"\s*(?:,|$)/y;
  const text = authorization.slice(5);
  pattern.lastIndex = 0;
  while (pattern.lastIndex < text.length) {
    const match = pattern.exec(text);
    if (!match) return undefined;
    parameters.set(match[1] as string, match[2] as string);
  }
  const keyId = parameters.get("keyId");
  const signature = parameters.get("signature");
  const headers = parameters.get("headers");
  if (!keyId || !signature || !headers) return undefined;
  return {
    keyId,
    algorithm: parameters.get("algorithm") ?? "hmac-sha256",
    headers: headers.toLowerCase().split(" ").filter(Boolean),
    signature,
  };
}

/** The text a client signs: one `name: value` line per listed header. */
export function signingString(
  headerNames: readonly string[],
  context: Pick<CheckContext, "headers" | "request">,
): string | undefined {
  const http = context.request.attributes?.request?.http;
  const lines: string[] = [];
  for (const name of headerNames) {
    if (name === requestTarget) {
      lines.push(`${requestTarget}: ${(http?.method ?? "").toLowerCase()} ${http?.path ?? ""}`);
      continue;
    }
    const value = context.headers[name];
    if (value === undefined) return undefined;
    lines.push(`${name}: ${value}`);
  }
  return lines.join("\n");
}

/** Remembers signatures seen within the skew window, so a captured request cannot be replayed. */
export interface ReplayGuard {
  /** True the first time a signature is seen; rejects when the store fails. */
  firstSeen(signature: string, windowMs: number): boolean | Promise<boolean>;
}

function redisReplayGuard(redis: RedisClient): ReplayGuard {
  return {
    firstSeen: async (signature, windowMs) => {
      const key = `{gantry-hmac}:seen:${createHash("sha256").update(signature).digest("base64url")}`;
      return (await redis.set(key, "1", "PX", windowMs, "NX")) === "OK";
    },
  };
}

/** Signatures one evaluator remembers in memory (without Redis), at most. */
const memoryReplayCapacity = 100_000;

/**
 * Seen signatures in memory until their window ends. An LRU would forget the oldest under a burst and
 * let a captured request through again, so a full guard forgets only what has expired and otherwise
 * refuses the new signature (a backend failure): replay protection is never given up to make room.
 */
export function memoryReplayGuard(clock: Clock, capacity = memoryReplayCapacity): ReplayGuard {
  // Insertion order is expiry order: every entry of one evaluator lives for the same window.
  const seen = new Map<string, number>();
  return {
    firstSeen: (signature, windowMs) => {
      const now = clock.now();
      for (const [oldest, until] of seen) {
        if (until > now) break;
        seen.delete(oldest);
      }
      if (seen.has(signature)) return false;
      if (seen.size >= capacity) {
        throw new Error(
          `${capacity} signatures seen within the replay window are held in memory; give the ext-auth server a Redis for more`,
        );
      }
      seen.set(signature, now + windowMs);
      return true;
    },
  };
}

/** A 401 whose challenge names the headers this evaluator requires signed. */
function refusal(requiredHeaders: readonly string[]): (reason: string) => Verdict {
  const challenge = `hmac headers="${requiredHeaders.join(" ")}"`;
  return (reason) => ({ kind: "deny", status: 401, reason, headers: [{ name: "www-authenticate", value: challenge }] });
}

class HmacEvaluator implements Evaluator {
  constructor(
    readonly secrets: ReadonlyMap<string, Buffer>,
    readonly requiredHeaders: readonly string[],
    readonly algorithms: ReadonlySet<string>,
    readonly skewMs: number,
    readonly clock: Clock,
    readonly replay: ReplayGuard,
  ) {
    this.#refused = refusal(requiredHeaders);
  }

  readonly #refused: (reason: string) => Verdict;

  evaluate(context: CheckContext): Verdict | Promise<Verdict> {
    const refused = this.#refused;
    const parameters = parseSignatureHeader(context.headers["authorization"]);
    if (!parameters) return refused("missing or malformed HMAC signature");
    if (!this.algorithms.has(parameters.algorithm))
      return refused(`HMAC algorithm "${parameters.algorithm}" not accepted`);
    const secret = this.secrets.get(parameters.keyId);
    if (!secret) return refused("unknown HMAC key id");
    for (const name of this.requiredHeaders) {
      if (!parameters.headers.includes(name)) return refused(`the signature must cover "${name}"`);
    }
    const dateHeader = parameters.headers.includes("x-date") ? "x-date" : "date";
    if (!parameters.headers.includes(dateHeader)) return refused("the signature must cover date or x-date");
    const sent = Date.parse(context.headers[dateHeader] ?? "");
    if (Number.isNaN(sent)) return refused(`missing or unreadable ${dateHeader} header`);
    if (Math.abs(this.clock.now() - sent) > this.skewMs)
      return refused(`${dateHeader} is outside the allowed clock skew`);
    const text = signingString(parameters.headers, context);
    if (text === undefined) return refused("a signed header is missing from the request");
    const expected = createHmac(algorithms[parameters.algorithm as Algorithm], secret)
      .update(text)
      .digest();
    const given = Buffer.from(parameters.signature, "base64");
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return refused("HMAC signature mismatch");
    const allowed: Verdict = { kind: "allow", dynamicMetadata: { hmac_key_id: parameters.keyId } };
    const replayed: Verdict = { kind: "deny", status: 401, reason: "HMAC signature replayed" };
    let first: boolean | Promise<boolean>;
    try {
      first = this.replay.firstSeen(parameters.signature, 2 * this.skewMs);
    } catch (err) {
      return { kind: "error", reason: `replay check failed: ${(err as Error).message}` };
    }
    if (first instanceof Promise) {
      return first.then(
        (ok) => (ok ? allowed : replayed),
        (err: unknown) => ({
          kind: "error",
          reason: `replay check failed: ${err instanceof Error ? err.message : String(err)}`,
        }),
      );
    }
    return first ? allowed : replayed;
  }
}

/** Builds `hmacAuth`. Replay protection uses the ext-auth Redis when there is one (shared by replicas), else memory. */
export function createHmacEvaluator(settings: HmacAuth, deps: EvaluatorDeps, field: string): Evaluator {
  const secrets = new Map<string, Buffer>();
  for (const [keyId, secret] of Object.entries(settings.sharedSecrets)) {
    if (secret.length < 16)
      throw new AuthConfigError(`${field}.sharedSecrets.${keyId}`, "a secret needs at least 16 characters");
    secrets.set(keyId, Buffer.from(secret, "utf8"));
  }
  if (secrets.size === 0) throw new AuthConfigError(`${field}.sharedSecrets`, "at least one key is needed");
  const accepted = settings.algorithms.length > 0 ? settings.algorithms : Object.keys(algorithms);
  accepted.forEach((algorithm, index) => {
    if (!(algorithm in algorithms)) {
      throw new AuthConfigError(
        `${field}.algorithms[${index}]`,
        `"${algorithm}" is not one of ${Object.keys(algorithms).join(", ")}`,
      );
    }
  });
  const required =
    settings.requiredHeaders.length > 0
      ? settings.requiredHeaders.map((h) => h.toLowerCase())
      : [requestTarget, "date"];
  const skewMs = durationMs(settings.clockSkew, 300_000, `${field}.clockSkew`);
  const replay = deps.redis ? redisReplayGuard(deps.redis) : memoryReplayGuard(deps.clock);
  return new HmacEvaluator(secrets, required, new Set(accepted), skewMs, deps.clock, replay);
}
