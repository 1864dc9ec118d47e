#!lua name=demandcast
-- features/features.lua - the Redis function library that reads a SKU's
-- rolling windows (features/KEYS.md), loaded by featstore.c with FUNCTION
-- LOAD (behind the library's shebang line and values.lua), which Redis
-- persists with the data. Any client reads a SKU with
--
--   redis-cli FCALL dc_features 1 'dc:{85123A}'
--
-- KEYS[1] is the SKU's key tag (prefix, ':', '{SKU}'). The reply is a flat
-- list of field, value like HGETALL: 'sku', 'asof', 'seen', then for each
-- window W 'W.views', 'W.carts', 'W.units', 'W.orders', 'W.revenue' (4
-- decimals), 'W.users' (distinct users, values.lua), 'W.conversion'
-- (orders / views); empty for a SKU the store does not hold.
--
-- The totals are summed here from the record's window slots rather than
-- kept up to date by every flush: the windows of a SKU without new events
-- still end where the closed time says, without a write.

local K = 12

local function I(x) return string.format('%d', x) end

local function features(keys, args)
  local tag = keys[1]
  local P, sku = string.match(tag, '^(.*):{(.*)}$')
  if not P then return redis.error_reply('key must be PREFIX:{SKU}') end
  local rec = redis.call('GET', tag .. ':f')
  if not rec then return {} end
  local seen, windows = rec_windows(rec)
  local clock = redis.call('HMGET', P .. ':{meta}:clock', 'closed', 'windows')

  -- As of T = max(newest event of the SKU, end of the newest closed bucket - 1).
  local closed = tonumber(clock[1])
  local T = seen
  if closed and closed - 1 > T then T = closed - 1 end
  local out = {'sku', sku, 'asof', I(T), 'seen', I(seen)}

  local w = 0
  for name, slot_ms in string.gmatch(clock[2] or '', '([^=,]+)=(%d+)') do
    local top = math.floor(T / tonumber(slot_ms))
    w = w + 1
    local v, c, u, o, rev, sketches = 0, 0, 0, 0, 0, {}
    for _, s in ipairs(windows[w] or {}) do
      if s[1] > top - K and s[1] <= top then
        v, c, u, o, rev = v + s[2], c + s[3], u + s[4], o + s[5], rev + s[6]
        sketches[#sketches + 1] = s[7]
      end
    end
    out[#out + 1] = name .. '.views';      out[#out + 1] = I(v)
    out[#out + 1] = name .. '.carts';      out[#out + 1] = I(c)
    out[#out + 1] = name .. '.units';      out[#out + 1] = I(u)
    out[#out + 1] = name .. '.orders';     out[#out + 1] = I(o)
    out[#out + 1] = name .. '.revenue';    out[#out + 1] = string.format('%.4f', rev / 1e4)
    out[#out + 1] = name .. '.users';      out[#out + 1] = I(sk_count(sketches))
    out[#out + 1] = name .. '.conversion'
    out[#out + 1] = string.format('%.6f', v > 0 and o / v or 0)
  end
  return out
end

redis.register_function{function_name = 'dc_features', callback = features,
                        flags = {'no-writes'}}
