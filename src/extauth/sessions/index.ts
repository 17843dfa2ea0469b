export { EncryptedCookieSessionStore } from "./encrypted-cookie.js";
export { RedisSessionStore } from "./redis.js";
export type { SessionStore } from "./store.js";
