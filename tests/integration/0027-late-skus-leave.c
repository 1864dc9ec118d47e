/* tests/integration/0027-late-skus-leave.c - events that come after their
 * bucket has closed (late) count in the SKU's windows but in no bucket,
 * and a SKU still leaves the store once idle by its newest event, late
 * ones included:
 *   LATE  has late events only: its record holds them, no bucket lists it,
 *         and it leaves when its newest event is sku.idle.ttl old;
 *   KEEP  has an on-time event, then a late one an hour newer: no bucket
 *         lists it after the TTL from its on-time one, but it keeps its
 *         record until the TTL from the late one has passed too;
 *   ON    has events every hour and stays;
 *   ODD   has an on-time event, then its record is overwritten with a
 *         hash: the close that finds it idle deletes the key and goes on.
 * One store, buckets of an hour, sku.idle.ttl 3h, no allowed lateness.
 * The flush's cache of the records it wrote last survives a close that
 * deletes nothing (the next flush of those SKUs reads no record) and goes
 * with one that deletes records (the next flush reads them again).
 * Run by run-c.sh (DC_REDIS_PORT). */
#include "tests/integration/it_store.h"
#include "tests/integration/it_report.h"

#include <hiredis/hiredis.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1767571200000LL /* 2026-01-05T00:00:00Z */
#define HOUR 3600000LL
#define MIN 60000LL
#define PREFIX "t0027"

static it_store_t store;
static redisContext *rc;

/* Flushes views of skus[i] at times ts[i] (n of them), the partition read
 * up to wm, then closes the buckets the flush closed, the last of which
 * goes to *last; returns the events the flush found late. */
static int64_t flush_and_close(const char *const *skus, const int64_t *ts, int n, int64_t wm,
                               dc_bucket_t *last)
{
    static int64_t offset = -1, next_bucket = T0;
    dc_featbatch_t *batch = dc_featbatch_new(&store.lim);
    dc_parts_t *parts = dc_parts_new();
    dc_part_t *part = dc_parts_add(parts, "views", 0, 0);
    dc_flush_result_t res;

    if (!batch || !part)
        die("flush", "out of memory");
    for (int i = 0; i < n; i++) {
        dc_fevent_t ev = {.sku = skus[i], .user = "u1", .ts_ms = ts[i], .kind = DC_FEV_VIEW};
        if (dc_featbatch_add(batch, &ev, INT64_MIN, NULL))
            die("batch", "an event did not fit");
    }
    part->max_ts = wm;
    part->stored_offset = offset;
    part->next_offset = offset = offset < 0 ? 10 : offset + 10;
    if (dc_featstore_flush(store.fs, batch, parts, INT64_MIN, dc_monotonic_s(), &res))
        die("flush", dc_featstore_errstr(store.fs));
    dc_featbatch_destroy(batch);
    dc_parts_destroy(parts);
    for (int got = 0; next_bucket < res.closed_until; next_bucket += got * HOUR) {
        dc_bucket_clear(last);
        if (dc_featstore_close_buckets(store.fs, next_bucket, 1, last, &got) || got != 1)
            die("close", dc_featstore_errstr(store.fs));
    }
    if (next_bucket != wm)
        die("close", "the buckets up to the watermark did not close");
    return res.late_dropped;
}

/* MGET commands Redis has run so far: a close runs one (its snapshots),
 * and one more when SKUs may have gone idle (their records); a flush one
 * per chunk of records it does not take from its cache. */
static long long mget_calls(void)
{
    long long n = it_redis_calls(rc, "mget");
    if (n < 0)
        die("redis", rc->err ? rc->errstr : "INFO failed");
    return n;
}

static int listed(const dc_bucket_t *b, const char *sku)
{
    for (size_t i = 0; i < b->n_skus; i++)
        if (!strcmp(b->skus[i].sku, sku))
            return 1;
    return 0;
}

/* sku's end of its newest closed bucket with events in the list of SKUs
 * a close lists (PREFIX:{meta}:listed, features/values.lua: u8 length,
 * the SKU, its end as a varint, 0 for none), as text: "none" for 0, ""
 * when not listed. */
static const char *listed_end(const char *sku)
{
    static char text[32];
    redisReply *r = redisCommand(rc, "GET " PREFIX ":{meta}:listed");
    const unsigned char *p;
    size_t off = 0, len;

    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL))
        die("redis", rc->err ? rc->errstr : "GET failed");
    text[0] = '\0';
    p = (const unsigned char *)r->str;
    len = r->type == REDIS_REPLY_STRING ? r->len : 0;
    while (off < len) {
        size_t name_len = p[off++], at = off;
        unsigned long long end = 0;
        off += name_len;
        for (int shift = 0; off < len; shift += 7) {
            unsigned char b = p[off++];
            end |= (unsigned long long)(b & 0x7f) << shift;
            if (!(b & 0x80))
                break;
        }
        if (name_len == strlen(sku) && !memcmp(p + at, sku, name_len)) {
            if (end)
                snprintf(text, sizeof(text), "%llu", end);
            else
                snprintf(text, sizeof(text), "none");
            break;
        }
    }
    freeReplyObject(r);
    return text;
}

static int has_record(const char *sku)
{
    redisReply *r = redisCommand(rc, "EXISTS " PREFIX ":{%s}:f", sku);
    long long n;

    if (!r || r->type != REDIS_REPLY_INTEGER)
        die("redis", rc->err ? rc->errstr : "EXISTS failed");
    n = r->integer;
    freeReplyObject(r);
    return n == 1;
}

/* The views of sku's 3-hour window, and its newest event time. */
static void read_views(const char *sku, int64_t *views, int64_t *seen)
{
    dc_sku_features_t f;
    redisReply *r;

    if (dc_featstore_read(store.fs, sku, &f))
        die("read", dc_featstore_errstr(store.fs));
    *views = f.found ? f.win[1].views : -1;
    r = redisCommand(rc, "FCALL dc_features 1 " PREFIX ":{%s}", sku);
    *seen = -1;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
        if (!strcmp(r->element[i]->str, "seen"))
            *seen = strtoll(r->element[i + 1]->str, NULL, 10);
    freeReplyObject(r);
}

int main(void)
{
    const char *port = getenv("DC_REDIS_PORT");
    const char *settings[] = {"windows", "5m,3h", "sku.idle.ttl", "3h", "lateness", "0s", NULL};
    char on_time_end[32];
    dc_bucket_t b = {0};
    int64_t views, seen;

    if (!port)
        die("environment", "DC_REDIS_PORT is not set");
    it_store_open(&store, "0027", port, PREFIX, settings);
    if (!(rc = redisConnect("127.0.0.1", atoi(port))) || rc->err)
        die("redis", rc ? rc->errstr : "out of memory");

    /* 00:00 - 02:00 close with ON's and KEEP's first events. */
    const char *f1[] = {"ON", "KEEP", "ODD", "ON"};
    const int64_t t1[] = {T0 + 10 * MIN, T0 + 20 * MIN, T0 + 20 * MIN, T0 + HOUR + 10 * MIN};
    check(flush_and_close(f1, t1, 4, T0 + 2 * HOUR, &b) == 0, "the first events were late");
    redisReply *r = redisCommand(rc, "DEL " PREFIX ":{ODD}:f");
    freeReplyObject(r);
    if (!(r = redisCommand(rc, "HSET " PREFIX ":{ODD}:f not-a record")) ||
        r->type != REDIS_REPLY_INTEGER)
        die("redis", r ? r->str : rc->errstr);
    freeReplyObject(r);

    /* LATE's only event and KEEP's second are late; 02:00 - 03:00 closes. */
    const char *f2[] = {"LATE", "KEEP", "ON"};
    const int64_t t2[] = {T0 + 40 * MIN, T0 + HOUR + 30 * MIN, T0 + 2 * HOUR + 10 * MIN};
    check(flush_and_close(f2, t2, 3, T0 + 3 * HOUR, &b) == 2, "not 2 late events");
    check(!strcmp(listed_end("LATE"), "none"), "LATE is not listed without a bucket");
    snprintf(on_time_end, sizeof(on_time_end), "%lld", T0 + HOUR);
    check(!strcmp(listed_end("KEEP"), on_time_end),
          "KEEP's last bucket moved with its late event");
    check(listed(&b, "ON") && listed(&b, "KEEP") && !listed(&b, "LATE"),
          "bucket 02:00 does not list ON and KEEP only");
    read_views("LATE", &views, &seen);
    check(views == 1 && seen == T0 + 40 * MIN, "LATE's window or newest time is not its event");
    read_views("KEEP", &views, &seen);
    check(views == 2 && seen == T0 + HOUR + 30 * MIN,
          "KEEP's window or newest time leaves out its late event");

    /* 03:00 - 04:00: idle by the TTL from 01:00 on, LATE (00:40) leaves;
     * KEEP, idle by its buckets since 01:00 too, keeps its record for its
     * late 01:30 event, in no bucket. */
    const char *f3[] = {"ON"};
    const int64_t t3[] = {T0 + 3 * HOUR + 10 * MIN};
    long long mgets = mget_calls();
    flush_and_close(f3, t3, 1, T0 + 4 * HOUR, &b);
    /* The close reads LATE's, ODD's and KEEP's records (idle by their
     * buckets). */
    check(mget_calls() == mgets + 2, "the flush after a close that deleted nothing read ON's "
          "record, which it had written last");
    check(!has_record("LATE") && !*listed_end("LATE"), "LATE did not leave the store");
    check(!has_record("ODD") && !*listed_end("ODD"), "ODD did not leave the store");
    check(has_record("KEEP") && !strcmp(listed_end("KEEP"), on_time_end),
          "KEEP left the store before its late event was idle");
    check(listed(&b, "ON") && !listed(&b, "KEEP"), "bucket 03:00 does not list ON only");

    /* 04:00 - 05:00: idle from 02:00 on, KEEP (01:30) leaves too. */
    const int64_t t4[] = {T0 + 4 * HOUR + 10 * MIN};
    mgets = mget_calls();
    flush_and_close(f3, t4, 1, T0 + 5 * HOUR, &b);
    /* The close reads KEEP's record. */
    check(mget_calls() == mgets + 3, "the flush after a close that deleted records took ON's "
          "from its cache");
    check(!has_record("KEEP") && !*listed_end("KEEP"), "KEEP did not leave the store");
    check(has_record("ON"), "ON left the store");

    dc_bucket_clear(&b);
    redisFree(rc);
    it_store_close(&store);
    if (!it_failed)
        printf("0027: late events count in windows, in no bucket, and their SKUs leave the "
               "store once idle by them\n");
    return it_failed;
}
