#!lua name=demandcast
-- features/features.lua - the Redis function library that reads a SKU's
-- rolling windows (features/KEYS.md), loaded by featstore.c with FUNCTION
-- LOAD, which Redis persists with the data. Any client reads a SKU with
--
--   redis-cli FCALL dc_features 1 'dc:{85123A}'
--
-- KEYS[1] is the SKU's key tag (prefix, ':', '{SKU}'). The reply is a flat
-- list of field, value like HGETALL: 'sku', 'asof', 'seen', then for each
-- window W 'W.views', 'W.carts', 'W.units', 'W.orders', 'W.revenue' (4
-- decimals), 'W.users' (HyperLogLog estimate), 'W.conversion' (orders /
-- views); empty for a SKU the store does not hold.
--
-- The totals are summed here rather than kept up to date by every flush:
-- a flush then writes a SKU's slot rings only, and the windows of a SKU
-- without new events still end where the closed time says, without a write.

local K = 12

local function I(x) return string.format('%d', x) end

local function features(keys, args)
  local tag = keys[1]
  local P, sku = string.match(tag, '^(.*):{(.*)}$')
  if not P then return redis.error_reply('key must be PREFIX:{SKU}') end
  local clock = redis.call('HMGET', P .. ':{meta}:clock', 'closed', 'windows')
  local state = redis.call('HGETALL', tag .. ':state')
  if #state == 0 then return {} end
  local st = {}
  for i = 1, #state, 2 do st[state[i]] = state[i + 1] end

  -- As of T = max(newest event of the SKU, end of the newest closed bucket - 1).
  local seen, closed = tonumber(st.seen), tonumber(clock[1])
  local T = seen
  if closed and closed - 1 > T then T = closed - 1 end
  local out = {'sku', sku, 'asof', I(T), 'seen', I(seen)}

  local w = 0
  for name, slot_ms in string.gmatch(clock[2] or '', '([^=,]+)=(%d+)') do
    slot_ms = tonumber(slot_ms)
    local ring = st['r' .. w] and cmsgpack.unpack(st['r' .. w])
    w = w + 1
    local top = math.floor(T / slot_ms)
    local v, c, u, o, rev, ukeys = 0, 0, 0, 0, 0, {}
    if ring then
      for j = 0, K - 1 do
        local s = ring[j * 6 + 1]
        if s > top - K and s <= top then
          v, c, u, o = v + ring[j * 6 + 2], c + ring[j * 6 + 3], u + ring[j * 6 + 4], o + ring[j * 6 + 5]
          rev = rev + ring[j * 6 + 6]
          ukeys[#ukeys + 1] = tag .. ':u:' .. name .. ':' .. I(s)
        end
      end
    end
    local users = 0
    if #ukeys > 0 then users = redis.call('PFCOUNT', unpack(ukeys)) end
    out[#out + 1] = name .. '.views';      out[#out + 1] = I(v)
    out[#out + 1] = name .. '.carts';      out[#out + 1] = I(c)
    out[#out + 1] = name .. '.units';      out[#out + 1] = I(u)
    out[#out + 1] = name .. '.orders';     out[#out + 1] = I(o)
    out[#out + 1] = name .. '.revenue';    out[#out + 1] = string.format('%.4f', rev / 1e4)
    out[#out + 1] = name .. '.users';      out[#out + 1] = I(users)
    out[#out + 1] = name .. '.conversion'
    out[#out + 1] = string.format('%.6f', v > 0 and o / v or 0)
  end
  return out
end

-- Not flagged no-writes, and so not for FCALL_RO: Redis counts PFCOUNT as
-- a possible write (it caches the cardinality inside the sketch).
redis.register_function('dc_features', features)
