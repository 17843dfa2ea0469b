// Developers' apps, their subscriptions and keys. Apps live in the ext-auth Redis beside the keys
// (one hash tag, so Redis Cluster keeps them in one slot); keys are ext-auth's own records
// (src/extauth/apikeys), so a key the portal makes works at the gateway at once. Every change to an
// app is a compare-and-set of its record, so portal replicas sharing the Redis never lose one
// another's changes.
import { randomBytes } from "node:crypto";
import { createApiKey, revokeApiKey } from "../extauth/index.js";
import type { Clock, RedisClient } from "../lib/index.js";

const appsKey = "{gantry-portal}:apps";

/** The labels and metadata of a portal key, as the product's apiKeyAuth step and the plan's rate limits read them. */
export const keyLabels = { product: "portal-product" } as const;
export const keyMetadata = { plan: "plan", owner: "owner", app: "app" } as const;

export interface AppKey {
  id: string;
  createdAt: string;
  /** Set on a key replaced by a rotation: it is revoked at this time (ISO 8601). */
  expiresAt?: string;
}

export interface App {
  id: string;
  name: string;
  /** The developer's `sub`. */
  owner: string;
  ownerEmail: string;
  /** The subscription: one product, one plan (`namespace/name` each). */
  product: string;
  plan: string;
  state: "approved" | "pending";
  createdAt: string;
  keys: AppKey[];
}

function parseApp(json: string): App | undefined {
  try {
    const value = JSON.parse(json) as App;
    return typeof value.id === "string" && typeof value.owner === "string" && Array.isArray(value.keys)
      ? value
      : undefined;
  } catch {
    return undefined;
  }
}

export class AppNotFound extends Error {}
export class AppConflict extends Error {}

/** Replaces an app's record only if it is still the one read (empty: absent); an empty new record deletes it. */
const compareAndSet = `local current = redis.call('HGET', KEYS[1], ARGV[1])
if (current or '') ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return 1`;

/** Attempts at one change when other replicas keep changing the same app. */
const maxAttempts = 10;

/** One change to an app: its next record (undefined: delete it), the caller's result, and how to undo side effects if the write loses a race. */
interface Change<T> {
  next: App | undefined;
  result: T;
  undo?: () => Promise<void>;
}

/**
 * Apps and their keys. A change reads the app, makes its side effects (keys made or revoked in
 * ext-auth: revoking is idempotent, a key made is revoked again if the write loses), and writes
 * the app back only if nobody changed it meanwhile; otherwise it starts over. Changes made by this
 * process run one at a time, so they do not race each other.
 */
export class AppStore {
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly redis: RedisClient,
    private readonly clock: Clock,
  ) {}

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async all(): Promise<App[]> {
    const stored = await this.redis.hgetall(appsKey);
    return Object.values(stored)
      .map(parseApp)
      .filter((a): a is App => a !== undefined)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  async get(id: string): Promise<App | undefined> {
    const json = await this.redis.hget(appsKey, id);
    return json === null ? undefined : parseApp(json);
  }

  /** Applies `change` to the app as stored now, until its write is not overtaken by another's. */
  #update<T>(id: string, change: (app: App) => Promise<Change<T>>): Promise<T> {
    return this.#serial(async () => {
      for (let attempt = 1; ; attempt++) {
        const raw = await this.redis.hget(appsKey, id);
        const app = raw === null ? undefined : parseApp(raw);
        if (!app) throw new AppNotFound(`no app ${id}`);
        const { next, result, undo } = await change(app);
        let written: unknown;
        try {
          written = await this.redis.eval(compareAndSet, 1, appsKey, id, raw ?? "", next ? JSON.stringify(next) : "");
        } catch (err) {
          await undo?.().catch(() => undefined);
          throw err;
        }
        if (written === 1) return result;
        await undo?.();
        if (attempt >= maxAttempts)
          throw new Error(`app ${id}: changed by others ${maxAttempts} times in a row; try again`);
      }
    });
  }

  #now(): string {
    return new Date(this.clock.now()).toISOString();
  }

  create(
    init: Pick<App, "name" | "owner" | "ownerEmail" | "product" | "plan"> & { approvalRequired: boolean },
  ): Promise<App> {
    return this.#serial(async () => {
      const app: App = {
        id: randomBytes(8).toString("hex"),
        name: init.name,
        owner: init.owner,
        ownerEmail: init.ownerEmail,
        product: init.product,
        plan: init.plan,
        state: init.approvalRequired ? "pending" : "approved",
        createdAt: this.#now(),
        keys: [],
      };
      // A fresh random id: set only if absent.
      const written = await this.redis.hsetnx(appsKey, app.id, JSON.stringify(app));
      if (written !== 1) throw new Error(`app id ${app.id} is taken; try again`);
      return app;
    });
  }

  approve(id: string): Promise<App> {
    return this.#update(id, async (app) => {
      const approved: App = { ...app, state: "approved" };
      return { next: approved, result: approved };
    });
  }

  /** Deletes an app and revokes its keys (the keys first: a key never outlives its app). */
  delete(id: string): Promise<void> {
    return this.#update(id, async (app) => {
      for (const key of app.keys) await revokeApiKey(this.redis, key.id);
      return { next: undefined, result: undefined };
    });
  }

  /** A new key for an approved app; its secret is returned once and stored nowhere. */
  createKey(id: string): Promise<{ app: App; key: AppKey; secret: string }> {
    return this.#update(id, (app) => this.#addKey(app));
  }

  /**
   * A new key replacing `keyId`: both work until `graceMs` from now, then the old one is revoked
   * (by `expire`).
   */
  rotateKey(id: string, keyId: string, graceMs: number): Promise<{ app: App; key: AppKey; secret: string }> {
    return this.#update(id, async (app) => {
      const old = app.keys.find((k) => k.id === keyId);
      if (!old) throw new AppNotFound(`app ${id} has no key ${keyId}`);
      if (old.expiresAt) throw new AppConflict(`key ${keyId} was already rotated; it expires at ${old.expiresAt}`);
      const expiresAt = new Date(this.clock.now() + graceMs).toISOString();
      return this.#addKey({ ...app, keys: app.keys.map((k) => (k.id === keyId ? { ...k, expiresAt } : k)) });
    });
  }

  revokeKey(id: string, keyId: string): Promise<App> {
    return this.#update(id, async (app) => {
      if (!app.keys.some((k) => k.id === keyId)) throw new AppNotFound(`app ${id} has no key ${keyId}`);
      await revokeApiKey(this.redis, keyId);
      const next: App = { ...app, keys: app.keys.filter((k) => k.id !== keyId) };
      return { next, result: next };
    });
  }

  /** Revokes every rotated key whose grace period has ended; returns how many. */
  async expire(): Promise<number> {
    const now = this.clock.now();
    const due = (k: AppKey) => k.expiresAt !== undefined && Date.parse(k.expiresAt) <= now;
    let revoked = 0;
    for (const candidate of await this.all()) {
      if (!candidate.keys.some(due)) continue;
      revoked += await this.#update(candidate.id, async (app) => {
        const expired = app.keys.filter(due);
        for (const key of expired) await revokeApiKey(this.redis, key.id);
        return { next: { ...app, keys: app.keys.filter((k) => !expired.includes(k)) }, result: expired.length };
      }).catch((err: unknown) => {
        // Deleted meanwhile (by its owner, or another replica's sweep): nothing left to revoke here.
        if (err instanceof AppNotFound) return 0;
        throw err;
      });
    }
    return revoked;
  }

  async #addKey(app: App): Promise<Change<{ app: App; key: AppKey; secret: string }>> {
    if (app.state !== "approved")
      throw new AppConflict(`app ${app.id}: its subscription to ${app.plan} awaits approval`);
    const { secret, record } = await createApiKey(this.redis, this.clock, {
      name: `portal app ${app.name} (${app.id})`,
      labels: { [keyLabels.product]: app.product },
      metadata: { [keyMetadata.plan]: app.plan, [keyMetadata.owner]: app.owner, [keyMetadata.app]: app.id },
    });
    const key: AppKey = { id: record.id, createdAt: record.createdAt };
    const next: App = { ...app, keys: [...app.keys, key] };
    // Nothing half-applied: a key its app does not list would never be shown or revoked.
    const undo = async () => {
      await revokeApiKey(this.redis, record.id);
    };
    return { next, result: { app: next, key, secret }, undo };
  }
}
