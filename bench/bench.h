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

#endif /* DC_BENCH_H */
