/**
 * Where browser sessions live. The cookie carries a handle: a random id for a server-side store,
 * the sealed session itself for the cookie store. Values are opaque strings to the store.
 */
export interface SessionStore {
  /** The value for the handle a cookie carried, or undefined when unknown, expired or tampered with. */
  get(handle: string): Promise<string | undefined>;
  /**
   * Stores `value` for `ttlMs` and resolves to the handle the cookie must carry from now on. A
   * server-side store keeps an existing handle; `undefined` asks for a new one.
   */
  set(handle: string | undefined, value: string, ttlMs: number): Promise<string>;
  /** Forgets the session. */
  delete(handle: string): Promise<void>;
  /**
   * Takes a short exclusive claim on the session (to refresh its tokens) for at most `ttlMs`, or
   * resolves to false while someone else holds it. Resolves to a release function when taken. A
   * store without shared state grants every claim.
   */
  claim(handle: string, ttlMs: number): Promise<(() => Promise<void>) | false>;
}
