/* tests/unit/test_surge.c - surge episodes on seeded Poisson traffic with a
 * daily cycle: a promotion starts an episode within two buckets and ends it
 * after; ordinary peaks, quiet nights and thin SKUs raise nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "inference/surge.h"

#include <math.h>
#include <string.h>

#define HOUR 3600000LL

static uint64_t rng_state;

static double uniform(void)
{
    /* splitmix64: a fixed, portable sequence for a seed. */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static double poisson(double lambda)
{
    /* Knuth for small means, a rounded normal for large ones. */
    if (lambda > 50) {
        double u1 = uniform(), u2 = uniform();
        double n = sqrt(-2 * log(u1 + 1e-300)) * cos(2 * M_PI * u2);
        return fmax(0, round(lambda + sqrt(lambda) * n));
    }
    double l = exp(-lambda), p = 1;
    int k = 0;
    do {
        k++;
        p *= uniform();
    } while (p > l);
    return k - 1;
}

/* Daily traffic shape: quiet nights, an evening peak about 3x the mean. */
static double daily_shape(int64_t t)
{
    int hod = (int)((t / HOUR) % 24);
    return 0.15 + 1.7 * pow(sin(M_PI * hod / 24.0), 4) * 1.6;
}

typedef struct {
    int starts, ends, updates;
    int64_t first_start, first_end;
} episode_log_t;

/* Runs `hours` hourly buckets of a SKU with mean views `views` per bucket
 * (units = views / 10), multiplied by `lift` in [promo_from, promo_to). */
static void simulate(dc_surge_params_t *params, double views, double lift, int promo_from,
                     int promo_to, int hours, episode_log_t *log)
{
    dc_surge_season_t season;
    dc_surge_sku_t sku = {0}, other = {0};
    dc_surge_t alert;
    int64_t t0 = 1767571200000LL; /* 2026-01-05T00:00Z, a Monday */

    dc_surge_season_init(&season);
    memset(log, 0, sizeof(*log));
    log->first_start = log->first_end = -1;
    for (int h = 0; h < hours; h++) {
        int64_t t = t0 + h * HOUR;
        double l = (h >= promo_from && h < promo_to) ? lift : 1.0;
        double shape = daily_shape(t);
        dc_surge_obs_t obs = {t, poisson(views * shape * l / 10), poisson(views * shape * l),
                              0, NAN};
        obs.carts = poisson(obs.views / 8);
        /* The rest of the shop, which shapes the shared season profile. */
        double rest = poisson(2000 * shape);
        dc_surge_obs_t obs_rest = {t, rest / 10, rest, rest / 8, NAN};

        if (dc_surge_observe(params, &season, &sku, "P1", &obs, &alert)) {
            assert_string_equal(alert.sku, "P1");
            assert_int_equal(alert.detected_at, t + HOUR);
            assert_true(isfinite(alert.ratio) && alert.baseline > 0);
            assert_true(alert.n_signals >= 3);
            if (alert.state == DC_SURGE_START) {
                log->starts++;
                if (log->first_start < 0)
                    log->first_start = h;
            } else if (alert.state == DC_SURGE_END) {
                log->ends++;
                if (log->first_end < 0)
                    log->first_end = h;
            } else {
                log->updates++;
            }
        }
        dc_surge_observe(params, &season, &other, "REST", &obs_rest, &alert);
        dc_surge_season_observe(&season, params, t, obs.views + obs_rest.views);
    }
}

static dc_surge_params_t default_params(void)
{
    dc_conf_t *conf = dc_conf_new();
    dc_surge_params_t params;
    dc_surge_params_from_conf(&params, conf);
    dc_conf_destroy(conf);
    return params;
}

static void test_promotion_starts_and_ends(void **state)
{
    dc_surge_params_t params = default_params();
    episode_log_t log;
    (void)state;
    for (int trial = 0; trial < 20; trial++) {
        rng_state = 1000 + trial;
        /* Promotion 4x for 6 hours starting mid-morning of day 3. */
        int from = 2 * 24 + 10;
        simulate(&params, 40, 4.0, from, from + 6, 5 * 24, &log);
        assert_int_equal(log.starts, 1);
        assert_int_equal(log.ends, 1);
        assert_true(log.first_start >= from && log.first_start <= from + 1);
        assert_true(log.first_end >= from + 6 && log.first_end <= from + 6 + 3);
        assert_true(log.updates <= 3);
    }
}

static void test_no_false_alarms(void **state)
{
    dc_surge_params_t params = default_params();
    episode_log_t log;
    (void)state;
    /* Busy, ordinary and thin SKUs over two weeks of daily peaks: nothing. */
    const double volumes[] = {400, 40, 3, 0.2};
    for (size_t v = 0; v < DC_ARRAY_SIZE(volumes); v++) {
        for (int trial = 0; trial < 5; trial++) {
            rng_state = 77 + trial * 31 + v;
            simulate(&params, volumes[v], 1.0, 0, 0, 14 * 24, &log);
            assert_int_equal(log.starts, 0);
        }
    }
}

static void test_warmup_and_forecast_signal(void **state)
{
    dc_surge_params_t params = default_params();
    dc_surge_season_t season;
    dc_surge_sku_t sku = {0};
    dc_surge_t alert;
    (void)state;
    dc_surge_season_init(&season);
    /* A huge first bucket is no surge: the SKU has no baseline yet. */
    dc_surge_obs_t obs = {0, 500, 5000, 100, NAN};
    assert_int_equal(dc_surge_observe(&params, &season, &sku, "N", &obs, &alert), 0);
    for (int h = 1; h < 60; h++) {
        dc_surge_obs_t calm = {h * HOUR, 10, 100, 10, 10};
        assert_int_equal(dc_surge_observe(&params, &season, &sku, "N", &calm, &alert), 0);
    }
    /* The model expecting 5x next bucket with traffic as usual starts
     * nothing; with traffic clearly up it starts an episode even though the
     * traffic alone would not. */
    dc_surge_obs_t flat = {60 * HOUR, 10, 100, 10, 80};
    assert_int_equal(dc_surge_observe(&params, &season, &sku, "N", &flat, &alert), 0);
    dc_surge_obs_t fc = {61 * HOUR, 10, 450, 10, 80};
    assert_int_equal(dc_surge_observe(&params, &season, &sku, "N", &fc, &alert), 1);
    assert_int_equal(alert.state, DC_SURGE_START);
    assert_true(alert.expected == 80);
    assert_true(alert.ratio > params.ratio);
    int found = 0;
    for (size_t i = 0; i < alert.n_signals; i++)
        if (!strcmp(alert.signals[i].name, "forecast_ratio"))
            found = alert.signals[i].value > params.ratio;
    assert_true(found);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_promotion_starts_and_ends),
        cmocka_unit_test(test_no_false_alarms),
        cmocka_unit_test(test_warmup_and_forecast_signal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
