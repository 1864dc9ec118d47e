-- features/values.lua - the stored values: their format, and the distinct
-- user count the function library features.lua reads from them
-- (featstore.c puts this file in front of each script it loads into Redis,
-- features/embed_lua.cmake). features/values.c writes them, and reads the
-- bucket logs when it closes buckets.
--
-- Numbers are unsigned LEB128 varints (7 bits a byte, low first, the top
-- bit set on every byte but the last; `uv` below); all are >= 0.
--
-- A SKU's record is one string (key PREFIX:{SKU}:f), so a flush writes a
-- SKU once however many window slots its events reach:
--   record  = u8 windows, uv seen (the SKU's newest event time, ms), then
--             per window (shortest first) uv n and n slots by ascending
--             slot number
--   slot    = uv length of the rest, uv slot, views, carts, units, orders,
--             revenue_e4, then the slot's users sketch
-- A window keeps the slots among the 12 newest slot numbers, up to the
-- newest it has seen: an older slot can no longer count in any read.
--
-- An open bucket's log is one string (key PREFIX:{meta}:open:START) that
-- every flush APPENDs the bucket's deltas to, one entry per SKU, so a
-- flush reads nothing of a bucket; its close sums the entries per SKU:
--   entry   = u8 length, the SKU, uv length of the rest, uv units,
--             cancelled, views, carts, removes, orders, revenue_e4, events,
--             promo_events, price_n, price_sum_e4, then the users sketch of
--             the SKU's events in the bucket in that flush
-- A log grown past 1 MiB, and again past twice its last compacted size,
-- is read by the next flush and SET compacted: one entry per SKU, of its
-- sums and the union of its sketches (featstore.c, DC_LOG_COMPACT_MIN).
--
-- The SKUs the bucket closes list are one string (key
-- PREFIX:{meta}:listed), which each close reads and writes whole, in byte
-- order of the SKUs:
--   listed  = u8 length, the SKU, uv end of its newest closed bucket with
--             events (ms; 0 for none: its events all came after their
--             bucket had closed)

-- A sketch counts distinct users inside the slot or entry it belongs to,
-- so a flush writes a SKU's users with the same MSET as its counts instead
-- of one PFADD per slot. Users are 32-bit hashes (dc_user_hash), 4 bytes
-- big-endian each. A sketch is a string:
--   ''                     no users
--   'E' .. hashes          the exact set, while it holds at most 256
--   'H' .. SK_REGS bytes   HyperLogLog registers once it outgrows that:
--                          the top 10 bits of a hash pick the register, the
--                          other 22 give the rank (standard error
--                          1.04 / sqrt(SK_REGS), about 3.3 %)
-- Both forms take at most 1 KiB. Counts of unions of exact sets are exact,
-- so a window whose users number at most 256 is counted exactly.

local SK_REGS = 1024

-- Register (1-based) and rank (leading zeros of the low 22 bits, plus one)
-- of the hash at byte i of a string of hashes.
local function sk_rank(h, i)
  local b1, b2, b3, b4 = string.byte(h, i, i + 3)
  local v = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
  local low, rank, bit = v % 4194304, 1, 2097152
  while rank <= 22 and low < bit do
    rank = rank + 1
    bit = bit / 2
  end
  return math.floor(v / 4194304) + 1, rank
end

local function sk_registers(regs, hashes)
  for i = 1, #hashes, 4 do
    local reg, rank = sk_rank(hashes, i)
    if rank > regs[reg] then regs[reg] = rank end
  end
end

-- The registers of any sketch, as a table of SK_REGS numbers.
local function sk_to_registers(s)
  if string.sub(s, 1, 1) == 'H' then return {string.byte(s, 2, SK_REGS + 1)} end
  local regs = {}
  for i = 1, SK_REGS do regs[i] = 0 end
  sk_registers(regs, string.sub(s, 2))
  return regs
end

-- Distinct users of the union of a list of sketches: exact while every one
-- is exact, the HyperLogLog estimate (with the small-range correction)
-- otherwise.
local function sk_count(list)
  local exact, seen, n = true, {}, 0
  for _, s in ipairs(list) do
    if string.sub(s, 1, 1) == 'H' then exact = false end
  end
  if exact then
    for _, s in ipairs(list) do
      for i = 2, #s, 4 do
        local h = string.sub(s, i, i + 3)
        if not seen[h] then seen[h] = true; n = n + 1 end
      end
    end
    return n
  end
  local regs = sk_to_registers('')
  for _, s in ipairs(list) do
    local r = sk_to_registers(s)
    for i = 1, SK_REGS do
      if r[i] > regs[i] then regs[i] = r[i] end
    end
  end
  local z, zeros = 0, 0
  for i = 1, SK_REGS do
    z = z + 2 ^ -regs[i]
    if regs[i] == 0 then zeros = zeros + 1 end
  end
  local est = 0.7213 / (1 + 1.079 / SK_REGS) * SK_REGS * SK_REGS / z
  if est <= 2.5 * SK_REGS and zeros > 0 then est = SK_REGS * math.log(SK_REGS / zeros) end
  return math.floor(est + 0.5)
end

-- The varint at byte pos of s, and the position after it.
local function uv(s, pos)
  local v, mul = 0, 1
  while true do
    local b = string.byte(s, pos)
    pos = pos + 1
    if b < 128 then return v + b * mul, pos end
    v = v + (b - 128) * mul
    mul = mul * 128
  end
end

-- The SKU's newest event time of record v, then the window slots: for each
-- window (1-based, shortest first) a list of {slot, views, carts, units,
-- orders, revenue_e4, sketch}.
local function rec_windows(v)
  local windows, seen, pos = {}, uv(v, 2)
  for w = 1, string.byte(v, 1) do
    local n
    n, pos = uv(v, pos)
    local slots = {}
    for i = 1, n do
      local slot, len = {}
      len, pos = uv(v, pos)
      local stop = pos + len
      for k = 1, 6 do slot[k], pos = uv(v, pos) end
      slot[7] = string.sub(v, pos, stop - 1)
      slots[i] = slot
      pos = stop
    end
    windows[w] = slots
  end
  return seen, windows
end
