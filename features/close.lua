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
local function I(x) return string.format('%d', x) end

local snapkey = P .. ':{meta}:closed:' .. I(B)
local snap = redis.call('GET', snapkey)
if snap then return snap end

local closed = tonumber(redis.call('HGET', P .. ':{meta}:clock', 'closed'))
if closed == nil or B + bucket > closed then
  return redis.error_reply('bucket ' .. I(B) .. ' is not closed')
end

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

local rows = {}
for _, sku in ipairs(active) do
  local tag = P .. ':{' .. sku .. '}'
  local skey, ukey = tag .. ':state', tag .. ':ub:' .. I(B)
  local cur = touched[sku] and redis.call('HGET', skey, 'b' .. I(B))
  local agg = cur and cmsgpack.unpack(cur) or {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
  local users = 0
  if cur then
    users = redis.call('PFCOUNT', ukey)
    redis.call('DEL', ukey)
    redis.call('HDEL', skey, 'b' .. I(B))
  end
  local row = {sku}
  for f = 1, 11 do row[f + 1] = agg[f] end
  row[13] = users
  rows[#rows + 1] = row
end

-- SKUs idle for longer than the TTL leave the active set.
local gone = redis.call('ZRANGEBYSCORE', activekey, '-inf', '(' .. I(stop - idle_ttl))
for i = 1, #gone, 4000 do
  local part = {unpack(gone, i, math.min(i + 3999, #gone))}
  redis.call('ZREM', activekey, unpack(part))
  redis.call('ZREM', firstkey, unpack(part))
end

redis.call('DEL', touchedkey)

snap = cmsgpack.pack({B, rows})
redis.call('SET', snapkey, snap, 'PX', ttl)
return snap
