-- features/flush.lua - the one atomic step of a flush (features/featstore.c).
--
-- ARGV[1] is a MessagePack array built by featstore.c:
--   [prefix, instance, lease_ms, bucket_ms, lateness_ms, ack_until|nil,
--    windows [[name, slot_ms]...],
--    parts [[name, stored_offset, next_offset, max_ts|nil, idle]...],
--    skus [[sku, newest, oldest,
--           slots [[key, slot, views, carts, units, orders, revenue_e4, users]...],
--           buckets [[key, start, units, cancelled, views, carts, removes, orders,
--                     revenue_e4, events, promo_events, price_n, price_sum_e4,
--                     users]...]]...]]
-- where users are the 32-bit hashes of the slot's or bucket's users
-- (values.lua). Key layout: features/KEYS.md. Only the state the windows are
-- summed from is written here; the readable totals are computed when they
-- are read (features.lua). Every check that can refuse the batch runs before
-- the first write, because Redis does not roll a script back.
--
-- Returns {1, closed_until|false, acked_until|false, closer, late_dropped, commands}
-- or {0, partition, stored_offset} when a partition's offset is not the one
-- the caller expected (another instance moved it: the caller is fenced).

local a = cmsgpack.unpack(ARGV[1])
local P, me, lease, bucket, lateness = a[1], a[2], a[3], a[4], a[5]
local ack_until, windows, parts, skus = a[6], a[7], a[8], a[9]
local K = 12
local ncmd = 0
local function call(...)
  ncmd = ncmd + 1
  return redis.call(...)
end
local function I(x) return string.format('%d', x) end

local offkey, wmkey, idlekey = P .. ':{meta}:offsets', P .. ':{meta}:wm', P .. ':{meta}:idle'
local clockkey = P .. ':{meta}:clock'

-- 1. Fencing: every partition must still be where this instance left it.
if #parts > 0 then
  local names = {}
  for i, p in ipairs(parts) do names[i] = p[1] end
  local cur = call('HMGET', offkey, unpack(names))
  for i, p in ipairs(parts) do
    local stored = tonumber(cur[i]) or -1
    if stored ~= p[2] then return {0, p[1], stored} end
  end
end

local clock = call('HMGET', clockkey, 'closed', 'acked', 'origin')
local closed, acked, origin = tonumber(clock[1]), tonumber(clock[2]), tonumber(clock[3])

-- The close lease: one instance of the group closes buckets.
local holder = call('GET', P .. ':{meta}:closer')
local closer = 0
if holder == false or holder == me then
  call('SET', P .. ':{meta}:closer', me, 'PX', lease)
  closer = 1
end

-- The first data ever seen starts the bucket clock at its oldest bucket.
-- Until a bucket has closed, older data moves the start back: with several
-- partitions the oldest event need not come in the first flush, and no
-- bucket may close before every partition has been heard (their watermarks
-- hold the clock), so nothing is lost by waiting for it.
if closed == nil or (closed == origin and acked == origin) then
  for _, s in ipairs(skus) do
    for _, b in ipairs(s[5]) do
      if closed == nil or b[2] < closed then closed = b[2] end
    end
  end
  acked = closed
  origin = closed
end

-- 2. The SKUs: every value they touch is read with MGET and written back
-- with MSET, a few thousand keys per command, so the commands a flush runs
-- do not grow with the SKUs it touches. featstore.c names the keys.
local late_dropped = 0
local zactive, zfirst = {}, {}
local touched = {} -- open bucket start -> SKUs with deltas in it, for close.lua
local keys, deltas, is_bucket = {}, {}, {}

for _, s in ipairs(skus) do
  local sku, newest, oldest, sdel, bdel = s[1], s[2], s[3], s[4], s[5]
  for _, d in ipairs(sdel) do
    keys[#keys + 1] = d[1]
    deltas[#keys] = d
  end
  for _, b in ipairs(bdel) do
    if closed ~= nil and b[2] < closed then
      late_dropped = late_dropped + b[10]
    else
      keys[#keys + 1] = b[1]
      deltas[#keys] = b
      is_bucket[#keys] = true
      local t = touched[b[2]]
      if not t then t = {}; touched[b[2]] = t end
      t[#t + 1] = sku
    end
  end
  zactive[#zactive + 1] = newest; zactive[#zactive + 1] = sku
  zfirst[#zfirst + 1] = oldest;   zfirst[#zfirst + 1] = sku
end

-- Values: values.lua. A window slot value sits at ring position slot % K:
-- a delta for the slot it holds adds to it, a delta for a newer slot
-- replaces it (the old slot has left every window), a delta for an older
-- slot is outside the window already.
local CHUNK = 2000
for c = 1, #keys, CHUNK do
  local last = math.min(c + CHUNK - 1, #keys)
  local old = call('MGET', unpack(keys, c, last))
  local out = {}
  for i = c, last do
    local d, cur, new = deltas[i], old[i - c + 1], nil
    if is_bucket[i] then
      local a, users = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, nil
      if cur then
        a = {struct.unpack(BUCKET_FMT, cur)}
        users = string.sub(cur, a[12])
      end
      for f = 1, 11 do a[f] = a[f] + d[f + 2] end
      new = struct.pack(BUCKET_FMT, unpack(a, 1, 11)) .. sk_add(users, d[14])
    else
      local slot, v, ca, u, o, rev, rest
      if cur then slot, v, ca, u, o, rev, rest = struct.unpack(SLOT_FMT, cur) end
      if cur and slot == d[2] then
        new = struct.pack(SLOT_FMT, slot, v + d[3], ca + d[4], u + d[5], o + d[6], rev + d[7]) ..
          sk_add(string.sub(cur, rest), d[8])
      elseif not cur or slot < d[2] then
        new = struct.pack(SLOT_FMT, d[2], d[3], d[4], d[5], d[6], d[7]) .. sk_add(nil, d[8])
      end
    end
    if new then
      out[#out + 1] = keys[i]
      out[#out + 1] = new
    end
  end
  if #out > 0 then call('MSET', unpack(out)) end
end

local function zadd(key, flag, args)
  for i = 1, #args, 4000 do
    call('ZADD', key, flag, unpack(args, i, math.min(i + 3999, #args)))
  end
end
zadd(P .. ':{meta}:active', 'GT', zactive)
zadd(P .. ':{meta}:first', 'LT', zfirst)
for b, list in pairs(touched) do
  for i = 1, #list, 4000 do
    call('SADD', P .. ':{meta}:touched:' .. I(b), unpack(list, i, math.min(i + 3999, #list)))
  end
end

-- 3. Offsets and watermarks of this instance's partitions. A partition that
-- has shown no event yet gets watermark 0 unless it is stored already: it
-- holds every bucket open until its first event or until it is idle, so a
-- partition read later than the others does not find its buckets closed.
if #parts > 0 then
  local offs, wms, idles, unknown = {}, {}, {}, {}
  for _, p in ipairs(parts) do
    if p[3] >= 0 then offs[#offs + 1] = p[1]; offs[#offs + 1] = I(p[3]) end
    if p[4] then
      wms[#wms + 1] = p[1]; wms[#wms + 1] = I(p[4])
    else
      unknown[#unknown + 1] = p[1]
    end
    idles[#idles + 1] = p[1]; idles[#idles + 1] = p[5]
  end
  if #offs > 0 then call('HSET', offkey, unpack(offs)) end
  if #wms > 0 then call('HSET', wmkey, unpack(wms)) end
  for _, name in ipairs(unknown) do call('HSETNX', wmkey, name, '0') end
  call('HSET', idlekey, unpack(idles))
end

-- 4. The low watermark over every partition of the group closes buckets.
if closed ~= nil then
  local wm = call('HGETALL', wmkey)
  local idle = call('HGETALL', idlekey)
  local is_idle = {}
  for i = 1, #idle, 2 do is_idle[idle[i]] = idle[i + 1] == '1' end
  local low, high
  for i = 1, #wm, 2 do
    local t = tonumber(wm[i + 1])
    if not is_idle[wm[i]] and (low == nil or t < low) then low = t end
    if high == nil or t > high then high = t end
  end
  low = low or high
  if low ~= nil then
    local until_ = math.floor((low - lateness) / bucket) * bucket
    if until_ > closed then closed = until_ end
  end
end

-- 5. Buckets the lease holder has delivered are forgotten.
if closer == 1 and ack_until and acked and ack_until > acked then
  local stop = math.min(ack_until, closed)
  for b = acked, stop - bucket, bucket do
    call('DEL', P .. ':{meta}:closed:' .. I(b))
  end
  acked = stop
end
-- The window lengths go with the clock, so that a reader (features.lua)
-- sums the rings the way they were written.
local spec = {}
for w = 1, #windows do spec[w] = windows[w][1] .. '=' .. I(windows[w][2]) end
if closed ~= nil then
  call('HSET', clockkey, 'closed', I(closed), 'acked', I(acked), 'origin', I(origin or closed),
       'windows', table.concat(spec, ','))
end

-- Before the first close the clock's start is provisional (see above): no
-- bucket is closed yet, so the caller must not treat older events as late.
local closed_out = closed and origin and closed > origin and I(closed) or false
if closed and not origin then closed_out = I(closed) end
return {1, closed_out, acked and I(acked) or false, closer, late_dropped, ncmd + 1}
