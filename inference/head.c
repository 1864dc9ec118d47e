/* inference/head.c - the negative binomial of the forecast head: its loss
 * and gradient, and its quantiles read exactly from the CDF interpolated
 * linearly between whole numbers. */
#include "inference/inference_int.h"

#define ALPHA_LO 1e-6
#define ALPHA_HI 1e6
/* When P(0) underflows the walk starts below the mode, about ten standard
 * deviations from the quantiles; beyond this sd that is too far. */
#define SD_EXACT_MAX 4000.0
/* Counts the exact walk may visit before the approximation takes over. */
#define WALK_MAX 200000
/* Relative pmf below which the left tail is dropped (e^-46). */
#define TAIL_REL 1e-20

double dc__digamma(double x)
{
    double r = 0.0;
    /* Recurrence up to where the asymptotic series is accurate to 1e-14. */
    while (x < 10.0) {
        r -= 1.0 / x;
        x += 1.0;
    }
    double f = 1.0 / (x * x);
    double t = f * (-1.0 / 12 + f * (1.0 / 120 + f * (-1.0 / 252 + f * (1.0 / 240 + f * (-1.0 / 132)))));
    return r + log(x) - 0.5 / x + t;
}

double dc_nb_nll(double y, double mu, double alpha)
{
    int sign;
    double r = 1.0 / alpha, am = alpha * mu;
    double l = lgamma_r(r, &sign) - lgamma_r(y + r, &sign) + lgamma_r(y + 1.0, &sign) +
               (r + y) * log1p(am);
    if (y > 0)
        l -= y * log(am);
    return l;
}

double dc__nb_loss_grad(double y, double scale, double z_mu, double z_alpha, double *dz_mu,
                        double *dz_alpha)
{
    double sp_mu = dc__softplus(z_mu);
    double mu = scale * sp_mu;
    double alpha = dc__softplus(z_alpha) + DC__ALPHA_MIN;
    /* Keep log(mu) finite when softplus underflows: the loss is then huge
     * but finite, and the gradient still pushes mu up. */
    if (mu < 1e-12)
        mu = 1e-12;
    double r = 1.0 / alpha, am = alpha * mu;
    double dmu = (mu - y) / (mu * (1.0 + am));
    /* psi(y + r) - psi(r): an exact sum for small integer counts, where the
     * difference of two digammas of a large r would cancel. */
    double dpsi = 0.0;
    if (y < 64 && y == floor(y)) {
        for (int k = 0; k < (int)y; k++)
            dpsi += 1.0 / (r + k);
    } else {
        dpsi = dc__digamma(y + r) - dc__digamma(r);
    }
    double dalpha = (dpsi - log1p(am)) * r * r + (r + y) * mu / (1.0 + am) - y * r;
    double sig_mu = 1.0 / (1.0 + exp(-z_mu)), sig_alpha = 1.0 / (1.0 + exp(-z_alpha));
    *dz_mu = dmu * scale * sig_mu;
    *dz_alpha = dalpha * sig_alpha;
    return dc_nb_nll(y, mu, alpha);
}

/* Standard normal quantile (Acklam's rational approximation, relative
 * error below 1.2e-9), for the approximate regime only. */
static double norm_quantile(double q)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                               2.445134137142996e+00, 3.754408661907416e+00};
    if (q < 0.02425) {
        double t = sqrt(-2 * log(q));
        return (((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t + c[5]) /
               ((((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1);
    }
    if (q > 1 - 0.02425) {
        double t = sqrt(-2 * log(1 - q));
        return -(((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t + c[5]) /
               ((((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1);
    }
    double t = q - 0.5, u = t * t;
    return (((((a[0] * u + a[1]) * u + a[2]) * u + a[3]) * u + a[4]) * u + a[5]) * t /
           (((((b[0] * u + b[1]) * u + b[2]) * u + b[3]) * u + b[4]) * u + 1);
}

/* Regularised lower incomplete gamma P(a, x) (Numerical Recipes' gser and
 * gcf), for the approximate regime only, where a <= 1000 bounds both loops. */
static double gamma_p(double a, double x)
{
    int sign;
    if (x <= 0)
        return 0.0;
    double lg = lgamma_r(a, &sign);
    if (x < a + 1) {
        double ap = a, del = 1.0 / a, sum = del;
        for (int n = 0; n < 10000 && fabs(del) > fabs(sum) * 1e-15; n++) {
            ap += 1;
            del *= x / ap;
            sum += del;
        }
        return sum * exp(-x + a * log(x) - lg);
    }
    double b = x + 1 - a, c = 1e300, d = 1.0 / b, h = d;
    for (int i = 1; i < 10000; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        d = fabs(d) < 1e-300 ? 1e-300 : d;
        c = b + an / c;
        c = fabs(c) < 1e-300 ? 1e-300 : c;
        d = 1.0 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-15)
            break;
    }
    return 1.0 - exp(-x + a * log(x) - lg) * h;
}

/* Quantiles when the exact walk would be too long: the NB is then a gamma
 * of shape r and mean mu blurred by Poisson noise far smaller than its
 * spread, so the gamma's quantile (bisection in log space), or a normal's
 * when the gamma is nearly symmetric, stands in for it. Its quantile is
 * taken as it is, not rounded, as the interpolated CDF it stands for is
 * continuous too. */
static void nb_quantiles_approx(double mu, double alpha, const double *q, size_t n, double *res)
{
    double r = 1.0 / alpha, theta = mu / r;
    double sd = sqrt(mu + alpha * mu * mu);
    for (size_t i = 0; i < n; i++) {
        double x;
        if (r > 1000) {
            x = mu + norm_quantile(q[i]) * sd;
        } else {
            double lo = -800, hi = log(mu) + 50;
            for (int it = 0; it < 100; it++) {
                double m = 0.5 * (lo + hi);
                if (gamma_p(r, exp(m) / theta) < q[i])
                    lo = m;
                else
                    hi = m;
            }
            x = exp(hi);
        }
        res[i] = x > 0 ? x : 0.0;
    }
}

/* The quantile q of the CDF interpolated linearly between whole numbers,
 * given the least k with CDF(k) >= q (cdf) and P(k) (pk): the x in
 * [k - 1, k] where the line from CDF(k - 1) to CDF(k) reaches q. Counts are
 * never negative, so q <= P(0) is the point mass at 0. Clamped to
 * [k - 1, k] where rounding leaves the walk's CDF a hair off q. */
static double interpolate(double k, double cdf, double pk, double q)
{
    if (k == 0.0 || !(pk > 0.0))
        return k;
    double frac = (q - (cdf - pk)) / pk;
    return k - 1.0 + (frac < 0.0 ? 0.0 : frac > 1.0 ? 1.0 : frac);
}

/* Exact quantiles by walking the pmf upwards with the ratio
 * P(k+1)/P(k) = (k + r) / (k + 1) * t, t = alpha mu / (1 + alpha mu),
 * from 0 or, when P(0) underflows, from a point below the mode where the
 * tail is negligible, with P there taken from lgamma in log space. The walk
 * stops at the least k with CDF(k) >= q, and the quantile is read from the
 * CDF interpolated linearly between k - 1 and k. q must be ascending. */
static int nb_quantiles_exact(double mu, double alpha, double log1p_am, const double *q, size_t n,
                              double *res)
{
    int sign;
    double r = 1.0 / alpha, am = alpha * mu;
    double t = am / (1.0 + am);
    double sd = sqrt(mu + alpha * mu * mu);
    double k = 0.0, pk = exp(-r * log1p_am);
    if (r * log1p_am > 600.0) {
        double mode = r > 1 ? floor((r - 1.0) * mu / r) : 0.0;
        double logp = lgamma_r(mode + r, &sign) - lgamma_r(r, &sign) - lgamma_r(mode + 1, &sign) -
                      r * log1p_am + mode * (log(am) - log1p_am);
        double rel = 1.0;
        k = mode;
        while (k > 0 && rel > TAIL_REL) {
            rel *= k / ((k - 1.0 + r) * t);
            k -= 1.0;
        }
        pk = exp(logp) * rel;
    }
    double cdf = pk;
    /* Rounding may keep the CDF a hair below q far out in the tail. */
    double k_max = mu + 60.0 * sd + 100.0;
    for (size_t i = 0, steps = 0; i < n; i++) {
        while (cdf < q[i] && k < k_max) {
            if (++steps > WALK_MAX)
                return DC_ERR_AGAIN;
            pk *= (k + r) / (k + 1.0) * t;
            k += 1.0;
            cdf += pk;
        }
        res[i] = interpolate(k, cdf, pk, q[i]);
    }
    return 0;
}

/* The largest mean for which every quantile up to q is 0, given -log(q):
 * P(0) = (1 + alpha mu)^(-1/alpha) >= e^-mu since log1p(x) <= x, so a mean
 * below -log(q) puts at least q on 0. The margin (relative 1e-6 and absolute
 * 1e-12) is far wider than the rounding of the P(0) the walk would compute,
 * so the shortcut gives exactly what the walk gives. */
static double zero_bound(double neg_log_q)
{
    return neg_log_q * (1.0 - 1e-6) - 1e-12;
}

/* q ascending; neg_log_qmax = -log(q[n-1]). */
static int nb_quantiles(double mu, double alpha, const double *q, size_t n, double neg_log_qmax,
                        double *res)
{
    for (size_t i = 0; i < n; i++)
        res[i] = 0.0;
    if (!isfinite(mu) || !isfinite(alpha) || mu < 0 || alpha < 0)
        return DC_ERR_NUMERIC;
    /* Most SKU-buckets of a catalogue sell nothing on average: their
     * forecasts end here, without a log or an exp. */
    if (mu <= zero_bound(neg_log_qmax))
        return 0;
    alpha = alpha < ALPHA_LO ? ALPHA_LO : alpha > ALPHA_HI ? ALPHA_HI : alpha;
    /* Heavy tails (small r) can put the p90 far out even from a moderate
     * sd, so the walk itself is bounded and hands over when it runs long. */
    double log1p_am = log1p(alpha * mu);
    int underflow = log1p_am / alpha > 600.0;
    if ((underflow && sqrt(mu + alpha * mu * mu) > SD_EXACT_MAX) ||
        nb_quantiles_exact(mu, alpha, log1p_am, q, n, res))
        nb_quantiles_approx(mu, alpha, q, n, res);
    /* Quantiles never cross, even where an approximation might. */
    for (size_t i = 1; i < n; i++)
        if (res[i] < res[i - 1])
            res[i] = res[i - 1];
    return 0;
}

int dc_nb_summary(double mu, double alpha, dc_nb_summary_t *out)
{
    static const double qs[3] = {0.1, 0.5, 0.9};
    static const double neg_log_09 = 0.10536051565782628; /* -log(0.9) */
    double res[3];
    int err = nb_quantiles(mu, alpha, qs, 3, neg_log_09, res);
    out->mean = err ? 0.0 : mu;
    out->p10 = res[0];
    out->p50 = res[1];
    out->p90 = res[2];
    return err;
}

double dc_nb_quantile(double mu, double alpha, double q)
{
    double res;
    if (!(q > 0 && q < 1))
        return 0.0;
    nb_quantiles(mu, alpha, &q, 1, -log(q), &res);
    return res;
}
