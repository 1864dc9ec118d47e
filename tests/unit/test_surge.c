/* tests/unit/test_surge.c - surge episodes on seeded Poisson traffic with a
 * daily cycle. A jump in demand (more views, more of them carted) starts an
 * episode within two buckets and ends it after; a promotion the shop flags
 * lets a weaker jump start one as early, but a flag on normal demand starts
 * nothing; ordinary peaks, quiet nights and thin SKUs raise nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "inference/surge.h"

#include <math.h>
#include <string.h>

#define HOUR 3600000LL
/* Carts per view of a SKU in normal times. */
#define CART_RATE 0.1

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

/* One simulated SKU: `views` mean views per bucket (times the daily shape);
 * in buckets [from, to) demand is lifted by `lift` (views and the share of
 * them carted each by its square root, as a promotion does) and
 * `promo_share` of the SKU's events carry a promotion code. */
typedef struct {
    double views, lift, promo_share;
    int from, to, hours;
} scenario_t;

typedef struct {
    int starts, ends, updates;
    int first_start, first_end; /* bucket index, -1 if none */
    char first_reason[64];      /* first signal of the first START */
} episode_log_t;

static void simulate(const dc_surge_params_t *params, const scenario_t *sc, episode_log_t *log)
{
    dc_surge_season_t season;
    dc_surge_sku_t sku = {0}, other = {0};
    dc_surge_t alert;
    int64_t t0 = 1767571200000LL; /* 2026-01-05T00:00Z, a Monday */

    dc_surge_season_init(&season);
    memset(log, 0, sizeof(*log));
    log->first_start = log->first_end = -1;
    for (int h = 0; h < sc->hours; h++) {
        int64_t t = t0 + h * HOUR;
        int promoted = h >= sc->from && h < sc->to;
        double a = promoted ? sqrt(sc->lift) : 1.0, shape = daily_shape(t);
        dc_surge_obs_t obs = {.bucket_start = t, .views = poisson(sc->views * shape * a)};
        obs.carts = poisson(obs.views * CART_RATE * a);
        obs.units = poisson(obs.carts * 0.8);
        obs.promo_share = promoted ? sc->promo_share : 0;
        obs.forecast_next = obs.normal_next = NAN;
        /* The rest of the shop, which shapes the shared season profile. */
        double rest = poisson(2000 * shape);
        dc_surge_obs_t obs_rest = {t, rest * CART_RATE * 0.8, rest, rest * CART_RATE, 0, NAN, NAN};

        if (dc_surge_observe(params, &season, &sku, "P1", &obs, &alert)) {
            assert_string_equal(alert.sku, "P1");
            assert_int_equal(alert.detected_at, t + HOUR);
            assert_true(isfinite(alert.ratio) && alert.baseline > 0);
            assert_int_equal(alert.n_signals, DC_SIGNALS_MAX);
            if (alert.state == DC_SURGE_START) {
                if (log->first_start < 0) {
                    log->first_start = h;
                    snprintf(log->first_reason, sizeof(log->first_reason), "%s",
                             alert.signals[0].name);
                }
                log->starts++;
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

/* A 4x jump in demand, no promotion flagged: traffic alone starts the
 * episode within two buckets of the jump, ends it within three after, and
 * reports a few updates in between. */
static void test_jump_starts_and_ends(void **state)
{
    dc_surge_params_t params = default_params();
    episode_log_t log;
    (void)state;
    for (int trial = 0; trial < 20; trial++) {
        rng_state = 1000 + trial;
        /* Six hours from mid-morning of day 3. */
        int from = 2 * 24 + 10;
        scenario_t sc = {40, 4.0, 0, from, from + 6, 5 * 24};
        simulate(&params, &sc, &log);
        assert_int_equal(log.starts, 1);
        assert_int_equal(log.ends, 1);
        assert_true(log.first_start >= from && log.first_start <= from + 2);
        assert_string_equal(log.first_reason, "evidence");
        assert_true(log.first_end >= sc.to && log.first_end <= sc.to + 3);
        assert_true(log.updates <= 3);
    }
}

/* A weaker jump (lift 3: views 1.7x) of a quiet SKU (about 12 views a
 * bucket before it). Flagged as a promotion, it starts an episode within two
 * buckets for the promotion's reason. Unflagged, or with only the few coded
 * events a SKU bought along with a promoted one shows, traffic alone
 * decides, and never sooner. */
static void test_promotion_is_a_cause(void **state)
{
    dc_surge_params_t params = default_params();
    episode_log_t flagged, unflagged, stray;
    int from = 2 * 24 + 10, late = 0;
    (void)state;
    for (int trial = 0; trial < 20; trial++) {
        scenario_t sc = {5, 3.0, 1.0, from, from + 6, 4 * 24};
        rng_state = 2000 + trial;
        simulate(&params, &sc, &flagged);
        assert_true(flagged.first_start >= from && flagged.first_start <= from + 2);
        assert_string_equal(flagged.first_reason, "promo_evidence");
        assert_true(flagged.first_end >= sc.to);

        sc.promo_share = 0;
        rng_state = 2000 + trial;
        simulate(&params, &sc, &unflagged);
        sc.promo_share = params.promo_share / 2;
        rng_state = 2000 + trial;
        simulate(&params, &sc, &stray);
        /* The same traffic, so the same episodes with or without stray codes. */
        assert_int_equal(stray.first_start, unflagged.first_start);
        if (unflagged.first_start >= 0) {
            assert_string_equal(unflagged.first_reason, "evidence");
            assert_true(unflagged.first_start >= flagged.first_start);
        }
        late += unflagged.first_start < 0 || unflagged.first_start > from + 2;
    }
    /* The flag matters: on traffic alone most of these start late or never. */
    assert_true(late >= 10);

    /* surge.promo=false ignores the flag. */
    params.promo = 0;
    rng_state = 2000;
    scenario_t sc = {5, 3.0, 1.0, from, from + 6, 4 * 24};
    simulate(&params, &sc, &flagged);
    rng_state = 2000;
    sc.promo_share = 0;
    simulate(&params, &sc, &unflagged);
    assert_int_equal(flagged.first_start, unflagged.first_start);
}

/* A promotion flagged on a SKU whose demand does not move is no surge: the
 * flag lowers the evidence needed, it does not replace it. */
static void test_promotion_without_jump(void **state)
{
    dc_surge_params_t params = default_params();
    episode_log_t log;
    (void)state;
    const double volumes[] = {400, 40, 8};
    for (size_t v = 0; v < DC_ARRAY_SIZE(volumes); v++) {
        for (int trial = 0; trial < 10; trial++) {
            int from = 2 * 24 + 10;
            scenario_t sc = {volumes[v], 1.0, 1.0, from, from + 8, 4 * 24};
            rng_state = 3000 + trial * 17 + v;
            simulate(&params, &sc, &log);
            assert_int_equal(log.starts, 0);
        }
    }
}

/* Busy, ordinary and thin SKUs over two weeks of daily peaks: nothing. */
static void test_no_false_alarms(void **state)
{
    dc_surge_params_t params = default_params();
    episode_log_t log;
    (void)state;
    const double volumes[] = {2000, 400, 40, 3, 0.2};
    for (size_t v = 0; v < DC_ARRAY_SIZE(volumes); v++) {
        for (int trial = 0; trial < 5; trial++) {
            scenario_t sc = {volumes[v], 1.0, 0, 0, 0, 14 * 24};
            rng_state = 77 + trial * 31 + v;
            simulate(&params, &sc, &log);
            assert_int_equal(log.starts, 0);
        }
    }
}

/* A new SKU alerts on nothing until it has a baseline; then a forecast far
 * above the baseline forecaster's starts an episode once the traffic backs
 * it, not before. */
static void test_warmup_and_forecast_cause(void **state)
{
    dc_surge_params_t params = default_params();
    dc_surge_season_t season;
    dc_surge_sku_t sku = {0};
    dc_surge_t alert;
    (void)state;
    dc_surge_season_init(&season);
    /* A huge first bucket is no surge: the SKU has no baseline yet. */
    dc_surge_obs_t obs = {0, 500, 1000, 100, 0, NAN, NAN};
    assert_int_equal(dc_surge_observe(&params, &season, &sku, "N", &obs, &alert), 0);
    for (int h = 1; h < 200; h++) {
        dc_surge_obs_t calm = {h * HOUR, 8, 100, 10, 0, 10, 10};
        assert_int_equal(dc_surge_observe(&params, &season, &sku, "N", &calm, &alert), 0);
    }
    /* The model expecting 8x with traffic as usual starts nothing. */
    dc_surge_obs_t flat = {200 * HOUR, 8, 100, 10, 0, 80, 10};
    assert_int_equal(dc_surge_observe(&params, &season, &sku, "N", &flat, &alert), 0);
    /* Traffic up a little: too little on its own (see the next SKU), enough
     * with the forecast. */
    dc_surge_sku_t twin = sku;
    dc_surge_obs_t up = {201 * HOUR, 8, 140, 16, 0, 80, 10};
    assert_int_equal(dc_surge_observe(&params, &season, &sku, "N", &up, &alert), 1);
    assert_int_equal(alert.state, DC_SURGE_START);
    assert_string_equal(alert.signals[0].name, "forecast_ratio");
    assert_true(alert.signals[0].value == 8);
    assert_true(alert.expected == 80 && alert.baseline == 10 && alert.ratio == 8);
    up.forecast_next = 10;
    assert_int_equal(dc_surge_observe(&params, &season, &twin, "N", &up, &alert), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jump_starts_and_ends),
        cmocka_unit_test(test_promotion_is_a_cause),
        cmocka_unit_test(test_promotion_without_jump),
        cmocka_unit_test(test_no_false_alarms),
        cmocka_unit_test(test_warmup_and_forecast_cause),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
