/* tests/unit/test_head.c - the negative binomial head: quantiles against
 * closed forms and a brute-force CDF, their behaviour on adversarial
 * inputs, and the loss gradient against finite differences. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "inference/inference_int.h"

#include <stdlib.h>

/* Brute force: the pmf of every count from lgamma, summed in long double,
 * to the least k with CDF(k) >= q, and the CDF interpolated linearly from
 * k - 1 to k (0 when q <= P(0)). *whole gets k when not NULL. */
static double brute_quantile_k(double mu, double alpha, double q, double *whole)
{
    double r = 1.0 / alpha, t = alpha * mu / (1 + alpha * mu);
    long double cdf = 0;
    for (double k = 0;; k += 1) {
        double lp = lgamma(k + r) - lgamma(r) - lgamma(k + 1) - r * log1p(alpha * mu) + k * log(t);
        long double pk = expl((long double)lp);
        cdf += pk;
        if (cdf >= q) {
            if (whole)
                *whole = k;
            return k == 0 ? 0.0 : (double)(k - 1 + (q - (cdf - pk)) / pk);
        }
    }
}

static double brute_quantile(double mu, double alpha, double q)
{
    return brute_quantile_k(mu, alpha, q, NULL);
}

/* The brute force's lgamma(k + r) - lgamma(r) loses about 1e-9 of each log
 * pmf when r = 1 / alpha is large, and the interpolation divides that error
 * by the pmf at k: a wrong count or fraction is off by far more. */
static int near(double got, double want)
{
    return fabs(got - want) <= 1e-6 * (1 + fabs(want));
}

/* The interpolated quantile of the geometric (NB with alpha = 1), whose CDF
 * has a closed form: F(k) = 1 - t^(k+1), t = mu / (1 + mu). */
static double geometric_quantile(double mu, double q)
{
    double t = mu / (1 + mu);
    double k = ceil(log1p(-q) / log(t)) - 1;
    if (k <= 0)
        return 0.0;
    double f0 = 1 - pow(t, k), f1 = 1 - pow(t, k + 1);
    return k - 1 + (q - f0) / (f1 - f0);
}

static void test_closed_forms(void **state)
{
    (void)state;
    dc_nb_summary_t s;
    /* alpha -> 0 is Poisson(10): CDF(5)=.067 CDF(6)=.130, CDF(9)=.458
     * CDF(10)=.583, CDF(13)=.864 CDF(14)=.917: the quantiles lie in
     * (5, 6), (9, 10) and (13, 14). */
    assert_int_equal(dc_nb_summary(10, 1e-7, &s), 0);
    assert_true(s.mean == 10);
    assert_true(s.p10 > 5 && s.p10 < 6 && s.p50 > 9 && s.p50 < 10 && s.p90 > 13 && s.p90 < 14);
    /* alpha = 1 is geometric. mu = 3: t = .75, F(0) = .25 >= .1, so p10 = 0;
     * F(1) = .4375 F(2) = .578 put p50 at 1 + .0625 / .1406 = 1.444;
     * F(7) = .8999 F(8) = .9249 put p90 at 7.0045, where the least k with
     * F(k) >= .9 would say 8. */
    assert_int_equal(dc_nb_summary(3, 1, &s), 0);
    assert_true(s.p10 == 0);
    assert_true(fabs(s.p50 - 13.0 / 9.0) < 1e-12);
    assert_true(near(s.p50, geometric_quantile(3, 0.5)) && near(s.p90, geometric_quantile(3, 0.9)));
    assert_true(s.p90 > 7 && s.p90 < 7.01);
    /* A small mean with high dispersion has its median at zero: the lumpy
     * series case, where the p50 forecast rightly says "nothing". */
    assert_int_equal(dc_nb_summary(2, 4, &s), 0);
    assert_true(s.p50 == 0 && s.p90 > 0);
}

/* The interpolated quantile lies between the discrete one and the count
 * below, matches the formula on the geometric's closed-form CDF, and never
 * falls as q rises. */
static void test_interpolation(void **state)
{
    (void)state;
    const double mus[] = {0.3, 3, 40};
    for (size_t i = 0; i < DC_ARRAY_SIZE(mus); i++) {
        double prev = 0;
        for (int j = 1; j < 1000; j++) {
            double q = j / 1000.0, k;
            double got = dc_nb_quantile(mus[i], 1, q);
            double want = brute_quantile_k(mus[i], 1, q, &k);
            if (!near(got, want) || !near(got, geometric_quantile(mus[i], q)))
                fail_msg("mu %g q %g: %.17g, brute force %.17g, closed form %.17g", mus[i], q,
                         got, want, geometric_quantile(mus[i], q));
            if (!(got <= k && (k == 0 ? got == 0 : got >= k - 1)))
                fail_msg("mu %g q %g: %g outside [%g, %g]", mus[i], q, got, k - 1, k);
            if (got < prev)
                fail_msg("mu %g: quantile %g at q %g below %g just before", mus[i], got, q, prev);
            prev = got;
        }
    }
    /* Between two whole numbers the quantile is linear in q. */
    double a = dc_nb_quantile(3, 1, 0.46), b = dc_nb_quantile(3, 1, 0.5),
           c = dc_nb_quantile(3, 1, 0.54);
    assert_true(a > 1 && c < 2 && fabs((b - a) - (c - b)) < 1e-12);
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
                if (!near(got, want))
                    fail_msg("mu %g alpha %g q %g: %.17g, brute force %.17g", mus[i], alphas[j],
                             qs[k], got, want);
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
    assert_true(near(dc_nb_quantile(5e4, 1e-4, 0.5), brute_quantile(5e4, 1e-4, 0.5)));
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
                if (!near(got, want))
                    fail_msg("mu %.17g alpha %g q %g: %.17g, brute force %.17g", mu, alphas[a],
                             qs[k], got, want);
                dc_nb_summary_t s;
                assert_int_equal(dc_nb_summary(mu, alphas[a], &s), 0);
                assert_true(s.mean == mu);
                assert_true(near(s.p10, brute_quantile(mu, alphas[a], 0.1)));
                assert_true(near(s.p50, brute_quantile(mu, alphas[a], 0.5)));
                assert_true(near(s.p90, brute_quantile(mu, alphas[a], 0.9)));
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
        cmocka_unit_test(test_interpolation),
        cmocka_unit_test(test_against_brute_force),
        cmocka_unit_test(test_large_means),
        cmocka_unit_test(test_zero_shortcut_edge),
        cmocka_unit_test(test_adversarial),
        cmocka_unit_test(test_loss_gradient),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
