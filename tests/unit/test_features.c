/* tests/unit/test_features.c - the settings of windows, validation, the
 * partition table, the per-flush batch of window and bucket deltas, and the
 * stored records and bucket logs they merge into. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "features/features.h"
#include "tests/value_varint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define T0 1767571200000LL /* 2026-01-05T00:00:00Z */
#define MIN 60000LL
#define HOUR 3600000LL

static dc_limits_t limits(const char *windows)
{
    dc_conf_t *conf = dc_conf_new();
    dc_limits_t lim;
    char err[256];
    assert_non_null(conf);
    if (windows)
        assert_int_equal(dc_conf_set(conf, "windows", windows, err, sizeof(err)), 0);
    assert_int_equal(dc_limits_init(&lim, conf, err, sizeof(err)), 0);
    dc_conf_destroy(conf);
    return lim;
}

static void test_limits(void **state)
{
    dc_conf_t *conf = dc_conf_new();
    dc_limits_t lim;
    char err[256];
    (void)state;

    lim = limits(NULL);
    assert_int_equal(lim.n_windows, 4);
    assert_string_equal(lim.window_name[0], "5m");
    assert_string_equal(lim.window_name[3], "7d");
    assert_int_equal(dc_limits_longest_window(&lim), 7 * 24 * HOUR);
    assert_int_equal(lim.bucket_ms, HOUR);

    /* Sorted by length, named as spelt. */
    lim = limits("1d, 60m,300s");
    assert_int_equal(lim.n_windows, 3);
    assert_string_equal(lim.window_name[0], "300s");
    assert_string_equal(lim.window_name[1], "60m");
    assert_string_equal(lim.window_name[2], "1d");
    assert_int_equal(lim.window_ms[1], HOUR);

    const char *bad[] = {"", "5m,300s", "7ms", "abc", "1m,2m,3m,4m,5m,6m,7m"};
    for (size_t i = 0; i < DC_ARRAY_SIZE(bad); i++) {
        assert_int_equal(dc_conf_set(conf, "windows", bad[i], err, sizeof(err)), 0);
        assert_int_equal(dc_limits_init(&lim, conf, err, sizeof(err)), DC_ERR_CONFIG);
        assert_non_null(strstr(err, "windows"));
    }
    /* Idle SKUs lose their keys: not before their longest window is empty. */
    assert_int_equal(dc_conf_set(conf, "windows", "5m,1h", err, sizeof(err)), 0);
    assert_int_equal(dc_conf_set(conf, "sku.idle.ttl", "59m", err, sizeof(err)), 0);
    assert_int_equal(dc_limits_init(&lim, conf, err, sizeof(err)), DC_ERR_CONFIG);
    assert_non_null(strstr(err, "sku.idle.ttl"));
    assert_int_equal(dc_conf_set(conf, "sku.idle.ttl", "1h", err, sizeof(err)), 0);
    assert_int_equal(dc_limits_init(&lim, conf, err, sizeof(err)), 0);
    dc_conf_destroy(conf);
}

static void test_validate(void **state)
{
    dc_limits_t lim = limits(NULL);
    dc_click_t click = {.ts_ms = T0, .sku = "12345", .type = DC_CLICK_VIEW, .price = 9.5};
    dc_order_t order = {0};
    (void)state;

    assert_int_equal(dc_validate_click(&lim, &click), 0);
    click.price = NAN;
    assert_int_equal(dc_validate_click(&lim, &click), DC_ERR_BAD_PRICE);
    click.price = INFINITY;
    assert_int_equal(dc_validate_click(&lim, &click), DC_ERR_BAD_PRICE);
    click.price = -1;
    assert_int_equal(dc_validate_click(&lim, &click), DC_ERR_BAD_PRICE);
    click.price = 1e7;
    assert_int_equal(dc_validate_click(&lim, &click), DC_ERR_BAD_PRICE);
    click.price = 1;
    click.sku[0] = '\0';
    assert_int_equal(dc_validate_click(&lim, &click), DC_ERR_BAD_SKU);

    assert_int_equal(dc_validate_order(&lim, &order), DC_ERR_MALFORMED); /* no lines */
    assert_int_equal(dc_order_add_line(&order, "12345", 2, 3.5), 0);
    assert_int_equal(dc_validate_order(&lim, &order), 0);
    assert_int_equal(dc_order_add_line(&order, "23456", -1, 3.5), 0);
    assert_int_equal(dc_validate_order(&lim, &order), DC_ERR_BAD_QUANTITY);
    order.lines[1].qty = 100001; /* above max.quantity */
    assert_int_equal(dc_validate_order(&lim, &order), DC_ERR_BAD_QUANTITY);
    order.lines[1].qty = 0;
    assert_int_equal(dc_validate_order(&lim, &order), DC_ERR_BAD_QUANTITY);
    order.lines[1].qty = 1;
    order.lines[1].unit_price = NAN;
    assert_int_equal(dc_validate_order(&lim, &order), DC_ERR_BAD_PRICE);
    dc_order_clear(&order);

    assert_int_equal(dc_validate_time(&lim, T0, T0, INT64_MIN), 0);
    assert_int_equal(dc_validate_time(&lim, 0, T0, INT64_MIN), DC_ERR_BAD_TIMESTAMP);
    /* future.tolerance is 1h by default, counted from the wall clock: a
     * shop closed for two weeks is no reason to reject its next order. */
    assert_int_equal(dc_validate_time(&lim, T0 + HOUR, T0, INT64_MIN), 0);
    assert_int_equal(dc_validate_time(&lim, T0 + HOUR + 1, T0, INT64_MIN), DC_ERR_BAD_TIMESTAMP);
    assert_int_equal(dc_validate_time(&lim, T0 + 14 * 24 * HOUR, T0 + 15 * 24 * HOUR, T0), 0);
    /* Older than the closed time minus 7d is too late; 7d exactly is not. */
    int64_t closed = T0 + 10 * 24 * HOUR;
    assert_int_equal(dc_validate_time(&lim, closed - 7 * 24 * HOUR, closed, closed), 0);
    assert_int_equal(dc_validate_time(&lim, closed - 7 * 24 * HOUR - 1, closed, closed),
                     DC_ERR_TOO_LATE);
}

static void test_parts(void **state)
{
    dc_parts_t *parts = dc_parts_new();
    dc_part_t *p;
    (void)state;

    assert_non_null(parts);
    p = dc_parts_add(parts, "shop.orders", 1, 3);
    assert_string_equal(p->name, "shop.orders/3");
    assert_int_equal(p->stored_offset, -1);
    assert_true(dc_parts_add(parts, "shop.orders", 1, 3) == p);
    assert_non_null(dc_parts_add(parts, "shop.clickstream", 0, 3));
    assert_int_equal(dc_parts_count(parts), 2);
    p->max_ts = T0;

    /* Idle only after idle.timeout at the end of the partition. */
    assert_false(dc_part_is_idle(p, 30000, 100.0));
    p->at_end = 1;
    p->end_since = 100.0;
    assert_false(dc_part_is_idle(p, 30000, 129.9));
    assert_true(dc_part_is_idle(p, 30000, 130.0));

    /* A copy is independent of its source. */
    dc_parts_t *copy = dc_parts_new();
    assert_non_null(dc_parts_add(copy, "stale", 5, 5));
    assert_int_equal(dc_parts_copy(copy, parts), 0);
    assert_int_equal(dc_parts_count(copy), 2);
    assert_null(dc_parts_find(copy, 5, 5));
    dc_part_t *c = dc_parts_find(copy, 1, 3);
    assert_true(c && c != p);
    assert_string_equal(c->name, "shop.orders/3");
    assert_int_equal(c->max_ts, T0);
    c->stored_offset = 99;
    assert_int_not_equal(p->stored_offset, 99);
    dc_parts_destroy(copy);

    dc_parts_remove(parts, 1, 3);
    assert_null(dc_parts_find(parts, 1, 3));
    assert_int_equal(dc_parts_count(parts), 1);
    dc_parts_destroy(parts);
    dc_parts_destroy(NULL);
}

static dc_fevent_t ev(const char *sku, const char *user, int64_t ts, dc_fev_kind_t kind,
                      int64_t qty, double price)
{
    dc_fevent_t e = {.sku = sku, .user = user, .ts_ms = ts, .kind = kind, .qty = qty,
                     .price = price};
    return e;
}

/* SKU sku's delta in batch b, grouped first (its deltas are worked out
 * then), or NULL. */
static const dc_sku_delta_t *find_sku(dc_featbatch_t *b, const char *sku)
{
    assert_int_equal(dc_featbatch_group(b), 0);
    for (size_t i = 0; i < dc_featbatch_skus(b); i++)
        if (!strcmp(dc_featbatch_sku(b, i)->sku, sku))
            return dc_featbatch_sku(b, i);
    return NULL;
}

/* The batch's delta of sku's bucket starting at start, or NULL; *n counts
 * the SKU's bucket deltas. */
static const dc_bucket_delta_t *find_bucket(dc_featbatch_t *b, const char *sku, int64_t start,
                                            size_t *n)
{
    const dc_bucket_delta_t *found = NULL;
    size_t i = 0;

    *n = 0;
    assert_int_equal(dc_featbatch_group(b), 0);
    while (i < dc_featbatch_skus(b) && strcmp(dc_featbatch_sku(b, i)->sku, sku))
        i++;
    for (const dc_bucket_delta_t *bd = dc_featbatch_bucket_first(b, i); bd;
         bd = dc_featbatch_bucket_next(b, bd), ++*n)
        if (bd->start == start)
            found = bd;
    return found;
}

/* Sum of one counter over the slots of window w that the batch keeps, each
 * of which must still be in the window at the SKU's newest slot. *n (may be
 * NULL) gets how many slots the window has. */
static int64_t window_sum_n(dc_featbatch_t *b, const dc_sku_delta_t *d, size_t w, size_t field,
                            size_t *n)
{
    size_t i = 0, count = 0;
    int64_t sum = 0;

    while (dc_featbatch_sku(b, i) != d)
        i++;
    for (const dc_slot_delta_t *sd = dc_featbatch_slot_first(b, i); sd;
         sd = dc_featbatch_slot_next(b, sd)) {
        if (sd->window != w)
            continue;
        assert_true(sd->slot > d->top_slot[w] - DC_WINDOW_SLOTS);
        assert_true(sd->slot <= d->top_slot[w]);
        const int64_t f[] = {sd->views, sd->carts, sd->units, sd->orders, sd->revenue_e4};
        sum += f[field];
        count++;
    }
    if (n)
        *n = count;
    return sum;
}

static int64_t window_sum(dc_featbatch_t *b, const dc_sku_delta_t *d, size_t w, size_t field)
{
    return window_sum_n(b, d, w, field, NULL);
}

static void test_batch_coalesces(void **state)
{
    dc_limits_t lim = limits(NULL);
    dc_featbatch_t *b = dc_featbatch_new(&lim);
    dc_fevent_t e;
    int late = -1;
    (void)state;

    assert_non_null(b);
    for (int i = 0; i < 10; i++) {
        e = ev("A", "u1", T0 + i * MIN, DC_FEV_VIEW, 0, 2.0);
        assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, &late), 0);
        assert_int_equal(late, 0);
    }
    e = ev("A", "u2", T0 + 30 * MIN, DC_FEV_CART, 0, 2.0);
    assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
    e = ev("A", "u2", T0 + 40 * MIN, DC_FEV_PLACED, 3, 2.35);
    e.promo = 1;
    assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
    /* A cancellation is counted apart and never taken off units. */
    e = ev("A", "u2", T0 + 50 * MIN, DC_FEV_CANCEL, 3, 2.35);
    assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
    e = ev("B", "u9", T0 + 61 * MIN, DC_FEV_PLACED, 1, 10.0);
    assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);

    assert_int_equal(dc_featbatch_events(b), 14);
    assert_int_equal(dc_featbatch_skus(b), 2);
    const dc_sku_delta_t *a = find_sku(b, "A");
    assert_non_null(a);
    assert_int_equal(a->newest_ts, T0 + 50 * MIN);
    size_t n_buckets;
    const dc_bucket_delta_t *bd = find_bucket(b, "A", T0, &n_buckets);
    assert_int_equal(n_buckets, 1);
    assert_non_null(bd);
    assert_int_equal(bd->views, 10);
    assert_int_equal(bd->carts, 1);
    assert_int_equal(bd->units, 3);
    assert_int_equal(bd->orders, 1);
    assert_int_equal(bd->cancelled, 3);
    assert_int_equal(bd->revenue_e4, 70500); /* 3 * 2.35 = 7.05 */
    assert_int_equal(bd->events, 13);
    assert_int_equal(bd->promo_events, 1);

    /* The 1h window (slots of 5m) holds all of A; the 5m window (slots of
     * 25s) only what is within 12 slots of its newest slot. */
    assert_int_equal(window_sum(b, a, 1, 0), 10);
    assert_int_equal(window_sum(b, a, 1, 2), 3);
    assert_int_equal(window_sum(b, a, 1, 4), 70500);
    assert_int_equal(window_sum(b, a, 0, 0), 0);
    assert_int_equal(window_sum(b, a, 0, 2), 0); /* the order is 10 minutes before the newest */
    /* Only slots still in their window get a delta: in the 5m window, the
     * cancellation's alone; in the 1h window, those of 0:00, 0:05, 0:30,
     * 0:40 and 0:50. */
    size_t n_deltas;
    window_sum_n(b, a, 0, 0, &n_deltas);
    assert_int_equal(n_deltas, 1);
    window_sum_n(b, a, 1, 0, &n_deltas);
    assert_int_equal(n_deltas, 5);

    /* Users: u1 once per finest slot (ten different minutes), u2 three times. */
    size_t n = 0;
    for (size_t i = 0; i < dc_featbatch_skus(b); i++) {
        if (dc_featbatch_sku(b, i) != a)
            continue;
        for (const dc_user_obs_t *o = dc_featbatch_user_first(b, i); o;
             o = dc_featbatch_user_next(b, o))
            n++;
    }
    assert_int_equal(n, 13);
    assert_int_equal(a->n_users, 13);

    dc_featbatch_reset(b);
    assert_int_equal(dc_featbatch_skus(b), 0);
    assert_int_equal(dc_featbatch_events(b), 0);
    dc_featbatch_destroy(b);
}

/* Events that go back and forth in time (partitions interleave) land in the
 * slot they belong to, one delta per window and slot, and a reset batch
 * starts empty. */
static void test_batch_slots_out_of_order(void **state)
{
    dc_limits_t lim = limits(NULL);
    dc_featbatch_t *b = dc_featbatch_new(&lim);
    const int64_t ts[] = {T0 + 2 * MIN, T0 + 9 * MIN, T0 + 2 * MIN, T0 + 5 * MIN, T0 + 9 * MIN,
                          T0 + 2 * MIN};
    (void)state;

    for (size_t i = 0; i < DC_ARRAY_SIZE(ts); i++) {
        dc_fevent_t e = ev("A", "u1", ts[i], DC_FEV_VIEW, 0, 1.0);
        assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
    }
    const dc_sku_delta_t *a = find_sku(b, "A");
    int64_t views[3] = {0}, deltas_1h = 0;
    for (const dc_slot_delta_t *sd = dc_featbatch_slot_first(b, 0); sd;
         sd = dc_featbatch_slot_next(b, sd)) {
        if (sd->window != 1)
            continue;
        deltas_1h++;
        /* 1h window: slots of 5 minutes, T0 is a multiple of them. */
        views[(sd->slot * 5 * MIN - T0) / (5 * MIN)] += sd->views;
    }
    assert_int_equal(deltas_1h, 2);
    assert_int_equal(views[0], 3); /* 0:02 three times */
    assert_int_equal(views[1], 3); /* 0:05 and 0:09 twice */
    assert_int_equal(window_sum(b, a, 1, 0), 6);
    /* 5m window (slots of 25s): 0:02 is more than 12 slots before 0:09. */
    assert_int_equal(window_sum(b, a, 0, 0), 3);
    assert_int_equal(a->top_slot[1] * 5 * MIN, T0 + 5 * MIN);
    /* The newest event time, not the last event's. */
    assert_int_equal(a->newest_ts, T0 + 9 * MIN);

    dc_featbatch_reset(b);
    assert_int_equal(dc_featbatch_skus(b), 0);
    assert_null(dc_featbatch_slot_first(b, 0));
    dc_featbatch_destroy(b);
}

static void test_batch_late_and_full(void **state)
{
    dc_limits_t lim = limits(NULL);
    dc_featbatch_t *b = dc_featbatch_new(&lim);
    dc_fevent_t e;
    int late = 0;
    (void)state;

    /* A repeated user within one finest slot is observed once. */
    e = ev("A", "u1", T0, DC_FEV_VIEW, 0, 1);
    assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
    assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
    assert_int_equal(find_sku(b, "A")->n_users, 1);

    /* Bucket already closed: windows yes, bucket no. */
    dc_featbatch_reset(b);
    assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
    e = ev("A", "u1", T0 + 5 * MIN, DC_FEV_PLACED, 2, 1);
    assert_int_equal(dc_featbatch_add(b, &e, T0 + HOUR, &late), 0);
    assert_int_equal(late, 1);
    const dc_sku_delta_t *a = find_sku(b, "A");
    size_t n;
    assert_int_equal(find_bucket(b, "A", T0, &n)->units, 0);
    assert_int_equal(find_bucket(b, "A", T0, &n)->views, 1);
    assert_int_equal(window_sum(b, a, 1, 2), 2);

    /* One SKU may touch any number of buckets in one batch, in any order:
     * 40 hours, the odd ones first. */
    dc_featbatch_reset(b);
    for (int i = 0; i < 2; i++) {
        e = ev("A", "u1", T0, DC_FEV_VIEW, 0, 1);
        assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
    }
    for (int i = 0; i < 80; i++) {
        int hour = i < 40 ? 2 * (i % 20) + 1 : 2 * (i % 20) + 2;
        e = ev("A", "", T0 + hour * HOUR + i, DC_FEV_VIEW, 0, 1);
        assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
    }
    assert_int_equal(dc_featbatch_events(b), 2 + 80);
    assert_int_equal(find_bucket(b, "A", T0, &n)->views, 2);
    assert_int_equal(n, 41);
    for (int hour = 1; hour <= 40; hour++)
        assert_int_equal(find_bucket(b, "A", T0 + hour * HOUR, &n)->views, 2);

    /* Many SKUs: the index grows and every SKU stays findable. */
    char sku[16];
    dc_featbatch_reset(b);
    for (int i = 0; i < 5000; i++) {
        snprintf(sku, sizeof(sku), "%05d", i);
        e = ev(sku, "u", T0, DC_FEV_VIEW, 0, 1);
        assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
    }
    assert_int_equal(dc_featbatch_skus(b), 5000);
    assert_non_null(find_sku(b, "04999"));
    assert_int_equal(find_bucket(b, "00042", T0, &n)->views, 1);
    dc_featbatch_destroy(b);
    dc_featbatch_destroy(NULL);
}

/* A batch reserved up front holds what one that grew holds, past its
 * reservation too, and a reset keeps the room for the next batch. */
static void test_batch_reserved(void **state)
{
    dc_limits_t lim = limits(NULL);
    dc_featbatch_t *grown = dc_featbatch_new(&lim), *reserved = dc_featbatch_new(&lim);
    char sku[16], user[16];
    size_t n;
    (void)state;

    assert_int_equal(dc_featbatch_reserve(reserved, 1000), 0);
    for (int round = 0; round < 2; round++) {
        dc_featbatch_reset(grown);
        dc_featbatch_reset(reserved);
        for (int i = 0; i < 3000; i++) { /* 3x the reservation, 1500 SKUs */
            snprintf(sku, sizeof(sku), "S%d", i % 1500);
            snprintf(user, sizeof(user), "u%d", i % 7);
            dc_fevent_t e = ev(sku, user, T0 + (i % 5) * HOUR + i, i % 3 ? DC_FEV_VIEW
                                                                          : DC_FEV_PLACED,
                               i % 3 ? 0 : 1 + i % 4, 2.5);
            assert_int_equal(dc_featbatch_add(grown, &e, INT64_MIN, NULL), 0);
            assert_int_equal(dc_featbatch_add(reserved, &e, INT64_MIN, NULL), 0);
        }
        assert_int_equal(dc_featbatch_skus(reserved), 1500);
        assert_int_equal(dc_featbatch_events(reserved), 3000);
        for (int i = 0; i < 1500; i++) {
            snprintf(sku, sizeof(sku), "S%d", i);
            const dc_sku_delta_t *g = find_sku(grown, sku), *r = find_sku(reserved, sku);
            assert_non_null(r);
            assert_int_equal(r->n_users, g->n_users);
            for (size_t w = 0; w < lim.n_windows; w++)
                for (size_t f = 0; f < 5; f++)
                    assert_int_equal(window_sum(reserved, r, w, f), window_sum(grown, g, w, f));
            for (int h = 0; h < 5; h++) {
                const dc_bucket_delta_t *gb = find_bucket(grown, sku, T0 + h * HOUR, &n);
                const dc_bucket_delta_t *rb = find_bucket(reserved, sku, T0 + h * HOUR, &n);
                assert_true(!gb == !rb);
                if (rb) {
                    assert_int_equal(rb->views, gb->views);
                    assert_int_equal(rb->units, gb->units);
                    assert_int_equal(rb->revenue_e4, gb->revenue_e4);
                }
            }
        }
    }
    dc_featbatch_destroy(grown);
    dc_featbatch_destroy(reserved);
}

/* What the iterators of a grouped batch give for SKU sku: every slot
 * delta's slot, window and counters, every bucket delta's start and
 * counters, every observation's time and user, in iteration order. */
typedef struct {
    int64_t v[64 * 1024];
    size_t n;
} walk_t;

static void walk_sku(const dc_featbatch_t *b, const char *sku, walk_t *out)
{
    size_t i = 0;

    while (i < dc_featbatch_skus(b) && strcmp(dc_featbatch_sku(b, i)->sku, sku))
        i++;
    assert_true(i < dc_featbatch_skus(b));
    out->n = 0;
#define PUT(x) (assert_true(out->n < 64 * 1024), out->v[out->n++] = (int64_t)(x))
    for (const dc_slot_delta_t *s = dc_featbatch_slot_first(b, i); s;
         s = dc_featbatch_slot_next(b, s)) {
        PUT(s->slot), PUT(s->window), PUT(s->views), PUT(s->carts), PUT(s->units);
        PUT(s->orders), PUT(s->revenue_e4), PUT(s->sku == i);
    }
    PUT(-2);
    for (const dc_bucket_delta_t *d = dc_featbatch_bucket_first(b, i); d;
         d = dc_featbatch_bucket_next(b, d)) {
        PUT(d->start), PUT(d->units), PUT(d->cancelled), PUT(d->views), PUT(d->carts);
        PUT(d->orders), PUT(d->revenue_e4), PUT(d->events), PUT(d->price_sum_e4);
        PUT(d->sku == i);
    }
    PUT(-3);
    for (const dc_user_obs_t *o = dc_featbatch_user_first(b, i); o;
         o = dc_featbatch_user_next(b, o))
        PUT(o->ts_ms), PUT(o->user_hash), PUT(o->sku == i);
#undef PUT
}

/* Each of mixed_event()'s 40 SKUs has the same deltas in batch b as in
 * batch a (walked into want and got), more than min_n values of them when
 * min_n > 0. */
static void same_skus(const dc_featbatch_t *a, const dc_featbatch_t *b, size_t min_n,
                      walk_t *want, walk_t *got)
{
    char sku[16];

    for (int k = 0; k < 40; k++) {
        snprintf(sku, sizeof(sku), "S%d", k);
        walk_sku(a, sku, want);
        walk_sku(b, sku, got);
        if (min_n)
            assert_true(want->n > min_n);
        assert_int_equal(got->n, want->n);
        assert_memory_equal(got->v, want->v, want->n * sizeof(want->v[0]));
    }
}

/* Event i of round round of test_batch_grouped: 40 SKUs, interleaved, over
 * 6 hours and back (slots of every window, several buckets each), 9 users,
 * some cancellations. */
static dc_fevent_t mixed_event(int i, int round, char *sku, char *user)
{
    snprintf(sku, 16, "S%d", (i * 7 + round) % 40);
    snprintf(user, 16, "u%d", i % 9);
    dc_fev_kind_t kind = i % 5 == 0 ? DC_FEV_PLACED : i % 11 == 0 ? DC_FEV_CANCEL : DC_FEV_VIEW;
    return ev(sku, user, T0 + (i * 7919 % 6000) * 3600, kind, kind == DC_FEV_VIEW ? 0 : 1 + i % 3,
              1.25);
}

/* Grouping works a SKU's deltas out of its own events in the order they
 * came, whatever other SKUs' events came between them (partitions
 * interleave), and lays them side by side; the batch then refuses more
 * events until it is reset, and grouping again changes nothing. */
static void test_batch_grouped(void **state)
{
    dc_limits_t lim = limits(NULL);
    dc_featbatch_t *mixed = dc_featbatch_new(&lim), *apart = dc_featbatch_new(&lim);
    static walk_t want, got;
    char sku[16], user[16];
    (void)state;

    for (int round = 0; round < 2; round++) {
        dc_featbatch_reset(mixed);
        dc_featbatch_reset(apart);
        for (int i = 0; i < 2000; i++) {
            dc_fevent_t e = mixed_event(i, round, sku, user);
            assert_int_equal(dc_featbatch_add(mixed, &e, INT64_MIN, NULL), 0);
        }
        /* The same events, one SKU's after another's. */
        for (int k = 0; k < 40; k++)
            for (int i = 0; i < 2000; i++) {
                dc_fevent_t e = mixed_event(i, round, sku, user);
                if (atoi(sku + 1) != k)
                    continue;
                assert_int_equal(dc_featbatch_add(apart, &e, INT64_MIN, NULL), 0);
            }
        assert_int_equal(dc_featbatch_group(mixed), 0);
        assert_int_equal(dc_featbatch_group(apart), 0);
        same_skus(apart, mixed, 3 + 3 * 8, &want, &got);
        /* Side by side: each next delta of a SKU is the one after it. */
        for (size_t i = 0; i < dc_featbatch_skus(mixed); i++) {
            for (const dc_slot_delta_t *s = dc_featbatch_slot_first(mixed, i);
                 s && dc_featbatch_slot_next(mixed, s); s = dc_featbatch_slot_next(mixed, s))
                assert_ptr_equal(dc_featbatch_slot_next(mixed, s), s + 1);
            for (const dc_bucket_delta_t *d = dc_featbatch_bucket_first(mixed, i);
                 d && dc_featbatch_bucket_next(mixed, d); d = dc_featbatch_bucket_next(mixed, d))
                assert_ptr_equal(dc_featbatch_bucket_next(mixed, d), d + 1);
            for (const dc_user_obs_t *o = dc_featbatch_user_first(mixed, i);
                 o && dc_featbatch_user_next(mixed, o); o = dc_featbatch_user_next(mixed, o))
                assert_ptr_equal(dc_featbatch_user_next(mixed, o), o + 1);
        }
        dc_fevent_t more = ev("S1", "u1", T0, DC_FEV_VIEW, 0, 1.0);
        assert_int_equal(dc_featbatch_add(mixed, &more, INT64_MIN, NULL), DC_ERR_INVAL);
        assert_int_equal(dc_featbatch_group(mixed), 0);
        walk_sku(mixed, "S39", &got); /* want holds S39's, the last same_skus() walked */
        assert_memory_equal(got.v, want.v, want.n * sizeof(want.v[0]));
    }
    /* An empty batch (a flush with nothing read) groups as it is. */
    dc_featbatch_reset(mixed);
    assert_int_equal(dc_featbatch_group(mixed), 0);
    assert_int_equal(dc_featbatch_skus(mixed), 0);
    dc_fevent_t late = ev("S1", "u1", T0, DC_FEV_VIEW, 0, 1.0);
    assert_int_equal(dc_featbatch_add(mixed, &late, INT64_MIN, NULL), DC_ERR_INVAL);
    dc_featbatch_destroy(mixed);
    dc_featbatch_destroy(apart);
}

/* SKUs whose names share their first bytes, up to the longest a SKU may
 * be, and differ only after them or only in length, are each their own
 * delta, found again by every later event of theirs (added interleaved,
 * twice over, so that each lookup after the first finds the SKU). */
static void test_batch_similar_names(void **state)
{
    dc_limits_t lim = limits(NULL);
    dc_featbatch_t *b = dc_featbatch_new(&lim);
    char names[8][DC_SKU_MAX];
    const size_t lens[8] = {14, 15, 16, 16, 17, DC_SKU_MAX - 1, DC_SKU_MAX - 1, 1};
    (void)state;

    assert_non_null(b);
    for (size_t k = 0; k < 8; k++) {
        for (size_t i = 0; i < lens[k]; i++)
            names[k][i] = (char)('A' + i % 26);
        names[k][lens[k]] = '\0';
    }
    names[3][15] = 'z';            /* 16 bytes like names[2], the last one differs */
    names[6][DC_SKU_MAX - 2] = 'z'; /* the longest, differing in the last byte only */
    for (int round = 0; round < 2; round++)
        for (size_t k = 0; k < 8; k++)
            for (size_t n = 0; n <= k; n++) { /* SKU k gets k + 1 views a round */
                dc_fevent_t e = ev(names[k], "u1", T0 + (int64_t)n * MIN, DC_FEV_VIEW, 0, 1.0);
                assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
            }
    /* A name too long to keep whole is refused, not cut short into the
     * longest one's, whose first DC_SKU_MAX - 1 bytes it shares. */
    char too_long[DC_SKU_MAX + 1];
    memcpy(too_long, names[6], DC_SKU_MAX - 1);
    too_long[DC_SKU_MAX - 1] = 'A', too_long[DC_SKU_MAX] = '\0';
    dc_fevent_t e = ev(too_long, "u1", T0, DC_FEV_VIEW, 0, 1.0);
    assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), DC_ERR_INVAL);
    assert_int_equal(dc_featbatch_events(b), 2 * 36);
    assert_int_equal(dc_featbatch_skus(b), 8);
    for (size_t k = 0; k < 8; k++) {
        const dc_sku_delta_t *d = find_sku(b, names[k]);
        assert_non_null(d);
        assert_int_equal(window_sum(b, d, 1, 0), 2 * (int64_t)(k + 1));
    }
    dc_featbatch_destroy(b);
}

/* Taking a batch's events moves them whole: the taker groups them as the
 * batch that was filled would have, and the filled one is empty and takes
 * events again (on its new, empty arrays). A taker that holds events, or a
 * grouped batch on either side, is refused and left as it was. */
static void test_batch_take(void **state)
{
    dc_limits_t lim = limits(NULL);
    dc_featbatch_t *filling = dc_featbatch_new(&lim), *job = dc_featbatch_new(&lim),
                   *direct = dc_featbatch_new(&lim);
    static walk_t want, got;
    char sku[16], user[16];
    (void)state;

    for (int round = 0; round < 3; round++) {
        dc_featbatch_reset(direct);
        for (int i = 0; i < 2000; i++) {
            dc_fevent_t e = mixed_event(i, round, sku, user);
            assert_int_equal(dc_featbatch_add(filling, &e, INT64_MIN, NULL), 0);
            assert_int_equal(dc_featbatch_add(direct, &e, INT64_MIN, NULL), 0);
        }
        if (round) /* the last round's events, grouped: refused */
            assert_int_equal(dc_featbatch_take(job, filling), DC_ERR_INVAL);
        assert_int_equal(dc_featbatch_events(filling), 2000);
        dc_featbatch_reset(job);
        assert_int_equal(dc_featbatch_take(job, filling), 0);
        assert_int_equal(dc_featbatch_events(filling), 0);
        assert_int_equal(dc_featbatch_skus(filling), 0);
        assert_int_equal(dc_featbatch_events(job), 2000);
        assert_int_equal(dc_featbatch_skus(job), dc_featbatch_skus(direct));
        assert_int_equal(dc_featbatch_group(job), 0);
        assert_int_equal(dc_featbatch_group(direct), 0);
        same_skus(direct, job, 0, &want, &got);
    }
    /* A taker with events of its own; a grouped giver. */
    dc_featbatch_reset(job);
    dc_fevent_t one = ev("S1", "u1", T0, DC_FEV_VIEW, 0, 1.0);
    assert_int_equal(dc_featbatch_add(job, &one, INT64_MIN, NULL), 0);
    assert_int_equal(dc_featbatch_add(filling, &one, INT64_MIN, NULL), 0);
    assert_int_equal(dc_featbatch_take(job, filling), DC_ERR_INVAL);
    assert_int_equal(dc_featbatch_events(job), 1);
    assert_int_equal(dc_featbatch_events(filling), 1);
    dc_featbatch_reset(job);
    assert_int_equal(dc_featbatch_group(filling), 0);
    assert_int_equal(dc_featbatch_take(job, filling), DC_ERR_INVAL);
    assert_int_equal(dc_featbatch_events(job), 0);
    dc_featbatch_destroy(filling);
    dc_featbatch_destroy(job);
    dc_featbatch_destroy(direct);
}

/* A window slot as a record holds it (features/values.lua). */
typedef struct {
    int64_t f[6]; /* slot, views, carts, units, orders, revenue_e4 */
    const uint8_t *sketch;
    size_t sketch_len;
} rec_slot_t;

/* Walks record r (len bytes) the way values.lua documents it and returns
 * the SKU's newest event time it keeps. */
static int64_t rec_seen(const uint8_t *r)
{
    size_t off = 1;
    return (int64_t)test_uvar(r, &off);
}

/* Walks record r (len bytes) the way values.lua documents it and returns
 * the number of slots of window w, filling out[] with them; -1 if the bytes
 * do not add up. */
static int rec_slots(const uint8_t *r, size_t len, size_t w, rec_slot_t *out)
{
    size_t off = 1;
    int found = -1;

    (void)test_uvar(r, &off); /* seen */

    for (size_t k = 0; k < r[0]; k++) {
        size_t n = test_uvar(r, &off);
        for (size_t i = 0; i < n; i++) {
            size_t ilen = test_uvar(r, &off), at = off;
            if (off + ilen > len)
                return -1;
            if (k == w) {
                for (int j = 0; j < 6; j++)
                    out[i].f[j] = (int64_t)test_uvar(r, &at);
                out[i].sketch = r + at;
                out[i].sketch_len = off + ilen - at;
            }
            off += ilen;
        }
        if (k == w)
            found = (int)n;
    }
    return off == len ? found : -1;
}

/* Merges batch b (its SKU 0) into record cur, into out (emptied first). */
static int merge(dc_buf_t *out, const dc_buf_t *cur, dc_featbatch_t *b, dc_value_scratch_t *sc)
{
    dc_value_logs_t logs = {0};
    int64_t late = 0;
    int err;

    out->len = 0;
    assert_int_equal(dc_featbatch_group(b), 0);
    err = dc_value_merge_sku(out, cur ? cur->data : NULL, cur ? cur->len : 0, b, 0, INT64_MIN,
                             &logs, &late, sc);
    dc_value_logs_free(&logs);
    return err;
}

static void test_values_record(void **state)
{
    dc_limits_t lim = limits("5m,1h");
    dc_featbatch_t *b = dc_featbatch_new(&lim);
    dc_value_scratch_t sc = {0};
    dc_buf_t r1 = {0}, r2 = {0};
    rec_slot_t s[12];
    char user[16];
    dc_fevent_t e;
    (void)state;

    /* A new record: 3 views by u1, u2, u1 and a line of 2 units at 1.25 in
     * the 5-minute slot of T0 (slot width 5 min / 12 = 25 s). */
    e = ev("A", "u1", T0, DC_FEV_VIEW, 0, 0);
    assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
    e = ev("A", "u2", T0 + 1000, DC_FEV_VIEW, 0, 0);
    assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
    e = ev("A", "u1", T0 + 2000, DC_FEV_VIEW, 0, 0);
    assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
    e = ev("A", "u3", T0 + 3000, DC_FEV_PLACED, 2, 1.25);
    assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
    assert_int_equal(merge(&r1, NULL, b, &sc), DC_OK);
    assert_int_equal(r1.data[0], 2);
    assert_int_equal(rec_seen(r1.data), T0 + 3000);
    assert_true(r1.len < 2 * (1 + 6 + 1 + 6 * 4 + 1 + 3 * 4)); /* varints: a few bytes a number */
    assert_int_equal(rec_slots(r1.data, r1.len, 0, s), 1);
    assert_int_equal(s[0].f[0], T0 / 25000);
    assert_int_equal(s[0].f[1], 3);
    assert_int_equal(s[0].f[3], 2);
    assert_int_equal(s[0].f[4], 1);
    assert_int_equal(s[0].f[5], 25000);
    assert_int_equal(s[0].sketch[0], 'E');
    assert_int_equal(s[0].sketch_len, 1 + 3 * 4); /* u1, u2, u3 */
    assert_int_equal(rec_slots(r1.data, r1.len, 1, s), 1);
    assert_int_equal(s[0].f[0], T0 / 300000);

    /* The same slot again: counts add, a user already there counts once;
     * a new slot comes after it. */
    dc_featbatch_reset(b);
    e = ev("A", "u2", T0 + 4000, DC_FEV_CART, 0, 0);
    assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
    e = ev("A", "u4", T0 + 30000, DC_FEV_VIEW, 0, 0);
    assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
    assert_int_equal(merge(&r2, &r1, b, &sc), DC_OK);
    assert_int_equal(rec_seen(r2.data), T0 + 30000);
    assert_int_equal(rec_slots(r2.data, r2.len, 0, s), 2);
    assert_int_equal(s[0].f[1], 3);
    assert_int_equal(s[0].f[2], 1);
    assert_int_equal(s[0].sketch_len, 1 + 3 * 4);
    assert_int_equal(s[1].f[0], T0 / 25000 + 1);
    assert_int_equal(s[1].f[1], 1);
    assert_int_equal(rec_slots(r2.data, r2.len, 1, s), 1);
    assert_int_equal(s[0].f[1], 4);
    assert_int_equal(s[0].sketch_len, 1 + 4 * 4);

    /* 12 slots later the first two have left the 5-minute window; the
     * 1-hour window still holds its slot. */
    dc_featbatch_reset(b);
    e = ev("A", "u1", T0 + 13 * 25000, DC_FEV_VIEW, 0, 0);
    assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
    assert_int_equal(merge(&r1, &r2, b, &sc), DC_OK);
    assert_int_equal(rec_slots(r1.data, r1.len, 0, s), 1);
    assert_int_equal(s[0].f[0], T0 / 25000 + 13);
    assert_int_equal(rec_slots(r1.data, r1.len, 1, s), 2);

    /* A slot already out of the window when its event comes adds nothing;
     * the newest event time stays the newest. */
    dc_featbatch_reset(b);
    e = ev("A", "u9", T0, DC_FEV_VIEW, 0, 0);
    assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
    assert_int_equal(merge(&r2, &r1, b, &sc), DC_OK);
    assert_int_equal(rec_seen(r2.data), T0 + 13 * 25000);
    assert_int_equal(rec_slots(r2.data, r2.len, 0, s), 1);
    assert_int_equal(s[0].f[0], T0 / 25000 + 13);
    assert_int_equal(rec_slots(r2.data, r2.len, 1, s), 2);
    assert_int_equal(s[0].f[1], 5);

    /* Past 256 users a slot's sketch turns into 1024 registers, each at
     * least the rank of every user's hash that picks it (values.lua). */
    dc_featbatch_reset(b);
    for (int i = 0; i < 300; i++) {
        snprintf(user, sizeof(user), "v%d", i);
        e = ev("A", user, T0 + 20 * 25000, DC_FEV_VIEW, 0, 0);
        assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
    }
    assert_int_equal(merge(&r1, &r2, b, &sc), DC_OK);
    assert_int_equal(rec_slots(r1.data, r1.len, 0, s), 2);
    s[0] = s[1];
    assert_int_equal(s[0].sketch[0], 'H');
    assert_int_equal(s[0].sketch_len, 1 + 1024);
    for (int i = 0; i < 300; i++) {
        snprintf(user, sizeof(user), "v%d", i);
        uint32_t h = dc_user_hash(user), low = h & 0x3fffff;
        int rank = low ? 22 - (31 - __builtin_clz(low)) : 23;
        assert_true(s[0].sketch[1 + (h >> 22)] >= rank);
    }

    /* Bytes of another format are refused, and nothing is appended. */
    dc_buf_t bad = {0};
    assert_int_equal(dc_buf_append(&bad, "\x01\x05", 2), DC_OK);
    assert_int_equal(merge(&r2, &bad, b, &sc), DC_ERR_MALFORMED);
    assert_int_equal(r2.len, 0);
    r1.data[r1.len - 1025] = 'X'; /* the tag of the last slot's sketch (1h window) */
    assert_int_equal(merge(&r2, &r1, b, &sc), DC_ERR_MALFORMED);
    assert_int_equal(r2.len, 0);
    dc_buf_free(&bad);

    /* Users who come back (not back to back, so the batch keeps each
     * visit), 60 visits by 20 users: each window's slot holds each user once
     * in its exact set; 20 users more and the set has all 40. */
    dc_buf_t once = {0}, again = {0};
    for (int round = 0; round < 2; round++) {
        dc_featbatch_reset(b);
        for (int i = 0; i < 60; i++) {
            snprintf(user, sizeof(user), "w%d", 20 * round + i % 20);
            e = ev("B", user, T0 + i, DC_FEV_VIEW, 0, 0);
            assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
        }
        assert_int_equal(merge(round ? &again : &once, round ? &once : NULL, b, &sc), DC_OK);
        const dc_buf_t *rec = round ? &again : &once;
        for (size_t w = 0; w < lim.n_windows; w++) {
            assert_int_equal(rec_slots(rec->data, rec->len, w, s), 1);
            assert_int_equal(s[0].sketch[0], 'E');
            assert_int_equal(s[0].sketch_len, 1 + 4 * 20 * (size_t)(round + 1));
        }
    }
    dc_buf_free(&once);
    dc_buf_free(&again);

    dc_buf_free(&r1);
    dc_buf_free(&r2);
    dc_value_scratch_free(&sc);
    dc_featbatch_destroy(b);
}

/* A SKU's events come as runs in time order, one per partition that
 * carries them, one run after another: every 25-second slot of the
 * 5-minute window holds exactly the users of its own events, and the hour's
 * one slot all of them. Three runs, then 90 events in scrambled order (a
 * run each, mostly). */
static void test_values_users_out_of_order(void **state)
{
    dc_limits_t lim = limits("5m,1h");
    dc_featbatch_t *b = dc_featbatch_new(&lim);
    dc_value_scratch_t sc = {0};
    dc_buf_t rec = {0};
    rec_slot_t s[12];
    char user[16];
    (void)state;

    for (int round = 0; round < 2; round++) {
        int n = round ? 90 : 45, per_slot[12] = {0};
        dc_featbatch_reset(b);
        for (int i = 0; i < n; i++) {
            /* Event i's time, in 5-second steps within 225 seconds: round 0
             * adds steps 0, 3, 6, ..., then 1, 4, 7, ..., then 2, 5, 8, ...;
             * round 1 steps (i * 37) mod 45, two events a step. */
            int step = round ? (i * 37) % 45 : (i % 15) * 3 + i / 15;
            snprintf(user, sizeof(user), "x%d", i);
            dc_fevent_t e = ev("C", user, T0 + step * 5000, DC_FEV_VIEW, 0, 0);
            assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
            per_slot[step * 5000 / 25000]++;
        }
        assert_int_equal(merge(&rec, NULL, b, &sc), DC_OK);
        assert_int_equal(rec_slots(rec.data, rec.len, 0, s), 9);
        for (int k = 0; k < 9; k++) {
            assert_int_equal(s[k].f[0], T0 / 25000 + k);
            assert_int_equal(s[k].f[1], per_slot[k]);
            assert_int_equal(s[k].sketch[0], 'E');
            assert_int_equal(s[k].sketch_len, 1 + 4 * (size_t)per_slot[k]);
        }
        assert_int_equal(rec_slots(rec.data, rec.len, 1, s), 1);
        assert_int_equal(s[0].sketch_len, 1 + 4 * (size_t)n);
    }
    dc_buf_free(&rec);
    dc_value_scratch_free(&sc);
    dc_featbatch_destroy(b);
}

static void test_values_log(void **state)
{
    dc_limits_t lim = limits(NULL);
    dc_featbatch_t *b = dc_featbatch_new(&lim);
    dc_value_scratch_t sc = {0};
    dc_value_logs_t logs = {0};
    dc_buf_t log = {0}, rec = {0};
    dc_log_row_t *rows;
    int64_t late = 0;
    size_t n;
    char user[16];
    dc_fevent_t e;
    (void)state;

    /* Two flushes of bucket T0: B, then A and B again; each appends its
     * entries of the bucket to its log, as APPEND does in the store. */
    for (int flush = 0; flush < 2; flush++) {
        dc_featbatch_reset(b);
        for (int i = 0; i < 3; i++) {
            snprintf(user, sizeof(user), "u%d", i + flush);
            e = ev("B", user, T0 + i * MIN, DC_FEV_PLACED, 2, 0.5);
            assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
        }
        e = ev("B", "u0", T0, DC_FEV_CANCEL, 1, 0.5);
        assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
        if (flush) {
            for (int i = 0; i < 300; i++) {
                snprintf(user, sizeof(user), "w%d", i);
                e = ev("A", user, T0 + MIN, DC_FEV_VIEW, 0, 4.0);
                assert_int_equal(dc_featbatch_add(b, &e, INT64_MIN, NULL), 0);
            }
        }
        dc_value_logs_clear(&logs);
        /* Deltas exist once the batch is grouped, as a flush does first. */
        rec.len = 0;
        assert_int_equal(dc_value_merge_sku(&rec, NULL, 0, b, 0, T0, &logs, &late, &sc),
                         DC_ERR_INVAL);
        assert_int_equal(rec.len, 0);
        assert_int_equal(dc_featbatch_group(b), 0);
        for (size_t i = 0; i < dc_featbatch_skus(b); i++) {
            rec.len = 0;
            assert_int_equal(
                dc_value_merge_sku(&rec, NULL, 0, b, i, T0, &logs, &late, &sc), DC_OK);
        }
        assert_int_equal(logs.n, 1);
        assert_int_equal(logs.logs[0].start, T0);
        assert_int_equal(dc_buf_append(&log, logs.logs[0].log.data, logs.logs[0].log.len), 0);
    }
    assert_int_equal(late, 0);
    assert_int_equal(dc_value_read_log(log.data, log.len, &sc, &rows, &n), DC_OK);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].sku_len, 1);
    assert_memory_equal(rows[0].sku, "A", 1);
    assert_int_equal(rows[0].d.views, 300);
    assert_int_equal(rows[0].d.events, 300);
    assert_int_equal(rows[0].d.price_n, 300);
    assert_int_equal(rows[0].d.price_sum_e4, 300 * 40000);
    assert_true(fabs(rows[0].users - 300) <= 30); /* HyperLogLog, 3.3 % standard error */
    assert_memory_equal(rows[1].sku, "B", 1);
    assert_int_equal(rows[1].d.units, 12);     /* gross: the cancellation is apart */
    assert_int_equal(rows[1].d.cancelled, 2);
    assert_int_equal(rows[1].d.orders, 6);
    assert_int_equal(rows[1].d.revenue_e4, 6 * 10000);
    assert_int_equal(rows[1].d.events, 8);
    assert_true(rows[1].users == 4); /* u0 .. u3, exact */

    /* Compacted, the log holds one entry per SKU, sums to the same rows
     * (the users of both sketch forms exactly so), and compacts no
     * further. */
    dc_log_row_t want[2];
    dc_buf_t compact = {0}, again = {0};
    memcpy(want, rows, sizeof(want));
    assert_int_equal(dc_value_compact_log(log.data, log.len, &sc, &compact), DC_OK);
    assert_true(compact.len < log.len);
    assert_int_equal(dc_value_read_log(compact.data, compact.len, &sc, &rows, &n), DC_OK);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(rows[i].sku_len, 1);
        assert_memory_equal(rows[i].sku, want[i].sku, 1);
        assert_memory_equal(&rows[i].d, &want[i].d, sizeof(want[i].d));
        assert_true(rows[i].users == want[i].users);
    }
    assert_int_equal(dc_value_compact_log(compact.data, compact.len, &sc, &again), DC_OK);
    assert_int_equal(again.len, compact.len);
    assert_memory_equal(again.data, compact.data, compact.len);
    assert_int_equal(dc_value_compact_log(log.data, log.len - 1, &sc, &again),
                     DC_ERR_MALFORMED);
    dc_buf_free(&compact);
    dc_buf_free(&again);

    /* Once the bucket has closed, its deltas stay out of the logs and
     * count as late; the windows still take them. */
    dc_value_logs_clear(&logs);
    rec.len = 0;
    assert_int_equal(
        dc_value_merge_sku(&rec, NULL, 0, b, 0, T0 + HOUR, &logs, &late, &sc), DC_OK);
    assert_int_equal(logs.n, 0);
    assert_int_equal(late, 4);
    assert_true(rec.len > 0);

    /* A log cut short or of another format is refused. */
    assert_int_equal(dc_value_read_log(log.data, log.len - 1, &sc, &rows, &n), DC_ERR_MALFORMED);
    assert_int_equal(dc_value_read_log("\x00", 1, &sc, &rows, &n), DC_ERR_MALFORMED);

    dc_buf_free(&log);
    dc_buf_free(&rec);
    dc_value_logs_free(&logs);
    dc_value_scratch_free(&sc);
    dc_featbatch_destroy(b);
}

/* The listed SKUs' string (values.lua): each SKU with its end, 0 for none,
 * read back as written, bytes as documented; anything else is malformed,
 * and a record's newest event time is read from its second byte on. */
static void test_values_listed(void **state)
{
    static const uint8_t want[] = {1, 'A', 0, 2, 'B', 'C', 0x80, 0x01};
    char long_sku[DC_SKU_MAX];
    dc_buf_t out = {0}, keys = {0};
    const dc_name_key_t *k;
    size_t n;
    int64_t seen;
    (void)state;

    assert_int_equal(dc_value_put_listed(&out, "A", 1, INT64_MIN), DC_OK);
    assert_int_equal(dc_value_put_listed(&out, "BC", 2, 128), DC_OK);
    assert_int_equal(out.len, sizeof(want));
    assert_memory_equal(out.data, want, sizeof(want));
    memset(long_sku, 'x', sizeof(long_sku));
    assert_int_equal(dc_value_put_listed(&out, long_sku, DC_SKU_MAX, 1), DC_ERR_INVAL);
    assert_int_equal(dc_value_put_listed(&out, "", 0, 1), DC_ERR_INVAL);
    assert_int_equal(out.len, sizeof(want));

    assert_int_equal(dc_value_read_listed(out.data, out.len, &keys, &n), DC_OK);
    assert_int_equal(n, 2);
    k = (const dc_name_key_t *)(void *)keys.data;
    assert_true(k[0].len == 1 && !memcmp(k[0].s, "A", 1) && k[0].value == INT64_MIN);
    assert_true(k[1].len == 2 && !memcmp(k[1].s, "BC", 2) && k[1].value == 128);
    /* Cut short in the name, in the varint; a name of length 0. */
    keys.len = 0;
    assert_int_equal(dc_value_read_listed(want, 4, &keys, &n), DC_ERR_MALFORMED);
    assert_int_equal(dc_value_read_listed(want, 7, &keys, &n), DC_ERR_MALFORMED);
    assert_int_equal(dc_value_read_listed((const uint8_t[]){0, 1}, 2, &keys, &n),
                     DC_ERR_MALFORMED);
    assert_int_equal(dc_value_read_listed(NULL, 0, &keys, &n), DC_OK);
    assert_int_equal(n, 0);

    assert_int_equal(dc_value_record_seen((const uint8_t[]){4, 0x80, 0x01, 9}, 4, &seen), DC_OK);
    assert_int_equal(seen, 128);
    assert_int_equal(dc_value_record_seen((const uint8_t[]){4}, 1, &seen), DC_ERR_MALFORMED);
    assert_int_equal(dc_value_record_seen((const uint8_t[]){4, 0x80}, 2, &seen),
                     DC_ERR_MALFORMED);
    dc_buf_free(&out);
    dc_buf_free(&keys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_parts),
        cmocka_unit_test(test_batch_coalesces),
        cmocka_unit_test(test_batch_slots_out_of_order),
        cmocka_unit_test(test_batch_late_and_full),
        cmocka_unit_test(test_batch_reserved),
        cmocka_unit_test(test_batch_grouped),
        cmocka_unit_test(test_batch_take),
        cmocka_unit_test(test_batch_similar_names),
        cmocka_unit_test(test_values_record),
        cmocka_unit_test(test_values_users_out_of_order),
        cmocka_unit_test(test_values_log),
        cmocka_unit_test(test_values_listed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
