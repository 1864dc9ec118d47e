/* tests/integration/0025-open-log-compaction.c - a bucket that stays open
 * across many flushes keeps a bounded log in Redis and closes exactly.
 *
 * As in a live stream, one bucket (an hour) takes FLUSHES flushes, each
 * with events of every one of N_SKUS SKUs: views, carts, placed and
 * cancelled order lines, by users drawn from a pool per SKU, with users
 * coming back across flushes; HOT's users are all new, so its sketch
 * outgrows the exact set and becomes registers. Every flush appends an
 * entry per SKU to the bucket's log, several MiB in all: the log must
 * never pass DC_LOG_COMPACT_MIN by more than one flush's entries, and
 * must have been compacted several times. A second store takes the same
 * events in one flush (one entry per SKU, nothing to compact). The bucket
 * must then close the same from both stores, row by row and bit for bit
 * (distinct users included), and equal a recount of the events; both
 * logs must be gone after the close. Run by run-c.sh (DC_REDIS_PORT). */
#include "tests/integration/it_store.h"
#include "tests/integration/it_report.h"

#include <hiredis/hiredis.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1767571200000LL /* 2026-01-05T00:00:00Z */
#define HOUR 3600000LL
#define FLUSHES 160
#define N_SKUS 1000
#define POOL 40 /* users per SKU, but HOT's */

typedef struct {
    int64_t views, carts, units, cancelled, orders, revenue_e4;
    unsigned char user[POOL];
    int64_t users;
} count_t;

static count_t recount[N_SKUS];

typedef struct {
    it_store_t s;
    dc_featbatch_t *batch;
    dc_parts_t *parts;
    dc_part_t *part;
} store_t;

static void open_store(store_t *s, const char *port, const char *prefix)
{
    const char *settings[] = {"windows", "5m,1h", "lateness", "0s", NULL};

    it_store_open(&s->s, "0025", port, prefix, settings);
    if (!(s->batch = dc_featbatch_new(&s->s.lim)) || !(s->parts = dc_parts_new()) ||
        !(s->part = dc_parts_add(s->parts, "events", 0, 0)))
        die("store", "out of memory");
    s->part->next_offset = 0;
}

/* Flushes s's batch; the partition has reached event time wm. */
static dc_flush_result_t flush(store_t *s, int64_t wm)
{
    dc_flush_result_t res;

    s->part->max_ts = wm;
    s->part->next_offset += 1;
    if (dc_featstore_flush(s->s.fs, s->batch, s->parts, INT64_MIN, dc_monotonic_s(), &res))
        die("flush", dc_featstore_errstr(s->s.fs));
    dc_featbatch_reset(s->batch);
    return res;
}

static void add(store_t *s, const dc_fevent_t *ev)
{
    if (dc_featbatch_add(s->batch, ev, INT64_MIN, NULL))
        die("batch", "an event did not fit");
}

/* Flush f's events of SKU k, into both stores' batches and the recount. */
static void events(store_t *a, store_t *b, int f, int k, uint64_t *rng)
{
    char sku[16], user[32];
    count_t *c = &recount[k];

    snprintf(sku, sizeof(sku), k ? "SKU-%04d" : "HOT", k);
    for (int e = 0; e < 3; e++) {
        *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
        int u = (int)((*rng >> 33) % POOL);
        if (k)
            snprintf(user, sizeof(user), "u%d-%d", k, u);
        else
            snprintf(user, sizeof(user), "hot-%d-%d", f, e);
        dc_fevent_t ev = {.sku = sku, .user = user,
                          .ts_ms = T0 + (int64_t)((*rng >> 11) % (HOUR / 2)), .price = 2.5};
        switch (e) {
        case 0:
            ev.kind = DC_FEV_VIEW;
            c->views++;
            break;
        case 1:
            ev.kind = (f + k) % 3 ? DC_FEV_CART : DC_FEV_VIEW;
            if (ev.kind == DC_FEV_CART)
                c->carts++;
            else
                c->views++;
            break;
        default:
            ev.qty = 1 + (int)((*rng >> 20) % 4);
            ev.kind = (f + k) % 7 ? DC_FEV_PLACED : DC_FEV_CANCEL;
            if (ev.kind == DC_FEV_PLACED) {
                c->units += ev.qty;
                c->orders++;
                c->revenue_e4 += ev.qty * 25000;
            } else {
                c->cancelled += ev.qty;
            }
        }
        if (k && !c->user[u]) {
            c->user[u] = 1;
            c->users++;
        } else if (!k) {
            c->users++;
        }
        add(a, &ev);
        add(b, &ev);
    }
}

static long long log_len(redisContext *rc, const char *prefix, int exists)
{
    redisReply *r = redisCommand(rc, exists ? "EXISTS %s:{meta}:open:%lld" :
                                 "STRLEN %s:{meta}:open:%lld", prefix, T0);
    if (!r || r->type != REDIS_REPLY_INTEGER)
        die("redis", rc->err ? rc->errstr : "STRLEN failed");
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

static void close_bucket(store_t *s, dc_bucket_t *out)
{
    dc_flush_result_t res = flush(s, T0 + HOUR);
    int got = 0;

    if (!res.closer || res.closed_until != T0 + HOUR)
        die("flush", "the bucket is not closed");
    if (dc_featstore_close_buckets(s->s.fs, T0, 1, out, &got) || got != 1)
        die("close", dc_featstore_errstr(s->s.fs));
}

int main(void)
{
    const char *port = getenv("DC_REDIS_PORT");
    store_t live = {0}, once = {0};
    redisContext *rc;
    long long peak = 0, appended = 0, last = 0, step = 0;
    int compactions = 0, failed = 0;
    uint64_t rng = 0x9e3779b97f4a7c15ULL;

    if (!port)
        die("environment", "DC_REDIS_PORT is not set");
    rc = redisConnect("127.0.0.1", atoi(port));
    if (!rc || rc->err)
        die("redis", rc ? rc->errstr : "cannot connect");
    open_store(&live, port, "t0025a");
    open_store(&once, port, "t0025b");

    /* The live store flushes every round; the other keeps every event. */
    for (int f = 0; f < FLUSHES; f++) {
        for (int k = 0; k < N_SKUS; k++)
            events(&live, &once, f, k, &rng);
        dc_flush_result_t res = flush(&live, T0 + HOUR / 2);
        if (res.closed_until != INT64_MIN && res.closed_until > T0)
            die("flush", "the bucket closed early");
        long long len = log_len(rc, "t0025a", 0);
        if (len < last) {
            compactions++;
        } else {
            appended += len - last;
            if (len - last > step)
                step = len - last;
        }
        if (len > peak)
            peak = len;
        last = len;
    }
    flush(&once, T0 + HOUR / 2);

    if (appended < 4 * (long long)DC_LOG_COMPACT_MIN || compactions < 3 ||
        peak > (long long)DC_LOG_COMPACT_MIN + step) {
        fprintf(stderr, "0025: the log grew by %lld bytes a flush, %lld in all, peaked at %lld "
                "bytes and was compacted %d times; want a peak of at most %lld and several "
                "compactions\n", step, appended, peak, compactions,
                (long long)DC_LOG_COMPACT_MIN + step);
        failed = 1;
    }

    dc_bucket_t a = {0}, b = {0};
    close_bucket(&live, &a);
    close_bucket(&once, &b);
    if (a.n_skus != N_SKUS || b.n_skus != N_SKUS) {
        fprintf(stderr, "0025: %zu and %zu SKUs closed, want %d\n", a.n_skus, b.n_skus, N_SKUS);
        failed = 1;
    }
    for (size_t i = 0; !failed && i < a.n_skus; i++) {
        const dc_bucket_sku_t *x = &a.skus[i], *y = &b.skus[i];
        int k = strcmp(x->sku, "HOT") ? atoi(x->sku + 4) : 0;
        const count_t *c = &recount[k];
        if (strcmp(x->sku, y->sku) || x->views != y->views || x->carts != y->carts ||
            x->removes != y->removes || x->units != y->units || x->cancelled != y->cancelled ||
            x->orders != y->orders || x->revenue != y->revenue || x->users != y->users ||
            x->avg_price != y->avg_price || x->promo_share != y->promo_share) {
            fprintf(stderr, "0025: row %zu: %s %lld views %.0f users from the live store, "
                    "%s %lld views %.0f users from the one flush\n", i, x->sku,
                    (long long)x->views, x->users, y->sku, (long long)y->views, y->users);
            failed = 1;
        } else if (x->views != c->views || x->carts != c->carts || x->units != c->units ||
                   x->cancelled != c->cancelled || x->orders != c->orders ||
                   (int64_t)(x->revenue * 1e4 + 0.5) != c->revenue_e4 ||
                   (k ? x->users != (double)c->users
                      : x->users < 0.9 * (double)c->users || x->users > 1.1 * (double)c->users)) {
            fprintf(stderr, "0025: %s: views %lld carts %lld units %lld cancelled %lld orders "
                    "%lld revenue %.4f users %.0f; the events have %lld %lld %lld %lld %lld "
                    "%.4f %lld\n", x->sku, (long long)x->views, (long long)x->carts,
                    (long long)x->units, (long long)x->cancelled, (long long)x->orders,
                    x->revenue, x->users, (long long)c->views, (long long)c->carts,
                    (long long)c->units, (long long)c->cancelled, (long long)c->orders,
                    (double)c->revenue_e4 / 1e4, (long long)c->users);
            failed = 1;
        }
    }
    if (log_len(rc, "t0025a", 1) || log_len(rc, "t0025b", 1)) {
        fprintf(stderr, "0025: a closed bucket's log is left in Redis\n");
        failed = 1;
    }

    dc_bucket_clear(&a);
    dc_bucket_clear(&b);
    store_t *stores[] = {&live, &once};
    for (int i = 0; i < 2; i++) {
        dc_featbatch_destroy(stores[i]->batch);
        dc_parts_destroy(stores[i]->parts);
        it_store_close(&stores[i]->s);
    }
    redisFree(rc);
    if (!failed)
        printf("0025: %d flushes into one bucket appended %lld bytes to its log, which peaked "
               "at %lld after %d compactions; its %d SKUs closed as from one flush and as "
               "recounted\n", FLUSHES, appended, peak, compactions, N_SKUS);
    return failed;
}
