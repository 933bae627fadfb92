/** The limiter's scripts (limiter.ts): running slots `<base>gc:<key>`, start logs `<base>rl:<key>`. */

/** Added to each rate window (capped at a twentieth of it): the grant and the handler's start are a few ms apart. */
export const RATE_MARGIN_MS = 50;

/**
 * KEYS: any key of the app. ARGV: base, token, holdMs, concurrency key ('' none), limit, rate key
 * ('' none), max, window ms. Returns 0 when taken, else ms to wait before asking again.
 */
export const LIMIT = `
local p, token, hold = ARGV[1], ARGV[2], tonumber(ARGV[3])
local ckey, climit, rkey, rmax, rwin = ARGV[4], tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
local ck, rk
if ckey ~= '' then
  ck = p .. 'gc:' .. ckey
  redis.call('ZREMRANGEBYSCORE', ck, '-inf', now)
  -- a slot frees when a task ends: ask again soon
  if not redis.call('ZSCORE', ck, token) and redis.call('ZCARD', ck) >= climit then wait = 20 end
end
if rkey ~= '' then
  rk = p .. 'rl:' .. rkey
  redis.call('ZREMRANGEBYSCORE', rk, '-inf', now - rwin)
  if redis.call('ZCARD', rk) >= rmax then
    local first = redis.call('ZRANGE', rk, 0, 0, 'WITHSCORES')
    wait = math.max(wait, tonumber(first[2]) + rwin - now + 1)
  end
end
if wait > 0 then return wait end
if ck then
  redis.call('ZADD', ck, now + hold, token)
  redis.call('PEXPIRE', ck, hold * 2)
end
if rk then
  redis.call('ZADD', rk, now, token)
  redis.call('PEXPIRE', rk, rwin + 1000)
end
return 0
`;

/** KEYS: the slot ZSET. ARGV: token, holdMs ('' to release). */
export const SLOT = `
if ARGV[2] == '' then return redis.call('ZREM', KEYS[1], ARGV[1]) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return 1
`;

