/* tests/unit/test_forecaster.c - a bucket close end to end in memory: one
 * forecast per active SKU in name order, horizons and times right, quantiles
 * ordered, cold starts flagged, blends at their ends equal to each expert,
 * and the same input (in any order) giving the same forecasts bit for bit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "inference/forecaster.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400000LL
#define T0 1309132800000LL /* 2011-06-27, a Monday */
#define N_SKUS 5

typedef struct {
    dc_forecast_t fc[64];
    size_t n;
    int surges;
} capture_t;

static int on_forecast(void *opaque, const dc_forecast_t *fc)
{
    capture_t *cap = opaque;
    assert_true(cap->n < DC_ARRAY_SIZE(cap->fc));
    cap->fc[cap->n++] = *fc;
    return 0;
}

static int on_surge(void *opaque, const dc_surge_t *alert)
{
    capture_t *cap = opaque;
    (void)alert;
    cap->surges++;
    return 0;
}

static dc_forecaster_t *make(const char *blend)
{
    char errstr[256];
    dc_conf_t *conf = dc_conf_new();
    dc_model_conf_t mc;
    assert_int_equal(dc_conf_set(conf, "bucket.width", "1d", errstr, sizeof(errstr)), 0);
    assert_int_equal(dc_conf_set(conf, "horizon", "7", errstr, sizeof(errstr)), 0);
    assert_int_equal(dc_conf_set(conf, "model.hidden", "16", errstr, sizeof(errstr)), 0);
    assert_int_equal(dc_conf_set(conf, "forecast.blend", blend, errstr, sizeof(errstr)), 0);
    assert_int_equal(dc_model_conf_load(&mc, conf, errstr, sizeof(errstr)), 0);
    dc_model_t *model = dc_model_new(&mc, errstr, sizeof(errstr));
    assert_non_null(model);
    dc_forecaster_t *fc = dc_forecaster_new(conf, model, errstr, sizeof(errstr));
    assert_non_null(fc);
    dc_conf_destroy(conf);
    return fc;
}

static const char *const skus[N_SKUS] = {"85123A", "22423", "84077", "85099B", "20725"};

/* Day d's demand of SKU s: weekday-shaped, nothing on Saturdays. */
static void inputs_for(int d, dc_forecaster_input_t *in, int reversed)
{
    for (int s = 0; s < N_SKUS; s++) {
        int k = reversed ? N_SKUS - 1 - s : s;
        dc_model_bucket_t b = {T0 + d * DAY, DAY, 0, 0, 0, 0, NAN, 0};
        if (d % 7 != 5)
            b.units = (double)((d * 7 + k * 13) % 11) * (k + 1);
        b.views = b.units * 10;
        b.carts = b.units * 2;
        b.price = 2.5 + k;
        in[s].sku = skus[k];
        in[s].bucket = b;
    }
}

static void run_days(dc_forecaster_t *fc, int days, int reversed, capture_t *all, size_t max)
{
    dc_forecaster_input_t in[N_SKUS];
    capture_t cap;
    dc_forecaster_sink_t sink = {on_forecast, on_surge, &cap};
    size_t k = 0;
    for (int d = 0; d < days; d++) {
        memset(&cap, 0, sizeof(cap));
        inputs_for(d, in, reversed);
        assert_int_equal(dc_forecaster_close(fc, T0 + d * DAY, in, N_SKUS, &sink), 0);
        assert_int_equal(cap.n, N_SKUS);
        for (size_t i = 0; i < cap.n && k < max; i++)
            all->fc[k++] = cap.fc[i];
    }
    all->n = k;
}

static void test_close_contract(void **state)
{
    dc_forecaster_t *fc = make("-1");
    dc_forecaster_input_t in[N_SKUS];
    capture_t cap = {0};
    dc_forecaster_sink_t sink = {on_forecast, on_surge, &cap};
    (void)state;
    for (int d = 0; d < 10; d++) {
        cap.n = 0;
        inputs_for(d, in, d % 2);
        assert_int_equal(dc_forecaster_close(fc, T0 + d * DAY, in, N_SKUS, &sink), 0);
        assert_int_equal(cap.n, N_SKUS);
        for (size_t i = 0; i < cap.n; i++) {
            const dc_forecast_t *f = &cap.fc[i];
            if (i)
                assert_true(strcmp(cap.fc[i - 1].sku, f->sku) < 0);
            assert_int_equal(f->bucket_start, T0 + d * DAY);
            assert_int_equal(f->bucket_width, DAY);
            assert_int_equal(f->issued_at, T0 + (d + 1) * DAY);
            assert_int_equal(f->n_horizons, 7);
            /* New SKUs are flagged until they have a week of history. */
            assert_int_equal(f->cold_start, d + 1 < DC_MODEL_COLD_STEPS);
            for (size_t h = 0; h < f->n_horizons; h++) {
                const dc_horizon_t *z = &f->horizons[h];
                assert_int_equal(z->offset, (int)h + 1);
                assert_true(isfinite(z->mean) && isfinite(z->p90));
                assert_true(0 <= z->p10 && z->p10 <= z->p50 && z->p50 <= z->p90);
            }
        }
    }
    assert_int_equal(dc_forecaster_sku_count(fc), N_SKUS);
    assert_true(dc_forecaster_bytes_per_sku(fc) > 0);
    /* Buckets close in order only. */
    inputs_for(3, in, 0);
    assert_int_equal(dc_forecaster_close(fc, T0 + 3 * DAY, in, N_SKUS, &sink), DC_ERR_INVAL);
    dc_forecaster_destroy(fc);
    dc_forecaster_destroy(NULL);
}

static void test_deterministic_any_input_order(void **state)
{
    static capture_t a, b;
    dc_forecaster_t *x = make("-1"), *y = make("-1");
    (void)state;
    run_days(x, 30, 0, &a, DC_ARRAY_SIZE(a.fc));
    run_days(y, 30, 1, &b, DC_ARRAY_SIZE(b.fc));
    assert_int_equal(a.n, b.n);
    for (size_t i = 0; i < a.n; i++) {
        assert_string_equal(a.fc[i].sku, b.fc[i].sku);
        assert_memory_equal(a.fc[i].horizons, b.fc[i].horizons,
                            a.fc[i].n_horizons * sizeof(dc_horizon_t));
        assert_int_equal(a.fc[i].model_version, b.fc[i].model_version);
    }
    /* Online learning moved the model. */
    assert_true(dc_model_version(dc_forecaster_model(x)) > 0);
    dc_forecaster_destroy(x);
    dc_forecaster_destroy(y);
}

/* At blend 0 the published quantiles are the baseline's; on a closed day
 * (Saturday: the shop sold nothing on any Saturday so far) they are zero. */
static void test_blend_ends(void **state)
{
    dc_forecaster_t *fc = make("0");
    dc_forecaster_input_t in[N_SKUS];
    capture_t cap = {0};
    dc_forecaster_sink_t sink = {on_forecast, NULL, &cap};
    (void)state;
    for (int d = 0; d < 21; d++) {
        cap.n = 0;
        inputs_for(d, in, 0);
        assert_int_equal(dc_forecaster_close(fc, T0 + d * DAY, in, N_SKUS, &sink), 0);
    }
    assert_true(dc_forecaster_blend_weight(fc) == 0);
    /* Day 20 is a Sunday; horizon 6 is the next Saturday. */
    for (size_t i = 0; i < cap.n; i++) {
        const dc_horizon_t *sat = &cap.fc[i].horizons[5];
        assert_true(sat->p10 == 0 && sat->p50 == 0 && sat->p90 == 0 && sat->mean == 0);
        assert_true(cap.fc[i].horizons[0].p90 > 0);
    }
    dc_forecaster_destroy(fc);

    fc = make("1");
    cap.n = 0;
    inputs_for(0, in, 0);
    assert_int_equal(dc_forecaster_close(fc, T0, in, N_SKUS, &sink), 0);
    /* At blend 1 each quantile is a count of the model's NB: an integer. */
    for (size_t i = 0; i < cap.n; i++)
        for (size_t h = 0; h < 7; h++)
            assert_true(cap.fc[i].horizons[h].p50 == floor(cap.fc[i].horizons[h].p50));
    dc_forecaster_destroy(fc);
}

/* Closes before the cut-off are kept, not forecast; the first close past it
 * fits the model and replays them, so every close is forecast once, in order. */
static void test_warmstart(void **state)
{
    dc_forecaster_t *fc = make("-1");
    dc_model_fit_opts_t opts;
    dc_forecaster_input_t in[N_SKUS];
    static capture_t cap;
    dc_forecaster_sink_t sink = {on_forecast, NULL, &cap};
    char errstr[256];
    (void)state;
    dc_model_fit_opts_default(&opts);
    opts.epochs = 2;
    dc_warmstart_t *ws = dc_warmstart_new(fc, T0 + 8 * DAY, &opts, errstr, sizeof(errstr));
    assert_non_null(ws);
    cap.n = 0;
    for (int d = 0; d < 8; d++) {
        inputs_for(d, in, 0);
        assert_int_equal(dc_warmstart_close(ws, T0 + d * DAY, in, N_SKUS, &sink), 0);
    }
    assert_int_equal(cap.n, 0);
    assert_false(dc_warmstart_fitted(ws));
    assert_int_equal(dc_model_version(dc_forecaster_model(fc)), 0);
    inputs_for(8, in, 0);
    assert_int_equal(dc_warmstart_close(ws, T0 + 8 * DAY, in, N_SKUS, &sink), 0);
    assert_true(dc_warmstart_fitted(ws));
    assert_int_equal(cap.n, 9 * N_SKUS);
    for (size_t i = 0; i < cap.n; i++)
        assert_int_equal(cap.fc[i].bucket_start, T0 + (int64_t)(i / N_SKUS) * DAY);
    /* The fit took optimiser steps before any online one. */
    assert_true(dc_model_version(dc_forecaster_model(fc)) > 9);
    dc_warmstart_destroy(ws);
    dc_forecaster_destroy(fc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_close_contract),
        cmocka_unit_test(test_deterministic_any_input_order),
        cmocka_unit_test(test_blend_ends),
        cmocka_unit_test(test_warmstart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
