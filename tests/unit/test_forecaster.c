/* tests/unit/test_forecaster.c - a bucket close end to end in memory: one
 * forecast per active SKU in name order, horizons and times right, quantiles
 * ordered, cold starts flagged, blends at their ends equal to each expert,
 * and the same input (in any order) giving the same forecasts bit for bit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "inference/forecaster.h"
#include "tests/state_crc.h"

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

/* A forecaster with the defaults but for the settings in kv. */
static dc_forecaster_t *make_with(const char *const kv[][2], size_t n)
{
    char errstr[256];
    dc_conf_t *conf = dc_conf_new();
    dc_model_conf_t mc;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(dc_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof(errstr)), 0);
    assert_int_equal(dc_model_conf_load(&mc, conf, errstr, sizeof(errstr)), 0);
    dc_model_t *model = dc_model_new(&mc, errstr, sizeof(errstr));
    assert_non_null(model);
    dc_forecaster_t *fc = dc_forecaster_new(conf, model, errstr, sizeof(errstr));
    assert_non_null(fc);
    dc_conf_destroy(conf);
    return fc;
}

static dc_forecaster_t *make(const char *blend)
{
    const char *const kv[][2] = {{"bucket.width", "1d"}, {"horizon", "7"},
                                 {"model.hidden", "16"}, {"forecast.blend", blend}};
    return make_with(kv, DC_ARRAY_SIZE(kv));
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

    /* At blend 1 the published forecast is the model's alone: on the same
     * first close, no horizon keeps the mean it has at blend 0, the
     * baseline's. */
    static capture_t base;
    dc_forecaster_sink_t base_sink = {on_forecast, NULL, &base};
    base.n = 0;
    fc = make("0");
    inputs_for(0, in, 0);
    assert_int_equal(dc_forecaster_close(fc, T0, in, N_SKUS, &base_sink), 0);
    dc_forecaster_destroy(fc);
    fc = make("1");
    cap.n = 0;
    assert_int_equal(dc_forecaster_close(fc, T0, in, N_SKUS, &sink), 0);
    assert_int_equal(cap.n, base.n);
    for (size_t i = 0; i < cap.n; i++)
        for (size_t h = 0; h < 7; h++)
            assert_true(cap.fc[i].horizons[h].mean != base.fc[i].horizons[h].mean);
    dc_forecaster_destroy(fc);
}

/* A model whose head gives no usable distribution (NaN weights, or a mean
 * of 1e30 units) hands its share to the baseline: at blend 1 every horizon
 * publishes exactly the baseline's numbers, and each is counted. */
static void test_broken_model_falls_back(void **state)
{
    static capture_t base, cap;
    dc_forecaster_sink_t base_sink = {on_forecast, NULL, &base};
    dc_forecaster_sink_t sink = {on_forecast, NULL, &cap};
    dc_forecaster_input_t in[N_SKUS];
    (void)state;
    base.n = 0;
    dc_forecaster_t *fc = make("0");
    for (int d = 0; d < 3; d++) {
        inputs_for(d, in, 0);
        assert_int_equal(dc_forecaster_close(fc, T0 + d * DAY, in, N_SKUS, &base_sink), 0);
    }
    assert_int_equal(dc_forecaster_model_fallbacks(fc), 0);
    dc_forecaster_destroy(fc);

    for (int breakage = 0; breakage < 2; breakage++) {
        fc = make("1");
        size_t n_params;
        float *p = dc_model_params(dc_forecaster_model(fc), &n_params);
        if (breakage == 0) {
            for (size_t i = 0; i < n_params; i++)
                p[i] = NAN;
        } else {
            /* The head's biases end the parameters, (z_mu, z_alpha) per
             * horizon: every z_mu at 1e30. */
            for (size_t k = 0; k < 7; k++)
                p[n_params - 14 + 2 * k] = 1e30f;
        }
        cap.n = 0;
        for (int d = 0; d < 3; d++) {
            inputs_for(d, in, 0);
            assert_int_equal(dc_forecaster_close(fc, T0 + d * DAY, in, N_SKUS, &sink), 0);
        }
        assert_int_equal(cap.n, base.n);
        for (size_t i = 0; i < cap.n; i++) {
            assert_string_equal(cap.fc[i].sku, base.fc[i].sku);
            for (size_t h = 0; h < 7; h++) {
                const dc_horizon_t *a = &cap.fc[i].horizons[h], *b = &base.fc[i].horizons[h];
                assert_true(a->mean == b->mean && a->p10 == b->p10 && a->p50 == b->p50 &&
                            a->p90 == b->p90);
            }
        }
        assert_int_equal(dc_forecaster_model_fallbacks(fc), 3 * N_SKUS * 7);
        dc_forecaster_destroy(fc);
    }
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
    /* The fit took optimiser steps before the online ones, which are those
     * of the same closes without a warm start. */
    dc_forecaster_t *plain = make("-1");
    for (int d = 0; d <= 8; d++) {
        inputs_for(d, in, 0);
        cap.n = 0;
        assert_int_equal(dc_forecaster_close(plain, T0 + d * DAY, in, N_SKUS, &sink), 0);
    }
    assert_true(dc_model_version(dc_forecaster_model(fc)) >
                dc_model_version(dc_forecaster_model(plain)));
    dc_forecaster_destroy(plain);
    dc_warmstart_destroy(ws);
    dc_forecaster_destroy(fc);
}

/* A forecaster that trains only some SKUs at each close (so the dense SKU
 * order matters) and has a horizon other than its default. */
static dc_forecaster_t *make_sparse_training(const char *horizon)
{
    const char *const kv[][2] = {{"bucket.width", "1d"},        {"horizon", horizon},
                                 {"model.hidden", "8"},         {"train.bptt", "3"},
                                 {"train.skus.per.close", "2"}, {"surge.warmup", "3"}};
    return make_with(kv, DC_ARRAY_SIZE(kv));
}

/* Day d's closes: the five SKUs, each missing one day in five, a sixth SKU
 * (whose name sorts first) from day 3 on, and a spike on day 15 so that a
 * surge episode is running across the checkpoint taken below. */
static size_t inputs_sparse(int d, dc_forecaster_input_t *in)
{
    size_t n = 0;
    inputs_for(d, in, 0);
    for (int s = 0; s < N_SKUS; s++) {
        if (d % 5 == s && d > 4)
            continue;
        in[n] = in[s];
        if (s == 2 && d >= 14 && d <= 17)
            in[n].bucket.units *= 20, in[n].bucket.views *= 20;
        n++;
    }
    if (d >= 3) {
        in[n] = in[0];
        in[n].sku = "00007";
        in[n].bucket.units = d % 3;
        n++;
    }
    return n;
}

static void save_all(dc_forecaster_t *fc, dc_buf_t *model, dc_buf_t *global, dc_buf_t *skus,
                     size_t *ends)
{
    assert_int_equal(dc_model_save(dc_forecaster_model(fc), model), 0);
    assert_int_equal(dc_forecaster_save_global(fc, global), 0);
    for (size_t i = 0; i < dc_forecaster_sku_count(fc); i++) {
        assert_int_equal(dc_forecaster_save_sku(fc, dc_forecaster_sku_name(fc, i), skus), 0);
        ends[i] = skus->len;
    }
}

/* A forecaster loaded from another's saved state continues exactly as the
 * original does: the same forecasts and alerts, bit for bit, and its own
 * saved state is byte for byte what it loaded. */
static void test_state_round_trip(void **state)
{
    dc_forecaster_t *a = make_sparse_training("5"), *b = make_sparse_training("5");
    dc_forecaster_input_t in[N_SKUS + 1];
    static capture_t ca, cb;
    dc_forecaster_sink_t sa = {on_forecast, on_surge, &ca}, sb = {on_forecast, on_surge, &cb};
    dc_buf_t model = {0}, global = {0}, skus = {0}, again = {0};
    size_t ends[N_SKUS + 1], ends2[N_SKUS + 1];
    char errstr[256];
    int surges = 0;
    (void)state;
    for (int d = 0; d < 16; d++) {
        size_t n = inputs_sparse(d, in);
        ca.n = 0;
        assert_int_equal(dc_forecaster_close(a, T0 + d * DAY, in, n, &sa), 0);
    }
    assert_int_equal(dc_forecaster_sku_count(a), N_SKUS + 1);
    /* The late SKU sorts first but was seen last. */
    assert_string_equal(dc_forecaster_sku_name(a, N_SKUS), "00007");
    save_all(a, &model, &global, &skus, ends);

    assert_int_equal(dc_model_load(dc_forecaster_model(b), model.data, model.len, errstr,
                                   sizeof(errstr)), 0);
    assert_int_equal(dc_forecaster_load_global(b, global.data, global.len, errstr, sizeof(errstr)),
                     0);
    assert_int_equal(dc_forecaster_sku_count(b), N_SKUS + 1);
    for (size_t i = 0, off = 0; i < N_SKUS + 1; off = ends[i++]) {
        assert_string_equal(dc_forecaster_sku_name(b, i), dc_forecaster_sku_name(a, i));
        assert_int_equal(dc_forecaster_load_sku(b, dc_forecaster_sku_name(b, i), skus.data + off,
                                                ends[i] - off, errstr, sizeof(errstr)), 0);
    }
    assert_int_equal(dc_forecaster_last_closed(b), T0 + 15 * DAY);
    assert_true(dc_forecaster_blend_weight(b) == dc_forecaster_blend_weight(a));

    /* Saving what was loaded gives the same bytes. */
    dc_buf_t m2 = {0}, g2 = {0};
    save_all(b, &m2, &g2, &again, ends2);
    assert_int_equal(g2.len, global.len);
    assert_memory_equal(g2.data, global.data, global.len);
    assert_int_equal(again.len, skus.len);
    assert_memory_equal(again.data, skus.data, skus.len);
    assert_memory_equal(m2.data, model.data, model.len);

    for (int d = 16; d < 40; d++) {
        size_t n = inputs_sparse(d, in);
        ca.n = cb.n = 0;
        ca.surges = cb.surges = 0;
        assert_int_equal(dc_forecaster_close(a, T0 + d * DAY, in, n, &sa), 0);
        assert_int_equal(dc_forecaster_close(b, T0 + d * DAY, in, n, &sb), 0);
        assert_int_equal(ca.n, n);
        assert_int_equal(cb.n, n);
        assert_int_equal(ca.surges, cb.surges);
        surges += ca.surges;
        for (size_t i = 0; i < n; i++) {
            assert_string_equal(ca.fc[i].sku, cb.fc[i].sku);
            assert_int_equal(ca.fc[i].model_version, cb.fc[i].model_version);
            assert_int_equal(ca.fc[i].cold_start, cb.fc[i].cold_start);
            assert_memory_equal(ca.fc[i].horizons, cb.fc[i].horizons, 5 * sizeof(dc_horizon_t));
        }
    }
    /* The surge running at the checkpoint ended after it, in both. */
    assert_true(surges > 0);
    assert_true(dc_model_version(dc_forecaster_model(a)) > 0);
    dc_buf_free(&model);
    dc_buf_free(&global);
    dc_buf_free(&skus);
    dc_buf_free(&again);
    dc_buf_free(&m2);
    dc_buf_free(&g2);
    dc_forecaster_destroy(a);
    dc_forecaster_destroy(b);
}

/* Damaged or mismatched state is refused with its reason, and a refused
 * load leaves the forecaster as it was. */
static void test_state_rejected(void **state)
{
    dc_forecaster_t *a = make_sparse_training("5"), *b = make_sparse_training("5");
    dc_forecaster_t *c = make_sparse_training("6");
    dc_forecaster_input_t in[N_SKUS + 1];
    static capture_t cap;
    dc_forecaster_sink_t sink = {on_forecast, on_surge, &cap};
    dc_buf_t model = {0}, global = {0}, skus = {0};
    size_t ends[N_SKUS + 1];
    char errstr[256];
    (void)state;
    for (int d = 0; d < 4; d++) {
        size_t n = inputs_sparse(d, in);
        cap.n = 0;
        assert_int_equal(dc_forecaster_close(a, T0 + d * DAY, in, n, &sink), 0);
    }
    save_all(a, &model, &global, &skus, ends);

    global.data[100] ^= 1;
    assert_int_equal(dc_forecaster_load_global(b, global.data, global.len, errstr, sizeof(errstr)),
                     DC_ERR_CHECKSUM);
    global.data[100] ^= 1;
    assert_int_equal(dc_forecaster_load_global(b, global.data, global.len - 1, errstr,
                                               sizeof(errstr)), DC_ERR_CHECKSUM);
    assert_int_equal(dc_forecaster_load_global(b, global.data, 20, errstr, sizeof(errstr)),
                     DC_ERR_TRUNCATED);
    assert_int_equal(dc_forecaster_load_global(b, skus.data, ends[0], errstr, sizeof(errstr)),
                     DC_ERR_BAD_MAGIC);
    assert_int_equal(dc_forecaster_load_global(c, global.data, global.len, errstr, sizeof(errstr)),
                     DC_ERR_VERSION);
    assert_non_null(strstr(errstr, "horizon 5"));
    assert_int_equal(dc_forecaster_sku_count(b), 0);
    assert_int_equal(dc_forecaster_last_closed(b), INT64_MIN);

    /* With its CRC made right, a record still has to hold what a forecaster
     * could have saved: a bucket start for the last close (offset 24) and
     * blend losses that are numbers (offset 32). Nothing is loaded. */
    global.data[24] ^= 1;
    test_put_crc(global.data, global.len);
    assert_int_equal(dc_forecaster_load_global(b, global.data, global.len, errstr, sizeof(errstr)),
                     DC_ERR_MALFORMED);
    global.data[24] ^= 1;
    uint8_t loss0[8];
    memcpy(loss0, global.data + 32, 8);
    memcpy(global.data + 32, "\0\0\0\0\0\0\xf8\x7f", 8); /* NaN, little-endian */
    test_put_crc(global.data, global.len);
    assert_int_equal(dc_forecaster_load_global(b, global.data, global.len, errstr, sizeof(errstr)),
                     DC_ERR_NUMERIC);
    memcpy(global.data + 32, loss0, 8);
    test_put_crc(global.data, global.len);
    assert_int_equal(dc_forecaster_sku_count(b), 0);

    /* A SKU record needs its SKU listed, and intact. */
    assert_int_equal(dc_forecaster_load_sku(b, dc_forecaster_sku_name(a, 0), skus.data, ends[0],
                                            errstr, sizeof(errstr)), DC_ERR_INVAL);
    assert_int_equal(dc_forecaster_load_global(b, global.data, global.len, errstr, sizeof(errstr)),
                     0);
    /* Its reserved byte (after the version) is 0 in the only format there
     * is: another is a format this build does not know. */
    skus.data[5] = 1;
    test_put_crc(skus.data, ends[0]);
    assert_int_equal(dc_forecaster_load_sku(b, dc_forecaster_sku_name(a, 0), skus.data, ends[0],
                                            errstr, sizeof(errstr)), DC_ERR_VERSION);
    skus.data[5] = 0;
    /* The newest bucket of its baseline ring (the ring's u16 head at 78,
     * its floats from 80) at -1 units. */
    size_t newest = 80 + 4 * (size_t)(skus.data[78] | skus.data[79] << 8);
    uint8_t units[4];
    memcpy(units, skus.data + newest, 4);
    memcpy(skus.data + newest, "\0\0\x80\xbf", 4); /* -1.0f, little-endian */
    test_put_crc(skus.data, ends[0]);
    assert_int_equal(dc_forecaster_load_sku(b, dc_forecaster_sku_name(a, 0), skus.data, ends[0],
                                            errstr, sizeof(errstr)), DC_ERR_NUMERIC);
    memcpy(skus.data + newest, units, 4);
    test_put_crc(skus.data, ends[0]);
    assert_int_equal(dc_forecaster_load_sku(b, dc_forecaster_sku_name(a, 0), skus.data, ends[0],
                                            errstr, sizeof(errstr)), 0);
    skus.data[ends[0] - 10] ^= 0x40;
    assert_int_equal(dc_forecaster_load_sku(b, dc_forecaster_sku_name(a, 0), skus.data, ends[0],
                                            errstr, sizeof(errstr)), DC_ERR_CHECKSUM);
    assert_int_equal(dc_forecaster_save_sku(a, "99999", &skus), DC_ERR_INVAL);
    dc_buf_free(&model);
    dc_buf_free(&global);
    dc_buf_free(&skus);
    dc_forecaster_destroy(a);
    dc_forecaster_destroy(b);
    dc_forecaster_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_close_contract),
        cmocka_unit_test(test_deterministic_any_input_order),
        cmocka_unit_test(test_blend_ends),
        cmocka_unit_test(test_broken_model_falls_back),
        cmocka_unit_test(test_warmstart),
        cmocka_unit_test(test_state_round_trip),
        cmocka_unit_test(test_state_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
