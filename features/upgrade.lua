-- features/upgrade.lua - brings a feature store of an older format to the
-- one featstore.c writes, in one atomic step when it connects, so that a
-- new demandcast takes over a running store without losing its windows.
--
-- Format 1 (no `format` in the clock) kept each SKU's newest event time in
-- the sorted set dc:{meta}:active; format 2 keeps it in the SKU's record,
-- after the number of windows (values.lua). For each SKU of that set this
-- inserts the time into its record and, so that a close finds the SKU once
-- it is idle, lists it without a bucket unless it is listed already
-- (featstore.c, send_unlogged); then it drops the set, and the first-seen
-- set dc:{meta}:first of stores older still.
--
-- Formats 1 and 2 listed the SKUs a close lists in the sorted set
-- dc:{meta}:last (SKU -> end of its newest closed bucket with events,
-- -inf for none), which every close updated member by member; format 3
-- keeps them in the string dc:{meta}:listed (values.lua), which a close
-- reads and writes whole. This moves them there, in the set's order (the
-- next close puts them in byte order).
--
-- A store of format 3, or new, is left as it is; featstore.c refuses any
-- other.
--
-- ARGV: prefix, the format featstore.c writes (3). Returns the number of
-- records rewritten and the number of SKUs listed, or 0 for a store left
-- as it is.

local P, format = ARGV[1], ARGV[2]
local clockkey = P .. ':{meta}:clock'
local clock = redis.call('HMGET', clockkey, 'closed', 'format')
local from = clock[2] or '1'
if not clock[1] or format ~= '3' or (from ~= '1' and from ~= '2') then return 0 end

-- The varint of v >= 0 (uv in values.lua reads it).
local function put_uv(v)
  local out = {}
  while v >= 128 do
    out[#out + 1] = string.char(v % 128 + 128)
    v = math.floor(v / 128)
  end
  out[#out + 1] = string.char(v)
  return table.concat(out)
end

-- A script's writes stay when it fails part way, and a record upgraded
-- twice would be garbled: every command that could fail runs before the
-- first write.
local activekey, lastkey = P .. ':{meta}:active', P .. ':{meta}:last'
local listedkey, versionkey = P .. ':{meta}:listed', P .. ':{meta}:version'
local active = from == '1' and redis.call('ZRANGE', activekey, 0, -1, 'WITHSCORES') or {}
local last_type = redis.call('TYPE', lastkey).ok
local last = last_type == 'zset' and redis.call('ZRANGE', lastkey, 0, -1, 'WITHSCORES') or {}
local version = redis.call('GET', versionkey)
if (last_type ~= 'none' and last_type ~= 'zset') or
   redis.call('TYPE', listedkey).ok ~= 'none' or (version and not tonumber(version)) then
  return redis.error_reply('the feature store under ' .. P .. ' is of format ' .. from ..
                           ' but holds ' .. lastkey .. ', ' .. listedkey .. ' or ' ..
                           versionkey .. ' of another kind')
end
-- The SKUs whose records are strings, with a time a varint holds exactly
-- (a value of another kind is left as it is: a flush overwrites it).
local upgrade = {}
for i = 1, #active, 2 do
  local rec = redis.pcall('GET', P .. ':{' .. active[i] .. '}:f')
  local seen = tonumber(active[i + 1])
  upgrade[i] = type(rec) == 'string' and #rec > 0 and seen ~= nil and seen >= 0 and
               seen < 2 ^ 53 and seen == math.floor(seen)
end

-- The listed SKUs, each with its end (0: none). A name longer than a SKU
-- cannot be listed; it has no record either.
local listed, in_last = {}, {}
for i = 1, #last, 2 do
  local sku, score = last[i], tonumber(last[i + 1])
  if #sku > 0 and #sku < 64 then
    local bucket_end = (score and score > 0 and score < 2 ^ 53) and score or 0
    listed[#listed + 1] = string.char(#sku) .. sku .. put_uv(bucket_end)
  end
  in_last[sku] = true
end
local n = 0
for i = 1, #active, 2 do
  local sku, seen = active[i], tonumber(active[i + 1])
  if upgrade[i] then
    local key = P .. ':{' .. sku .. '}:f'
    local rec = redis.call('GET', key)
    redis.call('SET', key, string.sub(rec, 1, 1) .. put_uv(seen) .. string.sub(rec, 2))
    if not in_last[sku] and #sku < 64 then
      listed[#listed + 1] = string.char(#sku) .. sku .. put_uv(0)
    end
    n = n + 1
  end
end
if #listed > 0 then redis.call('SET', listedkey, table.concat(listed)) end
redis.call('DEL', activekey, P .. ':{meta}:first', lastkey)
redis.call('HSET', clockkey, 'format', format)
redis.call('INCR', versionkey)
return {n, #listed}
