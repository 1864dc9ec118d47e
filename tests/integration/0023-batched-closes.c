/* tests/integration/0023-batched-closes.c - a closed bucket follows from
 * the events alone: however they were flushed and however many buckets a
 * close takes, every bucket comes out the same.
 *
 * Three stores (three key prefixes in one Redis) take the same hours of
 * views over SKUs that stay busy, go idle part way (sku.idle.ttl 3h), are
 * first seen part way, or go idle and come back. Two take every event in
 * one flush and then close the buckets, DC_CLOSES_MAX at a time and one at
 * a time; the third flushes hour by hour and closes each bucket as soon as
 * the clock allows, so a SKU that comes back is flushed after, not before,
 * the buckets it was idle in have closed. A fourth flushes hour by hour
 * too, and closes the buckets due before each flush with it
 * (dc_featstore_flush_closing, as `run` does): inside the flush where it
 * can, one step after it where a SKU may have gone idle (the flush cannot
 * read records for that), and both must happen. Every bucket must come out
 * the same from all four (SKUs, order, every total), its views must equal a
 * recount of the events in it, each SKU must be active exactly in the
 * buckets with its events or within the idle TTL after them, the idle
 * SKUs' records must be gone and the others' features read the same from
 * every store. Closing the first buckets again before they are
 * acknowledged (a restart) must return the same buckets from their
 * snapshots, and from a snapshot of the form before the rows of zeros were
 * kept apart (a store of format 2 may hold one when it is upgraded). Run
 * by run-c.sh (DC_REDIS_PORT). */
#include "tests/integration/it_store.h"
#include "tests/integration/it_report.h"

#include <hiredis/hiredis.h>
#include <msgpack.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1767571200000LL /* 2026-01-05T00:00:00Z */
#define HOUR 3600000LL
#define MIN 60000LL
#define HOURS (DC_CLOSES_MAX + 6) /* a batched close takes two calls */
#define N_BUSY 30
#define MAX_EVENTS 1024

typedef struct {
    it_store_t s;
    dc_bucket_t out[HOURS];
    int n;
} store_t;

typedef struct {
    char sku[16];
    int64_t ts;
    int user;
} event_t;

static event_t events[MAX_EVENTS];
static int n_events;
static int64_t views_in[HOURS]; /* the recount: views per hour */

static void event(const char *sku, int64_t ts, int user)
{
    event_t *e = &events[n_events++];
    snprintf(e->sku, sizeof(e->sku), "%s", sku);
    e->ts = ts;
    e->user = user;
    views_in[(ts - T0) / HOUR]++;
}

/* The events, hour by hour: BUSY-nn every hour (a varying few of them),
 * GONE-EARLY at 00:30 only (idle from 03:30 on), GONE-MID at 02:10 and
 * 05:50 (idle from 08:50 on), BACK at 00:30 and 10:15 (idle from 03:30 to
 * 10:15 and from 13:15 on), FIRST-LATE from 06:20 on. */
static void make_events(void)
{
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    char sku[16];

    for (int h = 0; h < HOURS; h++) {
        for (int e = 0; e < 40; e++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            snprintf(sku, sizeof(sku), "BUSY-%02d", (int)((rng >> 33) % N_BUSY));
            event(sku, T0 + h * HOUR + (int64_t)((rng >> 11) % HOUR), (int)((rng >> 40) % 25));
        }
        if (h == 0) {
            event("GONE-EARLY", T0 + 30 * MIN, 1);
            event("BACK", T0 + 30 * MIN, 5);
        }
        if (h == 2)
            event("GONE-MID", T0 + 2 * HOUR + 10 * MIN, 2);
        if (h == 5)
            event("GONE-MID", T0 + 5 * HOUR + 50 * MIN, 3);
        if (h == 10)
            event("BACK", T0 + 10 * HOUR + 15 * MIN, 6);
        if (h >= 6)
            event("FIRST-LATE", T0 + h * HOUR + 20 * MIN, 4);
    }
}

static void open_store(store_t *s, const char *port, const char *prefix)
{
    const char *settings[] = {"windows", "5m,1h", "sku.idle.ttl", "3h", "lateness", "0s", NULL};
    it_store_open(&s->s, "0023", port, prefix, settings);
}

/* One flush of the events of hours [from_h, to_h); the partition has been
 * read up to event time wm. With it, closes up to n buckets from s's next
 * one, *got of them. Returns the closed time. */
static int64_t flush_closing(store_t *s, int from_h, int to_h, int64_t wm, int n, int *got)
{
    dc_featbatch_t *batch = dc_featbatch_new(&s->s.lim);
    dc_parts_t *parts = dc_parts_new();
    dc_part_t *part = dc_parts_add(parts, "views", 0, 0);
    dc_flush_result_t res;
    char user[16];

    if (!batch || !part)
        die("flush", "out of memory");
    for (int i = 0; i < n_events; i++) {
        const event_t *e = &events[i];
        if (e->ts < T0 + from_h * HOUR || e->ts >= T0 + to_h * HOUR)
            continue;
        snprintf(user, sizeof(user), "u%d", e->user);
        dc_fevent_t ev = {.sku = e->sku, .user = user, .ts_ms = e->ts, .kind = DC_FEV_VIEW};
        if (dc_featbatch_add(batch, &ev, INT64_MIN, NULL))
            die("batch", "an event did not fit");
    }
    part->max_ts = wm;
    part->next_offset = 1000 + to_h;
    part->stored_offset = from_h ? 1000 + from_h : -1;
    if (dc_featstore_flush_closing(s->s.fs, batch, parts, INT64_MIN, dc_monotonic_s(),
                                   T0 + s->n * HOUR, n, &s->out[s->n], got, &res))
        die("flush", dc_featstore_errstr(s->s.fs));
    if (!res.closer)
        die("flush", "no close lease");
    if (*got < 0 || *got > n)
        die("flush", "closed more buckets than asked");
    s->n += *got;
    dc_featbatch_destroy(batch);
    dc_parts_destroy(parts);
    return res.closed_until;
}

static int64_t flush_hours(store_t *s, int from_h, int to_h, int64_t wm)
{
    int got;
    return flush_closing(s, from_h, to_h, wm, 0, &got);
}

/* Closes the buckets from s's next one up to until, at most per_call
 * buckets a call. */
static void close_until(store_t *s, int64_t until, int per_call)
{
    int64_t from = T0 + s->n * HOUR;

    while (from < until) {
        int n = (int)((until - from) / HOUR), got = 0;
        if (n > per_call)
            n = per_call;
        if (s->n + n > HOURS)
            die("close", "more buckets than expected");
        if (dc_featstore_close_buckets(s->s.fs, from, n, &s->out[s->n], &got))
            die("close", dc_featstore_errstr(s->s.fs));
        if (got < 1 || got > n)
            die("close", "closed no bucket, or more than asked");
        s->n += got;
        from += got * HOUR;
    }
}

static int has_sku(const dc_bucket_t *b, const char *sku)
{
    for (size_t i = 0; i < b->n_skus; i++)
        if (!strcmp(b->skus[i].sku, sku))
            return 1;
    return 0;
}

/* Whether buckets a and b are the same, row by row; says how if not. */
static int same_bucket(const char *what, const dc_bucket_t *a, const dc_bucket_t *b)
{
    if (a->start != b->start || a->n_skus != b->n_skus) {
        fprintf(stderr, "0023: %s: bucket %+.0f h with %zu SKUs, against %+.0f h with %zu\n",
                what, (double)(a->start - T0) / HOUR, a->n_skus,
                (double)(b->start - T0) / HOUR, b->n_skus);
        return 0;
    }
    for (size_t i = 0; i < a->n_skus; i++) {
        const dc_bucket_sku_t *x = &a->skus[i], *y = &b->skus[i];
        if (strcmp(x->sku, y->sku) || x->views != y->views || x->units != y->units ||
            x->users != y->users || x->avg_price != y->avg_price ||
            x->promo_share != y->promo_share) {
            fprintf(stderr, "0023: %s: bucket %+.0f h row %zu: %s %lld views %.0f users, "
                    "against %s %lld views %.0f users\n", what, (double)(a->start - T0) / HOUR,
                    i, x->sku, (long long)x->views, x->users, y->sku, (long long)y->views,
                    y->users);
            return 0;
        }
    }
    return 1;
}

/* Whether name a (a_len bytes) comes before name b in byte order. */
static int name_before(const char *a, size_t a_len, const char *b, size_t b_len)
{
    int c = memcmp(a, b, a_len < b_len ? a_len : b_len);
    return c < 0 || (!c && a_len < b_len);
}

/* Rewrites snapshot key (MessagePack [start, rows, zeros], features/
 * featstore.c) in the form before: [start, rows], each row of zeros among
 * the rows with events as [sku], all in name order. */
static void rewrite_rows_only(redisContext *rc, const char *key)
{
    redisReply *r = redisCommand(rc, "GET %s", key);
    msgpack_unpacked up;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    size_t off = 0, z_off = 0, name_len = 0, i = 0;
    char name[DC_SKU_MAX];

    if (!r || r->type != REDIS_REPLY_STRING)
        die("redis", "no snapshot to rewrite");
    msgpack_unpacked_init(&up);
    if (msgpack_unpack_next(&up, r->str, r->len, &off) != MSGPACK_UNPACK_SUCCESS ||
        up.data.type != MSGPACK_OBJECT_ARRAY || up.data.via.array.size != 3)
        die("snapshot", "not of the form [start, rows, zeros]");
    const msgpack_object *rows = &up.data.via.array.ptr[1];
    const msgpack_object_bin *zeros = &up.data.via.array.ptr[2].via.bin;
    const unsigned char *z = (const unsigned char *)zeros->ptr;
    size_t n_zeros = 0;
    for (size_t at = 0; at + 1 < zeros->size; at += 2 + z[at + 1])
        n_zeros++;
    if (!n_zeros)
        die("snapshot", "no rows of zeros to rewrite");
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_object(&pk, up.data.via.array.ptr[0]);
    msgpack_pack_array(&pk, (uint32_t)(rows->via.array.size + n_zeros));
    while (i < rows->via.array.size || z_off < zeros->size) {
        const msgpack_object_str *sku =
            i < rows->via.array.size ? &rows->via.array.ptr[i].via.array.ptr[0].via.str : NULL;
        if (z_off < zeros->size && !name_len) { /* the next zero's name */
            size_t shared = z[z_off], suffix = z[z_off + 1];
            memcpy(name + shared, z + z_off + 2, suffix);
            name_len = shared + suffix;
            z_off += 2 + suffix;
        }
        if (name_len && (!sku || name_before(name, name_len, sku->ptr, sku->size))) {
            msgpack_pack_array(&pk, 1);
            msgpack_pack_str(&pk, name_len);
            msgpack_pack_str_body(&pk, name, name_len);
            name_len = 0;
        } else {
            msgpack_pack_object(&pk, rows->via.array.ptr[i++]);
        }
    }
    freeReplyObject(r);
    r = redisCommand(rc, "SET %s %b", key, sb.data, sb.size);
    if (!r || r->type == REDIS_REPLY_ERROR)
        die("redis", "SET of the snapshot failed");
    freeReplyObject(r);
    msgpack_sbuffer_destroy(&sb);
    msgpack_unpacked_destroy(&up);
}

/* Whether SKU sku reads the same features from stores a and b. */
static int same_features(const store_t *a, const store_t *b, const char *sku)
{
    dc_sku_features_t x, y;

    if (dc_featstore_read(a->s.fs, sku, &x) || dc_featstore_read(b->s.fs, sku, &y))
        die("read", dc_featstore_errstr(a->s.fs));
    if (x.found == y.found && x.asof_ms == y.asof_ms && !memcmp(x.win, y.win, sizeof(x.win)))
        return 1;
    fprintf(stderr, "0023: %s reads differently from the two stores\n", sku);
    return 0;
}

int main(void)
{
    const char *port = getenv("DC_REDIS_PORT");
    store_t batched = {0}, single = {0}, hourly = {0}, with = {0};
    int failed = 0;

    if (!port)
        die("environment", "DC_REDIS_PORT is not set");
    make_events();
    open_store(&batched, port, "t0023a");
    open_store(&single, port, "t0023b");
    open_store(&hourly, port, "t0023c");
    open_store(&with, port, "t0023d");

    /* All at once: the partition read up to the last hour's end closes
     * every bucket. */
    if (flush_hours(&batched, 0, HOURS, T0 + HOURS * HOUR) != T0 + HOURS * HOUR ||
        flush_hours(&single, 0, HOURS, T0 + HOURS * HOUR) != T0 + HOURS * HOUR)
        die("flush", "the clock does not span the hours of events");
    close_until(&batched, T0 + HOURS * HOUR, DC_CLOSES_MAX);
    close_until(&single, T0 + HOURS * HOUR, 1);
    /* Hour by hour, read up to the end of each hour's last minute. */
    for (int h = 0; h < HOURS; h++)
        close_until(&hourly, flush_hours(&hourly, h, h + 1, T0 + (h + 1) * HOUR - MIN), 1);
    close_until(&hourly, flush_hours(&hourly, HOURS, HOURS, T0 + HOURS * HOUR), 1);
    /* Hour by hour, the buckets due before each flush closed with it. */
    int64_t closed = INT64_MIN;
    int closed_with = 0, closed_after = 0;
    for (int h = 0; h <= HOURS; h++) {
        int64_t next = T0 + with.n * HOUR;
        int due = closed == INT64_MIN || closed <= next ? 0 : (int)((closed - next) / HOUR), got;
        due = due > DC_CLOSES_MAX ? DC_CLOSES_MAX : due;
        closed = h < HOURS ? flush_closing(&with, h, h + 1, T0 + (h + 1) * HOUR - MIN, due, &got)
                           : flush_closing(&with, HOURS, HOURS, T0 + HOURS * HOUR, due, &got);
        closed_with += got;
        if (got < due) {
            closed_after += due - got;
            close_until(&with, next + due * HOUR, 1);
        }
    }
    close_until(&with, closed, 1);
    printf("0023: %d buckets closed with a flush, %d one step after it\n", closed_with,
           closed_after);
    if (!closed_with || !closed_after) {
        fprintf(stderr, "0023: closing with the flushes took %s path only\n",
                closed_with ? "the step after" : "the flush's");
        failed = 1;
    }
    if (batched.n != HOURS || single.n != HOURS || hourly.n != HOURS || with.n != HOURS)
        die("close", "not every hour's bucket closed");

    for (int h = 0; h < HOURS; h++) {
        const dc_bucket_t *b = &batched.out[h];
        int64_t views = 0;
        failed |= !same_bucket("batched against one by one", b, &single.out[h]);
        failed |= !same_bucket("batched against flushed hour by hour", b, &hourly.out[h]);
        failed |= !same_bucket("batched against closed with the flushes", b, &with.out[h]);
        for (size_t i = 0; i < b->n_skus; i++)
            views += b->skus[i].views;
        if (b->start != T0 + h * HOUR || views != views_in[h]) {
            fprintf(stderr, "0023: bucket %d: starts at %+.1f h with %lld views, want %+d h "
                    "with %lld\n", h, (double)(b->start - T0) / HOUR, (long long)views, h,
                    (long long)views_in[h]);
            failed = 1;
        }
        /* Active: events in the bucket or in one that ended within 3 h
         * before its end. */
        int early = h <= 2, mid = h >= 2 && h <= 7, back = h <= 2 || (h >= 10 && h <= 12);
        int late = h >= 6;
        if (has_sku(b, "GONE-EARLY") != early || has_sku(b, "GONE-MID") != mid ||
            has_sku(b, "BACK") != back || has_sku(b, "FIRST-LATE") != late) {
            fprintf(stderr, "0023: bucket %d: GONE-EARLY %d GONE-MID %d BACK %d FIRST-LATE %d, "
                    "want %d %d %d %d\n", h, has_sku(b, "GONE-EARLY"), has_sku(b, "GONE-MID"),
                    has_sku(b, "BACK"), has_sku(b, "FIRST-LATE"), early, mid, back, late);
            failed = 1;
        }
    }

    /* A restart before any acknowledgement: the same buckets again. */
    dc_bucket_t again[DC_CLOSES_MAX] = {{0}};
    int got = 0;
    if (dc_featstore_close_buckets(batched.s.fs, T0, DC_CLOSES_MAX, again, &got))
        die("close again", dc_featstore_errstr(batched.s.fs));
    if (got != DC_CLOSES_MAX) {
        fprintf(stderr, "0023: closing again gave %d buckets, want %d\n", got, DC_CLOSES_MAX);
        failed = 1;
    }
    for (int i = 0; i < got; i++) {
        failed |= !same_bucket("closed again against first close", &again[i], &batched.out[i]);
        dc_bucket_clear(&again[i]);
    }
    /* The last of them from a snapshot of the form before. */
    char key[64];
    int last = DC_CLOSES_MAX - 1;
    redisContext *rc = redisConnect("127.0.0.1", atoi(port));
    if (!rc || rc->err)
        die("redis", rc ? rc->errstr : "cannot connect");
    snprintf(key, sizeof(key), "t0023a:{meta}:closed:%lld", T0 + last * HOUR);
    rewrite_rows_only(rc, key);
    if (dc_featstore_close_buckets(batched.s.fs, T0 + last * HOUR, 1, again, &got) || got != 1)
        die("close again", dc_featstore_errstr(batched.s.fs));
    failed |= !same_bucket("closed again from a snapshot of rows only against first close",
                           &again[0], &batched.out[last]);
    dc_bucket_clear(&again[0]);

    /* The idle SKUs' records are gone, the others' kept and read alike. */
    const char *prefixes[] = {"t0023a", "t0023b", "t0023c", "t0023d"};
    const char *skus[] = {"GONE-EARLY", "GONE-MID", "BACK", "FIRST-LATE", "BUSY-00"};
    for (int p = 0; p < 4; p++)
        for (int i = 0; i < 5; i++) {
            redisReply *r = rc && !rc->err
                                ? redisCommand(rc, "EXISTS %s:{%s}:f", prefixes[p], skus[i])
                                : NULL;
            if (!r || r->type != REDIS_REPLY_INTEGER)
                die("redis", rc && rc->err ? rc->errstr : "EXISTS failed");
            if (r->integer != (i >= 3)) {
                fprintf(stderr, "0023: %s's record in %s %s\n", skus[i], prefixes[p],
                        i >= 3 ? "is missing" : "is left");
                failed = 1;
            }
            freeReplyObject(r);
        }
    redisFree(rc);
    for (int i = 0; i < 5; i++)
        failed |= !same_features(&batched, &hourly, skus[i]) ||
                  !same_features(&batched, &with, skus[i]);

    store_t *stores[] = {&batched, &single, &hourly, &with};
    for (int s = 0; s < 4; s++) {
        for (int i = 0; i < HOURS; i++)
            dc_bucket_clear(&stores[s]->out[i]);
        it_store_close(&stores[s]->s);
    }
    if (!failed)
        printf("0023: %d buckets closed %d at a time, one at a time, as the flushes of each "
               "hour allowed and with those flushes are the same, and as recounted\n", HOURS,
               DC_CLOSES_MAX);
    return failed;
}
