// The small HTTP pieces the portal's API needs: JSON answers, bounded JSON bodies, errors with a status.
import type { IncomingMessage, ServerResponse } from "node:http";

/** An error that is the caller's to fix (or not allowed), answered with its status and message. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(body);
}

/**
 * The request's JSON object body. State-changing calls must be JSON: a cross-site form cannot send
 * that without a CORS preflight the portal never grants, so cookies alone cannot drive them.
 */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<Record<string, unknown>> {
  const type = req.headers["content-type"] ?? "";
  if (!/^application\/json\b/i.test(type)) throw new HttpError(415, "the body must be application/json");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new HttpError(413, `the body is larger than ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
  } catch (err) {
    throw new HttpError(400, `the body is not JSON: ${(err as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new HttpError(400, "the body must be a JSON object");
  return value as Record<string, unknown>;
}

/** A string field of a body, required and bounded. */
export function stringField(body: Record<string, unknown>, name: string, maxLength = 200): string {
  const value = body[name];
  if (typeof value !== "string" || value.trim() === "")
    throw new HttpError(400, `${name}: a non-empty string is required`);
  if (value.length > maxLength) throw new HttpError(400, `${name}: at most ${maxLength} characters`);
  return value.trim();
}

/** The path's segments, each percent-decoded (a product id `namespace/name` travels as one segment, `namespace%2Fname`). */
export function pathSegments(url: string): string[] | undefined {
  const path = url.split("?")[0] ?? "";
  try {
    return path
      .split("/")
      .filter((s) => s !== "")
      .map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
}
