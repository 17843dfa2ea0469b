import { createHash, randomBytes } from "node:crypto";
import type { Clock, RedisClient } from "../../lib/index.js";

/**
 * API keys in the ext-auth Redis. Only the SHA-256 of a key is stored, never the key:
 *   {gantry-apikeys}:byhash  hash: sha256(key) hex → JSON record
 *   {gantry-apikeys}:byid    hash: key id → sha256(key) hex
 * (one hash tag, so both live in one Redis Cluster slot and change in one transaction).
 * A change is announced on the `gantry-apikeys:changed` channel with the key's hash, so every
 * ext-auth replica drops it from its cache.
 */
const byHash = "{gantry-apikeys}:byhash";
const byId = "{gantry-apikeys}:byid";
export const apiKeyChangesChannel = "gantry-apikeys:changed";

/** What is stored about a key. */
export interface ApiKeyRecord {
  readonly id: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Copied to upstream headers and dynamic metadata (e.g. the user id or usage plan). */
  readonly metadata: Readonly<Record<string, string>>;
  /** ISO 8601. */
  readonly createdAt: string;
}

export interface NewApiKey {
  name?: string;
  labels?: Record<string, string>;
  metadata?: Record<string, string>;
}

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

function stringMap(value: unknown): value is Record<string, string> {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === "string")
  );
}

/** Reads a stored record; a damaged one is treated as absent rather than trusted. */
export function parseApiKeyRecord(json: string): ApiKeyRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if (
    typeof record["id"] !== "string" ||
    typeof record["name"] !== "string" ||
    typeof record["createdAt"] !== "string" ||
    !stringMap(record["labels"]) ||
    !stringMap(record["metadata"])
  ) {
    return undefined;
  }
  return {
    id: record["id"],
    name: record["name"],
    labels: record["labels"],
    metadata: record["metadata"],
    createdAt: record["createdAt"],
  };
}

/** The record of the key with this hash, or undefined. Rejects when Redis fails. */
export async function findApiKey(redis: RedisClient, keyHash: string): Promise<ApiKeyRecord | undefined> {
  const json = await redis.hget(byHash, keyHash);
  return json === null ? undefined : parseApiKeyRecord(json);
}

async function exec(transaction: ReturnType<RedisClient["multi"]>): Promise<void> {
  const results = await transaction.exec();
  const failed = results === null ? new Error("transaction aborted") : results.find(([err]) => err)?.[0];
  if (failed) throw failed;
}

/** Creates a key. The returned secret exists nowhere else: show it once. */
export async function createApiKey(
  redis: RedisClient,
  clock: Clock,
  init: NewApiKey,
): Promise<{ secret: string; record: ApiKeyRecord }> {
  const secret = `gak_${randomBytes(32).toString("base64url")}`;
  const record: ApiKeyRecord = {
    id: randomBytes(8).toString("hex"),
    name: init.name ?? "",
    labels: init.labels ?? {},
    metadata: init.metadata ?? {},
    createdAt: new Date(clock.now()).toISOString(),
  };
  const keyHash = hashApiKey(secret);
  await exec(redis.multi().hset(byHash, keyHash, JSON.stringify(record)).hset(byId, record.id, keyHash));
  return { secret, record };
}

/** Every stored key's record, oldest first. */
export async function listApiKeys(redis: RedisClient): Promise<ApiKeyRecord[]> {
  const all = await redis.hgetall(byHash);
  return Object.values(all)
    .map(parseApiKeyRecord)
    .filter((record): record is ApiKeyRecord => record !== undefined)
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
}

/** Revokes a key by id; false when there is no such key. Replicas drop it from their caches at once. */
export async function revokeApiKey(redis: RedisClient, id: string): Promise<boolean> {
  const keyHash = await redis.hget(byId, id);
  if (keyHash === null) return false;
  await exec(redis.multi().hdel(byHash, keyHash).hdel(byId, id));
  await redis.publish(apiKeyChangesChannel, keyHash);
  return true;
}
