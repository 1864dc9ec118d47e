-- features/flush.lua - the meta step of a flush (features/featstore.c).
--
-- featstore.c runs a flush as one optimistic transaction: it WATCHes the
-- store's version key, reads the clock, the partition offsets and the
-- records of the SKUs the batch touches, checks the offsets (fencing) and
-- merges the deltas in C, then sends MULTI, the merged records (MSET), the
-- SKUs with only late events (ZADD NX), the open buckets' log entries
-- (APPEND, or SET of a log it has read and compacted), this script, EXEC.
-- Every writer of the store bumps the version (this script and the bucket
-- close), so EXEC fails, and featstore.c starts over, whenever anything it
-- read has changed since.
-- Redis does not roll back a transaction whose command fails, so nothing
-- here may fail once the values are queued: the checks are all made before.
--
-- ARGV[1] is a MessagePack array built by featstore.c:
--   [prefix, instance, lease_ms, bucket_ms, lateness_ms, ack_until|nil,
--    windows [[name, slot_ms]...],
--    parts [[name, next_offset, max_ts|nil, idle]...],
--    oldest_bucket|nil, format]
-- oldest_bucket is the start of the oldest open bucket the batch wrote to;
-- format, that of the values featstore.c writes (STORE_FORMAT).
-- Key layout: features/KEYS.md.
--
-- Returns {closed_until|false, acked_until|false, closer, commands,
-- version}, where commands counts the commands the script ran and version
-- is the store's after this flush (featstore.c's cache of records is of it).

local a = cmsgpack.unpack(ARGV[1])
local P, me, lease, bucket, lateness = a[1], a[2], a[3], a[4], a[5]
local ack_until, windows, parts, oldest_bucket, format = a[6], a[7], a[8], a[9], a[10]
local ncmd = 0
local function call(...)
  ncmd = ncmd + 1
  return redis.call(...)
end
local function I(x) return string.format('%d', x) end

local offkey, wmkey, idlekey = P .. ':{meta}:offsets', P .. ':{meta}:wm', P .. ':{meta}:idle'
local clockkey = P .. ':{meta}:clock'
local version = call('INCR', P .. ':{meta}:version')

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
  if oldest_bucket and (closed == nil or oldest_bucket < closed) then closed = oldest_bucket end
  acked = closed
  origin = closed
end

-- Offsets and watermarks of this instance's partitions. A partition that
-- has shown no event yet gets watermark 0 unless it is stored already: it
-- holds every bucket open until its first event or until it is idle, so a
-- partition read later than the others does not find its buckets closed.
if #parts > 0 then
  local offs, wms, idles, unknown = {}, {}, {}, {}
  for _, p in ipairs(parts) do
    if p[2] >= 0 then offs[#offs + 1] = p[1]; offs[#offs + 1] = I(p[2]) end
    if p[3] then
      wms[#wms + 1] = p[1]; wms[#wms + 1] = I(p[3])
    else
      unknown[#unknown + 1] = p[1]
    end
    idles[#idles + 1] = p[1]; idles[#idles + 1] = p[4]
  end
  if #offs > 0 then call('HSET', offkey, unpack(offs)) end
  if #wms > 0 then call('HSET', wmkey, unpack(wms)) end
  for _, name in ipairs(unknown) do call('HSETNX', wmkey, name, '0') end
  call('HSET', idlekey, unpack(idles))
end

-- The low watermark over every partition of the group closes buckets.
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

-- Buckets the lease holder has delivered are forgotten.
if closer == 1 and ack_until and acked and ack_until > acked then
  local stop = math.min(ack_until, closed)
  for b = acked, stop - bucket, bucket do
    call('DEL', P .. ':{meta}:closed:' .. I(b))
  end
  acked = stop
end
-- The window lengths go with the clock, so that a reader (features.lua)
-- sums the rings the way they were written; with the bucket width and the
-- values' format, they are the layout featstore.c checks before it writes.
local spec = {}
for w = 1, #windows do spec[w] = windows[w][1] .. '=' .. I(windows[w][2]) end
if closed ~= nil then
  call('HSET', clockkey, 'closed', I(closed), 'acked', I(acked), 'origin', I(origin or closed),
       'windows', table.concat(spec, ','), 'bucket', I(bucket), 'format', I(format))
end

-- Before the first close the clock's start is provisional (see above): no
-- bucket is closed yet, so the caller must not treat older events as late.
local closed_out = closed and origin and closed > origin and I(closed) or false
if closed and not origin then closed_out = I(closed) end
return {closed_out, acked and I(acked) or false, closer, ncmd, version}
