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


/** The rate window kept for `perMs`: RATE_MARGIN_MS longer, at most a twentieth of it. */
export function rateWindowMs(perMs: number): number {
  return perMs + Math.min(RATE_MARGIN_MS, Math.floor(perMs / 20));
}

/**
 * Queue limits held by the claim of STEP (lua.ts), in fragments interpolated there. The consumer
 * sends them as STEP's last argument: per limited queue '<index among its queues>:<global
 * concurrency>:<max>:<window ms>' (an empty field: no such limit), ',' between, or '' when none of
 * its queues has limits; then `qlim` is nil and every fragment is one check of it. The running
 * count is the queue's counter 'process:<queue>' in '<base>n', which the claim raises and every
 * settlement, hand-back and lease recovery lowers; the start log is '<base>rl:q:<queue>' (ZSET of
 * '<lease member>@<claim time>' by claim time), the key the worker's gate uses for the same limit.
 * A queue whose running slots are all taken while tasks wait is marked '<base>gw:<queue>'; the
 * first step that finds a slot free again turns the mark into a wake-up marker for an idle worker.
 */
export const CLAIM_LIMITS_SETUP = `
local qlim, limits_after = nil, nil
if ARGV[#ARGV] ~= '' then
  qlim = {}
  for qi, c, mx, w in string.gmatch(ARGV[#ARGV], '(%d+):(%d*):(%d*):(%d*)') do
    qlim[ARGV[4 + tonumber(qi)]] = { conc = tonumber(c), max = tonumber(mx), win = tonumber(w) }
  end
end
-- the queues (all limited ones, or those just claimed from) with tasks waiting: marks and wakes for
-- running slots; after a claim, the earliest time a full rate window lets one more start (-1: none)
-- (made only for a consumer with limits: the others build no closure)
if qlim then limits_after = function(qs, claimed)
  local at = -1
  for queue, l in pairs(qs) do
    if redis.call('ZCARD', p .. 'q:' .. queue) > 0 then
      if l.conc then
        local mark = p .. 'gw:' .. queue
        if (tonumber(redis.call('HGET', p .. 'n', 'process:' .. queue)) or 0) >= l.conc then
          redis.call('SET', mark, '1', 'NX')
        elseif redis.call('DEL', mark) == 1 then
          redis.call('ZADD', p .. 'w:' .. queue, '0', 'w')
        end
      end
      if claimed and l.max then
        local rk = p .. 'rl:q:' .. queue
        if redis.call('ZCARD', rk) >= l.max then
          local first = redis.call('ZRANGE', rk, 0, 0, 'WITHSCORES')
          local free_at = tonumber(first[2]) + l.win
          if at < 0 or free_at < at then at = free_at end
        end
      end
    end
  end
  return at
end end
`;

/** A step that only settles (after its running counts moved): a running slot it frees wakes a worker waiting for one. */
export const CLAIM_LIMITS_SETTLED = `
  if qlim and nops > 0 then limits_after(qlim, false) end
`;

/**
 * Before the claim pops: per limited queue among `queues` (not paused), how many it may give now
 * (`allow`, nil without limits: the claim takes up to `count` from each queue).
 */
export const CLAIM_LIMITS_ALLOW = `
local allow, lim_seen = nil, nil
if qlim then
  allow, lim_seen = {}, {}
  for _, queue in ipairs(queues) do
    local l = qlim[queue]
    if l then
      lim_seen[queue] = l
      local a = count
      if l.conc then
        -- less what this step settled from the queue (STEP moves the count once, after the claim)
        local running = (tonumber(redis.call('HGET', p .. 'n', 'process:' .. queue)) or 0) - (unrun[queue] or 0)
        a = math.min(a, l.conc - math.max(0, running))
      end
      if l.max then
        local rk = p .. 'rl:q:' .. queue
        redis.call('ZREMRANGEBYSCORE', rk, '-inf', now - l.win)
        a = math.min(a, l.max - redis.call('ZCARD', rk))
      end
      allow[queue] = math.max(0, a)
    end
  end
end
`;

/** After the claim (`moved`: per queue the lease members taken): log the starts, count the allowance down. */
export const CLAIM_LIMITS_TAKEN = `
if allow then
  for queue, mv in pairs(moved) do
    local l = lim_seen[queue]
    if l then
      allow[queue] = allow[queue] - #mv.ms
      if l.max then
        local rk, log = p .. 'rl:q:' .. queue, {}
        for _, lm in ipairs(mv.ms) do
          log[#log + 1] = now_s
          log[#log + 1] = lm .. '@' .. now_s
        end
        redis.call('ZADD', rk, unpack(log))
        redis.call('PEXPIRE', rk, l.win + 1000)
      end
    end
  end
end
`;

/** Last, before STEP returns: the next time a full rate window frees joins the due time it reports. */
export const CLAIM_LIMITS_DUE = `
if allow then
  local at = limits_after(lim_seen, true)
  if at >= 0 and (tonumber(out[3]) < 0 or at < tonumber(out[3])) then out[3] = at end
end
`;
