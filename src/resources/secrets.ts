import { createHash } from "node:crypto";
import type { DescField, DescMessage, JsonObject, JsonValue } from "@bufbuild/protobuf";
import { isKind, specSchemas } from "./kinds.js";

/**
 * A field of a resource schema whose value is secret material: a private key, a password hash, a
 * shared secret. For a message-typed field, `only` names the member that holds the material (a
 * DataSource's `inline`; its `file` is a path, which is not secret).
 */
export interface SecretField {
  /** The message's full proto name. */
  readonly message: string;
  /** The field's proto name. */
  readonly field: string;
  readonly only?: string;
}

/**
 * Every secret-bearing field of every kind: the one list that redaction (`get`, `describe`, the
 * API) and error messages follow. `test/resources/secrets.test.ts` fails when a field whose name
 * looks secret is neither here nor declared harmless there, so a new one cannot slip by.
 */
export const secretFields: readonly SecretField[] = [
  { message: "gantry.v1.TlsCertificate", field: "private_key", only: "inline" },
  // User name → password hash: a hash is what an offline guess starts from.
  { message: "gantry.extauth.v1.BasicAuth", field: "users" },
  { message: "gantry.extauth.v1.HmacAuth", field: "shared_secrets" },
  { message: "gantry.extauth.v1.TokenIntrospection", field: "client_secret" },
  { message: "gantry.extauth.v1.ClientSecret", field: "secret" },
  { message: "gantry.extauth.v1.PrivateKeyJwt", field: "private_key" },
  { message: "gantry.extauth.v1.CookieSessionStore", field: "encryption_key" },
];

const byMessage = new Map<string, Map<string, SecretField>>();
for (const secret of secretFields) {
  const fields = byMessage.get(secret.message) ?? new Map<string, SecretField>();
  fields.set(secret.field, secret);
  byMessage.set(secret.message, fields);
}

/** The entry of `secretFields` for this field, if it holds secret material. */
export function secretFieldOf(message: DescMessage, field: DescField): SecretField | undefined {
  return byMessage.get(message.typeName)?.get(field.name);
}

const redactedPrefix = "<redacted, sha256:";

/**
 * What a secret value reads as when it is not shown: the first 8 hex digits of its SHA-256, so
 * that operators can tell whether two replicas or two revisions hold the same secret.
 */
export function redactedValue(value: string): string {
  return `${redactedPrefix}${createHash("sha256").update(value, "utf8").digest("hex").slice(0, 8)}>`;
}

/** Whether a string is a redacted placeholder (applying one back would store it as the secret). */
export function isRedactedValue(value: unknown): boolean {
  return typeof value === "string" && value.startsWith(redactedPrefix);
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Every leaf under a secret field, replaced. */
function redactAll(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(redactAll);
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactAll(v)]));
  if (value === null) return null;
  return redactedValue(typeof value === "string" ? value : JSON.stringify(value));
}

function redactSecret(field: DescField, secret: SecretField, value: JsonValue): JsonValue {
  if (secret.only === undefined || !isObject(value) || !field.message) return redactAll(value);
  const member = field.message.fields.find((f) => f.name === secret.only);
  const out: JsonObject = { ...value };
  for (const key of new Set([member?.jsonName, member?.name])) {
    if (key !== undefined && out[key] !== undefined) out[key] = redactAll(out[key] as JsonValue);
  }
  return out;
}

function redactField(field: DescField, value: JsonValue): JsonValue {
  const message = field.message;
  if (!message) return value;
  if (field.fieldKind === "list") return Array.isArray(value) ? value.map((v) => redactMessage(message, v)) : value;
  if (field.fieldKind === "map") {
    return isObject(value)
      ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactMessage(message, v as JsonValue)]))
      : value;
  }
  return redactMessage(message, value);
}

/** A message's JSON with the secret material in it (at any depth) replaced by `redactedValue`s. */
export function redactMessage(schema: DescMessage, value: JsonValue): JsonValue {
  // Well-known types (Duration, Struct) have JSON forms of their own and hold no listed secret.
  if (!isObject(value) || schema.typeName.startsWith("google.protobuf.")) return value;
  const out: JsonObject = {};
  for (const [key, item] of Object.entries(value)) {
    const field = schema.fields.find((f) => f.jsonName === key || f.name === key);
    if (!field || item === null || item === undefined) {
      out[key] = item as JsonValue;
      continue;
    }
    const secret = secretFieldOf(schema, field);
    out[key] = secret ? redactSecret(field, secret, item) : redactField(field, item);
  }
  return out;
}

/** A stored document (apiVersion, kind, metadata, spec) with its spec's secret material redacted. */
export function redactDocument(document: JsonObject): JsonObject {
  const kind = document["kind"];
  const spec = document["spec"];
  if (!isKind(kind) || spec === undefined) return document;
  return { ...document, spec: redactMessage(specSchemas[kind], spec) };
}
