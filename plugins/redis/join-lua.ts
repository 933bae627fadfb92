/**
 * Workflow joins (Storage.join, Storage.getMany): the member's record stored as SAVE stores it and
 * the member counted in one script, and a group's records read in one call. Kept apart from lua.ts
 * (whose pieces it reuses) so the join is readable on its own.
 */
import { COMMON, INDEX_SAVED, LEASE_OF } from './lua.js';

/**
 * KEYS: record. ARGV: base, value ('<attempts>|<record JSON>', a final record), attempts, ttl ms,
 * id, group id, member index, group size, indexed ('1': the storage keeps status indexes), then
 * INDEX_SAVED's status, queue, delayed, keep. Fenced as SAVE: 0 when a newer attempt's record is
 * stored. Else the member is added to the set `g:<group>` (TTL: the record's) and the set's size
 * returned; below the group's size the record is written as SAVE writes it (TTL, published to a
 * waiter, indexes). The join that completes the set leaves the record to its caller, who moves the
 * workflow on first (Storage.join). A set, not a counter: a member joining again is counted once.
 */
export const JOIN = `${COMMON}${INDEX_SAVED}
local p, id = ARGV[1], ARGV[5]
local cur = redis.call('GET', KEYS[1])
if cur then
  local n = tonumber(string.match(cur, '^(%d+)|'))
  if n and n > tonumber(ARGV[3]) then return 0 end
end
local set = p .. 'g:' .. ARGV[6]
redis.call('SADD', set, ARGV[7])
redis.call('PEXPIRE', set, ARGV[4])
local count = redis.call('SCARD', set)
if count >= tonumber(ARGV[8]) then return count end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
local until_ms = redis.call('ZSCORE', p .. 'waiting', id)
if until_ms then
  redis.call('ZREM', p .. 'waiting', id)
  if tonumber(until_ms) >= now_ms() then redis.call('PUBLISH', p .. 'done', ARGV[2]) end
end
if ARGV[9] == '1' then index_saved(p, id, cur, ARGV[10], ARGV[11], ARGV[12] == '1', true, tonumber(ARGV[4]), ARGV[13]) end
return count
`;

/**
 * KEYS: the app's base. ARGV: base, then ids. GET for each id, flattened: four values per id
 * (record, lease, job, progress), as GET answers them.
 */
export const GET_MANY = `${LEASE_OF}
local p = ARGV[1]
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local r = redis.call('GET', p .. 'r:' .. id)
  local j = redis.call('GET', p .. 'j:' .. id)
  local lease = lease_of(p, id, r, j)
  local k = (i - 2) * 4
  out[k + 1] = r
  out[k + 2] = lease
  out[k + 3] = j
  out[k + 4] = lease and redis.call('GET', p .. 'p:' .. id) or false
end
return out
`;
