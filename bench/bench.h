/* bench/bench.h - what the benchmarks share. Header-only: every
 * bench/bench_<name>.c is its own executable (bench/CMakeLists.txt). */
#ifndef DC_BENCH_H
#define DC_BENCH_H

#include <stdlib.h>

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of v[0..n), n >= 1; sorts v. The machines are shared and noisy:
 * benchmarks quote medians. */
static inline double bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* A distribution-free interval for the median of the population the n
 * runs v[0..n) (sorted, as bench_median leaves them) come from: the
 * narrowest [v[k], v[n-1-k]] that covers it with at least 95 % confidence
 * (a run falls on either side of the median with probability 1/2, so the
 * count below it is binomial). Fewer than 6 runs allow none: the whole
 * range then, with its lower confidence. Returns the confidence. */
static inline double bench_median_interval(const double *v, size_t n, double *lo, double *hi)
{
    double term = 1; /* P(X = k) for X ~ Binomial(n, 1/2) */
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        term *= 0.5;
    double p_tail = term; /* P(X <= k) */
    for (;;) {
        double next = term * (double)(n - k) / (double)(k + 1);
        if (k + 1 >= n / 2 || 2 * (p_tail + next) > 0.05)
            break;
        term = next;
        p_tail += next;
        k++;
    }
    *lo = v[k];
    *hi = v[n - 1 - k];
    return 1 - 2 * p_tail;
}

#endif /* DC_BENCH_H */
