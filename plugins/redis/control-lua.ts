/**
 * The control plane's Lua (plugins/redis/control.ts). Same conventions as lua.ts: one declared
 * key for routing, the app's key base in ARGV[1], server time. Status indexes are ZSETs
 * '<base>s:<status>:<queue>' of ids scored by when they entered the status (ENQUEUE and STEP keep
 * them); '<base>queues' is every queue seen; '<base>paused' the paused queues ('*': all).
 */
import { COMMON, LEASE_OF } from './lua.js';

const STATUSES = "{ 'new', 'delayed', 'process', 'retry', 'success', 'error', 'cancel', 'dead' }";

/** Finds a queued task's entry by id: its ready member (from the job's head) or its delayed member. */
const LOCATE = `
-- returns 'q', key, member (ready) or 'd', key, member (delayed) or nil; and the decoded message
local function locate(p, id, j, r)
  local bar = string.find(j, '|', 1, true)
  if not bar then return nil end
  local m = string.sub(j, bar + 1)
  local ok, msg = pcall(cjson.decode, m)
  if not ok or type(msg) ~= 'table' or type(msg.queue) ~= 'string' then return nil end
  local hash = string.find(j, '#', 1, true)
  if hash and hash < bar then
    -- the ready member '<head>:<id>' (or, written before messages were stored once, with the message after a newline)
    local member = string.sub(j, hash + 1, bar - 1) .. ':' .. id
    if redis.call('ZSCORE', p .. 'q:' .. msg.queue, member) then return 'q', p .. 'q:' .. msg.queue, member, msg end
    member = member .. '\\n' .. m
    if redis.call('ZSCORE', p .. 'q:' .. msg.queue, member) then return 'q', p .. 'q:' .. msg.queue, member, msg end
  end
  local n = r and tonumber(string.match(r, '^(%d+)|')) or 0
  for tried = n, n + 7 do
    local member = tried .. ':' .. id
    if redis.call('ZSCORE', p .. 'delayed', member) then return 'd', p .. 'delayed', member, msg end
  end
  return nil, nil, nil, msg
end
local function leased(p, id, r)
  local n = r and tonumber(string.match(r, '^(%d+)|')) or 0
  for tried = n, n + 7 do
    if redis.call('ZSCORE', p .. 'leases', tried .. ':' .. id) then return tried + 1 end
  end
  return nil
end
-- how many deliveries a located entry had: ready members start '<16 hex><tried>:', delayed ones '<tried>:'
local function tried_of(where, member)
  local colon = string.find(member, ':', where == 'q' and 17 or 1, true)
  return tonumber(string.sub(member, where == 'q' and 17 or 1, colon - 1)) or 0
end
local function unindex(p, id, queue)
  for _, status in ipairs(${STATUSES}) do redis.call('ZREM', sidx(p, status, queue), id) end
end
`;

/**
 * KEYS: paused. ARGV: base, queues... (none: every queue seen). Per queue: name, 8 cardinalities,
 * paused flag. 'new' and 'process' add the broker's counters (lua.ts) to the indexes a storage
 * beside another broker keeps (only one of the two is ever non-empty).
 */
export const COUNTS = `${COMMON}
local p = ARGV[1]
local queues = {}
for i = 2, #ARGV do queues[#queues + 1] = ARGV[i] end
if #queues == 0 then
  queues = redis.call('SMEMBERS', p .. 'queues')
  table.sort(queues)
end
local all = redis.call('SISMEMBER', KEYS[1], '*')
local out = {}
for _, queue in ipairs(queues) do
  out[#out + 1] = queue
  local tallied = redis.call('HMGET', p .. 'n', 'new:' .. queue, 'process:' .. queue)
  for _, status in ipairs(${STATUSES}) do
    local n = redis.call('ZCARD', sidx(p, status, queue))
    if status == 'new' then n = n + (tonumber(tallied[1]) or 0) elseif status == 'process' then n = n + (tonumber(tallied[2]) or 0) end
    out[#out + 1] = math.max(n, 0)
  end
  out[#out + 1] = (all == 1 or redis.call('SISMEMBER', KEYS[1], queue) == 1) and 1 or 0
end
return out
`;

/**
 * KEYS: queues. ARGV: base, status, queue ('' all), name ('' any), limit, cursor score ('' none),
 * cursor id. Newest first over the queues' indexes (ties: id descending); looks at most
 * limit + 64 entries per queue. Returns { more (1/0), last score, last id, then per record: r, lease, j, progress, id
 * (and its score when ARGV[8] is 's') }.
 */
export const LIST = `${COMMON}${LEASE_OF}
local p = ARGV[1]
local status, only, name, limit = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local cs, cid = ARGV[6], ARGV[7]
-- 's': each record also carries its score (placement 'queue' merges the pages of its queues by it)
local with_scores = ARGV[8] == 's'
local max = cs == '' and '+inf' or cs
local queues = only ~= '' and { only } or redis.call('SMEMBERS', p .. 'queues')
local fetch = limit + 64
local cands, full = {}, false
for _, queue in ipairs(queues) do
  local got = redis.call('ZREVRANGEBYSCORE', sidx(p, status, queue), max, '-inf', 'WITHSCORES', 'LIMIT', 0, fetch)
  if #got / 2 >= fetch then full = true end
  for k = 1, #got, 2 do
    local score = tonumber(got[k + 1])
    if cs == '' or score < tonumber(cs) or (score == tonumber(cs) and got[k] < cid) then cands[#cands + 1] = { score, got[k] } end
  end
end
table.sort(cands, function(a, b)
  if a[1] ~= b[1] then return a[1] > b[1] end
  return a[2] > b[2]
end)
local out = { 0, '', '' }
local found = 0
local looked = 0
for _, c in ipairs(cands) do
  if found >= limit then break end
  looked = looked + 1
  local tid = c[2]
  local rec = redis.call('GET', p .. 'r:' .. tid)
  local job = redis.call('GET', p .. 'j:' .. tid)
  local src = rec or job
  if src then
    local ok = name == ''
    if not ok then ok = name_in(src, string.find(src, '|', 1, true) + 1) == name end
    if ok then
      local lease = lease_of(p, tid, rec, job)
      out[#out + 1] = rec
      out[#out + 1] = lease
      out[#out + 1] = job
      out[#out + 1] = lease and redis.call('GET', p .. 'p:' .. tid) or false
      out[#out + 1] = tid
      if with_scores then out[#out + 1] = string.format('%d', c[1]) end
      found = found + 1
    end
  end
  out[2] = string.format('%d', c[1])
  out[3] = tid
end
if looked < #cands or full then out[1] = 1 end
return out
`;

/**
 * KEYS: record. ARGV: base, id, reason, leaseMs. A queued or delayed task leaves its queue
 * ({ 'queued', record, job }; the client writes the cancel record); a running one gets a
 * tombstone and a message on '<base>ctl' ({ 'running' }); else { 'final' } or { 'unknown' }.
 */
export const CANCEL = `${COMMON}${LOCATE}
local p, id, reason = ARGV[1], ARGV[2], ARGV[3]
local r = redis.call('GET', KEYS[1])
local j = redis.call('GET', p .. 'j:' .. id)
if j then
  local where, key, member, msg = locate(p, id, j, r)
  if where then
    redis.call('ZREM', key, member)
    redis.call('DEL', p .. 'j:' .. id)
    unindex(p, id, msg.queue)
    if tried_of(where, member) == 0 then tally(p, 'new', msg.queue, -1) end
    redis.call('ZADD', sidx(p, 'cancel', msg.queue), now_ms(), id)
    local n = r and tonumber(string.match(r, '^(%d+)|')) or 0
    emit(p, 'cancelled', { id, type(msg.name) == 'string' and msg.name or '', msg.queue, n, reason })
    return { 'queued', r, j }
  end
  if leased(p, id, r) then
    redis.call('SET', p .. 'c:' .. id, reason, 'PX', tonumber(ARGV[4]) * 3)
    redis.call('PUBLISH', p .. 'ctl', id .. '\\n' .. reason)
    return { 'running' }
  end
  return { 'unknown' }
end
if r then
  local ok, rec = pcall(cjson.decode, string.sub(r, string.find(r, '|', 1, true) + 1))
  if ok and type(rec) == 'table' and (rec.status == 'success' or rec.status == 'error' or rec.status == 'cancel' or rec.status == 'dead') then return { 'final' } end
end
return { 'unknown' }
`;

/** KEYS: record. ARGV: base, id, message JSON, new record ('0|<JSON>'). Only an error or dead task with no job. */
export const RETRY = `${COMMON}
local p, id, m = ARGV[1], ARGV[2], ARGV[3]
local r = redis.call('GET', KEYS[1])
if not r or redis.call('EXISTS', p .. 'j:' .. id) == 1 then return 0 end
local ok, rec = pcall(cjson.decode, string.sub(r, string.find(r, '|', 1, true) + 1))
if not ok or type(rec) ~= 'table' or (rec.status ~= 'error' and rec.status ~= 'dead') then return 0 end
local msg = cjson.decode(m)
local now = now_ms()
redis.call('SET', KEYS[1], ARGV[4])
redis.call('ZREM', sidx(p, rec.status, rec.queue), id)
tally(p, 'new', msg.queue, 1)
redis.call('SADD', p .. 'queues', msg.queue)
make_ready(p, now, 0, id, msg.queue, msg.priority, m)
emit(p, 'added', { id, msg.name, msg.queue, 0, '' })
return 1
`;

/** KEYS: record. ARGV: base, id. A delayed (or retry-waiting) task goes to its ready queue now. */
export const PROMOTE = `${COMMON}${LOCATE}
local p, id = ARGV[1], ARGV[2]
local r = redis.call('GET', KEYS[1])
local j = redis.call('GET', p .. 'j:' .. id)
if not j then return 0 end
local where, key, member = locate(p, id, j, r)
if where ~= 'd' then return 0 end
redis.call('ZREM', key, member)
requeue(p, now_ms(), member, 0)
return 1
`;

/** KEYS: record. ARGV: base, id. Deletes a task that is not running: entry, job, record, progress, indexes. */
export const REMOVE = `${COMMON}${LOCATE}
local p, id = ARGV[1], ARGV[2]
local r = redis.call('GET', KEYS[1])
local j = redis.call('GET', p .. 'j:' .. id)
if j and leased(p, id, r) then return 0 end
local queue
if j then
  local where, key, member, msg = locate(p, id, j, r)
  if where then
    redis.call('ZREM', key, member)
    if msg and tried_of(where, member) == 0 then tally(p, 'new', msg.queue, -1) end
  end
  if msg then queue = msg.queue end
end
if not queue and r then
  local ok, rec = pcall(cjson.decode, string.sub(r, string.find(r, '|', 1, true) + 1))
  if ok and type(rec) == 'table' then queue = rec.queue end
end
if queue then unindex(p, id, queue) end
return redis.call('DEL', KEYS[1], p .. 'j:' .. id, p .. 'p:' .. id, p .. 'a:' .. id) > 0 and 1 or 0
`;

/** KEYS: queues. ARGV: base, status, age (ms), limit. Deletes records that entered \`status\` more than age ago. */
export const CLEAN = `${COMMON}
local p, status, left = ARGV[1], ARGV[2], tonumber(ARGV[4])
local before = string.format('%d', now_ms() - tonumber(ARGV[3]))
local n = 0
for _, queue in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if left <= 0 then break end
  local key = sidx(p, status, queue)
  local ids = redis.call('ZRANGEBYSCORE', key, '-inf', before, 'LIMIT', 0, math.min(left, 1000))
  if #ids > 0 then
    local dels = {}
    for _, id in ipairs(ids) do
      dels[#dels + 1] = p .. 'r:' .. id
      dels[#dels + 1] = p .. 'p:' .. id
      dels[#dels + 1] = p .. 'a:' .. id
    end
    redis.call('DEL', unpack(dels))
    redis.call('ZREM', key, unpack(ids))
    n = n + #ids
    left = left - #ids
  end
end
return n
`;

/** KEYS: queues. ARGV: base, queue, batch. Drops up to \`batch\` waiting or delayed tasks (and their records); returns how many. */
export const PURGE = `${COMMON}${LOCATE}
local p, queue, batch = ARGV[1], ARGV[2], tonumber(ARGV[3])
local n = 0
local ready = redis.call('ZRANGE', p .. 'q:' .. queue, 0, batch - 1)
for _, member in ipairs(ready) do
  local colon = string.find(member, ':', 17, true)
  if colon then
    local nl = string.find(member, '\\n', colon + 1, true)
    local id = string.sub(member, colon + 1, nl and nl - 1 or -1)
    redis.call('DEL', p .. 'j:' .. id, p .. 'r:' .. id)
    unindex(p, id, queue)
    if tried_of('q', member) == 0 then tally(p, 'new', queue, -1) end
  end
  n = n + 1
end
if #ready > 0 then redis.call('ZREM', p .. 'q:' .. queue, unpack(ready)) end
-- delayed: new tasks (index 'delayed') and retries waiting for their time (index 'retry', not running)
for _, status in ipairs({ 'delayed', 'retry' }) do
  for _, id in ipairs(redis.call('ZRANGE', sidx(p, status, queue), 0, batch - 1)) do
    local r = redis.call('GET', p .. 'r:' .. id)
    local j = redis.call('GET', p .. 'j:' .. id)
    if j then
      local where, key, member = locate(p, id, j, r)
      if where == 'd' then
        redis.call('ZREM', key, member)
        redis.call('DEL', p .. 'j:' .. id, p .. 'r:' .. id)
        unindex(p, id, queue)
        if tried_of('d', member) == 0 then tally(p, 'new', queue, -1) end
        n = n + 1
      end
    elseif not leased(p, id, r) then
      redis.call('ZREM', sidx(p, status, queue), id)
    end
  end
end
return n
`;

/** KEYS: paused. ARGV: base, queue or '*', '1' pause / '' resume. Resume wakes idle workers. */
export const PAUSE = `${COMMON}
local p, queue = ARGV[1], ARGV[2]
if ARGV[3] == '1' then
  redis.call('SADD', KEYS[1], queue)
  return 1
end
redis.call('SREM', KEYS[1], queue)
local queues = queue == '*' and redis.call('SMEMBERS', p .. 'queues') or { queue }
for _, q in ipairs(queues) do redis.call('ZADD', p .. 'w:' .. q, 0, 'w') end
return 1
`;

/** KEYS: leases. ARGV: base, id, attempt, value JSON, name, queue, ttl. Fenced on the running delivery. */
export const PROGRESS = `${COMMON}
local p, id, attempt = ARGV[1], ARGV[2], tonumber(ARGV[3])
if not redis.call('ZSCORE', KEYS[1], (attempt - 1) .. ':' .. id) then return 0 end
redis.call('SET', p .. 'p:' .. id, attempt .. '|' .. ARGV[4], 'PX', ARGV[7])
emit(p, 'progress', { id, ARGV[5], ARGV[6], attempt, ARGV[4] })
return 1
`;
