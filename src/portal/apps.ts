// Developers' apps, their subscriptions and keys. Apps live in the ext-auth Redis beside the keys
// (one hash tag, so Redis Cluster keeps them in one slot); keys are ext-auth's own records
// (src/extauth/apikeys), so a key the portal makes works at the gateway at once.
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

/**
 * Apps and their keys. Changes to one app are made one at a time in this process (a rotation and a
 * revocation of the same app never interleave); the portal is meant to run as one replica.
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

  async #save(app: App): Promise<void> {
    await this.redis.hset(appsKey, app.id, JSON.stringify(app));
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
      await this.#save(app);
      return app;
    });
  }

  approve(id: string): Promise<App> {
    return this.#serial(async () => {
      const app = await this.#mustGet(id);
      const approved: App = { ...app, state: "approved" };
      await this.#save(approved);
      return approved;
    });
  }

  /** Deletes an app and revokes its keys (the keys first: a key never outlives its app). */
  delete(id: string): Promise<void> {
    return this.#serial(async () => {
      const app = await this.#mustGet(id);
      for (const key of app.keys) await revokeApiKey(this.redis, key.id);
      await this.redis.hdel(appsKey, id);
    });
  }

  /** A new key for an approved app; its secret is returned once and stored nowhere. */
  createKey(id: string): Promise<{ app: App; key: AppKey; secret: string }> {
    return this.#serial(async () => {
      const app = await this.#mustGet(id);
      return this.#addKey(app);
    });
  }

  /**
   * A new key replacing `keyId`: both work until `graceMs` from now, then the old one is revoked
   * (by `expire`).
   */
  rotateKey(id: string, keyId: string, graceMs: number): Promise<{ app: App; key: AppKey; secret: string }> {
    return this.#serial(async () => {
      const app = await this.#mustGet(id);
      const old = app.keys.find((k) => k.id === keyId);
      if (!old) throw new AppNotFound(`app ${id} has no key ${keyId}`);
      if (old.expiresAt) throw new AppConflict(`key ${keyId} was already rotated; it expires at ${old.expiresAt}`);
      const expiresAt = new Date(this.clock.now() + graceMs).toISOString();
      const withExpiry: App = { ...app, keys: app.keys.map((k) => (k.id === keyId ? { ...k, expiresAt } : k)) };
      return this.#addKey(withExpiry);
    });
  }

  revokeKey(id: string, keyId: string): Promise<App> {
    return this.#serial(async () => {
      const app = await this.#mustGet(id);
      if (!app.keys.some((k) => k.id === keyId)) throw new AppNotFound(`app ${id} has no key ${keyId}`);
      await revokeApiKey(this.redis, keyId);
      const next: App = { ...app, keys: app.keys.filter((k) => k.id !== keyId) };
      await this.#save(next);
      return next;
    });
  }

  /** Revokes every rotated key whose grace period has ended; returns how many. */
  expire(): Promise<number> {
    return this.#serial(async () => {
      const now = this.clock.now();
      let revoked = 0;
      for (const app of await this.all()) {
        const expired = app.keys.filter((k) => k.expiresAt !== undefined && Date.parse(k.expiresAt) <= now);
        if (expired.length === 0) continue;
        for (const key of expired) await revokeApiKey(this.redis, key.id);
        await this.#save({ ...app, keys: app.keys.filter((k) => !expired.includes(k)) });
        revoked += expired.length;
      }
      return revoked;
    });
  }

  async #addKey(app: App): Promise<{ app: App; key: AppKey; secret: string }> {
    if (app.state !== "approved")
      throw new AppConflict(`app ${app.id}: its subscription to ${app.plan} awaits approval`);
    const { secret, record } = await createApiKey(this.redis, this.clock, {
      name: `portal app ${app.name} (${app.id})`,
      labels: { [keyLabels.product]: app.product },
      metadata: { [keyMetadata.plan]: app.plan, [keyMetadata.owner]: app.owner, [keyMetadata.app]: app.id },
    });
    const key: AppKey = { id: record.id, createdAt: record.createdAt };
    const next: App = { ...app, keys: [...app.keys, key] };
    try {
      await this.#save(next);
    } catch (err) {
      // Nothing half-applied: a key its app does not list would never be shown or revoked.
      await revokeApiKey(this.redis, record.id).catch(() => undefined);
      throw err;
    }
    return { app: next, key, secret };
  }

  async #mustGet(id: string): Promise<App> {
    const app = await this.get(id);
    if (!app) throw new AppNotFound(`no app ${id}`);
    return app;
  }
}
