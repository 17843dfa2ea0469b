import { describe, expect, it } from "vitest";
import { EncryptedCookieSessionStore } from "../../../src/extauth/sessions/index.js";
import { ManualClock } from "../../../src/lib/index.js";

const key = new Uint8Array(32).fill(3);

describe("EncryptedCookieSessionStore", () => {
  it("seals a value into the handle and opens it again until its TTL passes", async () => {
    const clock = new ManualClock();
    const store = new EncryptedCookieSessionStore(key, "session", clock);
    const handle = await store.set(undefined, '{"user":"ada"}', 60_000);
    expect(handle).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(handle).not.toContain("ada");
    expect(await store.get(handle)).toBe('{"user":"ada"}');
    clock.advance(59_999);
    expect(await store.get(handle)).toBe('{"user":"ada"}');
    clock.advance(1);
    expect(await store.get(handle)).toBeUndefined();
  });

  it("refuses tampered, truncated and foreign values", async () => {
    const clock = new ManualClock();
    const store = new EncryptedCookieSessionStore(key, "session", clock);
    const handle = await store.set(undefined, "secret", 60_000);
    const parts = handle.split(".");
    const flipped = `${parts[2]?.startsWith("A") ? "B" : "A"}${parts[2]?.slice(1)}`;
    expect(await store.get([parts[0], parts[1], flipped, parts[3]].join("."))).toBeUndefined();
    expect(await store.get(parts.slice(0, 3).join("."))).toBeUndefined();
    expect(await store.get(`v2.${parts.slice(1).join(".")}`)).toBeUndefined();
    expect(await store.get("garbage")).toBeUndefined();
    const otherKey = new EncryptedCookieSessionStore(new Uint8Array(32).fill(4), "session", clock);
    expect(await otherKey.get(handle)).toBeUndefined();
    // A login cookie cannot stand in for a session cookie, even under the same key.
    const logins = new EncryptedCookieSessionStore(key, "login", clock);
    expect(await logins.get(handle)).toBeUndefined();
  });

  it("gives a new handle on every write", async () => {
    const store = new EncryptedCookieSessionStore(key, "session", new ManualClock());
    const first = await store.set(undefined, "v", 1_000);
    expect(await store.set(first, "v", 1_000)).not.toBe(first);
  });

  it("grants every claim: each request carries its own copy of the session", async () => {
    const store = new EncryptedCookieSessionStore(key, "session", new ManualClock());
    const first = await store.claim();
    expect(await store.claim()).toBeInstanceOf(Function);
    await first();
  });

  it("rejects keys that are not 32 bytes", () => {
    expect(() => new EncryptedCookieSessionStore(new Uint8Array(16), "session", new ManualClock())).toThrow(/32 bytes/);
  });
});
