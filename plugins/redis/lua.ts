/**
 * The Lua sources. Each script gets one declared key (so ioredis Cluster routes it to the app's
 * slot) and the app's key base in ARGV[1]; other keys are built from the base and share its hash
 * tag. Times come from the server (`TIME`), so clients with skewed clocks agree on leases and delays.
 *
 * Per task: the string `<base>j:<id>` '<runAt>#<ready head>|<message JSON>' while it is queued or
 * running (runAt only for a delayed task; the ready head '<16 hex><tried>' of its ready member, so
 * control scripts can find the member by id); the string `<base>r:<id>`
 * '<attempts>|<record JSON>' once the record is past `new` (a `new` record is derived from m),
 * with a TTL when final; the app's `<base>waiting` set holds the ids someone waits for.
 *
 * Members: ready queues '<16 hex digits: the app's counter><deliveries so far>:<id>' scored by
 * priority (ties sort by member, so FIFO within a priority; the claim reads the messages from the
 * job strings, so each is stored once); leases '<deliveries before this one>:<id>' (the middle of the ready member; unique
 * per delivery, so it is the fencing token) scored by expiry; delayed '<deliveries>:<id>' by due time.
 */
import { CLAIM_LIMITS_ALLOW, CLAIM_LIMITS_DUE, CLAIM_LIMITS_SETTLED, CLAIM_LIMITS_SETUP, CLAIM_LIMITS_TAKEN } from './limiter-lua.js';

export const COMMON = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- the job string is '<runAt>|<message JSON>' (runAt empty unless the task was delayed)
local function message_of(p, id)
  local j = redis.call('GET', p .. 'j:' .. id)
  if not j then return false end
  local bar = string.find(j, '|', 1, true)
  return bar and string.sub(j, bar + 1) or j
end
local function dead_letter(p, entry)
  redis.call('LPUSH', p .. 'dead', entry)
  redis.call('LTRIM', p .. 'dead', 0, 9999)
end
-- the job string keeps the head of its ready member ('#<16 hex><tried>'): cancel and remove find the member by id
local function make_ready(p, now, tried, id, queue, prio, m)
  local head = string.format('%016x', redis.call('INCR', p .. 'seq')) .. tried
  redis.call('ZADD', p .. 'q:' .. queue, prio, head .. ':' .. id)
  redis.call('SET', p .. 'j:' .. id, '#' .. head .. '|' .. m)
  redis.call('ZADD', p .. 'w:' .. queue, '0', 'w')
end
-- status indexes: ZSETs '<base>s:<status>:<queue>' of ids scored by the time they entered the status
local function sidx(p, status, queue)
  return p .. 's:' .. status .. ':' .. queue
end
-- waiting ('new') and running ('process') tasks are not indexed per id: the ready queues and the
-- leases hold them already. Their numbers per queue are counters in the hash '<base>n', fields
-- 'new:<queue>' and 'process:<queue>', moved once per group of a batch (control-lua.ts lists them
-- from the queues and leases themselves)
local function tally(p, status, queue, delta)
  if delta ~= 0 then redis.call('HINCRBY', p .. 'n', status .. ':' .. queue, string.format('%d', delta)) end
end
-- a task name from JSON that starts at \`from\` as {"id":"...","name":"..." (how the kernel writes it); else decoded
local function name_in(s, from)
  local n = string.match(s, '^{"id":"[^"\\\\]*","name":"([^"\\\\]*)"', from)
  if n then return n end
  local ok, v = pcall(cjson.decode, string.sub(s, from))
  if ok and type(v) == 'table' and type(v.name) == 'string' then return v.name end
  return ''
end
-- the queue of a message as the kernel writes it ({"id","name","queue",...}); else decoded
local function queue_in(m)
  local q = string.match(m, '^{"id":"[^"\\\\]*","name":"[^"\\\\]*","queue":"([^"\\\\]*)"')
  if q then return q end
  local ok, v = pcall(cjson.decode, m)
  if ok and type(v) == 'table' and type(v.queue) == 'string' then return v.queue end
  return nil
end
-- events, in the stream '<base>events' (capped near 1000 entries; control-events.ts reads both layouts):
-- one entry per kind, 'e' a flat JSON array of (id, name, queue, attempt, extra) (control scripts);
local function emit(p, kind, list)
  if #list > 0 then redis.call('XADD', p .. 'events', 'MAXLEN', '~', '1000', '*', 't', kind, 'e', cjson.encode(list)) end
end
-- or, on the hot path, one entry per group of tasks sharing kind and queue: 'q' the queue, 'n' their
-- name or 'N' a JSON array of names, 'i' a JSON array of ids (attempt 0) or 'm' of lease members
-- '<deliveries before>:<id>' (attempt: one more), 'x' a JSON array of extras where there are any.
-- A task costs one or two array slots instead of five, and no number formatting.
local function emit_group(p, kind, queue, name, field, list, names, extras)
  if #list == 0 then return end
  local args = { p .. 'events', 'MAXLEN', '~', '1000', '*', 't', kind, 'q', queue, field, cjson.encode(list) }
  if names then
    args[#args + 1] = 'N'
    args[#args + 1] = cjson.encode(names)
  else
    args[#args + 1] = 'n'
    args[#args + 1] = name
  end
  if extras then
    args[#args + 1] = 'x'
    args[#args + 1] = cjson.encode(extras)
  end
  redis.call('XADD', unpack(args))
end
-- the name in a message that starts at \`from\` with {"id":<id>,"name":"...": found with plain finds
-- when the id needed no escaping (what the kernel writes), else by name_in
local function name_at(s, from, id)
  local start = from + 17 + #id
  if string.sub(s, start - 10, start - 1) == '","name":"' then
    local close = string.find(s, '"', start, true)
    if close then
      local name = string.sub(s, start, close - 1)
      if not string.find(name, '\\\\', 1, true) then return name end
    end
  end
  return name_in(s, from)
end
-- set when requeue counted a lost delivery in this call
local lost_added = false
-- a delayed member '<deliveries>:<id>' (bump 0) or a lease '<deliveries before it>:<id>'
-- (bump 1: the lost delivery counts) goes back to its ready queue (rare path: decodes)
local function requeue(p, now, member, bump)
  local colon = string.find(member, ':', 1, true)
  local id = colon and string.sub(member, colon + 1) or member
  local m = message_of(p, id)
  local ok, msg = pcall(cjson.decode, m or '')
  if ok and type(msg) == 'table' and type(msg.queue) == 'string' and tonumber(msg.priority) then
    local tried = (colon and tonumber(string.sub(member, 1, colon - 1)) or 0) + bump
    if bump == 1 then
      -- a lost delivery: running no more, waiting for its next attempt; counted apart, so the
      -- worker can tell it from the task's own attempts
      redis.call('HINCRBY', p .. 'lost', id, 1)
      lost_added = true
      tally(p, 'process', msg.queue, -1)
      redis.call('ZADD', sidx(p, 'retry', msg.queue), now, id)
    elseif tried == 0 then
      redis.call('ZREM', sidx(p, 'delayed', msg.queue), id)
    end
    make_ready(p, now, tried, id, msg.queue, msg.priority, m)
  else
    dead_letter(p, cjson.encode({ id = id, reason = 'malformed message: cannot deliver it again', payload = m or member }))
    redis.call('DEL', p .. 'j:' .. id)
    redis.call('HDEL', p .. 'lost', id)
  end
end
`;

/**
 * Enqueues a batch (the publishes of one tick). KEYS: any key of the app (routing). ARGV: base,
 * count, fused ('1' when the broker keeps records, else ''), then groups of consecutive tasks that share their fields: a group header
 * '<priority>|<delayMs>|<runAt>|<r>|<tasks>|<queue byte length>|<queue><task name>', then per task its id, its message (empty
 * when the client staged the job string in '<base>in:<id>' in the same MULTI: large messages), and when
 * <r> is 1 its record ('0|<JSON>': only when the broker keeps records and the record is not the
 * one derived from the message). A burst of one task type is one group: the script parses one
 * header per group, not per task (parsing was a fifth of the script's time), and a task costs two
 * arguments, which cost on both sides of the socket.
 * FIFO within a priority comes from the app's counter on the server: one INCRBY per batch.
 * After the groups: the number of waits to mark, then per wait its id and its length in ms (a
 * caller of addTask with a timeout: what WATCH would mark, without a call of its own).
 */
export const ENQUEUE_BODY = `
-- one command per kind of write for the whole batch: each redis.call has a fixed cost
local p, n, fused = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'
local seq0 = redis.call('INCRBY', p .. 'seq', n) - n
local now = now_ms()
local staged, drop
-- walks the groups; skip (nil on the fast path) holds ids already enqueued, left untouched
local function collect(skip)
  local sets, ready, delayed, wake, probe = {}, {}, {}, {}, {}
  -- staged: id, ready head (or false: delayed) per task whose job string waits in 'in:<id>';
  -- drop: staged keys of ids skipped as existing
  staged, drop = {}, {}
  -- waiting counts and delayed index per queue, and the events of the batch (one per group)
  local b = { news = {}, dly = {}, groups = {} }
  local i, done, seq = 4, 0, seq0
  while done < n do
    local prio, delay, run_at, r, count, qlen, rest = string.match(ARGV[i], '^([^|]*)|(%d+)|([^|]*)|([01])|(%d+)|(%d+)|(.*)$')
    local queue, name = string.sub(rest, 1, tonumber(qlen)), string.sub(rest, tonumber(qlen) + 1)
    count = tonumber(count)
    i = i + 1
    local q, due, d
    local ev = { kind = delay ~= '0' and 'delayed' or 'added', queue = queue, name = name, ids = {} }
    b.groups[#b.groups + 1] = ev
    ev = ev.ids
    if delay ~= '0' then
      -- formatted once per group: a number argument is printf-formatted per use
      due = string.format('%d', now + tonumber(delay))
      d = b.dly[queue]
      if not d then
        d = {}
        b.dly[queue] = d
      end
    else
      q = ready[queue]
      if not q then
        q = {}
        ready[queue] = q
      end
    end
    for k = 1, count do
      local id, msg = ARGV[i], ARGV[i + 1]
      local rec = r == '1' and ARGV[i + 2]
      i = i + (rec and 3 or 2)
      if skip and skip[id] then
        if msg == '' then drop[#drop + 1] = p .. 'in:' .. id end
      else
        local job = p .. 'j:' .. id
        probe[#probe + 1] = job
        if fused then probe[#probe + 1] = p .. 'r:' .. id end
        b.news[queue] = (b.news[queue] or 0) + 1
        ev[#ev + 1] = id
        -- an empty message: the client staged the job string in 'in:<id>' (large messages)
        local head
        if due then
          delayed[#delayed + 1] = due
          delayed[#delayed + 1] = '0:' .. id
          d[#d + 1] = now
          d[#d + 1] = id
        else
          q[#q + 1] = prio
          seq = seq + 1
          head = string.format('%016x', seq) .. '0'
          q[#q + 1] = head .. ':' .. id
        end
        if msg == '' then
          staged[#staged + 1] = id
          staged[#staged + 1] = head or false
        else
          sets[#sets + 1] = job
          sets[#sets + 1] = head and '#' .. head .. '|' .. msg or run_at .. '|' .. msg
        end
        if rec then
          sets[#sets + 1] = p .. 'r:' .. id
          sets[#sets + 1] = rec
        end
        wake[queue] = true
      end
    end
    done = done + count
  end
  return sets, ready, delayed, wake, probe, b, i
end
local sets, ready, delayed, wake, probe, b, after = collect(nil)
-- the waits to mark, after the groups: a caller of addTask with a timeout waits from the enqueue
-- on (as WATCH marks them; ENQUEUE_DEDUP's own arguments follow instead: not a number, none)
local nw = tonumber(ARGV[after]) or 0
if nw > 0 then
  local waiting, zs = p .. 'waiting', {}
  redis.call('ZREMRANGEBYSCORE', waiting, '-inf', '(' .. now)
  for k = 1, nw do
    zs[#zs + 1] = now + tonumber(ARGV[after + 2 * k])
    zs[#zs + 1] = ARGV[after + 2 * k - 1]
  end
  redis.call('ZADD', waiting, 'GT', unpack(zs))
end
local skipped = false
-- idempotent: a script resent after its reply was lost (ioredis resends on reconnect) finds its
-- ids queued, running, or (fused) with a record; none of them is enqueued again. One EXISTS for
-- the batch; only a batch that finds any walks again, skipping those ids.
if redis.call('EXISTS', unpack(probe)) > 0 then
  local skip = {}
  for k = 1, #probe, fused and 2 or 1 do
    local keys = fused and { probe[k], probe[k + 1] } or { probe[k] }
    if redis.call('EXISTS', unpack(keys)) > 0 then skip[string.sub(probe[k], #p + 3)] = true end
  end
  sets, ready, delayed, wake, probe, b = collect(skip)
  -- the ids left alone, for the caller: a task added with an id that exists was deduplicated
  skipped = {}
  for id in pairs(skip) do skipped[#skipped + 1] = id end
  if #drop > 0 then redis.call('DEL', unpack(drop)) end
  if #sets == 0 and #staged == 0 then return skipped end
end
if #sets > 0 then redis.call('MSET', unpack(sets)) end
-- a staged job string arrived with a placeholder head ('#' and 17 zeros, or the delayed runAt):
-- its head is written in place and the key renamed, so the message never becomes a Lua string
-- (Redis's Lua hashes every byte of each string it creates: two passes per task here)
for k = 1, #staged, 2 do
  local id, head = staged[k], staged[k + 1]
  if head then redis.call('SETRANGE', p .. 'in:' .. id, 1, head) end
  redis.call('RENAME', p .. 'in:' .. id, p .. 'j:' .. id)
end
for queue, args in pairs(ready) do
  if #args > 0 then redis.call('ZADD', p .. 'q:' .. queue, unpack(args)) end
end
if #delayed > 0 then redis.call('ZADD', p .. 'delayed', unpack(delayed)) end
local qs = {}
for queue, c in pairs(b.news) do
  tally(p, 'new', queue, c)
  qs[#qs + 1] = queue
end
redis.call('SADD', p .. 'queues', unpack(qs))
for queue, args in pairs(b.dly) do
  if #args > 0 then redis.call('ZADD', sidx(p, 'delayed', queue), unpack(args)) end
end
for _, g in ipairs(b.groups) do emit_group(p, g.kind, g.queue, g.name, 'i', g.ids) end
-- wake an idle worker of each queue (for a delayed task: so it shortens its blocking timeout)
for queue in pairs(wake) do redis.call('ZADD', p .. 'w:' .. queue, '0', 'w') end
-- the number of tasks enqueued, or the ids skipped when some were
if skipped then return skipped end
return fused and #probe / 2 or #probe
`;

export const ENQUEUE = `${COMMON}${ENQUEUE_BODY}`;

/**
 * Settle a batch of deliveries, then promote due delayed tasks, recover expired leases and claim
 * up to `count` tasks, all in one call. Removing the lease member '<attempt>:<id>' is the fence:
 * a delivery whose lease expired (and was taken over) can settle nothing.
 * KEYS: leases. ARGV: base, leaseMs, count, nq, queue x nq, fused ('1' or ''), nops, then the ops
 * in groups of consecutive ops sharing kind and number: a header '<kind><number>|<ops>' (kind: a
 * ack, k ack of a large task (its record without args; the job string kept as a:<id>), r retry, b back unrun (same attempt), d dead, x malformed; number: ttl or delay), then per op its lease member, its
 * record ('<attempt>|<JSON>', or without records the event's message) and for kinds d and x the extra
 * (reason or dead-letter entry), for kind d then the delivery's message (the payload when the job
 * string is gone); last, the queue limits the claim holds ('' none: CLAIM_LIMITS_SETUP in limiter-lua.ts).
 * A batch of acks is one group: no per-op header to parse, two arguments per op.
 * Returns { settled flags ('1'/'0' per op), server now, next due time or -1, lost counts, then per
 * claimed task its ready member and its job string ('' for an entry that carries its message after
 * a newline; '~' when only its head was read: heads mode, for large messages) }: the client parses them (the script only cuts out the lease, which keeps it cheap). Lost counts: '' when no claimed task has lost deliveries (the `lost` hash, id -> count,
 * is empty in a healthy app), else one comma-separated count per member.
 */
export const STEP = `${COMMON}
local p, leases = ARGV[1], KEYS[1]
local lease, count, nq = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
-- '<fused: 1 or empty>|<keep success>|<keep error>|<keep cancel>|<keep dead>|<heads: 1 or empty>'
-- (empty keep: no count limit; heads: the claim returns only the head of a long job string)
local fused_s, k_s, k_e, k_c, k_d, heads_s = string.match(ARGV[5 + nq], '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
local fused, heads_only = fused_s == '1', heads_s == '1'
local keep = { success = tonumber(k_s), error = tonumber(k_e), cancel = tonumber(k_c), dead = tonumber(k_d) }
local EVENT = { success = 'completed', error = 'failed', cancel = 'cancelled', dead = 'dead', retry = 'retrying' }
-- the top-level priority of a message as the kernel writes it ({"id","name","queue","args",
-- "priority","createdAt","maxDeliveries"}, no meta): the last keys, so nothing in args can fake it
local TAIL = ',"priority":(%-?[%d%.eE+%-]+),"createdAt":%d+,"maxDeliveries":%d+}$'
-- due delayed members '<deliveries>:<id>' to their ready queues with a few commands per batch
-- (not five per task), reading queue and priority from the message's layout instead of decoding
-- it: a batch of 20k tasks due together drained at half the ready rate. Others go through requeue.
local function promote(p, now, due)
  local jobs = {}
  for k, member in ipairs(due) do
    jobs[k] = p .. 'j:' .. (string.match(member, '^%d+:(.*)$') or '')
  end
  local js = redis.call('MGET', unpack(jobs))
  local seq = redis.call('INCRBY', p .. 'seq', #due) - #due
  local sets, ready, left = {}, {}, {}
  for k, member in ipairs(due) do
    local tried, id = string.match(member, '^(%d+):(.*)$')
    local j, m, queue, prio = js[k], nil, nil, nil
    if tried and j then
      local bar = string.find(j, '|', 1, true)
      m = bar and string.sub(j, bar + 1) or j
      queue = string.match(m, '^{"id":"[^"\\\\]*","name":"[^"\\\\]*","queue":"([^"\\\\]*)","args":')
      prio = queue and tonumber(string.match(m, TAIL))
    end
    if prio then
      seq = seq + 1
      local head = string.format('%016x', seq) .. tried
      local q = ready[queue]
      if not q then
        q = {}
        ready[queue] = q
        left[queue] = {}
      end
      q[#q + 1] = prio
      q[#q + 1] = head .. ':' .. id
      sets[#sets + 1] = jobs[k]
      sets[#sets + 1] = '#' .. head .. '|' .. m
      -- a first delivery leaves the 'delayed' index; a retry stays in 'retry'
      if tried == '0' then left[queue][#left[queue] + 1] = id end
    else
      requeue(p, now, member, 0)
    end
  end
  if #sets > 0 then redis.call('MSET', unpack(sets)) end
  for queue, args in pairs(ready) do
    redis.call('ZADD', p .. 'q:' .. queue, unpack(args))
    if #left[queue] > 0 then redis.call('ZREM', sidx(p, 'delayed', queue), unpack(left[queue])) end
    redis.call('ZADD', p .. 'w:' .. queue, '0', 'w')
  end
end
local now = now_ms()
-- a Lua number is printf-formatted (%.17g, a few thousand instructions) each time it becomes a
-- string or a command argument: once here, and constant arguments are written as strings
local now_s = string.format('%d', now)
local i = 6 + nq
local nops = tonumber(ARGV[i])
i = i + 1
local flags = {}
-- lost deliveries, paused queues and waiting callers are rare: one EXISTS of the three per step
-- (each command a script runs costs several thousand instructions, whatever it does)
-- (EXISTS counts a key once per mention: 1 lost, 2 paused, 4 someone waits for a record)
local k_paused, k_waiting = p .. 'paused', p .. 'waiting'
local present = redis.call('EXISTS', p .. 'lost', k_paused, k_paused, k_waiting, k_waiting, k_waiting, k_waiting)
local has_lost, rare, has_waiting = present % 2 == 1, present % 4 > 0, present >= 4
-- per queue, how many settled tasks left the running count: moved with the claim's own change to
-- it (one HINCRBY per queue and step, not two)
local unrun = {}
local function tally_unrun()
  for queue, n in pairs(unrun) do tally(p, 'process', queue, -n) end
  unrun = {}
end
if nops > 0 then
  -- ops come in groups sharing kind, number, status, queue and task name: a header
  -- '<kind><number>|<ops>|<status>|<queue byte length>|<queue><name>', then per op its lease
  -- member '<attempt>:<id>', its record, for kinds d and x the extra, for d the message
  local groups = {}
  local function walk(visit)
    local j, k, g = i, 0, 0
    while k < nops do
      g = g + 1
      local grp = groups[g]
      if not grp then
        local head = ARGV[j]
        local kd, size, status, qlen, rest = string.match(head, '^(%a%d*)|(%d+)|(%a*)|(%d+)|(.*)$')
        qlen = tonumber(qlen)
        grp = { kind = string.sub(kd, 1, 1), digits = string.sub(kd, 2), size = tonumber(size), status = status,
          queue = string.sub(rest, 1, qlen), name = string.sub(rest, qlen + 1), ids = {}, ev = {} }
        grp.width = grp.kind == 'd' and 4 or grp.kind == 'x' and 3 or 2
        groups[g] = grp
      end
      j = j + 1
      for _ = 1, grp.size do
        k = k + 1
        visit(k, grp, j)
        j = j + grp.width
      end
    end
  end
  -- the fence, for the whole batch: an op counts only if its lease '<attempt>:<id>' is still there
  local members = {}
  walk(function(k, _, j) members[k] = ARGV[j] end)
  local scores = redis.call('ZMSCORE', leases, unpack(members))
  local owned = {}
  for k = 1, nops do
    if scores[k] then owned[#owned + 1] = members[k] end
  end
  if #owned > 0 then redis.call('ZREM', leases, unpack(owned)) end
  local gone, gone_ids, waiters, finals = {}, {}, {}, {}
  walk(function(k, grp, j)
    local kind, digits = grp.kind, grp.digits
    local lease_member, rec = ARGV[j], ARGV[j + 1]
    local colon = string.find(lease_member, ':', 1, true)
    local id = string.sub(lease_member, colon + 1)
    local job = p .. 'j:' .. id
    local st = 0
    if scores[k] then
      st = 1
    elseif fused then
      -- no lease: fine only if this very delivery settled already (a command resent after a reconnect)
      local r = redis.call('GET', p .. 'r:' .. id)
      if r and string.match(r, '^(%d+)|') == string.match(rec, '^(%d+)|') then st = 2 end
    end
    if st == 1 then
      local tried_s = string.sub(lease_member, 1, colon - 1)
      local attempt = tonumber(tried_s) + 1
      if grp.status ~= '' then
        grp.ids[#grp.ids + 1] = id
        grp.ev[#grp.ev + 1] = lease_member
        local extra = ''
        if kind == 'd' then
          extra = ARGV[j + 2]
        elseif not fused then
          extra = rec
        elseif grp.status ~= 'success' then
          local ok, v = pcall(cjson.decode, string.sub(rec, string.find(rec, '|', 1, true) + 1))
          if ok and type(v) == 'table' then
            if type(v.reason) == 'string' then extra = v.reason
            elseif type(v.error) == 'table' and type(v.error.message) == 'string' then extra = v.error.message end
          end
        end
        -- extras only when some task of the group has one (a success on a broker that keeps records has none)
        if extra ~= '' and not grp.xs then
          grp.xs = {}
          for e = 1, #grp.ev - 1 do grp.xs[e] = '' end
        end
        if grp.xs then grp.xs[#grp.ev] = extra end
      end
      if kind == 'r' then
        if fused then redis.call('SET', p .. 'r:' .. id, rec) end
        if digits ~= '0' then
          redis.call('ZADD', p .. 'delayed', now + tonumber(digits), attempt .. ':' .. id)
          -- an idle worker of the task's queue recomputes its blocking timeout
          redis.call('ZADD', p .. 'w:' .. grp.queue, '0', 'w')
        else
          requeue(p, now, attempt .. ':' .. id, 0)
        end
      elseif kind == 'b' then
        -- given back unrun (no status in its group: no event): same deliveries count, so the next
        -- delivery has the same attempt; it waits as it did before this delivery
        local tried = attempt - 1
        tally(p, 'process', grp.queue, -1)
        if tried == 0 then tally(p, 'new', grp.queue, 1) else redis.call('ZADD', sidx(p, 'retry', grp.queue), now, id) end
        if digits ~= '0' then
          redis.call('ZADD', p .. 'delayed', now + tonumber(digits), lease_member)
          redis.call('ZADD', p .. 'w:' .. grp.queue, '0', 'w')
        else
          requeue(p, now, lease_member, 0)
        end
      else
        if kind == 'x' then
          -- malformed: the queue that counted it as running at the claim, as the consumer knows it
          -- (a consumer of one queue), else as the message's own prefix may still say
          local queue = grp.queue ~= '' and grp.queue or queue_in(message_of(p, id) or '')
          if queue then tally(p, 'process', queue, -1) end
          dead_letter(p, ARGV[j + 2])
        elseif kind == 'd' then
          -- the stored message, else the one the delivery carried (a poison entry may have no job string)
          dead_letter(p, cjson.encode({ id = id, reason = ARGV[j + 2], payload = message_of(p, id) or ARGV[j + 3] }))
        end
        if kind == 'k' then
          -- a large task: its job string stays, as a:<id> with the record's TTL, for the args its
          -- record leaves out (large.ts); pcall: a job string already gone leaves nothing to keep
          redis.pcall('RENAME', job, p .. 'a:' .. id)
          redis.call('PEXPIRE', p .. 'a:' .. id, digits)
        else
          gone[#gone + 1] = job
        end
        if has_lost then gone_ids[#gone_ids + 1] = id end
        if fused and kind ~= 'x' then
          -- the TTL stays the client's digits: Redis printf-formats every Lua number argument
          redis.call('SET', p .. 'r:' .. id, rec, 'PX', digits)
          waiters[#waiters + 1] = id
          finals[#finals + 1] = rec
        end
      end
    end
    flags[k] = st > 0 and '1' or '0'
  end)
  -- status indexes and events, one command each per group
  for _, grp in ipairs(groups) do
    if #grp.ids > 0 then
      local status, queue = grp.status, grp.queue
      unrun[queue] = (unrun[queue] or 0) + #grp.ids
      local scored = {}
      for _, id in ipairs(grp.ids) do
        scored[#scored + 1] = now_s
        scored[#scored + 1] = id
      end
      local key = sidx(p, status, queue)
      redis.call('ZADD', key, unpack(scored))
      if status ~= 'retry' then
        -- records expire with their TTL (here or in another storage): so do their index entries;
        -- retention by count deletes the oldest
        redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. string.format('%d', now - tonumber(grp.digits)))
        local limit = keep[status]
        if limit then
          local excess = redis.call('ZCARD', key) - limit
          if excess > 0 then
            local old = redis.call('ZRANGE', key, 0, math.min(excess, 100) - 1)
            local dels = {}
            for _, id in ipairs(old) do
              dels[#dels + 1] = p .. 'r:' .. id
              dels[#dels + 1] = p .. 'a:' .. id
            end
            redis.call('DEL', unpack(dels))
            redis.call('ZREM', key, unpack(old))
          end
        end
      end
      emit_group(p, EVENT[status] or status, queue, grp.name, 'm', grp.ev, nil, grp.xs)
    end
  end
  -- publish the records someone waits for (nobody waiting, the usual case under load, costs nothing more)
  if #waiters > 0 and has_waiting then
    local w = redis.call('ZMSCORE', p .. 'waiting', unpack(waiters))
    local seen = {}
    for k = 1, #waiters do
      if w[k] then
        if tonumber(w[k]) >= now then redis.call('PUBLISH', p .. 'done', finals[k]) end
        seen[#seen + 1] = waiters[k]
      end
    end
    if #seen > 0 then redis.call('ZREM', p .. 'waiting', unpack(seen)) end
  end
  if #gone > 0 then redis.call('DEL', unpack(gone)) end
  if #gone_ids > 0 then redis.call('HDEL', p .. 'lost', unpack(gone_ids)) end
end

local out = { table.concat(flags), now, -1, '' }
-- queue limits held by the claim (limiter-lua.ts); without any, qlim is nil
${CLAIM_LIMITS_SETUP}
if count <= 0 then
  tally_unrun()
${CLAIM_LIMITS_SETTLED}
  return out
end

-- due delayed tasks and expired leases go (back) to their ready queues
for bump, key in ipairs({ p .. 'delayed', leases }) do
  local due = redis.call('ZRANGEBYSCORE', key, '-inf', now_s, 'LIMIT', '0', '200')
  if #due > 0 then
    if bump == 1 then promote(p, now, due) else for _, member in ipairs(due) do requeue(p, now, member, 1) end end
    redis.call('ZREM', key, unpack(due))
  end
end

-- paused queues (app.pause) are not claimed from; '*' pauses them all
local queues = {}
if not rare then
  for q = 1, nq do queues[q] = ARGV[4 + q] end
else
  local args = { p .. 'paused', '*' }
  for q = 1, nq do args[#args + 1] = ARGV[4 + q] end
  local pz = redis.call('SMISMEMBER', unpack(args))
  if pz[1] == 0 then
    for q = 1, nq do
      if pz[q + 1] == 0 then queues[#queues + 1] = ARGV[4 + q] end
    end
  end
end

${CLAIM_LIMITS_ALLOW}
local members, from = {}, {}
if #queues == 1 then
  local n = allow and allow[queues[1]] or ARGV[3]
  local popped = n ~= 0 and redis.call('ZPOPMIN', p .. 'q:' .. queues[1], n) or {}
  for j = 1, #popped, 2 do
    members[#members + 1] = popped[j]
    from[#from + 1] = queues[1]
  end
elseif #queues > 1 then
  -- Each score a reply carries is formatted with printf (a fifth of a six-queue step). When the
  -- queues' first entries share one priority (the usual case) and that priority alone fills the
  -- claim, the candidates are read without scores; else every queue's first ones with theirs.
  local heads, level = {}, nil
  for _, queue in ipairs(queues) do
    local n = allow and allow[queue] or count
    local h = n > 0 and redis.call('ZRANGE', p .. 'q:' .. queue, 0, 0, 'WITHSCORES') or {}
    if h[1] then
      heads[#heads + 1] = { queue, n }
      if level == nil then level = h[2] elseif level ~= h[2] then level = false end
    end
  end
  local cands = {}
  if level then
    -- each queue's list is in member order already: merge them (no sort, no comparator calls)
    local lists, total = {}, 0
    for _, hd in ipairs(heads) do
      local r = redis.call('ZRANGEBYSCORE', p .. 'q:' .. hd[1], level, level, 'LIMIT', 0, hd[2])
      lists[#lists + 1] = { r, 1, hd[1] }
      total = total + #r
    end
    if total >= count then
      for _ = 1, count do
        local best
        for _, l in ipairs(lists) do
          local m = l[1][l[2]]
          if m and (not best or m < best[1][best[2]]) then best = l end
        end
        cands[#cands + 1] = { 0, best[1][best[2]], best[3] }
        best[2] = best[2] + 1
      end
    end
  end
  if #cands == 0 then
    for _, hd in ipairs(heads) do
      local r = redis.call('ZRANGE', p .. 'q:' .. hd[1], 0, hd[2] - 1, 'WITHSCORES')
      for j = 1, #r, 2 do cands[#cands + 1] = { tonumber(r[j + 1]), r[j], hd[1] } end
    end
    table.sort(cands, function(a, b)
      if a[1] ~= b[1] then return a[1] < b[1] end
      return a[2] < b[2]
    end)
  end
  -- the first \`count\` by (priority, member) are, for each queue, its lowest ones: one
  -- ZREMRANGEBYRANK per queue removes them (not a ZREM per task; no reply of members and scores)
  local take = {}
  for j = 1, math.min(count, #cands) do
    local queue = cands[j][3]
    take[queue] = (take[queue] or 0) + 1
    members[#members + 1] = cands[j][2]
    from[#from + 1] = queue
  end
  for queue, k in pairs(take) do redis.call('ZREMRANGEBYRANK', p .. 'q:' .. queue, 0, k - 1) end
end

local leased = {}
-- per queue: how many leave 'new', the ids leaving 'retry', the lease members (and names) entering 'process'
local moved = {}
-- one expiry for the whole claim, formatted once (a number argument is formatted per use)
local lease_until = string.format('%d', now + lease)
-- the messages, from the job strings in one MGET: a ready member is '<16 hex><tried>:<id>' and the
-- message is stored once (a member that carried it cost its bytes twice in memory and a hash of
-- them on every add and pop). Entries written before carry it after a newline: still read.
local jobs, at = {}, {}
for m, member in ipairs(members) do
  local colon = string.find(member, ':', 17, true)
  if colon and not string.find(member, '\\n', colon + 1, true) then
    jobs[#jobs + 1] = p .. 'j:' .. string.sub(member, colon + 1)
    at[m] = #jobs
  end
end
local js, cut = {}, {}
if heads_only then
  -- large messages (the worker asks for this when its last claim brought them): only the first
  -- 512 bytes of each job string become a Lua string here (its head, the task's name); the worker
  -- reads the whole strings with a plain MGET (large.ts). A string that short is returned whole.
  for k, key in ipairs(jobs) do
    local h = redis.call('GETRANGE', key, 0, 511)
    js[k] = h ~= '' and h
    cut[k] = #h == 512
  end
elseif #jobs > 0 then
  js = redis.call('MGET', unpack(jobs))
end
for m, member in ipairs(members) do
  local colon = string.find(member, ':', 17, true)
  -- the worker gets the member and its job string as they are: Redis hashes every byte of each
  -- string a script makes, so cutting the message out and joining it to the member cost two
  -- passes over it per task
  local job, text, start, nl = '', member, nil, nil
  if colon and at[m] then
    job = js[at[m]]
    local bar = job and string.find(job, '|', 1, true)
    if bar then
      nl = #member + 1
      text, start = job, bar + 1
    end
  elseif colon then
    nl = string.find(member, '\\n', colon + 1, true)
    start = nl and nl + 1
  end
  if not nl then
    dead_letter(p, cjson.encode({ reason = 'malformed message: unreadable ready entry, or no stored message', payload = member }))
  else
    leased[#leased + 1] = lease_until
    leased[#leased + 1] = string.sub(member, 17, nl - 1)
    out[#out + 1] = member
    -- '~' (never a job string): only its head was read, the worker fetches it
    out[#out + 1] = cut[at[m]] and '~' or job
    local queue, id = from[m], string.sub(member, colon + 1, nl - 1)
    local tried_s = string.sub(member, 17, colon - 1)
    local mv = moved[queue]
    if not mv then
      mv = { new = 0, retry = {}, ms = {}, ns = {} }
      moved[queue] = mv
    end
    if tried_s == '0' then mv.new = mv.new + 1 else mv.retry[#mv.retry + 1] = id end
    mv.ms[#mv.ms + 1] = leased[#leased]
    mv.ns[#mv.ns + 1] = name_at(text, start, id)
  end
end
if #leased > 0 then redis.call('ZADD', leases, unpack(leased)) end
for queue, mv in pairs(moved) do
  tally(p, 'new', queue, -mv.new)
  if #mv.retry > 0 then redis.call('ZREM', sidx(p, 'retry', queue), unpack(mv.retry)) end
  tally(p, 'process', queue, #mv.ms - (unrun[queue] or 0))
  unrun[queue] = nil
  emit_group(p, 'active', queue, nil, 'm', mv.ms, mv.ns)
end
tally_unrun()
${CLAIM_LIMITS_TAKEN}if #leased > 0 and (has_lost or lost_added) then
  local ids = {}
  for k = 2, #leased, 2 do
    local lm = leased[k]
    ids[#ids + 1] = string.sub(lm, string.find(lm, ':', 1, true) + 1)
  end
  local counts = redis.call('HMGET', p .. 'lost', unpack(ids))
  local any, csv = false, {}
  for k = 1, #ids do
    csv[k] = counts[k] or '0'
    if counts[k] then any = true end
  end
  if any then out[4] = table.concat(csv, ',') end
end

if #members == count then
  -- there may be more: leave a marker so another idle worker wakes up
  for _, queue in ipairs(queues) do
    -- (not for a queue whose limits are used up: nobody could take its tasks now)
    if (not allow or allow[queue] ~= 0) and redis.call('ZCARD', p .. 'q:' .. queue) > 0 then redis.call('ZADD', p .. 'w:' .. queue, '0', 'w') end
  end
else
  local nextAt = -1
  local dh = redis.call('ZRANGE', p .. 'delayed', '0', '0', 'WITHSCORES')
  if dh[2] then nextAt = tonumber(dh[2]) end
  local lh = redis.call('ZRANGE', leases, '0', '0', 'WITHSCORES')
  if lh[2] and (nextAt < 0 or tonumber(lh[2]) < nextAt) then nextAt = tonumber(lh[2]) end
  out[3] = nextAt
end
${CLAIM_LIMITS_DUE}
return out
`;

/**
 * KEYS: leases. ARGV: leaseMs, then lease members ('<attempt>:<id>'). Extends the leases this worker
 * still holds; returns { id, reason, ... } for those with a cancel request.
 */
export const RENEW = `${COMMON}
local until_ms = now_ms() + tonumber(ARGV[1])
local args = {}
for i = 2, #ARGV do
  args[#args + 1] = until_ms
  args[#args + 1] = ARGV[i]
end
redis.call('ZADD', KEYS[1], 'XX', 'CH', unpack(args))
-- cancel requests of the tasks held (the tombstone CANCEL leaves): a worker that missed the
-- message on the ctl channel (reconnecting) still learns within a third of a lease
local base = string.sub(KEYS[1], 1, -7)
local out = {}
for i = 2, #ARGV do
  local id = string.sub(ARGV[i], string.find(ARGV[i], ':', 1, true) + 1)
  local reason = redis.call('GET', base .. 'c:' .. id)
  if reason then
    out[#out + 1] = id
    out[#out + 1] = reason
  end
end
return out
`;

/**
 * The status indexes of a storage beside a broker without records (unfused): the same keys the
 * broker scripts keep (control-lua.ts), so COUNTS, LIST and CLEAN read them as they are. SAVE
 * ARGV 8..12: base ('' = no indexes), status, queue, delayed ('1'), keep (retention of the status, '' none).
 */
export const INDEX_SAVED = `
local function index_saved(p, id, cur, status, queue, delayed, final, ttl, keep)
  local now = now_ms()
  if cur then
    local ok, old = pcall(cjson.decode, string.sub(cur, string.find(cur, '|', 1, true) + 1))
    if ok and type(old) == 'table' and type(old.status) == 'string' and type(old.queue) == 'string' then
      if old.status ~= status or old.queue ~= queue then redis.call('ZREM', sidx(p, old.status, old.queue), id) end
      if old.status == 'new' then redis.call('ZREM', sidx(p, 'delayed', old.queue), id) end
    end
  end
  local key = sidx(p, status, queue)
  redis.call('ZADD', key, now, id)
  if delayed then redis.call('ZADD', sidx(p, 'delayed', queue), now, id) end
  redis.call('SADD', p .. 'queues', queue)
  if final then
    -- records expire with their TTL: so do their index entries; retention by count deletes the oldest
    redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (now - ttl))
    if keep ~= '' then
      local excess = redis.call('ZCARD', key) - tonumber(keep)
      if excess > 0 then
        local gone = redis.call('ZRANGE', key, 0, math.min(excess, 100) - 1)
        local dels = {}
        for _, g in ipairs(gone) do
          dels[#dels + 1] = p .. 'r:' .. g
          dels[#dels + 1] = p .. 'p:' .. g
        end
        redis.call('DEL', unpack(dels))
        redis.call('ZREM', key, unpack(gone))
      end
    end
  end
end
`;

/** KEYS: record. ARGV: base, id, new record ('0|<JSON>'), its queue. Only over an `error` or `dead` record. */
export const REQUEUE_SAVED = `${COMMON}
local p, id = ARGV[1], ARGV[2]
local r = redis.call('GET', KEYS[1])
if not r then return 0 end
local ok, rec = pcall(cjson.decode, string.sub(r, string.find(r, '|', 1, true) + 1))
if not ok or type(rec) ~= 'table' or (rec.status ~= 'error' and rec.status ~= 'dead') then return 0 end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('ZREM', sidx(p, rec.status, rec.queue), id)
redis.call('ZADD', sidx(p, 'new', ARGV[4]), now_ms(), id)
redis.call('SADD', p .. 'queues', ARGV[4])
return 1
`;

/** KEYS: record. ARGV: base, id. Deletes a record that is not running, and its index entries; returns it. */
export const REMOVE_SAVED = `${COMMON}
local p, id = ARGV[1], ARGV[2]
local r = redis.call('GET', KEYS[1])
if not r then return false end
local ok, rec = pcall(cjson.decode, string.sub(r, string.find(r, '|', 1, true) + 1))
if ok and type(rec) == 'table' then
  if rec.status == 'process' then return false end
  if type(rec.queue) == 'string' then
    redis.call('ZREM', sidx(p, rec.status, rec.queue), id)
    redis.call('ZREM', sidx(p, 'delayed', rec.queue), id)
  end
end
redis.call('DEL', KEYS[1], p .. 'p:' .. id)
return r
`;

/**
 * KEYS: record. ARGV: done channel, value ('<attempts>|<JSON>'), attempts, final ('1' or ''),
 * ttlMs, waiting set, id. Fenced: a stored record with more attempts wins.
 */
export const SAVE = `${COMMON}${INDEX_SAVED}
local cur = redis.call('GET', KEYS[1])
if cur then
  local n = tonumber(string.match(cur, '^(%d+)|'))
  if n and n > tonumber(ARGV[3]) then return 0 end
end
if ARGV[4] == '1' then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[5])
  local until_ms = redis.call('ZSCORE', ARGV[6], ARGV[7])
  if until_ms then
    redis.call('ZREM', ARGV[6], ARGV[7])
    if tonumber(until_ms) >= now_ms() then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
  end
else
  redis.call('SET', KEYS[1], ARGV[2])
end
if ARGV[8] and ARGV[8] ~= '' then index_saved(ARGV[8], ARGV[7], cur, ARGV[9], ARGV[10], ARGV[11] == '1', ARGV[4] == '1', tonumber(ARGV[5]), ARGV[12]) end
return 1
`;

/*
 * SAVE for many records of the app, in order: ARGV[1] the key base, then five per record (id,
 * value, attempts, final flag, ttl ms). Answers 1 or 0 per record, as SAVE does.
 */
export const SAVE_MANY = `${COMMON}${INDEX_SAVED}
local p = ARGV[1]
-- ARGV[2] '1': each write also carries status, queue, delayed, keep (status indexes, INDEX_SAVED)
local indexed = ARGV[2] == '1'
local stride = indexed and 9 or 5
local out = {}
for i = 3, #ARGV, stride do
  local id, value, attempts, final, ttl = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3], ARGV[i + 4]
  local key = p .. 'r:' .. id
  local cur = redis.call('GET', key)
  local n = cur and tonumber(string.match(cur, '^(%d+)|'))
  if n and n > attempts then
    out[#out + 1] = 0
  else
    if final == '1' then
      redis.call('SET', key, value, 'PX', ttl)
      local until_ms = redis.call('ZSCORE', p .. 'waiting', id)
      if until_ms then
        redis.call('ZREM', p .. 'waiting', id)
        if tonumber(until_ms) >= now_ms() then redis.call('PUBLISH', p .. 'done', value) end
      end
    else
      redis.call('SET', key, value)
    end
    if indexed then index_saved(p, id, cur, ARGV[i + 5], ARGV[i + 6], ARGV[i + 7] == '1', final == '1', tonumber(ttl), ARGV[i + 8]) end
    out[#out + 1] = 1
  end
end
return out
`;

/*
 * Reads a task: its record, and while it is queued or running its message and runAt, and the
 * lease of a running delivery ('<attempt>:<lease expiry>'), looked up from the record's attempts
 * on (a crashed delivery leaves no record, so a few attempts are tried).
 */
/**
 * The lease of a queued or running task, as '<attempt>:<expiry>', or false: a crashed delivery
 * leaves no record, so a few attempts past the stored one are tried. Shared by GET/WATCH and LIST.
 */
export const LEASE_OF = `
local function lease_of(p, id, r, j)
  if not j then return false end
  local n = r and tonumber(string.match(r, '^(%d+)|')) or 0
  for tried = n, n + 7 do
    local score = redis.call('ZSCORE', p .. 'leases', tried .. ':' .. id)
    if score then return (tried + 1) .. ':' .. score end
  end
  return false
end
`;

const READ = `${LEASE_OF}
local p, id = ARGV[1], ARGV[2]
local r = redis.call('GET', KEYS[1])
local j = redis.call('GET', p .. 'j:' .. id)
local lease = lease_of(p, id, r, j)
`;

/**
 * KEYS: record. ARGV: base, id. Returns { record, lease, job ('<runAt>#<ready head>|<message>'),
 * progress ('<attempt>|<JSON>' of a running delivery) }.
 */
export const GET = `${READ}
return { r, lease, j, lease and redis.call('GET', p .. 'p:' .. id) or false }
`;

/**
 * KEYS: record. ARGV: base, id, ttlMs. Like GET, and marks that someone waits for the final
 * record, even of a task not published yet: addTask(..., { timeout }) starts its wait first, so
 * a task whose record expires at once (result TTL 0) still reaches its caller. The mark is the id
 * in the app's `waiting` set, scored by when the wait ends; a wait that ended is not published to.
 */
export const WATCH = `${COMMON}${READ}
local waiting, now = p .. 'waiting', now_ms()
-- one set for the app, scored by when each wait ends; ended waits are dropped here
redis.call('ZREMRANGEBYSCORE', waiting, '-inf', '(' .. now)
redis.call('ZADD', waiting, 'GT', now + tonumber(ARGV[3]), id)
return { r, lease, j, false }
`;
