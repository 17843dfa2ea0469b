/**
 * The bounds of the management API port: what one request may send, how long a connection may
 * take or sit idle, how many connections are open at once, and how often one address may fail
 * to authenticate. Each has a flag on `gantry server` (docs/server.md).
 */
export interface ApiLimits {
  /** A request body larger than this is refused (413 / RESOURCE_EXHAUSTED) before it is read. */
  maxBodyBytes: number;
  /** From the first byte of a connection (or of a kept-alive request) to the end of its headers. */
  headersTimeoutMs: number;
  /** From the first byte of a request to the end of its body. */
  requestTimeoutMs: number;
  /** A connection with no request in flight is closed after this long. */
  idleTimeoutMs: number;
  /** Connections open at once; further ones are closed on accept. */
  maxConnections: number;
  /** Failed authentications per client address: a burst of `perMinute`, then `perMinute` a minute. */
  authFailuresPerMinute: number;
}

export const defaultApiLimits: ApiLimits = {
  maxBodyBytes: 8 * 1024 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  maxConnections: 1_000,
  authFailuresPerMinute: 10,
};

/** The flag that sets each limit, for error messages. */
export const apiLimitFlags: Record<keyof ApiLimits, string> = {
  maxBodyBytes: "--api-max-body-bytes",
  headersTimeoutMs: "--api-headers-timeout-ms",
  requestTimeoutMs: "--api-request-timeout-ms",
  idleTimeoutMs: "--api-idle-timeout-ms",
  maxConnections: "--api-max-connections",
  authFailuresPerMinute: "--api-auth-failures-per-minute",
};

/** The limits with defaults filled in; throws naming the flag of a value that cannot work. */
export function resolveApiLimits(given: Partial<ApiLimits> = {}): ApiLimits {
  const limits = { ...defaultApiLimits, ...given };
  for (const [key, value] of Object.entries(limits) as Array<[keyof ApiLimits, number]>) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new Error(`${apiLimitFlags[key]}: expected a positive integer, got ${value}`);
    }
  }
  // Node refuses a request timeout shorter than the headers timeout, and it would make no sense.
  if (limits.requestTimeoutMs < limits.headersTimeoutMs) {
    throw new Error(
      `${apiLimitFlags.requestTimeoutMs} (${limits.requestTimeoutMs}) must be at least ${apiLimitFlags.headersTimeoutMs} (${limits.headersTimeoutMs})`,
    );
  }
  return limits;
}
