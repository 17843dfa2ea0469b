import { createRedis, type RedisClient, redactUrl } from "../lib/redis.js";
import type { ClusterRecord } from "./records.js";

/*
 * Where the cluster registry lives. Not a kind of the resource store, on purpose: resources are
 * desired state, every write of theirs is a revision that the translator re-reads and `gantry get`
 * lists; the registry holds the relay CA's key and token digests (never to be listed with
 * resources), takes frequent writes from agents' reports (which must not trigger translations), and
 * needs compare-and-set for single-use tokens. It sits beside the resources in the same Redis, under
 * the same {hash tag}, so a management Redis holds all of a deployment's state.
 */

/** The relay CA as stored: PEM certificate and PKCS#8 key. */
export interface StoredCa {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface ClusterStore {
  get(name: string): Promise<ClusterRecord | undefined>;
  /** Every cluster, sorted by name. */
  list(): Promise<ClusterRecord[]>;
  /**
   * Replaces the record of `name` by `change(current)` atomically: if another writer changed it in
   * between, `change` runs again on the new record. An error `change` throws leaves the record as it is.
   */
  update(name: string, change: (current: ClusterRecord | undefined) => ClusterRecord): Promise<ClusterRecord>;
  /** The relay CA stored, or `create()`'s stored now if there is none (the first writer wins). */
  relayCa(create: () => Promise<StoredCa>): Promise<StoredCa>;
  /** The workload trust record (src/trust: roots, sealed keys) as stored, JSON; undefined before the first start. */
  trust(): Promise<string | undefined>;
  /**
   * Replaces the trust record by `change(current)` atomically, as `update` does a cluster's; returns
   * what is stored after.
   */
  updateTrust(change: (current: string | undefined) => string): Promise<string>;
  close(): Promise<void>;
}

export class ClusterStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ClusterStoreError";
  }
}

/** The registry in memory: `gantry up`, a server without Redis, unit tests. */
export class MemoryClusterStore implements ClusterStore {
  readonly #records = new Map<string, ClusterRecord>();
  #ca: StoredCa | undefined;
  #creatingCa: Promise<StoredCa> | undefined;
  #trust: string | undefined;

  async get(name: string): Promise<ClusterRecord | undefined> {
    return this.#records.get(name);
  }

  async list(): Promise<ClusterRecord[]> {
    return [...this.#records.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  async update(name: string, change: (current: ClusterRecord | undefined) => ClusterRecord): Promise<ClusterRecord> {
    // Synchronous between read and write: nothing else runs in between.
    const next = change(this.#records.get(name));
    this.#records.set(name, next);
    return next;
  }

  async relayCa(create: () => Promise<StoredCa>): Promise<StoredCa> {
    if (this.#ca) return this.#ca;
    this.#creatingCa ??= create().then((ca) => (this.#ca = ca));
    return this.#creatingCa;
  }

  async trust(): Promise<string | undefined> {
    return this.#trust;
  }

  async updateTrust(change: (current: string | undefined) => string): Promise<string> {
    this.#trust = change(this.#trust);
    return this.#trust;
  }

  async close(): Promise<void> {}
}

/** Sets the field to ARGV[3] (or deletes it when empty) only if it still reads ARGV[2]. */
const compareAndSetScript = `
local current = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if current ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return 1
`;

/** How often an update is tried again when other replicas keep winning the race. */
const maxAttempts = 50;

export interface RedisClusterStoreOptions {
  url: string;
  /** As the resource store's prefix: one {hash tag}. Default `{gantry}:`. */
  prefix?: string;
  commandTimeoutMs?: number;
}

/**
 * The registry in the management Redis, shared by server replicas:
 *   <prefix>clusters  hash  name -> JSON record
 *   <prefix>relay-ca  string, JSON {certPem, keyPem}: the relay CA, made by the first replica (SET NX)
 *   <prefix>trust     hash, field `record`: the workload trust record (roots; keys sealed), compare-and-set
 */
export class RedisClusterStore implements ClusterStore {
  readonly #client: RedisClient;
  readonly #clustersKey: string;
  readonly #caKey: string;
  readonly #trustKey: string;
  readonly #where: string;

  constructor(options: RedisClusterStoreOptions) {
    const prefix = options.prefix ?? "{gantry}:";
    if (!/\{[^}]+\}/.test(prefix))
      throw new ClusterStoreError(`cluster registry prefix "${prefix}" needs a {hash tag}`);
    this.#where = redactUrl(options.url);
    this.#client = createRedis({
      url: options.url,
      commandTimeoutMs: options.commandTimeoutMs ?? 2_000,
      connectionName: "gantry-clusters",
    });
    this.#clustersKey = `${prefix}clusters`;
    this.#caKey = `${prefix}relay-ca`;
    this.#trustKey = `${prefix}trust`;
  }

  async get(name: string): Promise<ClusterRecord | undefined> {
    const text = await this.#run("read", () => this.#client.hget(this.#clustersKey, name));
    return text ? this.#parse(name, text) : undefined;
  }

  async list(): Promise<ClusterRecord[]> {
    const all = await this.#run("list", () => this.#client.hgetall(this.#clustersKey));
    return Object.entries(all)
      .map(([name, text]) => this.#parse(name, text))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async update(name: string, change: (current: ClusterRecord | undefined) => ClusterRecord): Promise<ClusterRecord> {
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const text = (await this.#run("read", () => this.#client.hget(this.#clustersKey, name))) ?? "";
      const next = change(text ? this.#parse(name, text) : undefined);
      const nextText = JSON.stringify(next);
      if (nextText === text) return next;
      const written = await this.#run("write", () =>
        this.#client.eval(compareAndSetScript, 1, this.#clustersKey, name, text, nextText),
      );
      if (Number(written) === 1) return next;
    }
    throw new ClusterStoreError(
      `cluster ${name}: ${maxAttempts} concurrent writers in a row at management Redis ${this.#where}; nothing was changed`,
    );
  }

  async relayCa(create: () => Promise<StoredCa>): Promise<StoredCa> {
    const stored = await this.#run("read relay CA", () => this.#client.get(this.#caKey));
    if (stored) return this.#parseCa(stored);
    const made = await create();
    await this.#run("store relay CA", () => this.#client.set(this.#caKey, JSON.stringify(made), "NX"));
    // Another replica may have stored its own first: everyone uses the one stored.
    const winner = await this.#run("read relay CA", () => this.#client.get(this.#caKey));
    if (!winner) throw new ClusterStoreError(`relay CA vanished from management Redis ${this.#where}`);
    return this.#parseCa(winner);
  }

  async trust(): Promise<string | undefined> {
    return (await this.#run("read trust record", () => this.#client.hget(this.#trustKey, "record"))) ?? undefined;
  }

  async updateTrust(change: (current: string | undefined) => string): Promise<string> {
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const text = (await this.#run("read trust record", () => this.#client.hget(this.#trustKey, "record"))) ?? "";
      const next = change(text === "" ? undefined : text);
      if (next === text) return next;
      const written = await this.#run("write trust record", () =>
        this.#client.eval(compareAndSetScript, 1, this.#trustKey, "record", text, next),
      );
      if (Number(written) === 1) return next;
    }
    throw new ClusterStoreError(
      `trust record: ${maxAttempts} concurrent writers in a row at management Redis ${this.#where}; nothing was changed`,
    );
  }

  async close(): Promise<void> {
    this.#client.disconnect();
  }

  #parse(name: string, text: string): ClusterRecord {
    try {
      return JSON.parse(text) as ClusterRecord;
    } catch {
      throw new ClusterStoreError(`management Redis ${this.#where}: ${this.#clustersKey} field ${name} is not JSON`);
    }
  }

  #parseCa(text: string): StoredCa {
    try {
      const ca = JSON.parse(text) as StoredCa;
      if (typeof ca.certPem === "string" && typeof ca.keyPem === "string") return ca;
    } catch {
      // Reported below.
    }
    throw new ClusterStoreError(`management Redis ${this.#where}: ${this.#caKey} is not a stored relay CA`);
  }

  async #run<T>(what: string, command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (err) {
      throw new ClusterStoreError(
        `cluster registry ${what} failed: management Redis at ${this.#where}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
}
