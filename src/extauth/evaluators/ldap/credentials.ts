/** The user name and password of an `Authorization: Basic` header, or undefined when there is none or it is malformed. */
export function basicCredentials(
  headers: Readonly<Record<string, string>>,
): { username: string; password: string } | undefined {
  const header = headers["authorization"];
  if (!header) return undefined;
  const match = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
