/* tests/unit/test_close_budget.c - what keeps a bucket close within its
 * budget at scale without changing what it computes: the baseline's
 * forecast of all horizons at once equals one forecast per horizon, and
 * train.skus.per.close bounds the optimiser steps per close, trains every
 * SKU in turn on whole windows (however few the SKUs), and stays
 * deterministic whatever the input order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "inference/forecaster.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOUR 3600000LL
#define T0 1309132800000LL /* 2011-06-27, a Monday */
#define MAX_SKUS 40

static uint64_t rng_state;

static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) * 0x1.0p-53;
}

static void test_baseline_horizons(void **state)
{
    (void)state;
    const int64_t widths[] = {HOUR, 24 * HOUR, 15 * 60000LL, 7 * HOUR};
    rng_state = 3;
    for (int trial = 0; trial < 400; trial++) {
        dc_baseline_params_t p = {widths[trial % 4], 1 + (int)(urand() * 100),
                                  trial % 5 ? 1 + urand() * 40 : 0};
        dc_baseline_season_t season;
        dc_baseline_season_init(&season, &p);
        dc_baseline_sku_t *sku = malloc(dc_baseline_sku_size(&p));
        dc_baseline_sku_init(&p, sku);
        int64_t t = T0 + (int64_t)(urand() * 500) * p.bucket_width;
        int steps = (int)(urand() * 250);
        for (int i = 0; i < steps; i++, t += p.bucket_width) {
            /* Some closed buckets, some gaps, lumpy demand. */
            double total = i % 9 == 4 && trial % 3 == 0 ? 0 : 50 + 100 * urand();
            dc_baseline_season_observe(&season, &p, t, total);
            if (urand() < 0.05)
                t += 2 * p.bucket_width;
            double units = urand() < 0.6 ? 0 : floor(urand() * 12);
            dc_baseline_sku_push(&p, sku, t, units, total <= 0);
        }
        dc_baseline_fc_t all[30], one;
        dc_baseline_forecast_horizons(&p, &season, sku, t, 30, all);
        for (int k = 0; k < 30; k++) {
            dc_baseline_forecast(&p, &season, sku, t + k * p.bucket_width, &one);
            assert_memory_equal(&all[k], &one, sizeof(one));
            assert_true(all[k].p10 <= all[k].p50 && all[k].p50 <= all[k].p90);
        }
        free(sku);
    }
}

typedef struct {
    dc_forecast_t fc[MAX_SKUS];
    size_t n;
} capture_t;

static int on_forecast(void *opaque, const dc_forecast_t *fc)
{
    capture_t *cap = opaque;
    assert_true(cap->n < MAX_SKUS);
    cap->fc[cap->n++] = *fc;
    return 0;
}

static dc_forecaster_t *make(const char *per_close, const char *batch)
{
    char errstr[256];
    dc_conf_t *conf = dc_conf_new();
    dc_model_conf_t mc;
    const char *kv[][2] = {{"bucket.width", "1h"},      {"horizon", "5"},
                           {"model.hidden", "8"},       {"train.bptt", "4"},
                           {"train.batch", batch},      {"train.skus.per.close", per_close}};
    for (size_t i = 0; i < DC_ARRAY_SIZE(kv); i++)
        assert_int_equal(dc_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof(errstr)), 0);
    assert_int_equal(dc_model_conf_load(&mc, conf, errstr, sizeof(errstr)), 0);
    dc_model_t *model = dc_model_new(&mc, errstr, sizeof(errstr));
    assert_non_null(model);
    dc_forecaster_t *fc = dc_forecaster_new(conf, model, errstr, sizeof(errstr));
    assert_non_null(fc);
    dc_conf_destroy(conf);
    return fc;
}

/* Closes hour h for n SKUs, given in reverse name order if `reversed`. */
static void close_hour(dc_forecaster_t *fc, int h, size_t n, int reversed, capture_t *cap)
{
    static char names[MAX_SKUS][24];
    dc_forecaster_input_t in[MAX_SKUS];
    dc_forecaster_sink_t sink = {on_forecast, NULL, cap};
    for (size_t s = 0; s < n; s++) {
        size_t k = reversed ? n - 1 - s : s;
        snprintf(names[k], sizeof(names[k]), "SKU%03zu", k);
        dc_model_bucket_t b = {T0 + h * HOUR, HOUR, 0, 0, 0, 0, 3.0 + (double)k, 0};
        b.units = (double)((h * 7 + (int)k * 5) % 6);
        b.views = b.units * 12 + (double)(k % 4);
        b.carts = b.units * 2;
        in[s].sku = names[k];
        in[s].bucket = b;
    }
    cap->n = 0;
    assert_int_equal(dc_forecaster_close(fc, T0 + h * HOUR, in, n, &sink), 0);
    assert_int_equal(cap->n, n);
}

/* Few SKUs: each still trains once every bptt closes on a whole window, so
 * every bucket is trained on once: 12 SKUs, bptt 4, 3 SKUs (one batch) per
 * close. train.skus.per.close = 0 slides every SKU's window at every
 * close instead: three batches per close. */
static void test_few_skus_whole_windows(void **state)
{
    static capture_t a, b;
    dc_forecaster_t *all = make("0", "4"), *capped = make("12", "4");
    (void)state;
    uint64_t v0 = 0;
    for (int h = 0; h < 30; h++) {
        close_hour(all, h, 12, 0, &a);
        close_hour(capped, h, 12, 0, &b);
        uint64_t v = dc_model_version(dc_forecaster_model(capped));
        /* From the fourth close on, every SKU due brings a whole window. */
        if (h >= 4)
            assert_int_equal(v - v0, 1);
        v0 = v;
    }
    /* 12 SKUs in batches of 4: three optimiser steps per close once the
     * windows hold a target (the first close has none). */
    assert_int_equal(dc_model_version(dc_forecaster_model(all)), 3 * 29);
    dc_forecaster_destroy(all);
    dc_forecaster_destroy(capped);
}

/* 30 SKUs, at most 6 per close: each trains every 5 closes (>= bptt 4), so
 * 6 SKUs (two batches of 4 and 2) train at every close: two optimiser steps
 * per close, not eight, and the same forecasts whatever the input order. */
static void test_bounded_and_deterministic(void **state)
{
    static capture_t a, b;
    dc_forecaster_t *x = make("6", "4"), *y = make("6", "4");
    (void)state;
    uint64_t v0 = 0;
    for (int h = 0; h < 40; h++) {
        close_hour(x, h, 30, 0, &a);
        close_hour(y, h, 30, 1, &b);
        for (size_t i = 0; i < a.n; i++) {
            assert_string_equal(a.fc[i].sku, b.fc[i].sku);
            assert_memory_equal(a.fc[i].horizons, b.fc[i].horizons, 5 * sizeof(dc_horizon_t));
        }
        uint64_t v = dc_model_version(dc_forecaster_model(x));
        /* From the fifth close on, every SKU due brings a whole window. */
        if (h >= 5)
            assert_int_equal(v - v0, 2);
        v0 = v;
    }
    assert_int_equal(dc_model_version(dc_forecaster_model(x)),
                     dc_model_version(dc_forecaster_model(y)));
    dc_forecaster_destroy(x);
    dc_forecaster_destroy(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baseline_horizons),
        cmocka_unit_test(test_few_skus_whole_windows),
        cmocka_unit_test(test_bounded_and_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
