/* tests/unit/test_head.c - the negative binomial head: quantiles against
 * closed forms and a brute-force CDF, their behaviour on adversarial
 * inputs, and the loss gradient against finite differences. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "inference/inference_int.h"

#include <stdlib.h>

/* Brute force: the pmf of every count from lgamma, summed in long double. */
static double brute_quantile(double mu, double alpha, double q)
{
    double r = 1.0 / alpha, t = alpha * mu / (1 + alpha * mu);
    long double cdf = 0;
    for (double k = 0;; k += 1) {
        double lp = lgamma(k + r) - lgamma(r) - lgamma(k + 1) - r * log1p(alpha * mu) + k * log(t);
        cdf += expl((long double)lp);
        if (cdf >= q)
            return k;
    }
}

static void test_closed_forms(void **state)
{
    (void)state;
    dc_nb_summary_t s;
    /* alpha -> 0 is Poisson(10): CDF(5)=.067 CDF(6)=.130, CDF(9)=.458
     * CDF(10)=.583, CDF(13)=.864 CDF(14)=.917. */
    assert_int_equal(dc_nb_summary(10, 1e-7, &s), 0);
    assert_true(s.mean == 10 && s.p10 == 6 && s.p50 == 10 && s.p90 == 14);
    /* alpha = 1 is geometric: P(Y <= k) = 1 - t^(k+1), t = mu / (1 + mu).
     * mu = 3: t = .75, quantile q is ceil(log(1-q)/log(t)) - 1. */
    assert_int_equal(dc_nb_summary(3, 1, &s), 0);
    assert_true(s.p10 == 0 && s.p50 == 2 && s.p90 == 8);
    /* A small mean with high dispersion has its median at zero: the lumpy
     * series case, where the p50 forecast rightly says "nothing". */
    assert_int_equal(dc_nb_summary(2, 4, &s), 0);
    assert_true(s.p50 == 0 && s.p90 > 0);
}

static void test_against_brute_force(void **state)
{
    (void)state;
    const double mus[] = {0.01, 0.5, 3, 40, 700, 2500};
    const double alphas[] = {1e-6, 0.01, 0.5, 3, 50};
    const double qs[] = {0.1, 0.5, 0.9, 0.01, 0.99};
    for (size_t i = 0; i < DC_ARRAY_SIZE(mus); i++)
        for (size_t j = 0; j < DC_ARRAY_SIZE(alphas); j++)
            for (size_t k = 0; k < DC_ARRAY_SIZE(qs); k++) {
                double got = dc_nb_quantile(mus[i], alphas[j], qs[k]);
                double want = brute_quantile(mus[i], alphas[j], qs[k]);
                if (got != want)
                    fail_msg("mu %g alpha %g q %g: %g, brute force %g", mus[i], alphas[j], qs[k],
                             got, want);
            }
}

/* Means large enough that P(0) underflows take the walk from the mode. */
static void test_large_means(void **state)
{
    (void)state;
    dc_nb_summary_t s;
    assert_int_equal(dc_nb_summary(5e4, 1e-6, &s), 0); /* ~ Poisson, sd 224 */
    assert_true(fabs(s.p50 - 5e4) <= 1);
    double sd = sqrt(5e4 + 1e-6 * 5e4 * 5e4);
    assert_true(fabs(s.p90 - (5e4 + 1.2816 * sd)) <= 2);
    assert_true(fabs(s.p10 - (5e4 - 1.2816 * sd)) <= 2);
    assert_true(dc_nb_quantile(5e4, 1e-4, 0.5) == brute_quantile(5e4, 1e-4, 0.5));
}

/* Means just below and above -log(q), where dc_nb_summary stops computing
 * because every quantile is 0, and the single-quantile form for q near 1,
 * agree with brute force: the shortcut never changes an answer. */
static void test_zero_shortcut_edge(void **state)
{
    (void)state;
    const double alphas[] = {1e-6, 1e-3, 0.3, 1, 7, 1e3, 1e6};
    const double qs[] = {0.1, 0.5, 0.9, 0.999};
    for (size_t a = 0; a < DC_ARRAY_SIZE(alphas); a++)
        for (size_t k = 0; k < DC_ARRAY_SIZE(qs); k++)
            for (int i = -20; i <= 20; i++) {
                double mu = -log(qs[k]) * (1 + i * 1e-3);
                double got = dc_nb_quantile(mu, alphas[a], qs[k]);
                double want = brute_quantile(mu, alphas[a], qs[k]);
                if (got != want)
                    fail_msg("mu %.17g alpha %g q %g: %g, brute force %g", mu, alphas[a], qs[k],
                             got, want);
                dc_nb_summary_t s;
                assert_int_equal(dc_nb_summary(mu, alphas[a], &s), 0);
                assert_true(s.mean == mu);
                assert_true(s.p10 == brute_quantile(mu, alphas[a], 0.1));
                assert_true(s.p50 == brute_quantile(mu, alphas[a], 0.5));
                assert_true(s.p90 == brute_quantile(mu, alphas[a], 0.9));
            }
}

static void check_summary(double mu, double alpha)
{
    dc_nb_summary_t s;
    dc_nb_summary(mu, alpha, &s);
    if (!(isfinite(s.mean) && isfinite(s.p10) && isfinite(s.p50) && isfinite(s.p90) &&
          s.p10 >= 0 && s.p10 <= s.p50 && s.p50 <= s.p90))
        fail_msg("mu %g alpha %g: mean %g p10 %g p50 %g p90 %g", mu, alpha, s.mean, s.p10, s.p50,
                 s.p90);
}

static void test_adversarial(void **state)
{
    (void)state;
    const double mus[] = {0, 1e-300, 1e-9, 0.3, 7, 1e4, 1e6, 1e9, 1e15, 3e38};
    const double alphas[] = {0, 1e-300, 1e-12, 1e-4, 1, 1e3, 1e6, 1e12, 1e300};
    for (size_t i = 0; i < DC_ARRAY_SIZE(mus); i++)
        for (size_t j = 0; j < DC_ARRAY_SIZE(alphas); j++)
            check_summary(mus[i], alphas[j]);
    dc_nb_summary_t s;
    assert_int_equal(dc_nb_summary(0, 1, &s), 0);
    assert_true(s.mean == 0 && s.p10 == 0 && s.p50 == 0 && s.p90 == 0);
    /* Huge means with little dispersion: the normal regime, centred. */
    assert_int_equal(dc_nb_summary(1e9, 1e-6, &s), 0);
    assert_true(fabs(s.p50 / 1e9 - 1) < 1e-3 && s.p10 < s.p50 && s.p50 < s.p90);
    /* Huge means with huge dispersion: mostly zero, still ordered. */
    assert_int_equal(dc_nb_summary(1e9, 1e6, &s), 0);
    assert_true(s.p10 == 0);
    double bad[][2] = {{NAN, 1}, {1, NAN}, {INFINITY, 1}, {-1, 1}, {1, -1}, {5, -INFINITY}};
    for (size_t i = 0; i < DC_ARRAY_SIZE(bad); i++) {
        assert_int_equal(dc_nb_summary(bad[i][0], bad[i][1], &s), DC_ERR_NUMERIC);
        assert_true(s.mean == 0 && s.p10 == 0 && s.p50 == 0 && s.p90 == 0);
    }
    /* The head never hands out a distribution the summary cannot read:
     * extreme raw outputs still give finite, positive mu and alpha. */
    const float zs[] = {-1e30f, -100, 0, 100, 1e30f};
    for (size_t i = 0; i < DC_ARRAY_SIZE(zs); i++)
        for (size_t j = 0; j < DC_ARRAY_SIZE(zs); j++) {
            dc_model_dist_t d;
            dc__head_dist(3.0f, zs[i], zs[j], &d);
            assert_true(isfinite(d.alpha) && d.alpha > 0 && d.mu >= 0);
            check_summary(d.mu, d.alpha);
        }
    /* Random sweep in log space. */
    uint64_t x = 99;
    for (int i = 0; i < 2000; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(x >> 11) * 0x1.0p-53;
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        double v = (double)(x >> 11) * 0x1.0p-53;
        check_summary(pow(10, -6 + 16 * u), pow(10, -8 + 14 * v));
    }
}

static void test_loss_gradient(void **state)
{
    (void)state;
    const double ys[] = {0, 1, 3, 17, 250.5, 4000};
    const double zm[] = {-3, 0.2, 2.5}, za[] = {-4, 0.1, 3};
    for (size_t a = 0; a < DC_ARRAY_SIZE(ys); a++)
        for (size_t b = 0; b < DC_ARRAY_SIZE(zm); b++)
            for (size_t c = 0; c < DC_ARRAY_SIZE(za); c++) {
                double scale = 7.5, dm, da, t1, t2, eps = 1e-6;
                double l = dc__nb_loss_grad(ys[a], scale, zm[b], za[c], &dm, &da);
                double mu = scale * dc__softplus(zm[b]);
                double alpha = dc__softplus(za[c]) + DC__ALPHA_MIN;
                assert_true(fabs(l - dc_nb_nll(ys[a], mu, alpha)) < 1e-9 * (1 + fabs(l)));
                double fm = (dc__nb_loss_grad(ys[a], scale, zm[b] + eps, za[c], &t1, &t2) -
                             dc__nb_loss_grad(ys[a], scale, zm[b] - eps, za[c], &t1, &t2)) /
                            (2 * eps);
                double fa = (dc__nb_loss_grad(ys[a], scale, zm[b], za[c] + eps, &t1, &t2) -
                             dc__nb_loss_grad(ys[a], scale, zm[b], za[c] - eps, &t1, &t2)) /
                            (2 * eps);
                if (fabs(dm - fm) > 1e-5 * (1 + fabs(fm)) || fabs(da - fa) > 1e-5 * (1 + fabs(fa)))
                    fail_msg("y %g zm %g za %g: d/dzm %g vs %g, d/dza %g vs %g", ys[a], zm[b],
                             za[c], dm, fm, da, fa);
            }
    /* digamma at known points: psi(1) = -gamma, psi(0.5) = -gamma - 2 ln 2. */
    assert_true(fabs(dc__digamma(1) + 0.5772156649015329) < 1e-13);
    assert_true(fabs(dc__digamma(0.5) + 0.5772156649015329 + 2 * log(2)) < 1e-13);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_forms),
        cmocka_unit_test(test_against_brute_force),
        cmocka_unit_test(test_large_means),
        cmocka_unit_test(test_zero_shortcut_edge),
        cmocka_unit_test(test_adversarial),
        cmocka_unit_test(test_loss_gradient),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
