/* tests/integration/0024-first-time.c - a SKU's first event time stays
 * right while flushes leave out what cannot change it.
 *
 * A flush sends a SKU's oldest event time to the first-seen set only when
 * the SKU's record leaves room for it to be earlier than the stored one.
 * One SKU gets four flushes: its first events (2:30), later ones (3:00),
 * a late event older than everything stored (1:10), then one between
 * (2:40). After each, its first time must be the oldest event so far, and
 * the flushes must send the first time exactly when it could move (INFO
 * commandstats counts the ZADDs: the newest time goes every flush). The
 * buckets then close, from the 1:00 one (the clock starts at the oldest
 * event's bucket): the SKU must be active in each, its late event counted
 * in the 1:00 one, which a first time left at 2:30 would leave it out of.
 * Run by run-c.sh (DC_REDIS_PORT). */
#include "features/features.h"

#include <hiredis/hiredis.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1767571200000LL /* 2026-01-05T00:00:00Z */
#define MIN 60000LL
#define HOUR 3600000LL
#define MAX_BUCKETS 16

static void die(const char *what, const char *why)
{
    fprintf(stderr, "0024: %s: %s\n", what, why);
    exit(1);
}

static long long zadd_calls(redisContext *rc)
{
    redisReply *r = redisCommand(rc, "INFO commandstats");
    const char *at;
    long long calls = 0;

    if (!r || r->type != REDIS_REPLY_STRING)
        die("redis", "INFO commandstats failed");
    if ((at = strstr(r->str, "cmdstat_zadd:calls=")))
        calls = strtoll(at + strlen("cmdstat_zadd:calls="), NULL, 10);
    freeReplyObject(r);
    return calls;
}

static long long first_time(redisContext *rc)
{
    redisReply *r = redisCommand(rc, "ZSCORE t0024:{meta}:first A");
    long long t;

    if (!r || r->type != REDIS_REPLY_STRING)
        die("redis", "A is not in the first-seen set");
    t = strtoll(r->str, NULL, 10);
    freeReplyObject(r);
    return t;
}

/* Flushes one view of A at ts (none when ts is 0), the partition read up
 * to max_ts; returns the flush's result. */
static dc_flush_result_t flush_one(dc_featstore_t *fs, const dc_limits_t *lim,
                                   dc_parts_t *parts, int64_t ts, int64_t max_ts)
{
    dc_featbatch_t *batch = dc_featbatch_new(lim);
    dc_part_t *part = dc_parts_at(parts, 0);
    dc_flush_result_t res;

    if (ts) {
        dc_fevent_t ev = {.sku = "A", .user = "u1", .ts_ms = ts, .kind = DC_FEV_VIEW};
        if (dc_featbatch_add(batch, &ev, INT64_MIN, NULL))
            die("batch", "the event did not fit");
    }
    part->max_ts = max_ts;
    part->next_offset++;
    if (dc_featstore_flush(fs, batch, parts, INT64_MIN, dc_monotonic_s(), &res))
        die("flush", dc_featstore_errstr(fs));
    dc_featbatch_destroy(batch);
    return res;
}

static const dc_bucket_sku_t *find(const dc_bucket_t *b, const char *sku)
{
    for (size_t i = 0; i < b->n_skus; i++)
        if (!strcmp(b->skus[i].sku, sku))
            return &b->skus[i];
    return NULL;
}

int main(void)
{
    const char *port = getenv("DC_REDIS_PORT");
    /* Each flush: the event, what A's first time must then be, and the
     * ZADDs it must send (2: the first time could move). */
    const struct {
        int64_t ts, first;
        long long zadds;
    } steps[] = {{T0 + 150 * MIN, T0 + 150 * MIN, 2},
                 {T0 + 180 * MIN, T0 + 150 * MIN, 1},
                 {T0 + 70 * MIN, T0 + 70 * MIN, 2},
                 {T0 + 160 * MIN, T0 + 70 * MIN, 1}};
    char errstr[512];
    dc_conf_t *conf = dc_conf_new();
    dc_limits_t lim;
    dc_featstore_t *fs;
    dc_parts_t *parts = dc_parts_new();
    dc_bucket_t out[MAX_BUCKETS] = {{0}};
    redisContext *rc;
    int n_out = 0;

    if (!port)
        die("environment", "DC_REDIS_PORT is not set");
    if (dc_conf_set(conf, "redis.port", port, errstr, sizeof(errstr)) ||
        dc_conf_set(conf, "redis.key.prefix", "t0024", errstr, sizeof(errstr)) ||
        dc_conf_set(conf, "lateness", "6h", errstr, sizeof(errstr)) ||
        dc_limits_init(&lim, conf, errstr, sizeof(errstr)))
        die("config", errstr);
    if (!(fs = dc_featstore_new(conf, &lim, "t0024", errstr, sizeof(errstr))))
        die("featstore", errstr);
    if (!(rc = redisConnect("127.0.0.1", atoi(port))) || rc->err)
        die("redis", "cannot connect");
    if (!parts || !dc_parts_add(parts, "views", 0, 0))
        die("parts", "out of memory");
    dc_parts_at(parts, 0)->next_offset = 0;

    for (size_t i = 0; i < DC_ARRAY_SIZE(steps); i++) {
        long long before = zadd_calls(rc);
        flush_one(fs, &lim, parts, steps[i].ts, T0 + 180 * MIN);
        long long sent = zadd_calls(rc) - before, first = first_time(rc);
        if (first != steps[i].first || sent != steps[i].zadds) {
            fprintf(stderr, "0024: flush %zu (event at +%lld min): first time +%lld min "
                            "(expected +%lld), %lld ZADDs (expected %lld)\n",
                    i + 1, (long long)((steps[i].ts - T0) / MIN), (first - T0) / MIN,
                    (long long)((steps[i].first - T0) / MIN), sent, steps[i].zadds);
            return 1;
        }
    }

    /* The partition read to 10:00: with 6 hours of lateness, the buckets
     * before 4:00 close. */
    dc_flush_result_t res = flush_one(fs, &lim, parts, 0, T0 + 10 * HOUR);
    if (!res.closer || res.closed_until != T0 + 4 * HOUR)
        die("flush", "the buckets before 4:00 did not close");
    for (int64_t from = res.acked_until; from < res.closed_until;) {
        int got = 0, n = (int)((res.closed_until - from) / lim.bucket_ms);
        if (n > DC_CLOSES_MAX)
            n = DC_CLOSES_MAX;
        if (n_out + n > MAX_BUCKETS)
            die("close", "more buckets than expected");
        if (dc_featstore_close_buckets(fs, from, n, &out[n_out], &got) || got < 1)
            die("close", dc_featstore_errstr(fs));
        n_out += got;
        from += got * lim.bucket_ms;
    }
    /* A's views per bucket from 1:00: the late one, two, one. */
    const int64_t views[] = {1, 2, 1};
    if (n_out != (int)DC_ARRAY_SIZE(views) || out[0].start != T0 + HOUR)
        die("close", "the buckets closed are not 1:00 to 3:00");
    for (int b = 0; b < n_out; b++) {
        const dc_bucket_sku_t *a = find(&out[b], "A");
        if (!a || a->views != views[b]) {
            fprintf(stderr, "0024: bucket %d:00: A %s, %lld views (expected %lld)\n", b + 1,
                    a ? "present" : "absent", a ? (long long)a->views : 0LL,
                    (long long)views[b]);
            return 1;
        }
    }

    for (int b = 0; b < MAX_BUCKETS; b++)
        dc_bucket_clear(&out[b]);
    redisFree(rc);
    dc_parts_destroy(parts);
    dc_featstore_destroy(fs);
    dc_conf_destroy(conf);
    printf("0024: first times and closes as expected over %zu flushes\n",
           DC_ARRAY_SIZE(steps));
    return 0;
}
