-- features/close.lua - closes one bucket (features/featstore.c).
--
-- ARGV: prefix, bucket start B, bucket_ms, idle_ttl_ms (event time),
--       ttl_wall_ms.
--
-- The first call for B moves every active SKU's aggregates of B out of its
-- state into one snapshot key (the windows need nothing: a reader ends them
-- at the closed time itself, features.lua); the snapshot is returned, and
-- returned again
-- (unchanged) by any later call for B until the flush that acknowledges B
-- deletes it. So a closer that dies between closing and delivering delivers
-- the same bucket, with the same SKUs and totals, after it restarts.
--
-- Snapshot: MessagePack [B, [[sku, units, cancelled, views, carts, removes,
-- orders, revenue_e4, events, promo_events, price_n, price_sum_e4, users]...]],
-- SKUs sorted.

local P, B, bucket, idle_ttl, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]), tonumber(ARGV[5])
local K = 12
local function I(x) return string.format('%d', x) end

local snapkey = P .. ':{meta}:closed:' .. I(B)
local snap = redis.call('GET', snapkey)
if snap then return snap end

local closed = tonumber(redis.call('HGET', P .. ':{meta}:clock', 'closed'))
if closed == nil or B + bucket > closed then
  return redis.error_reply('bucket ' .. I(B) .. ' is not closed')
end
-- A flush that read any of what follows before this close must start over
-- (flush.lua).
redis.call('INCR', P .. ':{meta}:version')

local stop = B + bucket
local activekey, firstkey = P .. ':{meta}:active', P .. ':{meta}:first'
local recent = redis.call('ZRANGEBYSCORE', activekey, stop - idle_ttl, '+inf')
local started = {}
for _, sku in ipairs(redis.call('ZRANGEBYSCORE', firstkey, '-inf', '(' .. I(stop))) do
  started[sku] = true
end
local active = {}
for _, sku in ipairs(recent) do
  if started[sku] then active[#active + 1] = sku end
end
table.sort(active)

-- Only SKUs with events in B (flush.lua lists them) have an aggregate to
-- move; every other active SKU gets a row of zeros without a command.
local touchedkey = P .. ':{meta}:touched:' .. I(B)
local touched = {}
for _, sku in ipairs(redis.call('SMEMBERS', touchedkey)) do touched[sku] = true end

local CHUNK = 2000
local bkeys, bsku = {}, {}
for _, sku in ipairs(active) do
  if touched[sku] then
    bkeys[#bkeys + 1] = P .. ':{' .. sku .. '}:b:' .. I(B)
    bsku[#bkeys] = sku
  end
end
local agg = {}
for i = 1, #bkeys, CHUNK do
  local part = {unpack(bkeys, i, math.min(i + CHUNK - 1, #bkeys))}
  local got = redis.call('MGET', unpack(part))
  for j = 1, #got do
    if got[j] then
      local a = {struct.unpack(BUCKET_FMT, got[j])}
      a[12] = sk_count({string.sub(got[j], a[12])}) -- the users, after the aggregates
      agg[bsku[i + j - 1]] = a
    end
  end
  redis.call('DEL', unpack(part))
end

local rows = {}
for _, sku in ipairs(active) do
  local a = agg[sku]
  local row = {sku}
  for f = 1, 11 do row[f + 1] = a and a[f] or 0 end
  row[13] = a and a[12] or 0
  rows[#rows + 1] = row
end

-- SKUs idle for longer than the TTL leave the active set, and their window
-- slots go with them (an idle SKU has no open bucket left).
local nwin = 0
local spec = redis.call('HGET', P .. ':{meta}:clock', 'windows') or ''
for _ in string.gmatch(spec, '[^,]+') do nwin = nwin + 1 end
local gone = redis.call('ZRANGEBYSCORE', activekey, '-inf', '(' .. I(stop - idle_ttl))
for i = 1, #gone, CHUNK do
  local part = {unpack(gone, i, math.min(i + CHUNK - 1, #gone))}
  redis.call('ZREM', activekey, unpack(part))
  redis.call('ZREM', firstkey, unpack(part))
  local dead = {}
  for _, sku in ipairs(part) do
    for w = 0, nwin - 1 do
      for pos = 0, K - 1 do
        dead[#dead + 1] = P .. ':{' .. sku .. '}:w:' .. w .. ':' .. pos
      end
    end
  end
  for j = 1, #dead, CHUNK do
    redis.call('DEL', unpack(dead, j, math.min(j + CHUNK - 1, #dead)))
  end
end

redis.call('DEL', touchedkey)

snap = cmsgpack.pack({B, rows})
redis.call('SET', snapkey, snap, 'PX', ttl)
return snap
