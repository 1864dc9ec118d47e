/*
 * features/features.h - event time, validation, rolling windows and the Redis
 * feature store (DESIGN.md section 3).
 *
 * The objects, in the order an event meets them:
 *
 *   dc_limits_t     what a valid event looks like (bad input goes to the DLQ)
 *   dc_parts_t      the input partitions an instance owns: offsets and
 *                   per-partition watermarks, and the rule for idle partitions
 *   dc_featbatch_t  window and bucket deltas of the events since the last
 *                   flush, coalesced per SKU (no allocation per event once warm)
 *   dc_featstore_t  the Redis side: one atomic step per flush that applies a
 *                   batch together with the partition offsets and watermarks,
 *                   closes buckets, and reads features back
 *
 * Time is event time everywhere (int64 ms since the epoch, UTC); the wall
 * clock is read only to decide that a partition is idle and for Redis TTLs
 * and leases, never for a value that reaches a forecast.
 *
 * Rolling windows. A window of length W is kept as K = 12 slots of W/K each
 * (W must be a multiple of K ms). A SKU's windows end at its "as-of" time
 * T = max(newest event time of the SKU, end of the newest closed bucket - 1):
 * window W covers the slots [E - W, E) with E = floor(T / (W/K)) * (W/K) +
 * W/K, i.e. the last K slots up to and including the one holding T. The
 * value is therefore a function of the set of events, not of the order they
 * arrive in or of when flushes happen. Key layout: features/KEYS.md.
 *
 * Buckets and watermarks. An input partition's watermark is the newest event
 * time seen on it minus `lateness`. The store keeps every partition's
 * watermark (of every instance of the consumer group); the low watermark is
 * the lowest one over partitions that are not idle, and bucket [B, B+width)
 * closes once the low watermark reaches B + width. Idle rule: a partition an
 * instance has read to its end (no message waiting) for `idle.timeout` of
 * wall time stops holding the low watermark back until its next message; if
 * every partition is idle the highest watermark counts. An empty partition is
 * thus idle once `idle.timeout` has passed after assignment. A partition that
 * no instance owns (its owner died, the group has not rebalanced yet) keeps
 * its last watermark and holds buckets open, because its data is pending.
 */
#ifndef DC_FEATURES_H
#define DC_FEATURES_H

#include "common/common.h"
#include "schemas/schemas.h"

#include <stdint.h>

#define DC_WINDOWS_MAX 6     /* rolling windows (config `windows`) */
#define DC_WINDOW_SLOTS 12   /* slots per window */
#define DC_MIN_EVENT_TIME 946684800000LL /* 2000-01-01: older is bad_timestamp */

/* ------------------------------------------------------------------------ */
/* Settings shared by the objects below                                     */
/* ------------------------------------------------------------------------ */

/* The event-time and validation settings, read once from the configuration
 * (bucket.width, lateness, windows, sku.idle.ttl, idle.timeout,
 * future.tolerance, max.quantity, max.price). */
typedef struct {
    int64_t bucket_ms;
    int64_t lateness_ms;
    int64_t idle_ttl_ms;    /* a SKU without events this long (event time) is inactive */
    int64_t idle_timeout_ms;/* wall time at a partition's end before it is idle */
    int64_t future_ms;      /* future.tolerance */
    int64_t max_quantity;
    double max_price;
    size_t n_windows;
    int64_t window_ms[DC_WINDOWS_MAX];        /* ascending */
    char window_name[DC_WINDOWS_MAX][16];     /* as configured: "5m", "1h", ... */
} dc_limits_t;

/* Fills lim from conf. Fails with DC_ERR_CONFIG (errstr says why) when
 * `windows` does not parse, is empty, has more than DC_WINDOWS_MAX entries,
 * repeats a length, or holds a length that is not a multiple of
 * DC_WINDOW_SLOTS ms, or when sku.idle.ttl is shorter than the longest
 * window. */
int dc_limits_init(dc_limits_t *lim, const dc_conf_t *conf, char *errstr, size_t errstr_size);

/* The longest window (events older than that behind the closed time are
 * too_late). */
int64_t dc_limits_longest_window(const dc_limits_t *lim);

/* ------------------------------------------------------------------------ */
/* Validation                                                               */
/* ------------------------------------------------------------------------ */

/* Checks a click's own fields: SKU present (DC_ERR_BAD_SKU), price finite,
 * >= 0 and <= max.price (DC_ERR_BAD_PRICE). Returns 0 or the reason. */
int dc_validate_click(const dc_limits_t *lim, const dc_click_t *click);
/* Checks an order: at least one line (DC_ERR_MALFORMED), every line with a
 * SKU, 1 <= qty <= max.quantity (DC_ERR_BAD_QUANTITY) and a finite price in
 * [0, max.price]. One bad line rejects the whole order: an order is the unit
 * the shop wrote and the DLQ keeps it whole. */
int dc_validate_order(const dc_limits_t *lim, const dc_order_t *order);
/* Checks an event time: before DC_MIN_EVENT_TIME, or more than
 * future.tolerance after now_ms (the wall clock: an event cannot have
 * happened in the future, whatever the stream's own pace or gaps), is
 * DC_ERR_BAD_TIMESTAMP; older than closed_until minus the longest window is
 * DC_ERR_TOO_LATE. Only events dated after the wall clock depend on it, so a
 * replay of real history gives the same answers on any day. */
int dc_validate_time(const dc_limits_t *lim, int64_t ts_ms, int64_t now_ms,
                     int64_t closed_until);

/* ------------------------------------------------------------------------ */
/* Partitions: offsets and watermarks                                       */
/* ------------------------------------------------------------------------ */

/* The input partitions one instance owns. A partition is named
 * "TOPIC/PARTITION", which is also its field in the store. Not thread-safe. */
typedef struct dc_parts_s dc_parts_t;

typedef struct {
    char name[256];        /* "shop.orders/3" */
    int topic;             /* index the caller gave (e.g. 0 clicks, 1 orders) */
    int32_t partition;
    int64_t stored_offset; /* next offset per the store: what a flush must find there
                              (-1: none stored yet) */
    int64_t next_offset;   /* next offset to read, past everything in the batch */
    int64_t max_ts;        /* newest event time seen (INT64_MIN: none) */
    int at_end;            /* read to the end of the partition */
    double end_since;      /* monotonic time it reached the end */
    int paused;
} dc_part_t;

dc_parts_t *dc_parts_new(void);
void dc_parts_destroy(dc_parts_t *parts);
/* Adds a partition (no-op if present) and returns it; stored_offset -1,
 * max_ts INT64_MIN until the store says otherwise. NULL on NOMEM. The
 * pointer is valid until the partition is removed. */
dc_part_t *dc_parts_add(dc_parts_t *parts, const char *topic_name, int topic, int32_t partition);
dc_part_t *dc_parts_find(dc_parts_t *parts, int topic, int32_t partition);
void dc_parts_remove(dc_parts_t *parts, int topic, int32_t partition);
void dc_parts_clear(dc_parts_t *parts);
/* Makes dst a copy of src (dst's entries are freed first). DC_ERR_NOMEM. */
int dc_parts_copy(dc_parts_t *dst, const dc_parts_t *src);
size_t dc_parts_count(const dc_parts_t *parts);
dc_part_t *dc_parts_at(dc_parts_t *parts, size_t i);
/* Whether a partition counts as idle now (see the idle rule at the top). */
int dc_part_is_idle(const dc_part_t *part, int64_t idle_timeout_ms, double now_mono);

/* ------------------------------------------------------------------------ */
/* Feature batch: deltas since the last flush                               */
/* ------------------------------------------------------------------------ */

/* What one event contributes to a SKU. Orders are exploded into one of these
 * per line by the pipeline. */
typedef enum {
    DC_FEV_VIEW = 0,
    DC_FEV_CART,
    DC_FEV_REMOVE,
    DC_FEV_WISHLIST,
    DC_FEV_SEARCH,
    DC_FEV_PLACED, /* an order line of a PLACED order: demand (PROTOCOL.md section 2) */
    DC_FEV_CANCEL, /* an order line of a CANCELLED order: counted apart, never netted */
    DC_FEV__COUNT
} dc_fev_kind_t;

/* The kind of event a click of type type is. */
dc_fev_kind_t dc_fev_kind_of_click(dc_click_type_t type);

typedef struct {
    const char *sku;
    const char *user; /* may be "" */
    int64_t ts_ms;
    dc_fev_kind_t kind;
    int64_t qty;   /* order lines; 0 for clicks */
    double price;  /* click price or line unit price */
    int promo;     /* the event carries a promotion */
} dc_fevent_t;

/* Per-slot window counters. Revenue is kept in units of 1e-4 (each line's
 * qty * unit_price rounded once), so sums are exact integers whatever order
 * events are added in. */
typedef struct {
    int64_t slot; /* slot number: floor(ts / slot width) */
    int64_t views, carts, units, orders, revenue_e4;
    uint32_t window; /* which window (config `windows`, shortest first) */
    uint32_t next;   /* in a batch: the SKU's next slot delta, UINT32_MAX at the end */
    uint32_t sku;    /* in a batch: index of the SKU delta */
} dc_slot_delta_t;

/* Per-bucket counters of one SKU. */
typedef struct {
    int64_t start;
    int64_t units, cancelled, views, carts, removes, orders, revenue_e4;
    int64_t events, promo_events, price_n;
    /* Prices in units of 1e-4, like revenue: integer sums are the same in
     * any order, so a bucket's mean price (a model input) does not depend on
     * how partitions interleaved. */
    int64_t price_sum_e4;
    uint32_t next; /* in a batch: the SKU's next bucket delta, UINT32_MAX at the end */
    uint32_t sku;  /* in a batch: index of the SKU delta */
} dc_bucket_delta_t;

/* One SKU's deltas in a batch. sku holds from its first event on; the rest
 * once the batch is grouped (dc_featbatch_group), so that adding an event
 * touches no more of it than its name. Its slot and bucket deltas live in
 * pools of the batch, as many per SKU as its events reach, so a batch
 * touching many SKUs once each stays small and one touching a SKU over many
 * buckets needs no early flush: iterate them with dc_featbatch_slot_first()
 * and dc_featbatch_bucket_first(). A batch keeps only the slots among the
 * DC_WINDOW_SLOTS newest of their window (slot > top_slot -
 * DC_WINDOW_SLOTS): the others left it by the SKU's newest event. */
typedef struct {
    char sku[DC_SKU_MAX];
    int64_t newest_ts;
    int64_t top_slot[DC_WINDOWS_MAX]; /* newest slot per window (INT64_MIN: none) */
    uint32_t first_slot;   /* the newest slot delta added, UINT32_MAX: none */
    uint32_t first_bucket; /* the newest bucket delta added, UINT32_MAX: none */
    uint32_t first_user;   /* the first user observation added (n_users > 0) */
    size_t n_users;
} dc_sku_delta_t;

/* One distinct-user observation: the user at event time ts on a SKU. The
 * store counts distinct users by this hash (features/values.lua). */
typedef struct {
    uint32_t sku;       /* index of the SKU delta */
    uint32_t next;      /* next observation of the same SKU, UINT32_MAX at the end */
    int64_t ts_ms;
    uint32_t user_hash; /* dc_user_hash() of the user id */
} dc_user_obs_t;

/* The 32-bit hash of a user id the distinct-user sketches are built from:
 * well mixed in every bit, since its top bits pick a HyperLogLog register
 * and the rest gives the rank. */
uint32_t dc_user_hash(const char *user);

typedef struct dc_featbatch_s dc_featbatch_t;

dc_featbatch_t *dc_featbatch_new(const dc_limits_t *lim);
void dc_featbatch_destroy(dc_featbatch_t *batch);
/* Reserves room for events events (each a SKU of its own, in every window)
 * up front, so that neither a batch that fills to them nor grouping it
 * (dc_featbatch_group) moves its arrays. Only the SKU index grows with the
 * SKUs a batch sees, and keeps its size across resets.
 * Room a batch never fills is mostly address space: the kernel backs pages
 * as they are first written. More events still fit (the arrays grow).
 * DC_ERR_NOMEM. */
int dc_featbatch_reserve(dc_featbatch_t *batch, size_t events);
/* Adds one event: finds its SKU and keeps the event, whose deltas grouping
 * works out. Its bucket counters are kept only when its bucket is not
 * closed (bucket start >= closed_until; pass INT64_MIN before the store has
 * closed anything); *late (may be NULL) is set to 1 when it was.
 * DC_ERR_NOMEM; DC_ERR_INVAL once the batch is grouped, or for a SKU of
 * DC_SKU_MAX bytes or more (the decoder rejects those first, as malformed). */
int dc_featbatch_add(dc_featbatch_t *batch, const dc_fevent_t *ev, int64_t closed_until,
                     int *late);
/* Moves from's events (not grouped yet) into batch, which must be empty,
 * and leaves from empty: a batch that is filled on one thread while another
 * one is grouped and flushed on another keeps its grouping space, whose
 * pages are then written by every flush, not first touched by every other
 * one. DC_ERR_INVAL when batch holds events or either is grouped. */
int dc_featbatch_take(dc_featbatch_t *batch, dc_featbatch_t *from);
/* Events added since the last reset. */
size_t dc_featbatch_events(const dc_featbatch_t *batch);
size_t dc_featbatch_skus(const dc_featbatch_t *batch);
const dc_sku_delta_t *dc_featbatch_sku(const dc_featbatch_t *batch, size_t i);
/* The iterators below give a grouped batch's deltas (nothing before).
 * The window slot deltas of SKU i, newest added first (windows mixed).
 * Iterate with dc_featbatch_slot_next(). */
const dc_slot_delta_t *dc_featbatch_slot_first(const dc_featbatch_t *batch, size_t i);
const dc_slot_delta_t *dc_featbatch_slot_next(const dc_featbatch_t *batch,
                                              const dc_slot_delta_t *slot);
/* The open-bucket deltas of SKU i, newest added first. Iterate with
 * dc_featbatch_bucket_next(). */
const dc_bucket_delta_t *dc_featbatch_bucket_first(const dc_featbatch_t *batch, size_t i);
const dc_bucket_delta_t *dc_featbatch_bucket_next(const dc_featbatch_t *batch,
                                                  const dc_bucket_delta_t *bucket);
/* The user observations of SKU i, in the order they were added. Iterate
 * with dc_featbatch_user_next(). */
const dc_user_obs_t *dc_featbatch_user_first(const dc_featbatch_t *batch, size_t i);
const dc_user_obs_t *dc_featbatch_user_next(const dc_featbatch_t *batch,
                                            const dc_user_obs_t *obs);
/* Works out the deltas of the events added, one SKU after another, each
 * SKU's events in the order they were added: its slot deltas, bucket deltas
 * and user observations lie side by side, in the order its iterators give
 * them, and the SKUs in their order, so walking SKU after SKU (a flush's
 * merge) reads the pools front to back. A SKU's deltas do not depend on
 * how its events interleaved with other SKUs'. The batch takes no more
 * events until dc_featbatch_reset() (dc_featbatch_add says DC_ERR_INVAL);
 * grouping it again does nothing. DC_ERR_NOMEM leaves the batch as it
 * was. */
int dc_featbatch_group(dc_featbatch_t *batch);
/* Whether the batch is grouped (its iterators give its deltas). */
int dc_featbatch_grouped(const dc_featbatch_t *batch);
/* Forgets every delta and keeps the memory for the next batch. */
void dc_featbatch_reset(dc_featbatch_t *batch);
/* The settings the batch was made with. */
const dc_limits_t *dc_featbatch_limits(const dc_featbatch_t *batch);

/* ------------------------------------------------------------------------ */
/* Stored records                                                           */
/* ------------------------------------------------------------------------ */

/* What the store keeps between flushes (format: features/values.lua):
 *   a SKU's record, one Redis string per SKU: its window slots, each with a
 *     distinct-user sketch. A flush writes each SKU it touches once, merged
 *     here, however many slots its events reach;
 *   an open bucket's log, one Redis string per bucket: every flush appends
 *     the deltas of the SKUs it has in the bucket, and the close sums them,
 *     so a flush reads nothing of a bucket (but a log due to be compacted,
 *     DC_LOG_COMPACT_MIN) and a close reads one value.
 * Numbers are stored as variable-length integers, so a value takes a few
 * bytes a slot or entry besides its users. */

/* Working memory of the functions below, kept between calls ({0} to start,
 * dc_value_scratch_free() to release). */
typedef struct {
    dc_buf_t items, users, item, obs, keys;
} dc_value_scratch_t;

void dc_value_scratch_free(dc_value_scratch_t *scratch);

/* The log entries one flush appends, one log per open bucket; or, once
 * the flush has compacted the bucket's log (whole), all of that log. */
typedef struct {
    int64_t start;
    dc_buf_t log;
    int whole;
} dc_value_log_t;

typedef struct {
    dc_value_log_t *logs; /* logs[0 .. n) in use, their memory kept up to cap */
    size_t n, cap;
} dc_value_logs_t;

/* An open bucket's log gets an entry per SKU from every flush, so in a
 * live stream (a bucket an hour, a flush every 200 ms) it would grow with
 * the flushes, to gigabytes and past Redis' 512 MiB limit of a string. A
 * flush compacts a log (dc_value_compact_log) once it has passed this
 * size, and again each time it has doubled since: a log stays within
 * about twice its compacted size or this, and each byte appended is summed
 * about twice, however long the bucket. */
#define DC_LOG_COMPACT_MIN (1u << 20)

/* The log of the bucket at start, added empty (not whole) if logs has none;
 * NULL: out of memory. */
dc_value_log_t *dc_value_logs_get(dc_value_logs_t *logs, int64_t start);
/* Empties every log, keeping the memory. */
void dc_value_logs_clear(dc_value_logs_t *logs);
void dc_value_logs_free(dc_value_logs_t *logs);

/* Everything a flush writes for SKU sku of batch (grouped): appends to out
 * its record cur (cur_len bytes; 0 for a SKU the store does not hold) with
 * the batch's window deltas merged in (counters add, users join the
 * sketches, slots that left their window go) and its newest event time,
 * and appends its bucket deltas to the logs of their buckets in logs,
 * except those before late_before (closed buckets), whose events it adds
 * to *late_events.
 * DC_ERR_MALFORMED: cur is not a record (nothing appended to out);
 * DC_ERR_INVAL: the batch is not grouped, or holds more than
 * DC_WINDOW_SLOTS deltas within one window of the SKU (grouping never
 * does); DC_ERR_NOMEM. */
int dc_value_merge_sku(dc_buf_t *out, const void *cur, size_t cur_len,
                       const dc_featbatch_t *batch, size_t sku, int64_t late_before,
                       dc_value_logs_t *logs, int64_t *late_events,
                       dc_value_scratch_t *scratch);

/* One SKU's totals in a bucket log; sku points into the log. */
typedef struct {
    const char *sku;
    size_t sku_len;
    dc_bucket_delta_t d; /* start left 0 */
    double users;        /* distinct users: the number values.lua's sk_count gives */
} dc_log_row_t;

/* Sums a bucket log per SKU: *rows (n_rows, in scratch, valid until its next
 * use and while log lives) in byte order of the SKUs. DC_ERR_MALFORMED: log
 * is not a bucket log, or a SKU's sum of a number does not fit in 63 bits. */
int dc_value_read_log(const void *log, size_t len, dc_value_scratch_t *scratch,
                      dc_log_row_t **rows, size_t *n_rows);
/* Appends to out the compacted form of a bucket log: one entry per SKU (in
 * byte order of the SKUs) of its summed numbers and the union of its users
 * sketches, which dc_value_read_log sums to the same rows as the log.
 * Every flush appends an entry per SKU it has in the bucket, so a busy
 * bucket's log grows with its flushes, not its SKUs, until compacted.
 * DC_ERR_MALFORMED: log is not a bucket log. */
int dc_value_compact_log(const void *log, size_t len, dc_value_scratch_t *scratch,
                         dc_buf_t *out);

/* The newest event time of SKU record v (len bytes), which a bucket close
 * reads of the SKUs that may have gone idle. DC_ERR_MALFORMED: v does not
 * begin as a record. */
int dc_value_record_seen(const void *v, size_t len, int64_t *seen);

/* The SKUs a bucket close lists, with the end of each one's newest closed
 * bucket with events (INT64_MIN: none), one string in the store
 * (values.lua). dc_value_put_listed appends one (DC_ERR_INVAL: a name
 * no SKU has; DC_ERR_NOMEM); dc_value_read_listed appends those of v (len
 * bytes) to keys as dc_name_key_t, names pointing into v, in v's order,
 * *n getting how many (DC_ERR_MALFORMED: v is not such a list). */
int dc_value_put_listed(dc_buf_t *out, const char *sku, size_t len, int64_t end);
int dc_value_read_listed(const void *v, size_t len, dc_buf_t *keys, size_t *n);

/* ------------------------------------------------------------------------ */
/* Closed buckets                                                           */
/* ------------------------------------------------------------------------ */

/* What the model needs of one SKU in one closed bucket. */
typedef struct {
    char sku[DC_SKU_MAX];
    int64_t units;     /* gross units ordered (PLACED lines) */
    int64_t cancelled; /* units of CANCELLED orders in the bucket */
    int64_t views, carts, removes;
    int64_t orders;    /* placed order lines */
    double revenue;    /* sum of qty * unit_price of placed lines */
    double users;      /* distinct users estimate (HyperLogLog) */
    double avg_price;  /* mean of click prices and line unit prices; 0 if none */
    double promo_share;/* share of the SKU's events carrying a promotion */
    int promo;         /* promo_share > 0 */
} dc_bucket_sku_t;

/* A closed bucket: every active SKU (with events in it or in a bucket that
 * ended within sku.idle.ttl before its end), zero-demand ones included,
 * sorted by SKU. */
typedef struct {
    int64_t start, width;
    dc_bucket_sku_t *skus;
    size_t n_skus;
    size_t cap;
} dc_bucket_t;

void dc_bucket_clear(dc_bucket_t *bucket);

/* ------------------------------------------------------------------------ */
/* The Redis feature store                                                  */
/* ------------------------------------------------------------------------ */

/*
 * One Redis connection (redis.host, .port, .user, .password, .db, .timeout)
 * and the feature state it keeps under redis.key.prefix.
 *
 * Exactly once: dc_featstore_flush() applies a whole batch, the partition
 * offsets it reaches and their watermarks in one MULTI/EXEC transaction,
 * which Redis applies atomically. It is optimistic: under WATCH of a
 * version key that every writer bumps, it reads the partitions' stored
 * offsets, the clock and the records of the SKUs the batch touches, merges
 * the deltas into them here (features/values.c), and commits them with the
 * bucket deltas appended to the open buckets' logs; if another writer
 * came in between, EXEC writes nothing and the flush starts over from the
 * reads. If a partition's stored offset is not the one this instance last
 * saw (stored_offset), another instance has moved it (a rebalance this
 * instance has not noticed yet), or the store went back to an earlier
 * state of itself (Redis lost its latest writes): nothing is written and
 * the flush fails with DC_ERR_VERSION: the caller must drop its batch,
 * re-read the offsets and seek. An instance therefore commits to Kafka
 * only after a successful flush, and skips (on assignment) everything
 * below the offsets the store holds.
 *
 * Redis must run with persistence (appendonly yes; appendfsync always makes
 * every flush durable, everysec may lose the last second of flushes, whose
 * events are then read again from Kafka since their offsets are lost
 * with them: still exactly once). A flush and a close touch keys of many
 * SKUs in one step, so the store needs one Redis primary (not a Redis Cluster), and
 * Redis 7 or later: features are read through a Redis function
 * (features.lua, loaded on connect) that any client can call.
 *
 * Not thread-safe.
 */
typedef struct dc_featstore_s dc_featstore_t;

/* Connects, loads the function library (features.lua) and upgrades a store
 * of an older format. instance names this process in the close lease (e.g.
 * "host:pid"); it is copied. lim is copied. */
dc_featstore_t *dc_featstore_new(const dc_conf_t *conf, const dc_limits_t *lim,
                                 const char *instance, char *errstr, size_t errstr_size);
/* Connects for dc_featstore_read() only, writing nothing to a store of the
 * current format, so that a read-only replica serves it: the function
 * library is loaded only where it is missing, and a store of format 1
 * upgraded, where Redis takes writes. A store of another format fails
 * (DC_ERR_CONFIG in errstr). */
dc_featstore_t *dc_featstore_new_reader(const dc_conf_t *conf, const dc_limits_t *lim,
                                        char *errstr, size_t errstr_size);
void dc_featstore_destroy(dc_featstore_t *fs);

/* The last Redis error text ("" if none). Owned by the store. */
const char *dc_featstore_errstr(const dc_featstore_t *fs);

/* Wall seconds the store's user has spent blocked on Redis so far: waiting
 * for replies (Redis executing, or down until redis.timeout), and for room
 * to send (Redis reading slower than the store writes). What is left of a
 * step's time is its own CPU, or waiting for a core. */
double dc_featstore_redis_wait_s(const dc_featstore_t *fs);

/* Reconnects if the connection was lost. DC_ERR_REDIS while Redis is down. */
int dc_featstore_connect(dc_featstore_t *fs);

/* Reads each partition's stored offset and watermark into stored_offset and
 * max_ts (-1 / INT64_MIN when the store has none). */
int dc_featstore_load_parts(dc_featstore_t *fs, dc_parts_t *parts);

typedef struct {
    int64_t closed_until;  /* buckets before this are closed (INT64_MIN: none yet) */
    int64_t acked_until;   /* closed buckets before this were delivered */
    int closer;            /* this instance holds the close lease */
    int64_t late_dropped;  /* bucket deltas dropped because their bucket had closed */
    int64_t commands;      /* Redis commands the step ran, its script's included */
    int64_t conflicts;     /* times another writer came first and the step started over */
    double close_cpu_s;    /* this thread's CPU on closes made with the flush */
} dc_flush_result_t;

/* The atomic step: applies batch (may be NULL or empty; grouped first,
 * dc_featbatch_group(), so it takes no more events), sets every partition's
 * offset to next_offset and its watermark, renews the close lease, marks
 * buckets before ack_until as delivered (pass the result's acked_until when
 * nothing new was delivered), and advances the closed time. On success the
 * parts' stored_offset become their next_offset. DC_ERR_VERSION: fenced (see
 * above); DC_ERR_REDIS: Redis unreachable or failing, nothing or everything
 * was applied (the offsets tell which: reload them). */
int dc_featstore_flush(dc_featstore_t *fs, dc_featbatch_t *batch, dc_parts_t *parts,
                       int64_t ack_until, double now_mono, dc_flush_result_t *res);

/* dc_featstore_flush(), and closes buckets close_start, close_start +
 * width, ... (close_n of them, 0 .. DC_CLOSES_MAX; all closed by the clock
 * before the flush) as dc_featstore_close_buckets() would, in the same
 * job: the close's reads come under the flush's WATCH, its snapshots are
 * worked out while Redis runs the flush's transaction, and its own
 * transaction follows at once if the flush left this instance the closer,
 * acknowledged nothing past close_start, and nobody wrote after it.
 * *n_closed gets how many buckets it closed, their rows in out; 0 when it
 * could not (SKUs that may have gone idle, whose records it would read,
 * another writer, a close error): the caller closes them as usual, which
 * meets any error again. The flush's result is dc_featstore_flush()'s. */
int dc_featstore_flush_closing(dc_featstore_t *fs, dc_featbatch_t *batch, dc_parts_t *parts,
                               int64_t ack_until, double now_mono, int64_t close_start,
                               int close_n, dc_bucket_t *out, int *n_closed,
                               dc_flush_result_t *res);

/* Closes buckets [start, start + width), [start + width, start + 2 width),
 * ... (at most n, n in 1 .. DC_CLOSES_MAX) if not already done, and fills
 * out[0 .. *n_closed) with their SKUs (out's arrays are reused). Only the
 * lease holder calls it, for start in [acked_until, closed_until) in order;
 * it closes no bucket at or after the store's closed time (the first one
 * must be before it). Calling it again for the same start (after a crash)
 * returns the same SKUs and totals, and no more buckets than it closed.
 * Like a flush, a close is one optimistic transaction under WATCH of the
 * version key: it reads once for all its buckets the SKUs it lists, with
 * the ends of their newest closed buckets with events (one string, which
 * it writes back whole, up to date from the logs), sums each bucket's log
 * into a snapshot key of every active SKU's row (kept until a flush
 * acknowledges the bucket), and deletes the records of SKUs idle for
 * sku.idle.ttl of event time at the last bucket's end, both by those
 * buckets and by the newest events stored. What a bucket lists depends on
 * the events only: closing n buckets at once gives what n closes one by
 * one give, and a flush that stores later events before a close changes
 * nothing. */
#define DC_CLOSES_MAX 16
int dc_featstore_close_buckets(dc_featstore_t *fs, int64_t start, int n, dc_bucket_t *out,
                               int *n_closed);

/* Rolling windows of one SKU (what `demandcast features` prints), summed by
 * the Redis function dc_features from the SKU's record as of its
 * as-of time (features/KEYS.md). found is 0 for a SKU the store lacks. */
typedef struct {
    int64_t views, carts, units, orders;
    double revenue, users, conversion; /* conversion = orders / views, 0 without views */
} dc_window_vals_t;

typedef struct {
    int found;
    int64_t asof_ms; /* T of the header comment */
    dc_window_vals_t win[DC_WINDOWS_MAX];
} dc_sku_features_t;

int dc_featstore_read(dc_featstore_t *fs, const char *sku, dc_sku_features_t *out);

#endif /* DC_FEATURES_H */
