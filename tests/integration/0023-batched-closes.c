/* tests/integration/0023-batched-closes.c - closing several buckets in one
 * transaction gives exactly what closing them one by one gives.
 *
 * Two stores (two key prefixes in one Redis) take the same events in one
 * flush: 14 hours of views over SKUs that stay busy, go idle part way
 * (sku.idle.ttl 3h), or are first seen part way, so each bucket's active
 * set differs from the next one's. One store then closes its buckets
 * DC_CLOSES_MAX at a time, the other one at a time. Every bucket must come
 * out the same from both (SKUs, order, every total), its views must equal
 * a recount of the events in it, the idle and not-yet-seen SKUs must be
 * left out where they should, and the idle SKUs' records must be gone from
 * both stores. Closing the first buckets again before they are
 * acknowledged (a restart) must return the same buckets from their
 * snapshots. Run by run-c.sh (DC_REDIS_PORT). */
#include "features/features.h"

#include <hiredis/hiredis.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1767571200000LL /* 2026-01-05T00:00:00Z */
#define HOUR 3600000LL
#define HOURS 14
#define N_BUSY 30
#define MAX_BUCKETS 32

typedef struct {
    dc_conf_t *conf;
    dc_limits_t lim;
    dc_featstore_t *fs;
    dc_bucket_t out[MAX_BUCKETS];
    int n;
} store_t;

static int64_t views_in[HOURS]; /* the recount: views per hour */

static void die(const char *what, const char *why)
{
    fprintf(stderr, "0023: %s: %s\n", what, why);
    exit(1);
}

static void add(dc_featbatch_t *batch, dc_part_t *part, const char *sku, int64_t ts, int user)
{
    char u[16];
    snprintf(u, sizeof(u), "u%d", user);
    dc_fevent_t ev = {.sku = sku, .user = u, .ts_ms = ts, .kind = DC_FEV_VIEW};
    if (dc_featbatch_add(batch, &ev, INT64_MIN, NULL))
        die("batch", "an event did not fit");
    views_in[(ts - T0) / HOUR]++;
    if (ts > part->max_ts)
        part->max_ts = ts;
}

/* The events: BUSY-nn every hour (a varying few of them), GONE-EARLY at
 * 00:30 only (idle from 03:30 on), GONE-MID at 02:10 and 05:50 (idle from
 * 08:50 on), FIRST-LATE from 06:20 on. */
static void fill(dc_featbatch_t *batch, dc_part_t *part)
{
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    char sku[16];

    memset(views_in, 0, sizeof(views_in));
    for (int h = 0; h < HOURS; h++)
        for (int e = 0; e < 40; e++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            snprintf(sku, sizeof(sku), "BUSY-%02d", (int)((rng >> 33) % N_BUSY));
            add(batch, part, sku, T0 + h * HOUR + (int64_t)((rng >> 11) % HOUR),
                (int)((rng >> 40) % 25));
        }
    add(batch, part, "GONE-EARLY", T0 + HOUR / 2, 1);
    add(batch, part, "GONE-MID", T0 + 2 * HOUR + 10 * 60000, 2);
    add(batch, part, "GONE-MID", T0 + 5 * HOUR + 50 * 60000, 3);
    for (int h = 6; h < HOURS; h++)
        add(batch, part, "FIRST-LATE", T0 + h * HOUR + 20 * 60000, 4);
}

static void open_store(store_t *s, const char *port, const char *prefix)
{
    char errstr[512];

    s->conf = dc_conf_new();
    if (dc_conf_set(s->conf, "redis.port", port, errstr, sizeof(errstr)) ||
        dc_conf_set(s->conf, "redis.key.prefix", prefix, errstr, sizeof(errstr)) ||
        dc_conf_set(s->conf, "windows", "5m,1h", errstr, sizeof(errstr)) ||
        dc_conf_set(s->conf, "sku.idle.ttl", "3h", errstr, sizeof(errstr)) ||
        dc_conf_set(s->conf, "lateness", "0s", errstr, sizeof(errstr)) ||
        dc_limits_init(&s->lim, s->conf, errstr, sizeof(errstr)))
        die("config", errstr);
    if (!(s->fs = dc_featstore_new(s->conf, &s->lim, prefix, errstr, sizeof(errstr))))
        die("featstore", errstr);
}

/* One flush of the events; returns the buckets to close: [*from, *until). */
static void flush_events(store_t *s, int64_t *from, int64_t *until)
{
    dc_featbatch_t *batch = dc_featbatch_new(&s->lim);
    dc_parts_t *parts = dc_parts_new();
    dc_part_t *part = dc_parts_add(parts, "views", 0, 0);
    dc_flush_result_t res;

    fill(batch, part);
    /* The partition has been read up to 14:00: every bucket before closes. */
    part->max_ts = T0 + HOURS * HOUR;
    part->next_offset = 1000;
    if (dc_featstore_flush(s->fs, batch, parts, INT64_MIN, dc_monotonic_s(), &res))
        die("flush", dc_featstore_errstr(s->fs));
    if (!res.closer)
        die("flush", "no close lease");
    *from = res.acked_until;
    *until = res.closed_until;
    dc_featbatch_destroy(batch);
    dc_parts_destroy(parts);
}

/* Closes [from, until) at most per_call buckets a call into s->out. */
static void close_all(store_t *s, int64_t from, int64_t until, int per_call)
{
    while (from < until) {
        int n = (int)((until - from) / s->lim.bucket_ms), got = 0;
        if (n > per_call)
            n = per_call;
        if (s->n + n > MAX_BUCKETS)
            die("close", "more buckets than expected");
        if (dc_featstore_close_buckets(s->fs, from, n, &s->out[s->n], &got))
            die("close", dc_featstore_errstr(s->fs));
        if (got < 1 || got > n)
            die("close", "closed no bucket, or more than asked");
        s->n += got;
        from += got * s->lim.bucket_ms;
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

int main(void)
{
    const char *port = getenv("DC_REDIS_PORT");
    store_t batched = {0}, single = {0};
    int64_t from, until, from_b, until_b;
    int failed = 0;

    if (!port)
        die("environment", "DC_REDIS_PORT is not set");
    open_store(&batched, port, "t0023a");
    open_store(&single, port, "t0023b");
    flush_events(&batched, &from, &until);
    flush_events(&single, &from_b, &until_b);
    if (from != T0 || until != T0 + HOURS * HOUR || from_b != from || until_b != until)
        die("flush", "the clock does not span the 14 hours of events");

    close_all(&batched, from, until, DC_CLOSES_MAX);
    close_all(&single, from, until, 1);
    if (batched.n != HOURS || single.n != HOURS)
        die("close", "not 14 buckets closed");
    for (int h = 0; h < HOURS; h++) {
        const dc_bucket_t *b = &batched.out[h];
        int64_t views = 0;
        failed |= !same_bucket("batched against one by one", b, &single.out[h]);
        for (size_t i = 0; i < b->n_skus; i++)
            views += b->skus[i].views;
        if (b->start != T0 + h * HOUR || views != views_in[h]) {
            fprintf(stderr, "0023: bucket %d: starts at %+.1f h with %lld views, want %+d h "
                    "with %lld\n", h, (double)(b->start - T0) / HOUR, (long long)views, h,
                    (long long)views_in[h]);
            failed = 1;
        }
        /* Active: seen within 3 h before the bucket's end, first seen
         * before it. */
        int early = h + 1 <= 3, mid = h >= 2 && h + 1 <= 8, late = h >= 6;
        if (has_sku(b, "GONE-EARLY") != early || has_sku(b, "GONE-MID") != mid ||
            has_sku(b, "FIRST-LATE") != late) {
            fprintf(stderr, "0023: bucket %d: GONE-EARLY %d GONE-MID %d FIRST-LATE %d, want "
                    "%d %d %d\n", h, has_sku(b, "GONE-EARLY"), has_sku(b, "GONE-MID"),
                    has_sku(b, "FIRST-LATE"), early, mid, late);
            failed = 1;
        }
    }

    /* A restart before any acknowledgement: the same buckets again. */
    dc_bucket_t again[DC_CLOSES_MAX] = {{0}};
    int got = 0;
    if (dc_featstore_close_buckets(batched.fs, from, DC_CLOSES_MAX, again, &got))
        die("close again", dc_featstore_errstr(batched.fs));
    if (got != DC_CLOSES_MAX) {
        fprintf(stderr, "0023: closing again gave %d buckets, want %d\n", got, DC_CLOSES_MAX);
        failed = 1;
    }
    for (int i = 0; i < got; i++) {
        failed |= !same_bucket("closed again against first close", &again[i], &batched.out[i]);
        dc_bucket_clear(&again[i]);
    }

    /* The idle SKUs' records are gone, the others' kept. */
    redisContext *rc = redisConnect("127.0.0.1", atoi(port));
    const char *keys[] = {"t0023a:{GONE-EARLY}:f", "t0023a:{GONE-MID}:f", "t0023b:{GONE-EARLY}:f",
                          "t0023b:{GONE-MID}:f",   "t0023a:{FIRST-LATE}:f", "t0023b:{FIRST-LATE}:f"};
    for (int i = 0; i < 6; i++) {
        redisReply *r = rc && !rc->err ? redisCommand(rc, "EXISTS %s", keys[i]) : NULL;
        if (!r || r->type != REDIS_REPLY_INTEGER)
            die("redis", rc && rc->err ? rc->errstr : "EXISTS failed");
        if (r->integer != (i >= 4)) {
            fprintf(stderr, "0023: %s %s\n", keys[i], i >= 4 ? "is missing" : "is left");
            failed = 1;
        }
        freeReplyObject(r);
    }
    redisFree(rc);
    for (int i = 0; i < MAX_BUCKETS; i++) {
        dc_bucket_clear(&batched.out[i]);
        dc_bucket_clear(&single.out[i]);
    }
    dc_featstore_destroy(batched.fs);
    dc_featstore_destroy(single.fs);
    dc_conf_destroy(batched.conf);
    dc_conf_destroy(single.conf);
    if (!failed)
        printf("0023: %d buckets closed %d at a time equal the same closed one by one\n",
               HOURS, DC_CLOSES_MAX);
    return failed;
}
