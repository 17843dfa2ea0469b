/*
 * How a write to the management Redis is made truthful. A write whose reply does not come (Redis
 * hung, connection lost) may still run later, so its outcome is never guessed:
 *   - each write carries an id and a fence, a time on Redis' own clock after which the script
 *     refuses to run; the script records its outcome under <prefix>write:<id> (for ten minutes);
 *   - a write that got no reply is resolved by `resolveScript`, which returns the recorded outcome,
 *     or, when there is none, records "refused" so that the write, if it arrives later, refuses
 *     too. Scripts run one at a time, so whichever comes first decides, and both sides agree.
 * The fence covers the last case, a Redis that answers nothing until after the caller gave up:
 * by then its clock is past the fence, and the write refuses whenever it arrives.
 */

/** Both write scripts start here. KEYS: docs, revs, revision, write record. ARGV: channel, fence, record TTL, ... */
const prelude = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prior = redis.call('GET', KEYS[4])
if prior then return {prior, now} end
if now > tonumber(ARGV[2]) then
  redis.call('SET', KEYS[4], 'refused', 'PX', ARGV[3])
  return {'refused', now}
end
local function done(revision, fields)
  local outcome = cjson.encode({revision = revision, fields = fields})
  redis.call('SET', KEYS[4], outcome, 'PX', ARGV[3])
  return {outcome, now}
end
`;

/** ARGV[4..]: field, canonical JSON, field, JSON, ... */
export const applyScript = `${prelude}
local changed = {}
for i = 4, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) ~= ARGV[i + 1] then changed[#changed + 1] = i end
end
if #changed == 0 then return done(tonumber(redis.call('GET', KEYS[3]) or '0'), {}) end
local revision = redis.call('INCR', KEYS[3])
local fields = {}
for _, i in ipairs(changed) do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('HSET', KEYS[2], ARGV[i], revision)
  fields[#fields + 1] = ARGV[i]
end
redis.call('PUBLISH', ARGV[1], cjson.encode({revision = revision, upserted = fields, deleted = {}}))
return done(revision, fields)
`;

/** ARGV[4..]: fields to delete. */
export const deleteScript = `${prelude}
local deleted = {}
for i = 4, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then deleted[#deleted + 1] = ARGV[i] end
end
if #deleted == 0 then return done(tonumber(redis.call('GET', KEYS[3]) or '0'), {}) end
local revision = redis.call('INCR', KEYS[3])
for _, field in ipairs(deleted) do
  redis.call('HDEL', KEYS[1], field)
  redis.call('HDEL', KEYS[2], field)
end
redis.call('PUBLISH', ARGV[1], cjson.encode({revision = revision, upserted = {}, deleted = deleted}))
return done(revision, deleted)
`;

/** KEYS[1]: the write record. ARGV[1]: record TTL. */
export const resolveScript = `
local prior = redis.call('GET', KEYS[1])
if prior then return prior end
redis.call('SET', KEYS[1], 'refused', 'PX', ARGV[1])
return 'refused'
`;

/** How long a write's outcome is kept for resolving it: far longer than any caller waits. */
export const writeRecordTtlMs = 600_000;

export type WriteOutcome = { kind: "done"; revision: number; fields: string[] } | { kind: "refused" };

/** Reads what a write script or `resolveScript` returned. */
export function parseOutcome(text: string): WriteOutcome {
  if (text === "refused") return { kind: "refused" };
  const value = JSON.parse(text) as { revision: number; fields: string[] | Record<string, never> };
  // cjson encodes an empty Lua table as {}.
  return { kind: "done", revision: Number(value.revision), fields: Array.isArray(value.fields) ? value.fields : [] };
}

/**
 * Where Redis' clock stands against ours, learned from replies that carry Redis' time: a reply
 * stamped `redisNow` was made between `sentAt` and `repliedAt` (our clock), so the offset lies in
 * [redisNow - repliedAt, redisNow - sentAt]. Pure, for exact tests.
 */
export class RedisClockEstimate {
  /** Redis time minus ours, mid-range. */
  readonly offsetMs: number;
  /** Half the range: the offset is right to within this. */
  readonly uncertaintyMs: number;

  constructor(sentAt: number, repliedAt: number, redisNow: number) {
    this.offsetMs = redisNow - (sentAt + repliedAt) / 2;
    // +1: Redis' time is floored to the millisecond.
    this.uncertaintyMs = (repliedAt - sentAt) / 2 + 1;
  }

  /** The fence for a write sent at `sentAt` whose caller waits `budgetMs` for it: a time on Redis' clock. */
  fence(sentAt: number, budgetMs: number): number {
    return Math.ceil(sentAt + this.offsetMs + budgetMs);
  }

  /** The first time on our clock at which Redis' clock has surely passed `fence`. */
  surelyPast(fence: number): number {
    return fence - this.offsetMs + this.uncertaintyMs + 1;
  }
}
