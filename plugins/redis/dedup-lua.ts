/**
 * Dedup keys on Redis (docs/flow-control.md): `<base>dk:<key>` holds the id of the task that took
 * the key (throttle: with the window as its TTL). ENQUEUE_DEDUP checks the key and enqueues in one
 * script, so two callers with the same key cannot both enqueue; only calls with `dedup` use it,
 * the batched ENQUEUE stays as it was for everything else.
 */
import { COMMON, ENQUEUE_BODY } from './lua.js';

/**
 * One task with a dedup key, for a broker that keeps the records. ARGV as ENQUEUE's for a batch
 * of one (base, 1, fused, header, id, message[, record]) followed by mode, key, ttlMs and the byte
 * length of the message's '{"id":<id JSON>' prefix. Returns { existing id } when the call was
 * merged (simple: the key's task is queued or running; throttle: the key is held; debounce: the
 * key's task is delayed and not yet delivered, and now carries this call's message and delay),
 * else what ENQUEUE returns.
 */
export const ENQUEUE_DEDUP = `${COMMON}
local d_p = ARGV[1]
local d_mode, d_key, d_ttl, d_cut = ARGV[#ARGV - 3], d_p .. 'dk:' .. ARGV[#ARGV - 2], tonumber(ARGV[#ARGV - 1]), tonumber(ARGV[#ARGV])
local d_id, d_msg = ARGV[5], ARGV[6]
local d_prio, d_delay, d_run_at, d_qlen, d_rest = string.match(ARGV[4], '^([^|]*)|(%d+)|([^|]*)|[01]|%d+|(%d+)|(.*)$')
local d_queue = string.sub(d_rest, 1, tonumber(d_qlen))
local held = redis.call('GET', d_key)
if held then
  if d_mode == 'throttle' then return { held } end
  local job = redis.call('GET', d_p .. 'j:' .. held)
  if job and d_mode == 'simple' then return { held } end
  if job and d_mode == 'debounce' and redis.call('ZSCORE', d_p .. 'delayed', '0:' .. held) then
    local ok, old = pcall(cjson.decode, message_of(d_p, held) or '')
    if ok and type(old) == 'table' and old.queue == d_queue then
      -- the last call wins: its message under the pending task's id, its delay from now
      local msg = '{"id":' .. cjson.encode(held) .. string.sub(d_msg, d_cut + 1)
      local now = now_ms()
      redis.call('SET', d_p .. 'j:' .. held, d_run_at .. '|' .. msg)
      -- a stored new record would now be stale; the record derives from the message again
      redis.call('DEL', d_p .. 'r:' .. held)
      redis.call('ZADD', d_p .. 'delayed', now + tonumber(d_delay), '0:' .. held)
      redis.call('PEXPIRE', d_key, tonumber(d_delay) + 60000)
      redis.call('ZADD', d_p .. 'w:' .. d_queue, 0, 'w')
      return { held }
    end
  end
end
-- the key is free: this call takes it (simple without ttlMs: until a later call finds its task gone)
if d_mode == 'throttle' or d_ttl > 0 then
  redis.call('SET', d_key, d_id, 'PX', d_ttl)
elseif d_mode == 'debounce' then
  redis.call('SET', d_key, d_id, 'PX', tonumber(d_delay) + 60000)
else
  redis.call('SET', d_key, d_id)
end
${ENQUEUE_BODY}`;

/**
 * Storage-side reservation for a broker that does not keep records (RabbitMQ with Redis storage).
 * KEYS: the record key. ARGV: base, id, value ('0|<record JSON>'), mode ('' without dedup), key,
 * dedup ttlMs, then for Storage.reservePublish: publishMs ('' for a plain reserve) and the
 * record's ttlMs. Returns the holder's id; false when it stored the record (and took the key); or,
 * for reservePublish, a number: ms until an unconfirmed reservation that holds the id or the key
 * may be taken over.
 *
 * reservePublish marks its record unconfirmed: `<base>rp:<id>` holds the deadline (server time,
 * ms; kept publishMs + the record's TTL, then it lapses and the id is held as by reserve), and
 * confirmPublish deletes it (or sets it to 0: the publish failed). A mark counts only while the
 * record is still the reservation ('0|', status new): a record a worker or a cancel saved over it
 * is an ordinary holder.
 */
export const RESERVE = `
local p, id = ARGV[1], ARGV[2]
local publish_ms = tonumber(ARGV[7] or '')
local now
local function clock()
  if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return now
end
-- ms until the reservation r of rid may be taken over (<= 0: now), nil when r is no unconfirmed reservation
local function unconfirmed(rid, r)
  if not publish_ms or not r or string.sub(r, 1, 2) ~= '0|' then return nil end
  local mark = redis.call('GET', p .. 'rp:' .. rid)
  if not mark then return nil end
  local ok, rec = pcall(cjson.decode, string.sub(r, 3))
  if not (ok and type(rec) == 'table' and rec.status == 'new') then return nil end
  return tonumber(mark) - clock()
end
local own = redis.call('GET', KEYS[1])
if own then
  local wait = unconfirmed(id, own)
  if not wait then return id end
  if wait > 0 then return wait end
  -- its publisher missed the deadline: this call takes the reservation over
end
local mode = ARGV[4]
if mode ~= '' then
  local key, ttl = p .. 'dk:' .. ARGV[5], tonumber(ARGV[6])
  local held = redis.call('GET', key)
  if held then
    local r = redis.call('GET', p .. 'r:' .. held)
    local wait = unconfirmed(held, r)
    if wait and wait > 0 then return wait end
    if not wait then
      if mode == 'throttle' then return held end
      -- simple: held while the holder's record is not final
      local ok, rec = pcall(cjson.decode, r and string.sub(r, (string.find(r, '|', 1, true) or 0) + 1) or '')
      local status = ok and type(rec) == 'table' and rec.status
      if status == 'new' or status == 'process' or status == 'retry' then return held end
    end
    -- else the holder was never published (its publisher missed the deadline): the key is free
  end
  if ttl > 0 then redis.call('SET', key, id, 'PX', ttl) else redis.call('SET', key, id) end
end
redis.call('SET', KEYS[1], ARGV[3])
if publish_ms then
  redis.call('SET', p .. 'rp:' .. id, clock() + publish_ms, 'PX', publish_ms + tonumber(ARGV[8]))
end
return false
`;
