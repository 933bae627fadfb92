/** The limiter's scripts (limiter.ts): running slots `<base>gc:<key>`, start logs `<base>rl:<key>`. */

/** Added to each rate window (capped at a twentieth of it): the grant and the handler's start are a few ms apart. */
export const RATE_MARGIN_MS = 50;

/**
 * KEYS: any key of the app. ARGV: base, token, holdMs, then the number of running slots and
 * (key, limit) for each, then the number of rate slots and (key, max, window ms) for each.
 * Takes all of them or none. Returns 0 when taken, else ms to wait before asking again.
 */
export const LIMIT = `
local p, token, hold = ARGV[1], ARGV[2], tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
local cks, rks = {}, {}
local i = 4
local nc = tonumber(ARGV[i])
for _ = 1, nc do
  local ck, climit = p .. 'gc:' .. ARGV[i + 1], tonumber(ARGV[i + 2])
  i = i + 2
  cks[#cks + 1] = ck
  redis.call('ZREMRANGEBYSCORE', ck, '-inf', now)
  -- a slot frees when a task ends: ask again soon
  if not redis.call('ZSCORE', ck, token) and redis.call('ZCARD', ck) >= climit then wait = math.max(wait, 20) end
end
i = i + 1
local nr = tonumber(ARGV[i])
local rwins = {}
for _ = 1, nr do
  local rk, rmax, rwin = p .. 'rl:' .. ARGV[i + 1], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  i = i + 3
  rks[#rks + 1] = rk
  rwins[#rwins + 1] = rwin
  redis.call('ZREMRANGEBYSCORE', rk, '-inf', now - rwin)
  if redis.call('ZCARD', rk) >= rmax then
    local first = redis.call('ZRANGE', rk, 0, 0, 'WITHSCORES')
    wait = math.max(wait, tonumber(first[2]) + rwin - now + 1)
  end
end
if wait > 0 then return wait end
for _, ck in ipairs(cks) do
  redis.call('ZADD', ck, now + hold, token)
  redis.call('PEXPIRE', ck, hold * 2)
end
for k, rk in ipairs(rks) do
  redis.call('ZADD', rk, now, token)
  redis.call('PEXPIRE', rk, rwins[k] + 1000)
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

