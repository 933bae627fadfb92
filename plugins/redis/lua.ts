/**
 * The Lua sources. Each script gets one declared key (so ioredis Cluster routes it to the app's
 * slot) and the app's key base in ARGV[1]; other keys are built from the base and share its hash
 * tag. Times come from the server (`TIME`), so clients with skewed clocks agree on leases and delays.
 *
 * Task hash fields (`<base>j:<id>`): m message JSON, q queue, p priority, r record JSON,
 * n record attempts (the storage fence), d deliveries so far (the lease token), c claim time
 * (present while a delivery runs), w a waiter exists (publish the final record).
 */

const COMMON = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function make_ready(p, id, queue, prio)
  local seq = redis.call('INCR', p .. 'seq')
  redis.call('ZADD', p .. 'q:' .. queue, prio, string.format('%016x', seq) .. id)
  redis.call('ZADD', p .. 'w:' .. queue, 0, 'w')
end
local function dead_letter(p, entry)
  redis.call('LPUSH', p .. 'dead', entry)
  redis.call('LTRIM', p .. 'dead', 0, 9999)
end
`;

/** KEYS: job. ARGV: base, id, queue, priority, message, record ('' when the broker keeps no records), delayMs. */
export const ENQUEUE = `${COMMON}
local p, job = ARGV[1], KEYS[1]
if ARGV[6] ~= '' then
  redis.call('HSET', job, 'm', ARGV[5], 'q', ARGV[3], 'p', ARGV[4], 'r', ARGV[6], 'n', 0)
else
  redis.call('HSET', job, 'm', ARGV[5], 'q', ARGV[3], 'p', ARGV[4])
end
local delay = tonumber(ARGV[7])
if delay > 0 then
  redis.call('ZADD', p .. 'delayed', now_ms() + delay, ARGV[2])
  -- wake an idle worker so it shortens its blocking timeout to this task's time
  redis.call('ZADD', p .. 'w:' .. ARGV[3], 0, 'w')
else
  make_ready(p, ARGV[2], ARGV[3], ARGV[4])
end
return 1
`;

/**
 * Settle a batch of deliveries, then promote due delayed tasks, recover expired leases and claim
 * up to `count` tasks, all in one call.
 * KEYS: leases. ARGV: base, leaseMs, count, nq, queue x nq, nops, then per op
 * kind (a ack, r retry, d dead, x malformed), id, attempt, record, number (ttl or delay), extra.
 * Returns { settled flags ('1'/'0' per op), server now, next due time or -1, id, attempt, message, ... }.
 */
export const STEP = `${COMMON}
local p, leases = ARGV[1], KEYS[1]
local lease, count, nq = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_ms()
local i = 5 + nq
local nops = tonumber(ARGV[i])
i = i + 1
local flags = {}
for k = 1, nops do
  local kind, id, attempt, rec, num, extra = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4]), ARGV[i + 5]
  i = i + 6
  local job = p .. 'j:' .. id
  local v = redis.call('HMGET', job, 'd', 'c', 'w', 'q', 'p')
  local st = 0
  if v[1] == attempt then
    if redis.call('ZREM', leases, id) == 1 then
      st = 1
    elseif not v[2] then
      st = 2 -- this delivery settled already: a command resent after a reconnect
    end
  end
  if st == 1 then
    if kind == 'r' then
      if rec ~= '' then redis.call('HSET', job, 'r', rec, 'n', attempt) end
      redis.call('HDEL', job, 'c')
      if num > 0 then
        redis.call('ZADD', p .. 'delayed', now + num, id)
        redis.call('ZADD', p .. 'w:' .. v[4], 0, 'w')
      else
        make_ready(p, id, v[4], v[5])
      end
    elseif kind == 'x' then
      dead_letter(p, extra)
      redis.call('DEL', job)
    else
      if kind == 'd' then
        dead_letter(p, cjson.encode({ id = id, reason = extra, payload = redis.call('HGET', job, 'm') or '' }))
      end
      if rec == '' then
        redis.call('DEL', job)
      else
        redis.call('HSET', job, 'r', rec, 'n', attempt)
        redis.call('HDEL', job, 'c', 'm')
        redis.call('PEXPIRE', job, num)
        if v[3] then redis.call('PUBLISH', p .. 'done', rec) end
      end
    end
  end
  flags[k] = st > 0 and '1' or '0'
end

local out = { table.concat(flags), now, -1 }
if count <= 0 then return out end

-- due delayed tasks and expired leases go (back) to their ready queues
local function requeue(key)
  local ids = redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, 500)
  if #ids == 0 then return end
  for _, id in ipairs(ids) do
    local qp = redis.call('HMGET', p .. 'j:' .. id, 'q', 'p')
    if qp[1] then make_ready(p, id, qp[1], qp[2]) end
  end
  redis.call('ZREM', key, unpack(ids))
end
requeue(p .. 'delayed')
requeue(leases)

local members = {}
if nq == 1 then
  local popped = redis.call('ZPOPMIN', p .. 'q:' .. ARGV[5], count)
  for j = 1, #popped, 2 do members[#members + 1] = popped[j] end
else
  local cands = {}
  for q = 1, nq do
    local key = p .. 'q:' .. ARGV[4 + q]
    local r = redis.call('ZRANGE', key, 0, count - 1, 'WITHSCORES')
    for j = 1, #r, 2 do cands[#cands + 1] = { tonumber(r[j + 1]), r[j], key } end
  end
  table.sort(cands, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  for j = 1, math.min(count, #cands) do
    redis.call('ZREM', cands[j][3], cands[j][2])
    members[#members + 1] = cands[j][2]
  end
end

local leased = {}
for _, member in ipairs(members) do
  local id = string.sub(member, 17)
  local job = p .. 'j:' .. id
  local m = redis.call('HGET', job, 'm')
  if not m then
    dead_letter(p, cjson.encode({ id = id, reason = 'malformed message: ready entry without a stored message', payload = member }))
  else
    local d = redis.call('HINCRBY', job, 'd', 1)
    redis.call('HSET', job, 'c', now, 'n', d)
    leased[#leased + 1] = now + lease
    leased[#leased + 1] = id
    out[#out + 1] = id
    out[#out + 1] = d
    out[#out + 1] = m
  end
end
if #leased > 0 then redis.call('ZADD', leases, unpack(leased)) end

if #members == count then
  -- there may be more: leave a marker so another idle worker wakes up
  for q = 1, nq do
    if redis.call('ZCARD', p .. 'q:' .. ARGV[4 + q]) > 0 then redis.call('ZADD', p .. 'w:' .. ARGV[4 + q], 0, 'w') end
  end
else
  local nextAt = -1
  local dh = redis.call('ZRANGE', p .. 'delayed', 0, 0, 'WITHSCORES')
  if dh[2] then nextAt = tonumber(dh[2]) end
  local lh = redis.call('ZRANGE', leases, 0, 0, 'WITHSCORES')
  if lh[2] and (nextAt < 0 or tonumber(lh[2]) < nextAt) then nextAt = tonumber(lh[2]) end
  out[3] = nextAt
end
return out
`;

/** KEYS: leases. ARGV: base, leaseMs, then id, attempt pairs. Extends the leases this worker still owns. */
export const RENEW = `${COMMON}
local until_ms = now_ms() + tonumber(ARGV[2])
local n = 0
for i = 3, #ARGV, 2 do
  if redis.call('HGET', ARGV[1] .. 'j:' .. ARGV[i], 'd') == ARGV[i + 1] then
    n = n + redis.call('ZADD', KEYS[1], 'XX', 'CH', until_ms, ARGV[i])
  end
end
return n
`;

/** KEYS: job. ARGV: done channel, record, attempts, final ('1' or ''), ttlMs. Fenced on attempts. */
export const SAVE = `
local n = redis.call('HGET', KEYS[1], 'n')
if n and tonumber(n) > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], 'r', ARGV[2], 'n', ARGV[3])
redis.call('HDEL', KEYS[1], 'c')
if ARGV[4] == '1' then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  if redis.call('HEXISTS', KEYS[1], 'w') == 1 then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
else
  redis.call('PERSIST', KEYS[1])
end
return 1
`;

/** KEYS: job. Marks that someone waits for the final record and returns the current one (r, c, n). */
export const WATCH = `
local v = redis.call('HMGET', KEYS[1], 'r', 'c', 'n')
if v[1] then redis.call('HSET', KEYS[1], 'w', 1) end
return v
`;

/** KEYS: workers. ARGV: worker id, ttlMs. */
export const HEARTBEAT = `${COMMON}
local now, ttl = now_ms(), tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`;

/** KEYS: workers. The number of workers with a live heartbeat. */
export const ALIVE = `${COMMON}
return redis.call('ZCOUNT', KEYS[1], '(' .. now_ms(), '+inf')
`;
