-- features/close.lua - closes one bucket (features/featstore.c).
--
-- ARGV: prefix, bucket start B, bucket_ms, idle_ttl_ms (event time),
--       ttl_wall_ms, then name and slot_ms of each window.
--
-- The first call for B moves every active SKU's aggregates of B out of its
-- state into one snapshot key and slides the windows of SKUs without newer
-- events to the bucket's end; the snapshot is returned, and returned again
-- (unchanged) by any later call for B until the flush that acknowledges B
-- deletes it. So a closer that dies between closing and delivering delivers
-- the same bucket, with the same SKUs and totals, after it restarts.
--
-- Snapshot: MessagePack [B, [[sku, units, cancelled, views, carts, removes,
-- orders, revenue_e4, events, promo_events, price_n, price_sum, users]...]],
-- SKUs sorted.

local P, B, bucket, idle_ttl, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]), tonumber(ARGV[5])
local windows = {}
for i = 6, #ARGV, 2 do windows[#windows + 1] = {ARGV[i], tonumber(ARGV[i + 1])} end
local K = 12
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

local T = stop - 1
local rows = {}
for _, sku in ipairs(active) do
  local tag = P .. ':{' .. sku .. '}'
  local skey, fkey, ukey = tag .. ':state', tag .. ':features', tag .. ':ub:' .. I(B)
  local fields = {'b' .. I(B), 'seen'}
  for w = 1, #windows do fields[#fields + 1] = 'r' .. (w - 1) end
  local st = redis.call('HMGET', skey, unpack(fields))
  local agg = st[1] and cmsgpack.unpack(st[1]) or {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
  local users = 0
  if st[1] then
    users = redis.call('PFCOUNT', ukey)
    redis.call('DEL', ukey)
    redis.call('HDEL', skey, 'b' .. I(B))
  end
  local row = {sku}
  for f = 1, 11 do row[f + 1] = agg[f] end
  row[13] = users
  rows[#rows + 1] = row

  -- A SKU with no event after the bucket has windows ending at its newest
  -- event; they move on to the bucket's end, but only a window that loses a
  -- slot changes and is rewritten.
  local seen = tonumber(st[2])
  if seen and seen < T then
    local feat = {}
    for w = 1, #windows do
      local name, slot_ms = windows[w][1], windows[w][2]
      local r = st[2 + w] and cmsgpack.unpack(st[2 + w])
      local old_top, top = math.floor(seen / slot_ms), math.floor(T / slot_ms)
      local changed = false
      if r then
        for j = 0, K - 1 do
          local s = r[j * 6 + 1]
          if s > old_top - K and s <= top - K then changed = true end
        end
      end
      if changed then
        local v, c, u, o, rev, keys = 0, 0, 0, 0, 0, {}
        for j = 0, K - 1 do
          local s = r[j * 6 + 1]
          if s > top - K and s <= top then
            v, c, u, o = v + r[j * 6 + 2], c + r[j * 6 + 3], u + r[j * 6 + 4], o + r[j * 6 + 5]
            rev = rev + r[j * 6 + 6]
            keys[#keys + 1] = tag .. ':u:' .. name .. ':' .. I(s)
          end
        end
        local nu = 0
        if #keys > 0 then nu = redis.call('PFCOUNT', unpack(keys)) end
        feat[#feat + 1] = name .. '.views';   feat[#feat + 1] = I(v)
        feat[#feat + 1] = name .. '.carts';   feat[#feat + 1] = I(c)
        feat[#feat + 1] = name .. '.units';   feat[#feat + 1] = I(u)
        feat[#feat + 1] = name .. '.orders';  feat[#feat + 1] = I(o)
        feat[#feat + 1] = name .. '.revenue'; feat[#feat + 1] = string.format('%.4f', rev / 1e4)
        feat[#feat + 1] = name .. '.users';   feat[#feat + 1] = I(nu)
        feat[#feat + 1] = name .. '.conversion'
        feat[#feat + 1] = string.format('%.6f', v > 0 and o / v or 0)
      end
    end
    feat[#feat + 1] = 'asof'
    feat[#feat + 1] = I(T)
    redis.call('HSET', fkey, unpack(feat))
  end
end

-- SKUs idle for longer than the TTL leave the active set.
local gone = redis.call('ZRANGEBYSCORE', activekey, '-inf', '(' .. I(stop - idle_ttl))
for i = 1, #gone, 4000 do
  local part = {unpack(gone, i, math.min(i + 3999, #gone))}
  redis.call('ZREM', activekey, unpack(part))
  redis.call('ZREM', firstkey, unpack(part))
end

snap = cmsgpack.pack({B, rows})
redis.call('SET', snapkey, snap, 'PX', ttl)
return snap
