/* tests/unit/test_backtest.c - the backtest scorer: series selection, the
 * baselines and every metric of PROTOCOL.md section 6 on a small case worked
 * out by hand, the forecast file of section 8, the report files, and the
 * anchors of section 9 on the shared UCI file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "consumers/consumers.h"
#include "producers/backtest.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DAY 86400000LL

static char tmpdir[] = "/tmp/dc-test-backtest.XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

#define assert_near(a, b) assert_true(fabs((a) - (b)) < 1e-12)

/*
 * The hand-worked case. Day 0 = 2020-01-01; train days 0..29, targets 30..33,
 * origins 29..32, horizon 3: 9 (origin, horizon) pairs.
 *   A: 1 on odd days, 0 on even days (15 train units on 15 days)
 *   B: 2 every day, but 5 on day 0 (63 units on 30 days)
 *   C: 100 on day 0 only: the most units, but 1 demand day < min_days 2
 *   D: same as A: ties with A, and A wins the tie (SKU ascending)
 * With max_series 2 the series are B, A. Over the 9 targets A sums to 5
 * (targets 31 and 33 are 1, 30 and 32 are 0) and B to 18: sum |A| = 23;
 * over h = 1 only (targets 30..33) A sums to 2 and B to 8.
 */
static dc_backtest_t *hand_case(void)
{
    dc_backtest_conf_t conf;
    char err[256];
    int64_t t0;

    dc_time_parse("2020-01-01", &t0);
    conf = (dc_backtest_conf_t){.train_from = t0,
                                .train_until = t0 + 29 * DAY,
                                .eval_from = t0 + 30 * DAY + 3600000, /* any time in day 30 */
                                .eval_to = t0 + 33 * DAY,
                                .bucket_width = DAY,
                                .horizon = 3,
                                .min_days = 2,
                                .max_series = 2};
    dc_backtest_t *bt = dc_backtest_new(&conf, err, sizeof(err));
    assert_non_null(bt);
    for (int t = 0; t <= 33; t++) {
        int64_t ts = t0 + t * DAY + 12 * 3600000;
        if (t % 2) {
            assert_int_equal(dc_backtest_add_actual(bt, "A", ts, 1), 0);
            assert_int_equal(dc_backtest_add_actual(bt, "D", ts, 1), 0);
        }
        /* B's 2 units arrive as two lines, as order lines do. */
        assert_int_equal(dc_backtest_add_actual(bt, "B", ts, t ? 1 : 4), 0);
        assert_int_equal(dc_backtest_add_actual(bt, "B", ts, 1), 0);
    }
    assert_int_equal(dc_backtest_add_actual(bt, "C", t0, 100), 0);
    /* Outside the window: ignored and counted. */
    assert_int_equal(dc_backtest_add_actual(bt, "A", t0 - 1, 7), 0);
    assert_int_equal(dc_backtest_add_actual(bt, "A", t0 + 34 * DAY, 7), 0);
    assert_int_equal(dc_backtest_add_actual(bt, "A", t0, -1), DC_ERR_INVAL);
    assert_int_equal(dc_backtest_add_actual(bt, "A", t0, NAN), DC_ERR_INVAL);
    return bt;
}

/* Adds (mean 1, p10 0, p50 1, p90 2) for every target of both series. */
static void add_flat(dc_backtest_t *bt, int model, int64_t t0, int skip_last)
{
    static const char *const skus[] = {"A", "B"};
    for (int s = 0; s < 2; s++)
        for (int o = 29; o <= 32; o++)
            for (int h = 1; h <= 3 && o + h <= 33; h++)
                if (!(skip_last && s == 1 && o == 32))
                    assert_int_equal(
                        dc_backtest_add_forecast(bt, model, skus[s], t0 + o * DAY, h, 1, 0, 1, 2),
                        0);
}

static void test_hand_case(void **state)
{
    char err[256], path[512];
    dc_backtest_summary_t s;
    const dc_backtest_result_t *r;
    const char *sku;
    double total;
    int64_t t0;
    (void)state;

    dc_time_parse("2020-01-01", &t0);
    dc_backtest_t *bt = hand_case();
    int m1 = dc_backtest_add_model(bt, "m1", "flat 1, band 0..2");
    int partial = dc_backtest_add_model(bt, "partial", NULL);
    int fmt = dc_backtest_add_model(bt, "fmt", NULL);
    assert_true(m1 >= 0 && partial >= 0 && fmt >= 0);
    assert_int_equal(dc_backtest_add_model(bt, "m1", NULL), DC_ERR_INVAL);
    assert_int_equal(dc_backtest_add_model(bt, "ma28 median", NULL), DC_ERR_INVAL);
    assert_int_equal(dc_backtest_add_model(bt, "", NULL), DC_ERR_INVAL);

    add_flat(bt, m1, t0, 0);
    add_flat(bt, partial, t0, 1);
    add_flat(bt, fmt, t0, 0);
    /* The series are now fixed: train actuals are refused, targets are not. */
    assert_int_equal(dc_backtest_add_actual(bt, "A", t0 + 5 * DAY, 1), DC_ERR_TOO_LATE);
    /* Ignored: not a series, origin before the window, target after it. */
    assert_int_equal(dc_backtest_add_forecast(bt, m1, "C", t0 + 29 * DAY, 1, 1, 0, 1, 2), 0);
    assert_int_equal(dc_backtest_add_forecast(bt, m1, "A", t0 + 28 * DAY, 1, 1, 0, 1, 2), 0);
    assert_int_equal(dc_backtest_add_forecast(bt, m1, "A", t0 + 32 * DAY, 2, 1, 0, 1, 2), 0);
    /* Refused: horizon 0, crossing quantiles, NaN, negative, unknown model. */
    assert_int_equal(dc_backtest_add_forecast(bt, m1, "A", t0 + 29 * DAY, 0, 1, 0, 1, 2),
                     DC_ERR_INVAL);
    assert_int_equal(dc_backtest_add_forecast(bt, m1, "A", t0 + 29 * DAY, 1, 1, 2, 1, 2),
                     DC_ERR_INVAL);
    assert_int_equal(dc_backtest_add_forecast(bt, m1, "A", t0 + 29 * DAY, 1, NAN, 0, 1, 2),
                     DC_ERR_INVAL);
    assert_int_equal(dc_backtest_add_forecast(bt, m1, "A", t0 + 29 * DAY, 1, -1, 0, 1, 2),
                     DC_ERR_INVAL);
    assert_int_equal(dc_backtest_add_forecast(bt, 7, "A", t0 + 29 * DAY, 1, 1, 0, 1, 2),
                     DC_ERR_INVAL);
    /* A replacement: awkward numbers for the forecast file. */
    assert_int_equal(dc_backtest_add_forecast(bt, fmt, "A", t0 + 29 * DAY + 5, 1, 1e20, -0.0,
                                              0.126, 12345678.9),
                     0);

    assert_int_equal(dc_backtest_finish(bt, err, sizeof(err)), 0);
    assert_int_equal(dc_backtest_finish(bt, err, sizeof(err)), DC_ERR_INVAL);
    assert_int_equal(dc_backtest_add_actual(bt, "A", t0 + 31 * DAY, 1), DC_ERR_INVAL);

    assert_int_equal(dc_backtest_summary(bt, &s), 0);
    assert_int_equal(s.n_skus, 4);
    assert_int_equal(s.n_eligible, 3);
    assert_int_equal(s.n_series, 2);
    assert_int_equal(s.n_train_days, 30);
    assert_int_equal(s.n_origins, 4);
    assert_int_equal(s.n_pairs, 9);
    assert_int_equal(s.n_targets, 18);
    assert_near(s.target_units, 2 + 8);  /* A: 31, 33; B: 4 x 2 */
    assert_near(s.zero_share, 2.0 / 8); /* A on 30 and 32 */
    assert_near(s.next_train_total, 15);  /* D */
    assert_int_equal(s.actuals_ignored, 2);
    assert_int_equal(s.forecasts_ignored, 3);
    assert_int_equal(s.forecasts_replaced, 1);
    assert_int_equal(dc_backtest_series(bt, 0, &sku, &total, NULL, NULL), 0);
    assert_string_equal(sku, "B");
    assert_near(total, 63);
    assert_int_equal(dc_backtest_series(bt, 1, &sku, &total, NULL, NULL), 0);
    assert_string_equal(sku, "A");
    assert_near(total, 15);
    assert_int_equal(dc_backtest_series(bt, 2, &sku, NULL, NULL, NULL), DC_ERR_INVAL);

    assert_int_equal(dc_backtest_result_count(bt), 8);
    assert_string_equal(dc_backtest_result(bt, 0)->name, "zero");
    assert_string_equal(dc_backtest_result(bt, 4)->name, "ma28 median");
    assert_string_equal(dc_backtest_result(bt, 5)->name, "m1");
    assert_null(dc_backtest_result(bt, 8));

    /* MASE scales: A's weekly difference is 1 on every train day, B's is 3
     * once (day 7 minus day 0) over 23 differences. */
    const double scale_a = 1, scale_b = 3.0 / 23;

    r = dc_backtest_result_find(bt, "zero");
    assert_near(r->wape, 1);
    assert_near(r->wape_h1, 1);
    assert_near(r->mase, (5.0 / 9 / scale_a + 18.0 / 9 / scale_b) / 2);
    assert_true(isnan(r->ql90) && isnan(r->coverage));
    assert_int_equal(r->n_targets, 18);

    /* naive: A's origins 29..32 are 1, 0, 1, 0; B's errors are 0. */
    r = dc_backtest_result_find(bt, "naive");
    assert_near(r->wape, 6.0 / 23);
    assert_near(r->wape_h1, 4.0 / 10);
    assert_near(r->wape_h[1], 0); /* two days on, A has the origin's parity again */
    assert_near(r->wape_h[2], 2.0 / (1 + 4)); /* h = 3: 2 targets each; A errs on both */
    assert_near(r->mase, (6.0 / 9 / scale_a + 0) / 2);

    /* snaive7: a week back A has the other parity, so A errs by 1 always. */
    r = dc_backtest_result_find(bt, "snaive7");
    assert_near(r->wape, 9.0 / 23);
    assert_near(r->wape_h1, 4.0 / 10);

    /* ma28: 14 of A's last 28 days are 1; B's window has no day 0. */
    r = dc_backtest_result_find(bt, "ma28");
    assert_near(r->wape, 4.5 / 23);
    assert_near(r->mase, (0.5 / scale_a + 0) / 2);

    /* ma28 median: A's p50 is 0.5 (between the 14th and 15th of 28),
     * p10 0 and p90 1; B's are all 2. */
    r = dc_backtest_result_find(bt, "ma28 median");
    assert_near(r->wape, 4.5 / 23);
    assert_near(r->ql10, 2 * (0.1 * 5) / 23);
    assert_near(r->ql50, 4.5 / 23);
    assert_near(r->ql90, 2 * (0.1 * 4) / 23);
    assert_near(r->coverage, 1);

    /* m1 (p50 1, band 0..2): B errs by 1 on 9 targets, A on its 4 zeros. */
    r = dc_backtest_result_find(bt, "m1");
    assert_int_equal(r->is_baseline, 0);
    assert_string_equal(r->desc, "flat 1, band 0..2");
    assert_near(r->wape, 13.0 / 23);
    assert_near(r->wape_h1, (4 + 2) / 10.0);
    assert_near(r->mase, (4.0 / 9 / scale_a + 1 / scale_b) / 2);
    assert_near(r->ql10, 2 * (0.1 * 23) / 23);
    assert_near(r->ql90, 2 * (0.1 * (4 * 2 + 5 * 1)) / 23);
    assert_near(r->coverage, 1);

    r = dc_backtest_result_find(bt, "partial");
    assert_int_equal(r->n_missing, 1);
    assert_true(isnan(r->wape) && isnan(r->mase) && isnan(r->coverage));

    /* The forecast file: exact bytes, SKUs ascending, filter honoured. */
    snprintf(path, sizeof(path), "%s/m1.csv", tmpdir);
    assert_int_equal(dc_backtest_write_forecasts_csv(bt, path, "m1", NULL, 0, err, sizeof(err)),
                     0);
    char *text = slurp(path, NULL);
    assert_non_null(strstr(text, "sku,origin,target,horizon,mean,p10,p50,p90\n"
                                 "A,2020-01-30,2020-01-31,1,1,0,1,2\n"
                                 "A,2020-01-30,2020-02-01,2,1,0,1,2\n"));
    assert_non_null(strstr(text, "A,2020-02-02,2020-02-03,1,1,0,1,2\nB,2020-01-30,"));
    int rows = 0;
    for (char *p = text; *p; p++)
        rows += *p == '\n';
    assert_int_equal(rows, 1 + 18);
    free(text);

    const char *only_b[] = {"B", "ZZZ"};
    snprintf(path, sizeof(path), "%s/ma.csv", tmpdir);
    assert_int_equal(
        dc_backtest_write_forecasts_csv(bt, path, "ma28 median", only_b, 2, err, sizeof(err)), 0);
    text = slurp(path, NULL);
    assert_true(!strncmp(text,
                         "sku,origin,target,horizon,mean,p10,p50,p90\n"
                         "B,2020-01-30,2020-01-31,1,2,2,2,2\n",
                         strlen("sku,origin,target,horizon,mean,p10,p50,p90\n"
                                "B,2020-01-30,2020-01-31,1,2,2,2,2\n")));
    assert_null(strstr(text, "\nA,"));
    free(text);

    snprintf(path, sizeof(path), "%s/fmt.csv", tmpdir);
    assert_int_equal(dc_backtest_write_forecasts_csv(bt, path, "fmt", NULL, 0, err, sizeof(err)),
                     0);
    text = slurp(path, NULL);
    assert_non_null(strstr(text, "\nA,2020-01-30,2020-01-31,1,100000000000000000000,0,0.13,"
                                 "12345678.9\n"));
    assert_null(strchr(text + strlen("sku,origin,target,horizon,mean,p10,p50,p90\n"), 'e'));
    assert_null(strstr(text, ",-"));
    free(text);

    assert_int_equal(
        dc_backtest_write_forecasts_csv(bt, path, "partial", NULL, 0, err, sizeof(err)),
        DC_ERR_INVAL);
    assert_non_null(strstr(err, "unscorable"));
    assert_int_equal(dc_backtest_write_forecasts_csv(bt, path, "nope", NULL, 0, err, sizeof(err)),
                     DC_ERR_INVAL);
    dc_backtest_destroy(bt);
}

static void test_report(void **state)
{
    char err[256], d1[512], d2[512], p1[600], p2[600];
    static const char *const files[] = {"report.md", "report.json", "report.html"};
    int64_t t0;
    (void)state;

    dc_time_parse("2020-01-01", &t0);
    for (int run = 0; run < 2; run++) {
        dc_backtest_t *bt = hand_case();
        add_flat(bt, dc_backtest_add_model(bt, "m1 <b>|", "flat"), t0, 0);
        assert_int_equal(dc_backtest_write_report(bt, tmpdir, err, sizeof(err)), DC_ERR_INVAL);
        assert_int_equal(dc_backtest_finish(bt, err, sizeof(err)), 0);
        snprintf(run ? d2 : d1, sizeof(d1), "%s/report%d", tmpdir, run);
        assert_int_equal(dc_backtest_write_report(bt, run ? d2 : d1, err, sizeof(err)), 0);
        dc_backtest_destroy(bt);
    }
    /* Same input, same bytes. */
    for (size_t i = 0; i < 3; i++) {
        size_t n1, n2;
        snprintf(p1, sizeof(p1), "%s/%s", d1, files[i]);
        snprintf(p2, sizeof(p2), "%s/%s", d2, files[i]);
        char *a = slurp(p1, &n1), *b = slurp(p2, &n2);
        assert_int_equal(n1, n2);
        assert_memory_equal(a, b, n1);
        free(a);
        free(b);
    }

    snprintf(p1, sizeof(p1), "%s/report.md", d1);
    char *md = slurp(p1, NULL);
    assert_non_null(strstr(md, "| method | what it is | WAPE h=1 | WAPE h=1..3 | MASE | QL 0.1 | "
                               "QL 0.5 | QL 0.9 | cov 10\xe2\x80\x93" "90 |\n"));
    assert_non_null(strstr(md, "| zero | 0 everywhere (reference) | 1.000 | 1.000 |"));
    assert_non_null(strstr(md, "| m1 <b>\\| | flat | 0.600 | 0.565 |"));
    free(md);

    snprintf(p1, sizeof(p1), "%s/report.json", d1);
    json_error_t jerr;
    json_t *root = json_load_file(p1, 0, &jerr);
    assert_non_null(root);
    json_t *methods = json_object_get(root, "methods");
    assert_int_equal(json_array_size(methods), 6);
    json_t *m1 = json_array_get(methods, 5);
    assert_string_equal(json_string_value(json_object_get(m1, "name")), "m1 <b>|");
    assert_true(fabs(json_real_value(json_object_get(m1, "wape")) - 13.0 / 23) < 1e-9);
    assert_true(json_is_null(json_object_get(json_array_get(methods, 1), "ql90")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "summary"),
                                                        "targets")),
                     18);
    json_decref(root);

    /* The page stands alone: nothing fetched, no script; names escaped. */
    snprintf(p1, sizeof(p1), "%s/report.html", d1);
    char *html = slurp(p1, NULL);
    assert_null(strstr(html, "http"));
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "src="));
    assert_null(strstr(html, "href="));
    assert_null(strstr(html, "<b>"));
    assert_non_null(strstr(html, "m1 &lt;b&gt;|"));
    int svgs = 0;
    for (char *p = html; (p = strstr(p, "<svg")); p++)
        svgs++;
    assert_int_equal(svgs, 1 + 2); /* WAPE by horizon + one per series */
    assert_non_null(strstr(html, "B (series 1): m1 &lt;b&gt;|, one bucket ahead"));
    free(html);
}

static void test_conf_errors(void **state)
{
    dc_backtest_conf_t conf;
    char err[256];
    (void)state;

    dc_backtest_conf_init(&conf);
    conf.horizon = 0;
    assert_null(dc_backtest_new(&conf, err, sizeof(err)));
    dc_backtest_conf_init(&conf);
    conf.eval_from = conf.train_until; /* targets inside the train span */
    assert_null(dc_backtest_new(&conf, err, sizeof(err)));
    assert_non_null(strstr(err, "after the train span"));
    dc_backtest_conf_init(&conf);
    conf.train_until = conf.train_from + 10 * DAY;
    assert_null(dc_backtest_new(&conf, err, sizeof(err)));
    assert_non_null(strstr(err, "at least 28"));
    dc_backtest_conf_init(&conf);
    conf.bucket_width = 0;
    assert_null(dc_backtest_new(&conf, err, sizeof(err)));
    dc_backtest_conf_init(&conf);
    conf.train_from = INT64_MIN; /* a span no int64 difference could hold */
    assert_null(dc_backtest_new(&conf, err, sizeof(err)));
    dc_backtest_destroy(NULL);

    /* No SKU meets the series rule: finish says so. */
    dc_backtest_conf_init(&conf);
    dc_backtest_t *bt = dc_backtest_new(&conf, err, sizeof(err));
    assert_non_null(bt);
    assert_int_equal(dc_backtest_add_actual(bt, "85123A", conf.train_from, 3), 0);
    /* Times at the ends of the range are outside the window, not overflows. */
    assert_int_equal(dc_backtest_add_actual(bt, "85123A", INT64_MIN, 3), 0);
    assert_int_equal(dc_backtest_add_actual(bt, "85123A", INT64_MAX, 3), 0);
    assert_int_equal(dc_backtest_finish(bt, err, sizeof(err)), DC_ERR_INVAL);
    assert_non_null(strstr(err, "no SKU has demand on 60 train buckets"));
    dc_backtest_summary_t s;
    assert_int_equal(dc_backtest_summary(bt, &s), 0);
    assert_int_equal(s.actuals_ignored, 2);
    assert_int_equal(s.n_series, 0);
    dc_backtest_destroy(bt);
}

/* PROTOCOL.md section 9 on the shared file: the proof that demand, series,
 * rolling origin, baselines and metrics are all exactly the protocol's. */
static void test_protocol_anchors(void **state)
{
    static const struct {
        const char *name;
        double v[7]; /* WAPE h=1, h=1..7, MASE, QL 0.1, 0.5, 0.9, coverage; NAN = none */
    } anchors[] = {
        {"zero", {1.000, 1.000, 0.776, NAN, NAN, NAN, NAN}},
        {"naive", {1.415, 1.428, 1.145, NAN, NAN, NAN, NAN}},
        {"snaive7", {1.303, 1.302, 1.054, NAN, NAN, NAN, NAN}},
        {"ma28", {1.137, 1.125, 0.913, NAN, NAN, NAN, NAN}},
        {"ma28 median", {0.927, 0.926, 0.737, 0.200, 0.926, 0.966, 0.882}},
    };
    char path[4096], out[600], err[512];
    const char *src = getenv("DC_SOURCE_DIR");
    dc_backtest_conf_t conf;
    dc_backtest_summary_t s;
    dc_order_t o = {0};
    const char *sku;
    double total;
    int rc;
    (void)state;

    snprintf(path, sizeof(path), "%s/../shared/data/online-retail-2010-12-to-2011-09.csv.gz",
             src ? src : "..");
    if (access(path, R_OK)) {
        print_message("SKIPPED: %s is absent; the PROTOCOL.md anchors need it\n", path);
        skip();
    }
    dc_csv_reader_t *rd = dc_csv_reader_new(path, "uci-online-retail", err, sizeof(err));
    assert_non_null(rd);
    dc_backtest_conf_init(&conf);
    dc_backtest_t *bt = dc_backtest_new(&conf, err, sizeof(err));
    assert_non_null(bt);
    int64_t demand_lines = 0;
    while ((rc = dc_csv_reader_next(rd, &o, err, sizeof(err))) != DC_ERR_EOF) {
        assert_true(rc != DC_ERR_IO && rc != DC_ERR_NOMEM);
        if (rc || o.status != DC_ORDER_PLACED)
            continue;
        for (size_t i = 0; i < o.n_lines; i++, demand_lines++)
            assert_int_equal(dc_backtest_add_actual(bt, o.lines[i].sku, o.ts_ms, o.lines[i].qty),
                             0);
    }
    dc_order_clear(&o);
    dc_csv_reader_destroy(rd);
    assert_int_equal(dc_backtest_finish(bt, err, sizeof(err)), 0);

    /* PROTOCOL.md sections 2, 4 and 5. */
    assert_int_equal(demand_lines, 360537);
    assert_int_equal(dc_backtest_summary(bt, &s), 0);
    assert_int_equal(s.n_skus, 3630);
    assert_int_equal(s.n_eligible, 853);
    assert_int_equal(s.n_series, 500);
    assert_int_equal(s.n_train_days, 212);
    assert_int_equal(s.n_origins, 92);
    assert_int_equal(s.n_pairs, 623);
    assert_int_equal(s.n_targets, 311500);
    assert_near(s.target_units, 719250);
    assert_int_equal((int)round(s.zero_share * 1000), 475);
    assert_near(s.next_train_total, 949);
    static const char *const first[] = {"84077", "85099B", "85123A"};
    static const double first_total[] = {31403, 23016, 22844};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(dc_backtest_series(bt, i, &sku, &total, NULL, NULL), 0);
        assert_string_equal(sku, first[i]);
        assert_near(total, first_total[i]);
    }
    assert_int_equal(dc_backtest_series(bt, 499, &sku, &total, NULL, NULL), 0);
    assert_near(total, 952);

    /* Section 9, to the printed three decimals. */
    for (size_t i = 0; i < sizeof(anchors) / sizeof(anchors[0]); i++) {
        const dc_backtest_result_t *r = dc_backtest_result_find(bt, anchors[i].name);
        double v[7] = {r->wape_h1, r->wape, r->mase, r->ql10, r->ql50, r->ql90, r->coverage};
        assert_non_null(r);
        assert_int_equal(r->n_targets, 311500);
        for (int k = 0; k < 7; k++) {
            if (isnan(anchors[i].v[k])) {
                assert_true(isnan(v[k]));
                continue;
            }
            if (lround(v[k] * 1000) != lround(anchors[i].v[k] * 1000))
                fail_msg("%s metric %d: %.6f, PROTOCOL says %.3f", r->name, k, v[k],
                         anchors[i].v[k]);
        }
    }

    /* Section 8: the example rows, and one row per target. */
    snprintf(out, sizeof(out), "%s/ma28median.csv", tmpdir);
    assert_int_equal(
        dc_backtest_write_forecasts_csv(bt, out, "ma28 median", NULL, 0, err, sizeof(err)), 0);
    size_t len;
    char *text = slurp(out, &len);
    assert_non_null(strstr(text, "\n85099B,2011-06-30,2011-07-01,1,125.18,0,121.5,259.8\n"
                                 "85099B,2011-06-30,2011-07-02,2,125.18,0,121.5,259.8\n"));
    int64_t rows = 0;
    for (size_t i = 0; i < len; i++)
        rows += text[i] == '\n';
    assert_int_equal(rows, 1 + 311500);
    free(text);
    dc_backtest_destroy(bt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_case),
        cmocka_unit_test(test_report),
        cmocka_unit_test(test_conf_errors),
        cmocka_unit_test(test_protocol_anchors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
