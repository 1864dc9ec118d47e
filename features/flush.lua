-- features/flush.lua - the one atomic step of a flush (features/featstore.c).
--
-- ARGV[1] is a MessagePack array built by featstore.c:
--   [prefix, instance, lease_ms, bucket_ms, lateness_ms, ttl_wall_ms, ack_until|nil,
--    windows [[name, slot_ms]...],
--    parts [[name, stored_offset, next_offset, max_ts|nil, idle]...],
--    skus [[sku, newest, oldest,
--           slots [[w, slot, views, carts, units, orders, revenue_e4]...],
--           buckets [[start, units, cancelled, views, carts, removes, orders,
--                     revenue_e4, events, promo_events, price_n, price_sum_e4]...],
--           users [[ts, user]...]]...],
--    now_wall_ms]
-- Key layout: features/KEYS.md. Only the state the windows are summed from
-- is written here; the readable totals are computed when they are read
-- (features.lua), so a flush costs a SKU one HMGET, one HSET and the PFADDs
-- of its users, and a PEXPIRE only when the key's TTL is due for renewal. Every check that can refuse the batch runs
-- before the first write, because Redis does not roll a script back.
--
-- Returns {1, closed_until|false, acked_until|false, closer, late_dropped, commands}
-- or {0, partition, stored_offset} when a partition's offset is not the one
-- the caller expected (another instance moved it: the caller is fenced).

local a = cmsgpack.unpack(ARGV[1])
local P, me, lease, bucket, lateness, ttl = a[1], a[2], a[3], a[4], a[5], a[6]
local ack_until, windows, parts, skus, now = a[7], a[8], a[9], a[10], a[11]
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
      if closed == nil or b[1] < closed then closed = b[1] end
    end
  end
  acked = closed
  origin = closed
end

-- 2. The SKUs.
local late_dropped = 0
local zactive, zfirst = {}, {}
local touched = {} -- open bucket start -> SKUs with deltas in it, for close.lua

local function ring_decode(txt)
  if txt then return cmsgpack.unpack(txt) end
  local r = {}
  for i = 1, K * 6 do r[i] = (i % 6 == 1) and -1 or 0 end
  return r
end

for _, s in ipairs(skus) do
  local sku, newest, oldest, sdel, bdel, users = s[1], s[2], s[3], s[4], s[5], s[6]
  local tag = P .. ':{' .. sku .. '}'
  local skey = tag .. ':state'
  local fields = {'seen', 'first', 'x'}
  for w = 1, #windows do fields[#fields + 1] = 'r' .. (w - 1) end
  local live = {}
  for _, b in ipairs(bdel) do
    if closed ~= nil and b[1] < closed then
      late_dropped = late_dropped + b[9]
    else
      live[#live + 1] = b
      fields[#fields + 1] = 'b' .. I(b[1])
      local t = touched[b[1]]
      if not t then t = {}; touched[b[1]] = t end
      t[#t + 1] = sku
    end
  end
  local st = call('HMGET', skey, unpack(fields))
  local newb = {} -- buckets this SKU had no aggregate of yet
  for i, b in ipairs(live) do
    if not st[3 + #windows + i] then newb[b[1]] = true end
  end
  local seen = math.max(tonumber(st[1]) or newest, newest)
  local first = math.min(tonumber(st[2]) or oldest, oldest)
  local out = {'seen', I(seen), 'first', I(first)}
  -- The TTL is renewed once an eighth of it has passed, not on every flush.
  local renew = not st[3] or now - tonumber(st[3]) > ttl / 8
  if renew then out[#out + 1] = 'x'; out[#out + 1] = I(now) end

  -- Window slots: a delta for a slot the ring has moved past is outside
  -- every window already; a newer slot replaces the one it evicts, whose
  -- users sketch then expires on its own.
  local rings, fresh = {}, {}
  for w = 1, #windows do rings[w] = ring_decode(st[3 + w]) end
  for _, d in ipairs(sdel) do
    local r, pos = rings[d[1] + 1], (d[2] % K) * 6
    if r[pos + 1] == d[2] then
      for f = 2, 6 do r[pos + f] = r[pos + f] + d[f + 1] end
    elseif r[pos + 1] < d[2] then
      r[pos + 1] = d[2]
      for f = 2, 6 do r[pos + f] = d[f + 1] end
      fresh[(d[1] + 1) .. ':' .. I(d[2])] = true
    end
  end

  -- Distinct users: one HyperLogLog per window slot and per open bucket.
  local adds = {}
  local function add(key, user, new)
    local e = adds[key]
    if not e then e = {new = new}; adds[key] = e end
    e[#e + 1] = user
  end
  for _, u in ipairs(users) do
    for w = 1, #windows do
      local slot = math.floor(u[1] / windows[w][2])
      local r = rings[w]
      if r[(slot % K) * 6 + 1] == slot then
        add(tag .. ':u:' .. windows[w][1] .. ':' .. I(slot), u[2], fresh[w .. ':' .. I(slot)])
      end
    end
    local b = math.floor(u[1] / bucket) * bucket
    if closed == nil or b >= closed then add(tag .. ':ub:' .. I(b), u[2], newb[b]) end
  end
  for key, e in pairs(adds) do
    for i = 1, #e, 4000 do
      call('PFADD', key, unpack(e, i, math.min(i + 3999, #e)))
    end
    if e.new then call('PEXPIRE', key, ttl) end
  end

  -- Open buckets.
  for i, b in ipairs(live) do
    local cur = st[3 + #windows + i]
    local agg = cur and cmsgpack.unpack(cur) or {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
    for f = 1, 11 do agg[f] = agg[f] + b[f + 1] end
    out[#out + 1] = 'b' .. I(b[1])
    out[#out + 1] = cmsgpack.pack(agg)
  end

  for w = 1, #windows do
    out[#out + 1] = 'r' .. (w - 1)
    out[#out + 1] = cmsgpack.pack(rings[w])
  end
  call('HSET', skey, unpack(out))
  if renew then call('PEXPIRE', skey, ttl) end
  zactive[#zactive + 1] = seen;  zactive[#zactive + 1] = sku
  zfirst[#zfirst + 1] = first;   zfirst[#zfirst + 1] = sku
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
