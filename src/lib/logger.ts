import { type Logger, type LoggerOptions, pino } from "pino";

export type { Logger } from "pino";

export const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof logLevels)[number];

/**
 * Paths whose values are never written to a log: credentials in config, headers and Redis URLs.
 * Evaluators must still avoid logging secrets; this is the net under them.
 */
const redactPaths = [
  "password",
  "secret",
  "token",
  "*.password",
  "*.secret",
  "*.token",
  "*.clientSecret",
  "*.apiKey",
  "headers.authorization",
  "headers.cookie",
  "*.headers.authorization",
  "*.headers.cookie",
  "redisUrl",
];

export interface LoggerConfig {
  /** The service name, written as `service` on every line. */
  service: string;
  level?: LogLevel;
  /** Where lines go; stdout by default. Tests pass a stream to read them back. */
  destination?: NodeJS.WritableStream;
}

/** A JSON logger (one object per line, ready for any log pipeline). */
export function createLogger(config: LoggerConfig): Logger {
  const options: LoggerOptions = {
    level: config.level ?? "info",
    base: { service: config.service },
    redact: { paths: redactPaths, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return config.destination ? pino(options, config.destination) : pino(options);
}
