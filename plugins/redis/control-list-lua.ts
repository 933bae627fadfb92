/**
 * Listing the tasks the Redis broker does not index per id (control-lua.ts has the indexed
 * statuses): waiting tasks straight from the ready queues and the 'delayed' index, running tasks
 * from the leases. Same conventions as lua.ts. Each returns { more (1/0), next cursor ('' none),
 * then per record: r, lease, j, progress, id } (the LIST layout after its cursor fields).
 */
import { COMMON } from './lua.js';

/**
 * KEYS: queues. ARGV: base, queue ('' all), name ('' any), limit, cursor ('' none, else
 * '<queue>\n<phase q|d>\n<score>\n<ready member head and id, or id>').
 * Queue by queue (in name order): first the ready tasks in the reverse of the order they will run
 * (the last to run first), then the delayed ones, newest first. Retries waiting in a ready queue
 * are listed under 'retry', not here.
 */
export const LIST_NEW = `${COMMON}
local p, only, name, limit, cursor = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local cq, cphase, cs, cm
if cursor ~= '' then cq, cphase, cs, cm = string.match(cursor, '^(.-)\\n([qd])\\n([^\\n]*)\\n(.*)$') end
local queues = only ~= '' and { only } or redis.call('SMEMBERS', p .. 'queues')
table.sort(queues)
local out = { 0, '' }
local found, looked, budget = 0, 0, limit + 1000
local last
local function take(queue, phase, score, pos, id, j)
  looked = looked + 1
  last = queue .. '\\n' .. phase .. '\\n' .. score .. '\\n' .. pos
  if not j then return end
  local bar = string.find(j, '|', 1, true)
  if name ~= '' and (not bar or name_in(j, bar + 1) ~= name) then return end
  out[#out + 1] = redis.call('GET', p .. 'r:' .. id)
  out[#out + 1] = false
  out[#out + 1] = j
  out[#out + 1] = false
  out[#out + 1] = id
  found = found + 1
end
-- anything left after the position reached? (a page that ends exactly at the end has no cursor)
local function left_after(qi, phase, got, k)
  if k < #got or #got >= 2 * (limit + 64) then return true end
  if phase == 'q' and redis.call('ZCARD', sidx(p, 'delayed', queues[qi])) > 0 then return true end
  for i = qi + 1, #queues do
    if redis.call('ZCARD', p .. 'q:' .. queues[i]) + redis.call('ZCARD', sidx(p, 'delayed', queues[i])) > 0 then return true end
  end
  return false
end
-- the page is full (or the budget spent): a cursor when something may follow
local function full(qi, phase, got, k)
  if found < limit and looked < budget then return false end
  if found < limit or left_after(qi, phase, got, k) then
    out[1] = 1
    out[2] = last
  end
  return true
end
for qi, queue in ipairs(queues) do
  if not cq or queue >= cq then
    local here = cq == queue
    -- ready: by rank from the cursor's member; a member claimed since then took everything that
    -- ran before it, so what follows it is what has a lower score
    if not here or cphase == 'q' then
      local key = p .. 'q:' .. queue
      local start, byscore = 0, nil
      if here then
        local rank = redis.call('ZREVRANK', key, cm)
        if not rank then
          -- an entry written before messages were stored once carries its message after a newline
          local j = redis.call('GET', p .. 'j:' .. string.sub(cm, string.find(cm, ':', 17, true) + 1))
          local bar = j and string.find(j, '|', 1, true)
          rank = bar and redis.call('ZREVRANK', key, cm .. '\\n' .. string.sub(j, bar + 1))
        end
        if rank then start = rank + 1 else byscore = '(' .. cs end
      end
      while true do
        local got
        if byscore then
          got = redis.call('ZREVRANGEBYSCORE', key, byscore, '-inf', 'WITHSCORES', 'LIMIT', start, limit + 64)
        else
          got = redis.call('ZREVRANGE', key, start, start + limit + 63, 'WITHSCORES')
        end
        for k = 1, #got, 2 do
          local member = got[k]
          local colon = string.find(member, ':', 17, true)
          if colon then
            local nl = string.find(member, '\\n', colon + 1, true)
            local id = string.sub(member, colon + 1, nl and nl - 1 or -1)
            local head = nl and string.sub(member, 1, nl - 1) or member
            if tonumber(string.sub(member, 17, colon - 1)) == 0 then
              take(queue, 'q', got[k + 1], head, id, redis.call('GET', p .. 'j:' .. id))
            else
              looked = looked + 1
              last = queue .. '\\nq\\n' .. got[k + 1] .. '\\n' .. head
            end
          end
          if full(qi, 'q', got, k + 1) then return out end
        end
        if #got < 2 * (limit + 64) then break end
        start = start + limit + 64
      end
    end
    -- delayed (never run yet), newest first; ties by id, as the indexed LIST
    local key = sidx(p, 'delayed', queue)
    local max, tie = '+inf', nil
    if here and cphase == 'd' then max, tie = cs, cm end
    local offset = 0
    while true do
      local got = redis.call('ZREVRANGEBYSCORE', key, max, '-inf', 'WITHSCORES', 'LIMIT', offset, limit + 64)
      for k = 1, #got, 2 do
        local id, score = got[k], got[k + 1]
        if not tie or tonumber(score) < tonumber(max) or id < tie then
          take(queue, 'd', score, id, id, redis.call('GET', p .. 'j:' .. id))
          if full(qi, 'd', got, k + 1) then return out end
        end
      end
      if #got < 2 * (limit + 64) then break end
      offset = offset + limit + 64
    end
  end
end
return out
`;

/**
 * KEYS: leases. ARGV: base, queue ('' all), name ('' any), limit, cursor ('' none, else
 * '<lease expiry>\n<lease member>'). Running tasks, the latest lease expiry (the latest claimed or
 * renewed) first; the queue and name come from each task's message.
 */
export const LIST_RUNNING = `${COMMON}
local p, only, name, limit, cursor = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local max, tie = '+inf', nil
if cursor ~= '' then max, tie = string.match(cursor, '^([^\\n]*)\\n(.*)$') end
local out = { 0, '' }
local found, offset = 0, 0
while true do
  local got = redis.call('ZREVRANGEBYSCORE', KEYS[1], max, '-inf', 'WITHSCORES', 'LIMIT', offset, limit + 64)
  for k = 1, #got, 2 do
    local member, score = got[k], got[k + 1]
    if not tie or tonumber(score) < tonumber(max) or member < tie then
      if found >= limit then
        out[1] = 1
        return out
      end
      out[2] = score .. '\\n' .. member
      local colon = string.find(member, ':', 1, true)
      local id = string.sub(member, colon + 1)
      local j = redis.call('GET', p .. 'j:' .. id)
      local bar = j and string.find(j, '|', 1, true)
      if bar then
        local m = string.sub(j, bar + 1)
        local queue = queue_in(m) or ''
        if (only == '' or queue == only) and (name == '' or name_in(m, 1) == name) then
          out[#out + 1] = redis.call('GET', p .. 'r:' .. id)
          out[#out + 1] = (tonumber(string.sub(member, 1, colon - 1)) + 1) .. ':' .. score
          out[#out + 1] = j
          out[#out + 1] = redis.call('GET', p .. 'p:' .. id) or false
          out[#out + 1] = id
          found = found + 1
        end
      end
    end
  end
  if #got < 2 * (limit + 64) then break end
  offset = offset + limit + 64
end
out[2] = ''
return out
`;
