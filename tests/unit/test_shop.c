/* tests/unit/test_shop.c - the synthetic shop's statistics: exact counts,
 * event-time order, determinism, Zipf skew, daily and weekly seasonality,
 * the view -> cart -> order funnel, views leading orders, and promotions
 * lifting the orders of their SKU. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "producers/producers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HOUR_MS 3600000LL
#define SLOT_MS 300000LL /* 5-minute buckets for the lead/lag analysis */

/* Everything the statistical tests read, collected in one pass over a run
 * of about four and a half days. */
typedef struct {
    dc_shop_t *shop;
    dc_shop_stats_t stats;
    int64_t start_ms;
    size_t n_hours, n_slots;
    uint32_t n_skus;
    double *views_by_slot, *lines_by_slot; /* all SKUs */
    double views_by_hour_of_day[24];
    uint32_t *sku_views_by_hour; /* [hour * n_skus + sku] */
    uint32_t *sku_units_by_hour;
    uint64_t promo_clicks_outside_window;
    uint64_t promo_orders_tagged;
    uint64_t empty_orders;
} run_t;

static run_t run;

static uint32_t sku_index(const char *sku)
{
    /* The shop numbers its codes from 10000. */
    return (uint32_t)(atoi(sku) - 10000);
}

static int setup_run(void **state)
{
    dc_shop_params_t params;
    dc_click_t click = {0};
    dc_order_t order = {0};
    char errstr[256];
    int type;

    (void)state;
    dc_shop_params_init(&params);
    params.seed = 7;
    params.n_skus = 1000;
    params.n_events = 600000;
    run.shop = dc_shop_new(&params, errstr, sizeof(errstr));
    if (!run.shop)
        return -1;
    run.start_ms = params.start_ms;
    run.n_skus = params.n_skus;
    /* 600k events at ~5.7k an hour: 4.4 days; leave room. */
    run.n_hours = 24 * 7;
    run.n_slots = run.n_hours * 12;
    run.views_by_slot = calloc(run.n_slots, sizeof(double));
    run.lines_by_slot = calloc(run.n_slots, sizeof(double));
    run.sku_views_by_hour = calloc(run.n_hours * run.n_skus, sizeof(uint32_t));
    run.sku_units_by_hour = calloc(run.n_hours * run.n_skus, sizeof(uint32_t));
    if (!run.views_by_slot || !run.lines_by_slot || !run.sku_views_by_hour ||
        !run.sku_units_by_hour)
        return -1;

    while ((type = dc_shop_next(run.shop, &click, &order)) >= 0) {
        int64_t ts = type == DC_REC_CLICK ? click.ts_ms : order.ts_ms;
        size_t slot = (size_t)((ts - run.start_ms) / SLOT_MS), hour = slot / 12;
        if (hour >= run.n_hours)
            return -1;
        if (type == DC_REC_CLICK) {
            if (click.type == DC_CLICK_VIEW) {
                run.views_by_slot[slot]++;
                run.views_by_hour_of_day[(ts / HOUR_MS) % 24]++;
                run.sku_views_by_hour[hour * run.n_skus + sku_index(click.sku)]++;
            }
            if (click.has_promo) {
                /* A tagged click is of the promotion's SKU, inside its window. */
                int inside = 0;
                size_t n = dc_shop_promo_count(run.shop);
                for (size_t i = 0; i < n; i++) {
                    dc_shop_promo_t p;
                    dc_shop_promo(run.shop, i, &p);
                    inside |= !strcmp(p.code, click.promo) && ts >= p.start_ms && ts < p.end_ms &&
                          !strcmp(dc_shop_sku_name(run.shop, p.sku), click.sku);
                }
                run.promo_clicks_outside_window += !inside;
            }
        } else if (order.status == DC_ORDER_PLACED) {
            run.empty_orders += order.n_lines == 0;
            run.promo_orders_tagged += order.has_promo_code;
            for (size_t i = 0; i < order.n_lines; i++) {
                run.lines_by_slot[slot]++;
                run.sku_units_by_hour[hour * run.n_skus + sku_index(order.lines[i].sku)] +=
                    (uint32_t)order.lines[i].qty;
            }
        }
    }
    dc_order_clear(&order);
    if (type != DC_ERR_EOF)
        return -1;
    dc_shop_stats(run.shop, &run.stats);
    return 0;
}

static int teardown_run(void **state)
{
    (void)state;
    dc_shop_destroy(run.shop);
    free(run.views_by_slot);
    free(run.lines_by_slot);
    free(run.sku_views_by_hour);
    free(run.sku_units_by_hour);
    return 0;
}

static void test_exact_count_and_order(void **state)
{
    dc_shop_params_t params;
    dc_shop_stats_t st;
    dc_click_t click = {0};
    dc_order_t order = {0};
    char errstr[256];
    int64_t prev = 0;
    uint64_t n = 0, clicks = 0, orders = 0;
    int type;

    (void)state;
    dc_shop_params_init(&params);
    params.n_events = 12345;
    params.n_skus = 50;
    dc_shop_t *shop = dc_shop_new(&params, errstr, sizeof(errstr));
    assert_non_null(shop);
    while ((type = dc_shop_next(shop, &click, &order)) >= 0) {
        int64_t ts = type == DC_REC_CLICK ? click.ts_ms : order.ts_ms;
        assert_true(ts >= prev);
        assert_true(ts >= params.start_ms);
        prev = ts;
        n++;
        clicks += type == DC_REC_CLICK;
        orders += type == DC_REC_ORDER;
    }
    assert_int_equal(type, DC_ERR_EOF);
    assert_int_equal(dc_shop_next(shop, &click, &order), DC_ERR_EOF);
    assert_int_equal(n, 12345);
    dc_shop_stats(shop, &st);
    assert_int_equal(st.events, 12345);
    assert_int_equal(st.clicks, clicks);
    assert_int_equal(st.orders, orders);
    assert_int_equal(st.orders, st.orders_placed + st.orders_cancelled);
    assert_int_equal(st.last_ts_ms, prev);
    dc_order_clear(&order);
    dc_shop_destroy(shop);
}

/* FNV-1a over every field of every event. */
static uint64_t stream_hash(uint64_t seed, uint64_t n_events)
{
    dc_shop_params_t params;
    dc_click_t click = {0};
    dc_order_t order = {0};
    char errstr[256];
    uint64_t h = 1469598103934665603ULL;
    int type;

#define MIX(p, len)                                                                            \
    for (size_t k_ = 0; k_ < (len); k_++)                                                      \
    h = (h ^ ((const uint8_t *)(p))[k_]) * 1099511628211ULL
    dc_shop_params_init(&params);
    params.seed = seed;
    params.n_events = n_events;
    dc_shop_t *shop = dc_shop_new(&params, errstr, sizeof(errstr));
    assert_non_null(shop);
    while ((type = dc_shop_next(shop, &click, &order)) >= 0) {
        if (type == DC_REC_CLICK) {
            MIX(click.event_id, strlen(click.event_id));
            MIX(&click.ts_ms, sizeof(click.ts_ms));
            MIX(click.sku, strlen(click.sku));
            MIX(click.user_id, strlen(click.user_id));
            MIX(click.session_id, strlen(click.session_id));
            MIX(&click.type, sizeof(click.type));
            MIX(&click.price, sizeof(click.price));
            MIX(click.promo, strlen(click.promo));
        } else {
            MIX(order.order_id, strlen(order.order_id));
            MIX(&order.ts_ms, sizeof(order.ts_ms));
            MIX(&order.status, sizeof(order.status));
            for (size_t i = 0; i < order.n_lines; i++) {
                MIX(order.lines[i].sku, strlen(order.lines[i].sku));
                MIX(&order.lines[i].qty, sizeof(order.lines[i].qty));
                MIX(&order.lines[i].unit_price, sizeof(order.lines[i].unit_price));
            }
            MIX(order.promo_code, strlen(order.promo_code));
        }
    }
#undef MIX
    assert_int_equal(type, DC_ERR_EOF);
    dc_order_clear(&order);
    dc_shop_destroy(shop);
    return h;
}

static void test_deterministic(void **state)
{
    (void)state;
    uint64_t a = stream_hash(42, 30000), b = stream_hash(42, 30000), c = stream_hash(43, 30000);
    assert_true(a == b);
    assert_true(a != c);
}

static void test_bad_params(void **state)
{
    dc_shop_params_t params;
    char errstr[256] = "";

    (void)state;
    dc_shop_params_init(&params);
    params.n_skus = 0;
    assert_null(dc_shop_new(&params, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "SKUs"));
    dc_shop_params_init(&params);
    params.sessions_per_hour = NAN;
    assert_null(dc_shop_new(&params, errstr, sizeof(errstr)));
    /* Denser than the shop can hold in memory: refused up front, not an
     * out-of-memory kill halfway through the events. */
    params.sessions_per_hour = 2 * DC_SHOP_MAX_SESSIONS_PER_HOUR;
    assert_null(dc_shop_new(&params, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "sessions per hour"));
    params.sessions_per_hour = DC_SHOP_MAX_SESSIONS_PER_HOUR;
    dc_shop_t *densest = dc_shop_new(&params, errstr, sizeof(errstr));
    assert_non_null(densest);
    dc_shop_destroy(densest);
    dc_shop_params_init(&params);
    params.promos_per_day = -1;
    assert_null(dc_shop_new(&params, errstr, sizeof(errstr)));
    dc_shop_destroy(NULL);
}

/* The per-SKU counters agree with the events, and the session model gives
 * the events per session that callers size their runs with. */
static void test_counters_and_calibration(void **state)
{
    dc_shop_sku_stats_t s;
    uint64_t views = 0, carts = 0, lines = 0, units = 0;
    (void)state;
    assert_int_equal(run.stats.events, 600000);
    assert_int_equal(run.stats.clicks + run.stats.orders, run.stats.events);
    for (uint32_t i = 0; i < dc_shop_sku_count(run.shop); i++) {
        dc_shop_sku_stats(run.shop, i, &s);
        views += s.views;
        carts += s.carts;
        lines += s.order_lines;
        units += s.units;
        assert_true(s.price > 0);
    }
    assert_int_equal(views, run.stats.clicks_by_type[DC_CLICK_VIEW]);
    assert_int_equal(carts, run.stats.clicks_by_type[DC_CLICK_ADD_TO_CART]);
    assert_int_equal(lines, run.stats.order_lines);
    assert_int_equal(units, run.stats.units);
    double per_session = (double)run.stats.events / (double)run.stats.sessions;
    assert_true(fabs(per_session / dc_shop_events_per_session() - 1.0) < 0.05);
}

static void test_zipf_skew(void **state)
{
    uint64_t total = 0, top = 0, bottom_half = 0;
    dc_shop_sku_stats_t s;
    (void)state;
    for (uint32_t i = 0; i < run.n_skus; i++) {
        dc_shop_sku_stats(run.shop, i, &s);
        total += s.views;
        if (s.rank < run.n_skus / 100)
            top += s.views;
        if (s.rank >= run.n_skus / 2)
            bottom_half += s.views;
    }
    /* Zipf(1) over 1000: the top 10 hold ~39% of views, the bottom half ~9%. */
    assert_true(top > 0.30 * (double)total);
    assert_true(bottom_half < 0.15 * (double)total);
}

static void test_daily_seasonality(void **state)
{
    (void)state;
    /* 03:00-05:00 is the trough, 19:00-21:00 the evening peak. */
    double night = run.views_by_hour_of_day[3] + run.views_by_hour_of_day[4];
    double evening = run.views_by_hour_of_day[19] + run.views_by_hour_of_day[20];
    assert_true(evening > 4 * night);
}

static void test_weekly_seasonality(void **state)
{
    dc_shop_params_t params;
    dc_click_t click = {0};
    dc_order_t order = {0};
    char errstr[256];
    double by_dow[7] = {0};
    int type;

    (void)state;
    dc_shop_params_init(&params);
    params.seed = 11;
    params.sessions_per_hour = 100;
    params.n_events = 200000; /* about two weeks at this rate */
    dc_shop_t *shop = dc_shop_new(&params, errstr, sizeof(errstr));
    assert_non_null(shop);
    while ((type = dc_shop_next(shop, &click, &order)) >= 0) {
        if (type == DC_REC_CLICK && click.type == DC_CLICK_VIEW) {
            int64_t day = (click.ts_ms - params.start_ms) / (24 * HOUR_MS);
            if (day < 14)
                by_dow[day % 7]++; /* the start is a Monday */
        }
    }
    assert_int_equal(type, DC_ERR_EOF);
    /* Monday 1.10, Saturday 0.80, Sunday 1.16. */
    assert_true(by_dow[5] < 0.85 * by_dow[0]);
    assert_true(by_dow[5] < 0.85 * by_dow[6]);
    dc_order_clear(&order);
    dc_shop_destroy(shop);
}

static void test_funnel(void **state)
{
    const dc_shop_stats_t *st = &run.stats;
    uint64_t views = st->clicks_by_type[DC_CLICK_VIEW];
    uint64_t carts = st->clicks_by_type[DC_CLICK_ADD_TO_CART];
    (void)state;
    assert_true(views > carts);
    assert_true(carts > st->order_lines);
    assert_true(st->order_lines >= st->orders_placed);
    assert_true((double)carts > 0.08 * (double)views && (double)carts < 0.15 * (double)views);
    /* A few cancellations, each of an order placed earlier. */
    assert_true(st->orders_cancelled > 0);
    assert_true((double)st->orders_cancelled < 0.06 * (double)st->orders_placed);
    assert_true(st->clicks_by_type[DC_CLICK_SEARCH_CLICK] > 0);
    assert_true(st->clicks_by_type[DC_CLICK_REMOVE_FROM_CART] > 0);
    assert_true(st->clicks_by_type[DC_CLICK_WISHLIST] > 0);
    assert_int_equal(run.empty_orders, 0);
}

/* Deviation of x from its centred moving average over 2 hours, so the shared
 * daily curve does not swamp the lead of views over orders. */
static void detrend(const double *x, double *out, size_t n)
{
    const size_t half = 12;
    for (size_t i = 0; i < n; i++) {
        size_t lo = i >= half ? i - half : 0, hi = i + half < n ? i + half : n - 1;
        double s = 0;
        for (size_t j = lo; j <= hi; j++)
            s += x[j];
        out[i] = x[i] - s / (double)(hi - lo + 1);
    }
}

static void test_views_lead_orders(void **state)
{
    size_t n = (size_t)((run.stats.last_ts_ms - run.start_ms) / SLOT_MS);
    double *v = calloc(n, sizeof(double)), *o = calloc(n, sizeof(double));
    double best = -2, corr[25];
    int best_lag = 0;

    (void)state;
    assert_non_null(v);
    assert_non_null(o);
    detrend(run.views_by_slot, v, n);
    detrend(run.lines_by_slot, o, n);
    /* corr(views[t], orders[t + lag]) for lags of -60 .. +60 minutes. */
    for (int lag = -12; lag <= 12; lag++) {
        double sxy = 0, sxx = 0, syy = 0;
        for (size_t t = 12; t + 12 < n; t++) {
            sxy += v[t] * o[t + lag];
            sxx += v[t] * v[t];
            syy += o[t + lag] * o[t + lag];
        }
        corr[lag + 12] = sxy / sqrt(sxx * syy);
        if (corr[lag + 12] > best) {
            best = corr[lag + 12];
            best_lag = lag;
        }
    }
    assert_true(best_lag > 0);
    assert_true(best > 0.1);
    assert_true(best > corr[12 - best_lag] + 0.05);
    free(v);
    free(o);
}

static void test_promotion_lift(void **state)
{
    size_t n = dc_shop_promo_count(run.shop);
    size_t hours = (size_t)((run.stats.last_ts_ms - run.start_ms) / HOUR_MS);
    double units_in = 0, units_expected = 0, views_in = 0, views_expected = 0;
    int used = 0;

    (void)state;
    assert_true(n >= 2);
    assert_int_equal(run.promo_clicks_outside_window, 0);
    assert_true(run.promo_orders_tagged > 0);
    for (size_t i = 0; i < n; i++) {
        dc_shop_promo_t p;
        double u_in = 0, u_out = 0, v_in = 0, v_out = 0, all_in = 0, all_out = 0;
        dc_shop_promo(run.shop, i, &p);
        assert_true(p.end_ms - p.start_ms >= 3 * HOUR_MS && p.end_ms - p.start_ms <= 12 * HOUR_MS);
        assert_true(p.lift >= 3 && p.lift <= 8);
        if (i)
            assert_true(p.start_ms >= run.start_ms); /* and spaced apart: */
        for (size_t j = 0; j < i; j++) {
            dc_shop_promo_t q;
            dc_shop_promo(run.shop, j, &q);
            assert_true(p.start_ms >= q.end_ms);
        }
        if (p.end_ms > run.stats.last_ts_ms)
            continue;
        /* Whole hours inside the window against hours clear of it, scaled
         * by all traffic in each so the time of day cancels out. */
        for (size_t h = 0; h < hours; h++) {
            int64_t hs = run.start_ms + (int64_t)h * HOUR_MS, he = hs + HOUR_MS;
            double all = 0;
            for (uint32_t k = 0; k < run.n_skus; k++)
                all += run.sku_views_by_hour[h * run.n_skus + k];
            double u = run.sku_units_by_hour[h * run.n_skus + p.sku];
            double v = run.sku_views_by_hour[h * run.n_skus + p.sku];
            if (hs >= p.start_ms && he <= p.end_ms) {
                u_in += u, v_in += v, all_in += all;
            } else if (he <= p.start_ms || hs >= p.end_ms + HOUR_MS) {
                u_out += u, v_out += v, all_out += all;
            }
        }
        if (all_in == 0)
            continue;
        units_in += u_in;
        units_expected += u_out * all_in / all_out;
        views_in += v_in;
        views_expected += v_out * all_in / all_out;
        used++;
    }
    assert_true(used >= 2);
    /* Lifts are 3..8: orders rise by lift, views by its square root. */
    assert_true(units_in > 2.5 * units_expected);
    assert_true(views_in > 1.5 * views_expected);
}

int main(void)
{
    const struct CMUnitTest standalone[] = {
        cmocka_unit_test(test_exact_count_and_order),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_weekly_seasonality),
    };
    const struct CMUnitTest on_run[] = {
        cmocka_unit_test(test_counters_and_calibration),
        cmocka_unit_test(test_zipf_skew),
        cmocka_unit_test(test_daily_seasonality),
        cmocka_unit_test(test_funnel),
        cmocka_unit_test(test_views_lead_orders),
        cmocka_unit_test(test_promotion_lift),
    };
    int failed = cmocka_run_group_tests_name("shop", standalone, NULL, NULL);
    failed += cmocka_run_group_tests_name("shop_run", on_run, setup_run, teardown_run);
    return failed;
}
