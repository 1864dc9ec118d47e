/* tests/unit/test_trainer.c - online learning (Adam lowers the loss, the
 * NaN and divergence guards), offline fitting, and determinism. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "inference/inference_int.h"

#include <stdlib.h>

#define DAY 86400000LL
#define T0 1291161600000LL /* 2010-12-01, a Wednesday */

static dc_model_t *new_model(int H, int Hz, int K, double lr, uint64_t seed)
{
    char errstr[128];
    dc_model_conf_t mc;
    dc_model_conf_default(&mc);
    mc.hidden = H;
    mc.horizon = Hz;
    mc.bptt = K;
    mc.lr = lr;
    mc.seed = seed;
    mc.snapshot_every = 5;
    dc_model_t *model = dc_model_new(&mc, errstr, sizeof(errstr));
    assert_non_null(model);
    return model;
}

static dc_model_sku_t **new_skus(dc_model_t *model, size_t n)
{
    dc_model_sku_t **skus = calloc(n, sizeof(*skus));
    for (size_t i = 0; i < n; i++) {
        skus[i] = malloc(dc_model_sku_size(model));
        dc_model_sku_init(model, skus[i]);
    }
    return skus;
}

static void free_skus(dc_model_sku_t **skus, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(skus[i]);
    free(skus);
}

/* A toy shop: weekday demand proportional to the SKU's size, nothing on
 * Saturdays, a little deterministic noise. */
static double toy_units(size_t sku, int day)
{
    int dow = (day + 2) % 7; /* Monday 0; T0 is a Wednesday */
    if (dow == 5)
        return 0;
    return (double)((sku % 5 + 1) * (dow + 1) + (int)((sku * 7 + (size_t)day * 13) % 3));
}

static void toy_bucket(dc_model_bucket_t *b, size_t sku, int day)
{
    memset(b, 0, sizeof(*b));
    b->start_ms = T0 + day * DAY;
    b->width_ms = DAY;
    b->units = toy_units(sku, day);
    b->price = 2.5;
}

/* Steps and trains n SKUs through `days` days; returns the mean training
 * loss of the last `tail` days (and of the first `tail` in *first). */
static double run_toy(dc_model_t *model, dc_model_sku_t **skus, size_t n, int days, int tail,
                      double *first)
{
    dc_model_bucket_t *bk = malloc(sizeof(*bk) * n);
    double head = 0, last = 0;
    int nh = 0, nl = 0;
    for (int d = 0; d < days; d++) {
        for (size_t i = 0; i < n; i++)
            toy_bucket(&bk[i], i, d);
        assert_int_equal(dc_model_step(model, skus, bk, n, NULL), 0);
        double loss;
        assert_int_equal(dc_model_train(model, skus, n, &loss), 0);
        if (d >= dc_model_conf(model)->bptt && nh < tail) {
            head += loss;
            nh++;
        }
        if (d >= days - tail) {
            last += loss;
            nl++;
        }
    }
    free(bk);
    if (first)
        *first = head / nh;
    return last / nl;
}

static void test_adam_lowers_loss(void **state)
{
    (void)state;
    dc_model_t *model = new_model(16, 3, 8, 0.01, 1);
    dc_model_sku_t **skus = new_skus(model, 20);
    /* Day 296 is a Friday. */
    double first, last = run_toy(model, skus, 20, 297, 20, &first);
    assert_true(last < 0.8 * first);
    dc_model_stats_t st;
    dc_model_stats(model, &st);
    assert_int_equal(st.skipped, 0);
    assert_int_equal(st.rollbacks, 0);
    assert_true(st.steps > 250);
    assert_int_equal(dc_model_version(model), st.steps);
    /* The learnt model knows Saturdays: the forecast made on Friday for the
     * next day has a median of 0, for a weekday a positive one. */
    dc_model_dist_t dist[3];
    assert_int_equal(dc_model_predict(model, &skus[4], 1, dist), 0);
    assert_true(dc_nb_quantile(dist[0].mu, dist[0].alpha, 0.5) == 0);
    assert_true(dc_nb_quantile(dist[2].mu, dist[2].alpha, 0.5) > 0);
    free_skus(skus, 20);
    dc_model_destroy(model);
}

static void test_nan_gradient_skipped(void **state)
{
    (void)state;
    dc_model_t *model = new_model(8, 2, 4, 0.01, 1);
    dc_model_sku_t **skus = new_skus(model, 3);
    run_toy(model, skus, 3, 10, 1, NULL);
    size_t np;
    float *p = dc_model_params(model, &np);
    float *before = malloc(sizeof(float) * np);
    memcpy(before, p, sizeof(float) * np);
    uint64_t version = dc_model_version(model);
    /* A poisoned state (NaN in its anchor) makes the loss and gradient NaN. */
    dc__sku_h0(model, skus[1])[0] = NAN;
    double loss;
    assert_int_equal(dc_model_train(model, skus, 3, &loss), DC_ERR_NUMERIC);
    assert_true(isnan(loss));
    assert_memory_equal(before, p, sizeof(float) * np);
    assert_int_equal(dc_model_version(model), version);
    dc_model_stats_t st;
    dc_model_stats(model, &st);
    assert_int_equal(st.skipped, 1);
    free(before);
    free_skus(skus, 3);
    dc_model_destroy(model);
}

static void test_divergence_rolls_back(void **state)
{
    (void)state;
    dc_model_t *model = new_model(8, 2, 4, 0.01, 1);
    dc_model_sku_t **skus = new_skus(model, 4);
    /* 26 days give 25 steps (the first day has no target yet): with
     * snapshots every 5 good steps the last is of the final weights. */
    run_toy(model, skus, 4, 26, 1, NULL);
    dc_model_stats_t st;
    dc_model_stats(model, &st);
    assert_int_equal(st.steps, 25);
    size_t np;
    float *p = dc_model_params(model, &np);
    float *good = malloc(sizeof(float) * np);
    memcpy(good, p, sizeof(float) * np);
    /* Wreck the head: every mean is now huge and sure of itself. */
    for (int k = 0; k < 2; k++) {
        model->bh[2 * k] = 1e4f;
        model->bh[2 * k + 1] = -30.0f;
    }
    double loss;
    assert_int_equal(dc_model_train(model, skus, 4, &loss), DC_ERR_NUMERIC);
    assert_true(loss > 10 * st.loss_mean);
    assert_memory_equal(good, p, sizeof(float) * np);
    dc_model_stats(model, &st);
    assert_int_equal(st.rollbacks, 1);
    free(good);
    free_skus(skus, 4);
    dc_model_destroy(model);
}

/* Same seed and inputs: bit-identical weights and forecasts. */
static void test_online_deterministic(void **state)
{
    (void)state;
    dc_model_t *a = new_model(16, 3, 6, 0.005, 3), *b = new_model(16, 3, 6, 0.005, 3);
    dc_model_t *c = new_model(16, 3, 6, 0.005, 4);
    dc_model_sku_t **sa = new_skus(a, 10), **sb = new_skus(b, 10), **sc = new_skus(c, 10);
    run_toy(a, sa, 10, 40, 1, NULL);
    run_toy(b, sb, 10, 40, 1, NULL);
    run_toy(c, sc, 10, 40, 1, NULL);
    size_t np;
    float *pa = dc_model_params(a, &np), *pb = dc_model_params(b, NULL), *pc = dc_model_params(c, NULL);
    assert_memory_equal(pa, pb, sizeof(float) * np);
    assert_memory_not_equal(pa, pc, sizeof(float) * np);
    dc_model_dist_t da[30], db[30];
    assert_int_equal(dc_model_predict(a, sa, 10, da), 0);
    assert_int_equal(dc_model_predict(b, sb, 10, db), 0);
    assert_memory_equal(da, db, sizeof(da));
    free_skus(sa, 10);
    free_skus(sb, 10);
    free_skus(sc, 10);
    dc_model_destroy(a);
    dc_model_destroy(b);
    dc_model_destroy(c);
}

static void progress(int epoch, double loss, void *opaque)
{
    double *losses = opaque;
    losses[epoch] = loss;
}

static void test_fit(void **state)
{
    (void)state;
    enum { NS = 24, DAYS = 120, EPOCHS = 12 };
    dc_model_bucket_t *bk = malloc(sizeof(*bk) * NS * DAYS);
    dc_model_series_t series[NS];
    for (size_t i = 0; i < NS; i++) {
        for (int d = 0; d < DAYS; d++)
            toy_bucket(&bk[i * DAYS + d], i, d);
        series[i].buckets = bk + i * DAYS;
        series[i].n = DAYS;
    }
    char errstr[128];
    double losses[EPOCHS];
    dc_model_fit_opts_t opts;
    dc_model_fit_opts_default(&opts);
    opts.epochs = EPOCHS;
    opts.batch = 16;
    opts.bptt = 14;
    opts.windows = 8;
    opts.lr = 0.02;
    opts.lr_final = 0.005;
    opts.progress = progress;
    opts.opaque = losses;
    dc_model_t *a = new_model(16, 3, 8, 0.001, 5), *b = new_model(16, 3, 8, 0.001, 5);
    assert_int_equal(dc_model_fit(a, series, NS, &opts, errstr, sizeof(errstr)), 0);
    assert_true(losses[EPOCHS - 1] < 0.8 * losses[0]);
    opts.progress = NULL;
    assert_int_equal(dc_model_fit(b, series, NS, &opts, errstr, sizeof(errstr)), 0);
    size_t np;
    float *pa = dc_model_params(a, &np);
    assert_memory_equal(pa, dc_model_params(b, NULL), sizeof(float) * np);
    /* Another sampling seed draws other windows. */
    dc_model_t *c = new_model(16, 3, 8, 0.001, 5);
    opts.seed = 2;
    assert_int_equal(dc_model_fit(c, series, NS, &opts, errstr, sizeof(errstr)), 0);
    assert_memory_not_equal(pa, dc_model_params(c, NULL), sizeof(float) * np);
    opts.epochs = 0;
    assert_int_equal(dc_model_fit(c, series, NS, &opts, errstr, sizeof(errstr)), DC_ERR_INVAL);
    dc_model_destroy(a);
    dc_model_destroy(b);
    dc_model_destroy(c);
    free(bk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_lowers_loss),
        cmocka_unit_test(test_nan_gradient_skipped),
        cmocka_unit_test(test_divergence_rolls_back),
        cmocka_unit_test(test_online_deterministic),
        cmocka_unit_test(test_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
