-- features/forget.lua - the last step of a bucket close (features/featstore.c):
-- the SKUs that have gone idle leave the store.
--
-- featstore.c queues it in the close's transaction with the SKUs whose
-- newest closed bucket with events (dc:{meta}:last) ended sku.idle.ttl or
-- more before the end of the last bucket it closes. Of those, a SKU whose
-- newest event (its record's `seen`, values.lua) is that old too loses its
-- record and its `last`. The close knows these SKUs only once it has
-- summed its buckets' logs, with its transaction open: reading `seen` here,
-- when EXEC runs, saves it a second round of reads, and is as exact (the
-- close WATCHes the store's version).
--
-- ARGV: prefix, the idle limit (ms; newest events before it are idle),
-- then the SKUs. Returns how many left the store.

local P, before = ARGV[1], tonumber(ARGV[2])
local lastkey = P .. ':{meta}:last'
local gone = 0
for i = 3, #ARGV do
  local key = P .. ':{' .. ARGV[i] .. '}:f'
  -- A value that is not a record (of another type, or cut short) goes
  -- too, rather than fail the close's transaction half applied: Redis does
  -- not roll it back.
  local rec, ok, seen = redis.pcall('GET', key), false, nil
  if type(rec) == 'string' then ok, seen = pcall(uv, rec, 2) end
  if not ok or seen < before then
    redis.call('DEL', key)
    redis.call('ZREM', lastkey, ARGV[i])
    gone = gone + 1
  end
end
return gone
