/* bench/bench_backtest.c - reads the shared UCI Online Retail file through the
 * CSV reader, scores the baselines of PROTOCOL.md section 9 with the backtest
 * scorer, and prints the anchor table beside the protocol's figures with the
 * time reading and scoring took (as ratios to a raw gunzip of the same file,
 * measured in the same run).
 *
 * With --explore it also scores a few cheap median-type forecasters written
 * here (bench code, not product code) to show what beats the 28-day moving
 * median on this window.
 *
 *   bench_backtest [--explore] [--report DIR] [FILE]
 *
 * FILE defaults to $DC_SOURCE_DIR/../shared/data/online-retail-2010-12-to-2011-09.csv.gz,
 * or ../shared/... beside the current directory's checkout. */
#include "common/common.h"
#include "consumers/consumers.h"
#include "producers/backtest.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define DATA_REL "shared/data/online-retail-2010-12-to-2011-09.csv.gz"

typedef struct {
    char sku[DC_SKU_MAX];
    int64_t ts;
    int32_t qty;
} line_t;

typedef struct {
    line_t *v;
    size_t n, cap;
} lines_t;

/* PROTOCOL.md section 9; NAN where the table shows a dash. */
static const struct {
    const char *name;
    double v[7];
} anchors[] = {
    {"zero", {1.000, 1.000, 0.776, NAN, NAN, NAN, NAN}},
    {"naive", {1.415, 1.428, 1.145, NAN, NAN, NAN, NAN}},
    {"snaive7", {1.303, 1.302, 1.054, NAN, NAN, NAN, NAN}},
    {"ma28", {1.137, 1.125, 0.913, NAN, NAN, NAN, NAN}},
    {"ma28 median", {0.927, 0.926, 0.737, 0.200, 0.926, 0.966, 0.882}},
};

static double raw_gunzip_s(const char *path)
{
    static char buf[1 << 16];
    double t0 = dc_monotonic_s();
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return -1;
    while (gzread(gz, buf, sizeof(buf)) > 0)
        ;
    gzclose(gz);
    return dc_monotonic_s() - t0;
}

/* Reads every placed order line; prints the reader's counts. */
static int read_lines(const char *path, lines_t *out)
{
    char errstr[512];
    dc_order_t order = {0};
    dc_csv_stats_t st;
    dc_csv_reader_t *rd = dc_csv_reader_new(path, "uci-online-retail", errstr, sizeof(errstr));
    int err;

    if (!rd) {
        fprintf(stderr, "bench_backtest: %s\n", errstr);
        return 1;
    }
    while ((err = dc_csv_reader_next(rd, &order, errstr, sizeof(errstr))) != DC_ERR_EOF) {
        if (err == DC_ERR_IO || err == DC_ERR_NOMEM) {
            fprintf(stderr, "bench_backtest: %s\n", errstr);
            break;
        }
        if (err || order.status != DC_ORDER_PLACED)
            continue;
        for (size_t i = 0; i < order.n_lines; i++) {
            if (out->n == out->cap) {
                out->cap = out->cap ? out->cap * 2 : 1 << 16;
                out->v = realloc(out->v, out->cap * sizeof(*out->v));
                if (!out->v)
                    abort();
            }
            line_t *l = &out->v[out->n++];
            memcpy(l->sku, order.lines[i].sku, sizeof(l->sku));
            l->ts = order.ts_ms;
            l->qty = order.lines[i].qty;
        }
    }
    dc_csv_reader_stats(rd, &st);
    printf("csv rows %lld: accepted %lld (%lld placed + %lld cancelled orders), rejected: "
           "sku %lld, quantity %lld, price %lld, time %lld, malformed %lld\n",
           (long long)st.rows, (long long)st.lines_accepted, (long long)st.orders_placed,
           (long long)st.orders_cancelled, (long long)st.rejected_sku,
           (long long)st.rejected_quantity, (long long)st.rejected_price,
           (long long)st.rejected_timestamp, (long long)st.rejected_malformed);
    dc_order_clear(&order);
    dc_csv_reader_destroy(rd);
    return err == DC_ERR_EOF ? 0 : 1;
}

static dc_backtest_t *new_backtest(const lines_t *lines)
{
    dc_backtest_conf_t conf;
    char errstr[256];
    dc_backtest_conf_init(&conf);
    dc_backtest_t *bt = dc_backtest_new(&conf, errstr, sizeof(errstr));
    if (!bt) {
        fprintf(stderr, "bench_backtest: %s\n", errstr);
        exit(1);
    }
    for (size_t i = 0; i < lines->n; i++)
        if (dc_backtest_add_actual(bt, lines->v[i].sku, lines->v[i].ts, lines->v[i].qty))
            abort();
    return bt;
}

static void print_row(const dc_backtest_result_t *r)
{
    double v[7] = {r->wape_h1, r->wape, r->mase, r->ql10, r->ql50, r->ql90, r->coverage};
    printf("%-26s", r->name);
    for (int k = 0; k < 7; k++)
        isnan(v[k]) ? printf(" %7s", "-") : printf(" %7.3f", v[k]);
}

static void print_header(void)
{
    printf("%-26s %7s %7s %7s %7s %7s %7s %7s\n", "method", "WAPE1", "WAPE1-7", "MASE", "QL0.1",
           "QL0.5", "QL0.9", "cov");
}

/* ---- Exploration: cheap median-type forecasters (bench only) ---- */

typedef struct {
    const double *y;    /* one series */
    const int *open;    /* 1 on days the shop traded at all */
    const double *shop; /* units of all series per day */
    const double *wdf;  /* train-only weekday factors (Monday-Friday mean = 1) */
    int64_t o;          /* origin bucket */
    int weekday0;       /* weekday of bucket 0, 0 = Monday */
} ctx_t;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile(const double *sorted, int n, double q)
{
    double pos = q * (n - 1);
    int lo = (int)pos;
    if (lo + 1 >= n)
        return sorted[n - 1];
    return sorted[lo] + (pos - lo) * (sorted[lo + 1] - sorted[lo]);
}

/* How a candidate picks the past days it takes the quantiles of. */
enum {
    POOL_SAME_DOW, /* the target's weekday only, every day */
    POOL_OPEN,     /* trading days only; a Saturday target gets 0 */
    POOL_SUNDAY,   /* trading days of the target's kind, Sunday or Monday-Friday */
    POOL_WEEKDAYS, /* Monday-Friday trading days; a Sunday is scaled by its factor */
};

typedef struct {
    const char *name;
    const char *desc;
    int pool;
    int window;        /* days taken (Monday-Friday days for POOL_SUNDAY) */
    int sunday_window; /* Sundays taken for a Sunday target (POOL_SUNDAY) */
    int holidays;      /* 0 on the shop's announced bank holidays */
    double q10, q50, q90;
    int weekday;       /* scale Monday-Friday targets by the weekday factor */
    double level;      /* exponent of the shop-wide recent/longer level ratio; 0 = off */
    int ensemble;      /* average over 0.5, 1 and 1.5 times the windows */
} cand_t;

/* An ablation, each step adding one idea; the last rows vary the window. */
static const cand_t cands[] = {
    {"open28", "median of the last 28 trading days; Saturday 0",
     POOL_OPEN, 28, 0, 0, 0.1, 0.5, 0.9, 0, 0, 0},
    {"open56", "median of the last 56 trading days; Saturday 0",
     POOL_OPEN, 56, 0, 0, 0.1, 0.5, 0.9, 0, 0, 0},
    {"dow12", "median of the same weekday, last 12 weeks",
     POOL_SAME_DOW, 12, 0, 0, 0.1, 0.5, 0.9, 0, 0, 0},
    {"wkd56 wd", "Mon-Fri trading days x train weekday factor (Sunday too)",
     POOL_WEEKDAYS, 56, 0, 0, 0.1, 0.5, 0.9, 1, 0, 0},
    {"wkd56 wd ens", "+ quantiles averaged over 28, 56, 84 days",
     POOL_WEEKDAYS, 56, 0, 0, 0.1, 0.5, 0.9, 1, 0, 1},
    {"wkd56 wd ens hol", "+ 0 on bank holidays", POOL_WEEKDAYS, 56, 0, 1, 0.1, 0.5, 0.9, 1, 0, 1},
    {"wkd40 wd ens hol", "window 20, 40, 60", POOL_WEEKDAYS, 40, 0, 1, 0.1, 0.5, 0.9, 1, 0, 1},
    {"wkd80 wd ens hol", "window 40, 80, 120", POOL_WEEKDAYS, 80, 0, 1, 0.1, 0.5, 0.9, 1, 0, 1},
    {"sun56/12 wd ens hol", "Sundays from the last 12 Sundays",
     POOL_SUNDAY, 56, 12, 1, 0.1, 0.5, 0.9, 1, 0, 1},
    {"wkd56 wd ens hol lvl", "+ shop level ratio (20 vs 60 days)^0.5",
     POOL_WEEKDAYS, 56, 0, 1, 0.1, 0.5, 0.9, 1, 0.5, 1},
};

/* England's bank holidays of the data span (the shop closes on them), as
 * day numbers from 2010-12-01; a calendar known in advance. */
static int is_holiday(int64_t t)
{
    static const int days[] = {
        25, 26, 27, 33,           /* 2010-12-26 (Sunday), 27, 28; 2011-01-03 */
        142, 145, 149, 152, 180, /* 2011-04-22, 04-25, 04-29, 05-02, 05-30 */
        271,                      /* 2011-08-29 */
    };
    for (size_t i = 0; i < DC_ARRAY_SIZE(days); i++)
        if (days[i] == t)
            return 1;
    return 0;
}

/* mean, p10, p50, p90 of the last `want` pooled days before the origin for
 * a target on weekday wd. */
static void pool_quantiles(const cand_t *c, const ctx_t *x, int wd, int want, double out[4])
{
    double win[512], sum = 0;
    int n = 0;
    int open_only = c->pool != POOL_SAME_DOW;

    out[0] = out[1] = out[2] = out[3] = 0;
    for (int64_t t = x->o; t >= 0 && n < want; t--) {
        int twd = (int)((x->weekday0 + t) % 7);
        if (c->pool == POOL_SAME_DOW && twd != wd)
            continue;
        if (open_only && !x->open[t])
            continue;
        if (c->pool == POOL_SUNDAY && (twd == 6) != (wd == 6))
            continue;
        if (c->pool == POOL_WEEKDAYS && twd == 6)
            continue;
        win[n++] = x->y[t];
    }
    if (n == 0)
        return;
    for (int k = 0; k < n; k++)
        sum += win[k];
    qsort(win, (size_t)n, sizeof(double), cmp_double);
    out[0] = sum / n;
    out[1] = quantile(win, n, c->q10);
    out[2] = quantile(win, n, c->q50);
    out[3] = quantile(win, n, c->q90);
}

static void cand_forecast(const cand_t *c, const ctx_t *x, int h, double out[4])
{
    int wd = (int)((x->weekday0 + x->o + h) % 7), want = c->window;
    int open_only = c->pool != POOL_SAME_DOW;
    double f = 1;

    out[0] = out[1] = out[2] = out[3] = 0;
    if (open_only && wd == 5) /* Saturday: the shop never trades */
        return;
    if (c->holidays && is_holiday(x->o + h))
        return;
    if (c->pool == POOL_SUNDAY && wd == 6)
        want = c->sunday_window;
    if (c->ensemble) {
        /* The average of the quantiles over half, once and 1.5 times the window. */
        static const double mult[3] = {0.5, 1, 1.5};
        for (int k = 0; k < 3; k++) {
            double q[4];
            pool_quantiles(c, x, wd, (int)(want * mult[k]), q);
            for (int j = 0; j < 4; j++)
                out[j] += q[j] / 3;
        }
    } else {
        pool_quantiles(c, x, wd, want, out);
    }
    if (c->weekday && (wd != 6 || c->pool == POOL_WEEKDAYS))
        f *= x->wdf[wd];
    if (c->level > 0) {
        /* Shop-wide units per Monday-Friday trading day, last 20 vs last 60. */
        double recent = 0, longer = 0;
        int k = 0;
        for (int64_t t = x->o; t >= 0 && k < 60; t--) {
            int twd = (int)((x->weekday0 + t) % 7);
            if (!x->open[t] || twd >= 5)
                continue;
            if (k < 20)
                recent += x->shop[t];
            longer += x->shop[t];
            k++;
        }
        if (recent > 0 && longer > 0)
            f *= pow((recent / 20) / (longer / k), c->level);
    }
    for (int j = 0; j < 4; j++)
        out[j] *= f;
}

static void explore(const lines_t *lines)
{
    dc_backtest_t *bt = new_backtest(lines);
    dc_backtest_conf_t conf;
    dc_backtest_summary_t s;
    char errstr[256];
    int ids[DC_ARRAY_SIZE(cands)];
    size_t n_days = 0;
    int *open;

    dc_backtest_conf_init(&conf);
    for (size_t k = 0; k < DC_ARRAY_SIZE(cands); k++)
        ids[k] = dc_backtest_add_model(bt, cands[k].name, cands[k].desc);
    dc_backtest_select(bt);
    dc_backtest_summary(bt, &s);
    dc_backtest_series(bt, 0, NULL, NULL, NULL, &n_days);
    /* A day is open if any demand line of any SKU falls on it. */
    open = calloc((size_t)n_days, sizeof(*open));
    for (size_t i = 0; i < lines->n; i++) {
        int64_t t = (lines->v[i].ts - conf.train_from) / 86400000;
        if (t >= 0 && t < (int64_t)n_days)
            open[t] = 1;
    }
    /* Day 0 of the epoch was a Thursday (weekday 3 with Monday 0). */
    int weekday0 = (int)(((conf.train_from / 86400000) % 7 + 3) % 7);
    int64_t first_origin = (conf.eval_from - conf.train_from) / 86400000 - 1;
    double *shop = calloc((size_t)n_days, sizeof(*shop)), wdf[7] = {0}, wd_sum[7] = {0};
    int wd_n[7] = {0};
    for (size_t si = 0; si < (size_t)s.n_series; si++) {
        const double *y;
        dc_backtest_series(bt, si, NULL, NULL, &y, NULL);
        for (size_t t = 0; t < n_days; t++)
            shop[t] += y[t];
    }
    /* Weekday factors from the train span only. */
    for (int64_t t = 0; t <= first_origin; t++) {
        if (!open[t])
            continue;
        int wd = (int)((weekday0 + t) % 7);
        wd_sum[wd] += shop[t];
        wd_n[wd]++;
    }
    double mf = 0;
    for (int w = 0; w < 5; w++)
        mf += wd_sum[w] / wd_n[w] / 5;
    printf("\nweekday factors (train, Monday-Friday mean 1):");
    for (int w = 0; w < 7; w++) {
        wdf[w] = wd_n[w] ? wd_sum[w] / wd_n[w] / mf : 0;
        printf(" %.3f", wdf[w]);
    }
    printf("\n");
    for (size_t si = 0; si < (size_t)s.n_series; si++) {
        const char *sku;
        const double *y;
        dc_backtest_series(bt, si, &sku, NULL, &y, NULL);
        for (int64_t o = first_origin; o < (int64_t)n_days - 1; o++) {
            ctx_t x = {y, open, shop, wdf, o, weekday0};
            for (int h = 1; h <= conf.horizon && o + h < (int64_t)n_days; h++) {
                for (size_t k = 0; k < DC_ARRAY_SIZE(cands); k++) {
                    double f[4];
                    cand_forecast(&cands[k], &x, h, f);
                    if (dc_backtest_add_forecast(bt, ids[k], sku,
                                                 conf.train_from + o * 86400000, h, f[0], f[1],
                                                 f[2], f[3]))
                        abort();
                }
            }
        }
    }
    if (dc_backtest_finish(bt, errstr, sizeof(errstr))) {
        fprintf(stderr, "bench_backtest: %s\n", errstr);
        exit(1);
    }
    printf("\nexploration (bench-only forecasters, same window and scorer):\n");
    print_header();
    for (size_t i = 0; i < dc_backtest_result_count(bt); i++) {
        print_row(dc_backtest_result(bt, i));
        printf("\n");
    }
    free(open);
    free(shop);
    dc_backtest_destroy(bt);
}

int main(int argc, char **argv)
{
    const char *path = NULL, *report = NULL;
    char def[4096], errstr[256];
    int do_explore = 0, mismatches = 0;
    lines_t lines = {0};

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--explore"))
            do_explore = 1;
        else if (!strcmp(argv[i], "--report") && i + 1 < argc)
            report = argv[++i];
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: bench_backtest [--explore] [--report DIR] [FILE]\n");
            return 2;
        } else
            path = argv[i];
    }
    if (!path) {
        const char *src = getenv("DC_SOURCE_DIR");
        snprintf(def, sizeof(def), "%s/../%s", src ? src : ".", DATA_REL);
        path = def;
    }

    double t_raw = raw_gunzip_s(path);
    if (t_raw < 0) {
        fprintf(stderr, "bench_backtest: cannot open %s\n", path);
        return 1;
    }
    double t0 = dc_monotonic_s();
    if (read_lines(path, &lines))
        return 1;
    dc_backtest_t *bt = new_backtest(&lines);
    double t1 = dc_monotonic_s();
    if (dc_backtest_finish(bt, errstr, sizeof(errstr))) {
        fprintf(stderr, "bench_backtest: %s\n", errstr);
        return 1;
    }
    double t2 = dc_monotonic_s();

    dc_backtest_summary_t s;
    const char *sku;
    double total;
    dc_backtest_summary(bt, &s);
    printf("demand lines %zu, SKUs %lld, eligible %lld, series %lld, targets %lld, "
           "target units %.0f, zero cells %.1f %%\n",
           lines.n, (long long)s.n_skus, (long long)s.n_eligible, (long long)s.n_series,
           (long long)s.n_targets, s.target_units, 100 * s.zero_share);
    for (size_t i = 0; i < 3; i++) {
        dc_backtest_series(bt, i, &sku, &total, NULL, NULL);
        printf("series %zu: %s %.0f units in train\n", i + 1, sku, total);
    }
    dc_backtest_series(bt, (size_t)s.n_series - 1, &sku, &total, NULL, NULL);
    printf("series %lld: %s %.0f units; next eligible %.0f\n\n", (long long)s.n_series, sku,
           total, s.next_train_total);
    print_header();
    for (size_t i = 0; i < DC_ARRAY_SIZE(anchors); i++) {
        const dc_backtest_result_t *r = dc_backtest_result_find(bt, anchors[i].name);
        double v[7] = {r->wape_h1, r->wape, r->mase, r->ql10, r->ql50, r->ql90, r->coverage};
        int ok = 1;
        for (int k = 0; k < 7; k++)
            if (isnan(v[k]) != isnan(anchors[i].v[k]) ||
                (!isnan(v[k]) && fabs(round(v[k] * 1000) / 1000 - anchors[i].v[k]) > 1e-9))
                ok = 0;
        mismatches += !ok;
        print_row(r);
        printf("  %s\n", ok ? "= PROTOCOL" : "!= PROTOCOL");
    }
    printf("\nraw gunzip        %.3f s (reference)\n", t_raw);
    printf("csv read + actuals %.3f s  %.0f lines/s  x%.2f of raw gunzip\n", t1 - t0,
           (double)lines.n / (t1 - t0), (t1 - t0) / t_raw);
    printf("scoring (5 methods) %.3f s  x%.2f of raw gunzip\n", t2 - t1, (t2 - t1) / t_raw);
    if (report) {
        if (dc_backtest_write_report(bt, report, errstr, sizeof(errstr))) {
            fprintf(stderr, "bench_backtest: %s\n", errstr);
            return 1;
        }
        printf("report written to %s\n", report);
    }
    dc_backtest_destroy(bt);
    if (do_explore)
        explore(&lines);
    free(lines.v);
    return mismatches ? 1 : 0;
}
