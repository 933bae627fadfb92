/**
 * The worker registry's scripts (GlobalConfig heartbeats). Two keys of the app: `workers`, a ZSET
 * of worker ids scored by when their heartbeat expires (server time), and `workers:info`, a hash
 * of worker id to the JSON its last heartbeat carried. A heartbeat drops the expired entries of
 * both, so dead workers need no cleanup job. KEYS: workers. Times come from the server (`TIME`).
 */

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** KEYS: workers. ARGV: worker id, ttlMs, info JSON, info hash key. */
export const HEARTBEAT = `${NOW}
local ttl, info = tonumber(ARGV[2]), ARGV[4]
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('HSET', info, ARGV[1], ARGV[3])
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #gone > 0 then
  redis.call('ZREM', KEYS[1], unpack(gone))
  redis.call('HDEL', info, unpack(gone))
end
-- both keys outlive the longest heartbeat, and go when every worker is gone
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
if redis.call('PTTL', info) < ttl then redis.call('PEXPIRE', info, ttl) end
return 1
`;

/** KEYS: workers. ARGV: worker id, info hash key. */
export const LEAVE = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', ARGV[2], ARGV[1])
return 1
`;

/** KEYS: workers. ARGV: info hash key. The info JSON of each live worker (false where it is missing). */
export const WORKERS = `${NOW}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
if #ids == 0 then return {} end
return redis.call('HMGET', ARGV[1], unpack(ids))
`;

/** KEYS: workers. The number of workers with a live heartbeat. */
export const ALIVE = `${NOW}
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
`;
