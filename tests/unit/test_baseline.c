/* tests/unit/test_baseline.c - the seasonal quantile baseline: seasonal
 * slots, closed buckets, exact weighted quantiles, gaps, non-crossing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "inference/baseline.h"

#include <math.h>
#include <stdlib.h>

#define DAY 86400000LL
#define MONDAY 1309132800000LL /* 2011-06-27, a Monday */

static dc_baseline_params_t params_of(int64_t width, int window, double halflife)
{
    dc_baseline_params_t p = {width, window, halflife};
    return p;
}

static void test_slots(void **state)
{
    dc_baseline_season_t season;
    dc_baseline_params_t p = params_of(DAY, 10, 0);
    (void)state;
    dc_baseline_season_init(&season, &p);
    assert_int_equal(season.slots, 7);
    p.bucket_width = 3600000;
    dc_baseline_season_init(&season, &p);
    assert_int_equal(season.slots, 168);
    p.bucket_width = 300000;
    dc_baseline_season_init(&season, &p);
    assert_int_equal(season.slots, 1);
}

/* Six trading days of 10, 20, ... and a closed Saturday; the profile learns
 * the shape and the Saturday forecasts nothing. */
static void test_season_and_closed_day(void **state)
{
    dc_baseline_params_t p = params_of(DAY, 28, 0);
    dc_baseline_season_t season;
    dc_baseline_sku_t *sku = malloc(dc_baseline_sku_size(&p));
    dc_baseline_fc_t fc;
    (void)state;
    dc_baseline_season_init(&season, &p);
    dc_baseline_sku_init(&p, sku);
    for (int d = 0; d < 28; d++) {
        int dow = d % 7; /* 0 = Monday */
        double shop = dow == 5 ? 0 : 100.0 * (dow + 1);
        double units = dow == 5 ? 0 : 2.0 * (dow + 1);
        dc_baseline_season_observe(&season, &p, MONDAY + d * DAY, shop);
        dc_baseline_sku_push(&p, sku, MONDAY + d * DAY, units, shop == 0);
    }
    /* Saturday: closed, zero everything. */
    dc_baseline_forecast(&p, &season, sku, MONDAY + 33 * DAY, &fc);
    assert_true(fc.p10 == 0 && fc.p50 == 0 && fc.p90 == 0 && fc.mean == 0);
    /* The SKU sells exactly 2% of the shop every open day, so once
     * deseasonalised its history is constant and every quantile of a day is
     * that day's share. */
    for (int dow = 0; dow < 7; dow++) {
        if (dow == 5)
            continue;
        dc_baseline_forecast(&p, &season, sku, MONDAY + (28 + dow) * DAY, &fc);
        double want = 2.0 * (dow + 1);
        assert_float_equal(fc.p50, want, 1e-4);
        assert_float_equal(fc.p10, want, 1e-4);
        assert_float_equal(fc.p90, want, 1e-4);
        assert_float_equal(fc.mean, want, 1e-4);
    }
    free(sku);
}

/* The shop of test_season_and_closed_day (closed on Saturdays, 100 units on
 * Monday up to 600 on Sunday, the SKU always 2 % of it) for `weeks` weeks;
 * a day listed in `holidays` (days since MONDAY) is a bank holiday on which
 * nobody sells anything, and the shop opens one Saturday, day 19, for a
 * sale of 50 units of the SKU. */
static void feed_shop(const dc_baseline_params_t *p, dc_baseline_season_t *season,
                      dc_baseline_sku_t *sku, int weeks, const int *holidays, int n_holidays)
{
    dc_baseline_season_init(season, p);
    dc_baseline_sku_init(p, sku);
    for (int d = 0; d < 7 * weeks; d++) {
        int dow = d % 7, holiday = 0;
        for (int i = 0; i < n_holidays; i++)
            holiday |= holidays[i] == d;
        double shop = dow == 5 ? 0 : 100.0 * (dow + 1), units = shop * 0.02;
        if (d == 19)
            shop = units = 50;
        if (holiday)
            shop = units = 0;
        dc_baseline_season_observe(season, p, MONDAY + d * DAY, shop);
        dc_baseline_sku_push(p, sku, MONDAY + d * DAY, units, shop == 0);
    }
}

/* A day on which the whole shop sold nothing is not a demand observation:
 * bank holidays on three Mondays and a Wednesday change neither the weekday
 * profile nor the SKU's quantiles, so the Monday after forecasts what it
 * would have without them. And a Saturday the shop opens once is an odd
 * sale in a closed slot: Saturdays still forecast zero, and the sale does
 * not lift the other days. */
static void test_shop_closed_days_are_not_demand(void **state)
{
    dc_baseline_params_t p = params_of(DAY, 56, 14);
    dc_baseline_season_t season, plain;
    dc_baseline_sku_t *sku = malloc(dc_baseline_sku_size(&p));
    const int holidays[] = {21, 28, 35, 44};
    dc_baseline_fc_t fc;
    (void)state;
    feed_shop(&p, &plain, sku, 8, NULL, 0);
    feed_shop(&p, &season, sku, 8, holidays, 4);
    for (int dow = 0; dow < 7; dow++) {
        int64_t t = MONDAY + (56 + dow) * DAY;
        assert_float_equal(dc_baseline_season_factor(&season, &p, t),
                           dc_baseline_season_factor(&plain, &p, t), 1e-12);
        dc_baseline_forecast(&p, &season, sku, t, &fc);
        double share = dow == 5 ? 0 : 2.0 * (dow + 1);
        assert_float_equal(fc.p10, share, 1e-4);
        assert_float_equal(fc.p50, share, 1e-4);
        assert_float_equal(fc.p90, share, 1e-4);
        assert_float_equal(fc.mean, share, 1e-4);
    }
    free(sku);
}

/* With one flat slot and equal weights the quantiles are numpy.interp of
 * the cumulative midpoints: values 0..9 give p10 0.5, p50 4.5, p90 8.5. */
static void test_weighted_quantiles(void **state)
{
    dc_baseline_params_t p = params_of(300000, 10, 0);
    dc_baseline_season_t season;
    dc_baseline_sku_t *sku = malloc(dc_baseline_sku_size(&p));
    dc_baseline_fc_t fc;
    (void)state;
    dc_baseline_season_init(&season, &p);
    dc_baseline_sku_init(&p, sku);
    /* Pushed out of order of value; the forecast sorts. Twelve pushes into a
     * window of ten keep the last ten: 0..9. */
    const int vals[] = {50, 60, 7, 3, 9, 0, 5, 1, 8, 2, 6, 4};
    for (int i = 0; i < 12; i++)
        dc_baseline_sku_push(&p, sku, i * 300000LL, vals[i], 0);
    dc_baseline_forecast(&p, &season, sku, 12 * 300000LL, &fc);
    assert_float_equal(fc.p10, 0.5, 1e-9);
    assert_float_equal(fc.p50, 4.5, 1e-9);
    assert_float_equal(fc.p90, 8.5, 1e-9);
    assert_float_equal(fc.mean, 4.5, 1e-9);

    /* Recency weights pull the median toward the newest values. */
    p.halflife = 2;
    dc_baseline_forecast(&p, &season, sku, 12 * 300000LL, &fc);
    assert_true(fc.p10 <= fc.p50 && fc.p50 <= fc.p90);
    assert_true(fc.p50 < 4.5); /* newest are 6, 4, 2 */

    /* A gap (buckets 12..17 never pushed) reads as six zero buckets. */
    dc_baseline_sku_push(&p, sku, 18 * 300000LL, 100, 0);
    p.halflife = 0;
    dc_baseline_forecast(&p, &season, sku, 19 * 300000LL, &fc);
    /* History now: 2 6 4 0 0 0 0 0 0 100 -> sorted 0 x6, 2, 4, 6, 100. */
    assert_float_equal(fc.p50, 0.0, 1e-9);
    /* A bucket at or before the last is ignored. */
    dc_baseline_sku_push(&p, sku, 18 * 300000LL, 1e6, 0);
    dc_baseline_forecast(&p, &season, sku, 19 * 300000LL, &fc);
    assert_float_equal(fc.p90, 6 + (100 - 6) * (0.9 - 0.85) / 0.1, 1e-4);

    /* A last bucket a loaded state put at the far end of time: the gap is
     * a whole window of zeros, not an overflow. */
    sku->last_bucket = INT64_MIN + 1;
    dc_baseline_sku_push(&p, sku, 20 * 300000LL, 100, 0);
    dc_baseline_forecast(&p, &season, sku, 21 * 300000LL, &fc);
    assert_int_equal(sku->len, 10);
    assert_float_equal(fc.p50, 0.0, 1e-9); /* nine zeros and 100 */
    assert_float_equal(fc.p90, 50.0, 1e-4); /* halfway from the last zero to 100 */
    free(sku);
}

static void test_empty_and_adversarial(void **state)
{
    dc_baseline_params_t p = params_of(DAY, 84, 28);
    dc_baseline_season_t season;
    dc_baseline_sku_t *sku = malloc(dc_baseline_sku_size(&p));
    dc_baseline_fc_t fc;
    (void)state;
    dc_baseline_season_init(&season, &p);
    dc_baseline_sku_init(&p, sku);
    dc_baseline_forecast(&p, &season, sku, MONDAY, &fc);
    assert_true(fc.p50 == 0 && fc.mean == 0);
    dc_baseline_season_observe(&season, &p, MONDAY, NAN);
    dc_baseline_season_observe(&season, &p, MONDAY, -5);
    for (int d = 0; d < 100; d++)
        dc_baseline_sku_push(&p, sku, MONDAY + d * DAY, d % 3 ? 1e12 : NAN, 0);
    dc_baseline_forecast(&p, &season, sku, MONDAY + 100 * DAY, &fc);
    assert_true(isfinite(fc.p10) && isfinite(fc.p50) && isfinite(fc.p90) && isfinite(fc.mean));
    assert_true(0 <= fc.p10 && fc.p10 <= fc.p50 && fc.p50 <= fc.p90);

    /* Pushed units are capped as the model caps counts. */
    dc_baseline_sku_push(&p, sku, MONDAY + 100 * DAY, 1e30, 0);
    assert_true(sku->units[sku->head] == 1e12f);

    /* A loaded ring may hold any finite float: its newest bucket, a Monday,
     * at 3e38 units. Over Monday's share of the week (about half a day's)
     * that is past what a float holds, and the forecast must still be a
     * number. */
    dc_baseline_season_init(&season, &p);
    dc_baseline_sku_init(&p, sku);
    for (int d = 0; d < 29; d++) {
        dc_baseline_season_observe(&season, &p, MONDAY + d * DAY, d % 7 ? 100 : 50);
        dc_baseline_sku_push(&p, sku, MONDAY + d * DAY, 5, 0);
    }
    sku->units[sku->head] = 3e38f;
    for (int d = 29; d < 36; d++) {
        dc_baseline_forecast(&p, &season, sku, MONDAY + d * DAY, &fc);
        assert_true(isfinite(fc.p90) && isfinite(fc.mean));
        assert_true(0 <= fc.p10 && fc.p10 <= fc.p50 && fc.p50 <= fc.p90);
    }
    free(sku);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots),
        cmocka_unit_test(test_season_and_closed_day),
        cmocka_unit_test(test_shop_closed_days_are_not_demand),
        cmocka_unit_test(test_weighted_quantiles),
        cmocka_unit_test(test_empty_and_adversarial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
