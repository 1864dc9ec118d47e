/* producers/report.c - the backtest report: report.md, report.json (jansson)
 * and a self-contained report.html with inline SVG plots. Everything is
 * built from the finished backtest alone, so the same input gives the same
 * bytes (no clock, no locale-dependent text, no hash order). */
#include "producers/backtest_int.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Series plotted in the HTML, from the top of the selection. */
#define PLOT_SERIES 6
#define PLOT_W 760
#define PLOT_H 240
#define PLOT_L 56 /* left margin (y labels) */
#define PLOT_R 150 /* right margin (legend) */
#define PLOT_T 26
#define PLOT_B 30

static const char *const palette[] = {"#555555", "#d62728", "#ff7f0e", "#9467bd",
                                      "#2ca02c", "#1f77b4", "#8c564b", "#e377c2",
                                      "#17becf", "#bcbd22"};

/* Three decimals as in PROTOCOL.md section 9, or an en dash for "none". */
static const char *fmt3(double v, char *buf, size_t size)
{
    if (isnan(v))
        snprintf(buf, size, "\xe2\x80\x93");
    else
        snprintf(buf, size, "%.3f", v);
    return buf;
}

static void window_text(const dc_backtest_t *bt, char from[32], char until[32],
                        char efrom[32], char eto[32], char width[32])
{
    dc__backtest_bucket_str(bt, 0, from, 32);
    dc__backtest_bucket_str(bt, bt->n_train - 1, until, 32);
    dc__backtest_bucket_str(bt, bt->first_origin + 1, efrom, 32);
    dc__backtest_bucket_str(bt, bt->n_buckets - 1, eto, 32);
    dc_duration_format(bt->conf.bucket_width, width, 32);
}

/* Markdown table cells must not hold a bare '|'. */
static int md_text(dc_buf_t *b, const char *s)
{
    int err = 0;
    for (; *s && !err; s++)
        err = *s == '|' ? dc_buf_append(b, "\\|", 2) : dc_buf_append(b, s, 1);
    return err;
}

static int html_text(dc_buf_t *b, const char *s)
{
    int err = 0;
    for (; *s && !err; s++) {
        switch (*s) {
        case '&': err = dc_buf_append(b, "&amp;", 5); break;
        case '<': err = dc_buf_append(b, "&lt;", 4); break;
        case '>': err = dc_buf_append(b, "&gt;", 4); break;
        case '"': err = dc_buf_append(b, "&quot;", 6); break;
        default: err = dc_buf_append(b, s, 1); break;
        }
    }
    return err;
}

static int write_file(const char *dir, const char *name, const dc_buf_t *b, char *errstr,
                      size_t errstr_size)
{
    char path[4096];
    FILE *f;
    int err = DC_OK;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return dc_seterr(errstr, errstr_size, DC_ERR_INVAL, "%s: path too long", dir);
    if (!(f = fopen(path, "w")))
        return dc_seterr(errstr, errstr_size, DC_ERR_IO, "%s: %s", path, strerror(errno));
    if (b->len && fwrite(b->data, 1, b->len, f) != b->len)
        err = dc_seterr(errstr, errstr_size, DC_ERR_IO, "%s: %s", path, strerror(errno));
    if (fclose(f) && !err)
        err = dc_seterr(errstr, errstr_size, DC_ERR_IO, "%s: %s", path, strerror(errno));
    return err;
}

/* The summary sentence shared by the Markdown and the HTML page. */
static int summary_text(const dc_backtest_t *bt, dc_buf_t *b)
{
    dc_backtest_summary_t s;
    char from[32], until[32], efrom[32], eto[32], width[32], origin0[32], origin1[32];
    int err = 0;

    dc_backtest_summary(bt, &s);
    window_text(bt, from, until, efrom, eto, width);
    dc__backtest_bucket_str(bt, bt->first_origin, origin0, sizeof(origin0));
    dc__backtest_bucket_str(bt, bt->first_origin + bt->n_origins - 1, origin1, sizeof(origin1));
    err |= dc_buf_printf(b,
                         "Buckets of %s. Train %s .. %s (%lld buckets); origins %s .. %s "
                         "(%lld); targets %s .. %s; horizon 1..%d.\n\n",
                         width, from, until, (long long)s.n_train_days, origin0, origin1,
                         (long long)s.n_origins, efrom, eto, bt->H);
    err |= dc_buf_printf(b,
                         "Series: the %lld with the largest train demand among the %lld SKUs "
                         "with demand on at least %d train buckets (%lld SKUs in all); "
                         "%lld targets (%lld origin-horizon pairs each); %.0f units of "
                         "target-period demand; %.1f %% of series-bucket cells are zero.\n\n",
                         (long long)s.n_series, (long long)s.n_eligible, bt->conf.min_days,
                         (long long)s.n_skus, (long long)s.n_targets, (long long)s.n_pairs,
                         s.target_units, 100 * s.zero_share);
    err |= dc_buf_printf(b,
                         "The scored point forecast is the p50 (PROTOCOL.md section 7). "
                         "Ignored: %lld actuals outside the window, %lld forecasts outside the "
                         "series or window; %lld forecasts replaced by a later one.\n",
                         (long long)s.actuals_ignored, (long long)s.forecasts_ignored,
                         (long long)s.forecasts_replaced);
    return err ? DC_ERR_NOMEM : 0;
}

static int report_md(const dc_backtest_t *bt, dc_buf_t *b)
{
    char v[7][32];
    int err = 0;

    err |= dc_buf_printf(b, "# demandcast backtest\n\n");
    err |= summary_text(bt, b);
    err |= dc_buf_printf(b, "\n| method | what it is | WAPE h=1 | WAPE h=1..%d | MASE | QL 0.1 | "
                            "QL 0.5 | QL 0.9 | cov 10\xe2\x80\x93" "90 |\n",
                         bt->H);
    err |= dc_buf_printf(b, "|---|---|---|---|---|---|---|---|---|\n");
    for (size_t m = 0; m < bt->n_results; m++) {
        const dc_backtest_result_t *r = &bt->results[m];
        err |= dc_buf_printf(b, "| ");
        err |= md_text(b, r->name);
        err |= dc_buf_printf(b, " | ");
        if (r->n_missing)
            err |= dc_buf_printf(b, "unscorable: %lld targets without a forecast. ",
                                 (long long)r->n_missing);
        err |= md_text(b, r->desc);
        err |= dc_buf_printf(b, " | %s | %s | %s | %s | %s | %s | %s |\n",
                             fmt3(r->wape_h1, v[0], 32), fmt3(r->wape, v[1], 32),
                             fmt3(r->mase, v[2], 32), fmt3(r->ql10, v[3], 32),
                             fmt3(r->ql50, v[4], 32), fmt3(r->ql90, v[5], 32),
                             fmt3(r->coverage, v[6], 32));
    }
    err |= dc_buf_printf(b, "\n## WAPE by horizon\n\n| method |");
    for (int h = 1; h <= bt->H; h++)
        err |= dc_buf_printf(b, " h=%d |", h);
    err |= dc_buf_printf(b, "\n|---|");
    for (int h = 1; h <= bt->H; h++)
        err |= dc_buf_printf(b, "---|");
    err |= dc_buf_printf(b, "\n");
    for (size_t m = 0; m < bt->n_results; m++) {
        err |= dc_buf_printf(b, "| ");
        err |= md_text(b, bt->results[m].name);
        err |= dc_buf_printf(b, " |");
        for (int h = 0; h < bt->H; h++)
            err |= dc_buf_printf(b, " %s |", fmt3(bt->results[m].wape_h[h], v[0], 32));
        err |= dc_buf_printf(b, "\n");
    }
    return err ? DC_ERR_NOMEM : 0;
}

/* A JSON number, or null for "none" (JSON has no NaN). */
static json_t *jnum(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

static int report_json(const dc_backtest_t *bt, dc_buf_t *b)
{
    char from[32], until[32], efrom[32], eto[32], width[32];
    dc_backtest_summary_t s;
    json_t *root = json_object(), *methods = json_array();
    char *text = NULL;
    int err = DC_ERR_NOMEM;

    if (!root || !methods)
        goto fail;
    dc_backtest_summary(bt, &s);
    window_text(bt, from, until, efrom, eto, width);
    json_object_set_new(root, "window",
                        json_pack("{s:s,s:s,s:s,s:s,s:s,s:i}", "train_from", from, "train_until",
                                  until, "eval_from", efrom, "eval_to", eto, "bucket_width",
                                  width, "horizon", bt->H));
    json_object_set_new(root, "series_rule",
                        json_pack("{s:i,s:i}", "min_days", bt->conf.min_days, "max_series",
                                  bt->conf.max_series));
    json_object_set_new(
        root, "summary",
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:I,s:I,s:I}", "skus", (json_int_t)s.n_skus,
                  "eligible", (json_int_t)s.n_eligible, "series", (json_int_t)s.n_series,
                  "train_buckets", (json_int_t)s.n_train_days, "origins",
                  (json_int_t)s.n_origins, "targets", (json_int_t)s.n_targets, "target_units",
                  s.target_units, "zero_share", s.zero_share, "actuals_ignored",
                  (json_int_t)s.actuals_ignored, "forecasts_ignored",
                  (json_int_t)s.forecasts_ignored, "forecasts_replaced",
                  (json_int_t)s.forecasts_replaced));
    for (size_t m = 0; m < bt->n_results; m++) {
        const dc_backtest_result_t *r = &bt->results[m];
        json_t *by_h = json_array(), *o = json_object();
        if (!by_h || !o) {
            json_decref(by_h);
            json_decref(o);
            goto fail;
        }
        for (int h = 0; h < bt->H; h++)
            json_array_append_new(by_h, jnum(r->wape_h[h]));
        json_object_set_new(o, "name", json_string(r->name));
        json_object_set_new(o, "description", json_string(r->desc));
        json_object_set_new(o, "baseline", json_boolean(r->is_baseline));
        json_object_set_new(o, "targets", json_integer(r->n_targets));
        json_object_set_new(o, "missing", json_integer(r->n_missing));
        json_object_set_new(o, "wape_h1", jnum(r->wape_h1));
        json_object_set_new(o, "wape", jnum(r->wape));
        json_object_set_new(o, "wape_by_horizon", by_h);
        json_object_set_new(o, "mase", jnum(r->mase));
        json_object_set_new(o, "ql10", jnum(r->ql10));
        json_object_set_new(o, "ql50", jnum(r->ql50));
        json_object_set_new(o, "ql90", jnum(r->ql90));
        json_object_set_new(o, "coverage", jnum(r->coverage));
        json_array_append_new(methods, o);
    }
    json_object_set(root, "methods", methods);
    text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    if (!text || dc_buf_printf(b, "%s\n", text))
        goto fail;
    err = 0;
fail:
    free(text);
    json_decref(methods);
    json_decref(root);
    return err;
}

/* ---- SVG ---- */

static double px(double x0, double x1, double x)
{
    return PLOT_L + (x1 > x0 ? (x - x0) / (x1 - x0) : 0) * (PLOT_W - PLOT_L - PLOT_R);
}

/* The y axis runs from ymin (bottom) to ymax (top). */
static double py(double ymin, double ymax, double y)
{
    return PLOT_H - PLOT_B - (ymax > ymin ? (y - ymin) / (ymax - ymin) : 0) *
                                 (PLOT_H - PLOT_T - PLOT_B);
}

/* Frame, title and three y labels (bottom, middle, top). */
static int svg_open(dc_buf_t *b, const char *title, double ymin, double ymax, const char *ylabel)
{
    char v[3][32];
    int err = 0;
    double bottom = PLOT_H - PLOT_B, right = PLOT_W - PLOT_R;

    err |= dc_buf_printf(b,
                         "<svg width=\"%d\" height=\"%d\" "
                         "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n",
                         PLOT_W, PLOT_H, PLOT_W, PLOT_H);
    err |= dc_buf_printf(b, "<text x=\"%d\" y=\"16\" font-size=\"13\">", PLOT_L);
    err |= html_text(b, title);
    err |= dc_buf_printf(b, "</text>\n");
    err |= dc_buf_printf(b,
                         "<polyline fill=\"none\" stroke=\"#999\" "
                         "points=\"%d,%d %d,%.1f %.1f,%.1f\"/>\n",
                         PLOT_L, PLOT_T, PLOT_L, bottom, right, bottom);
    for (int k = 0; k <= 2; k++) {
        double y = ymin + (ymax - ymin) * k / 2;
        err |= dc_buf_printf(b,
                             "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n"
                             "<line x1=\"%d\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" "
                             "stroke=\"#eee\"/>\n",
                             PLOT_L - 4, py(ymin, ymax, y) + 4, dc__fmt_plain(y, 2, v[k], 32),
                             PLOT_L, right, py(ymin, ymax, y), py(ymin, ymax, y));
    }
    err |= dc_buf_printf(b,
                         "<text x=\"12\" y=\"%.1f\" transform=\"rotate(-90 12 %.1f)\" "
                         "text-anchor=\"middle\">%s</text>\n",
                         (PLOT_T + bottom) / 2, (PLOT_T + bottom) / 2, ylabel);
    return err;
}

enum { LEGEND_LINE, LEGEND_DASHED, LEGEND_BAND };

static int svg_legend(dc_buf_t *b, int row, const char *color, const char *name, int kind)
{
    static const char *const style[] = {
        "stroke-width=\"2\"",
        "stroke-width=\"2\" stroke-dasharray=\"4 3\"",
        "stroke-width=\"8\" stroke-opacity=\"0.2\"",
    };
    int err = 0;
    double x = PLOT_W - PLOT_R + 12, y = PLOT_T + 8 + row * 16;
    err |= dc_buf_printf(b,
                         "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                         "%s/>\n<text x=\"%.1f\" y=\"%.1f\">",
                         x, x + 18, y, y, color, style[kind], x + 24, y + 4);
    err |= html_text(b, name);
    err |= dc_buf_printf(b, "</text>\n");
    return err;
}

/* WAPE by horizon, one line per scored method. */
static int svg_horizons(const dc_backtest_t *bt, dc_buf_t *b)
{
    double ymin = INFINITY, ymax = 0;
    int err = 0, row = 0;

    for (size_t m = 0; m < bt->n_results; m++) {
        for (int h = 0; h < bt->H; h++) {
            double v = bt->results[m].wape_h[h];
            if (isnan(v))
                continue;
            ymax = v > ymax ? v : ymax;
            ymin = v < ymin ? v : ymin;
        }
    }
    /* Round outwards to tenths so the differences between methods show. */
    ymax = ceil(ymax * 10) / 10;
    ymin = isinf(ymin) ? 0 : floor(ymin * 10) / 10;
    if (ymax <= ymin)
        ymax = ymin + 0.1;
    err |= svg_open(b, "WAPE of the p50 by horizon", ymin, ymax, "WAPE");
    for (int h = 1; h <= bt->H; h++)
        err |= dc_buf_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">h=%d</text>\n",
                             px(1, bt->H, h), PLOT_H - PLOT_B + 16, h);
    for (size_t m = 0; m < bt->n_results; m++) {
        const dc_backtest_result_t *r = &bt->results[m];
        const char *color = palette[m % DC_ARRAY_SIZE(palette)];
        if (isnan(r->wape))
            continue;
        err |= dc_buf_printf(b,
                             "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s "
                             "points=\"",
                             color, r->is_baseline ? " stroke-dasharray=\"4 3\"" : "");
        for (int h = 1; h <= bt->H; h++)
            err |= dc_buf_printf(b, "%s%.1f,%.1f", h > 1 ? " " : "", px(1, bt->H, h),
                                 py(ymin, ymax, r->wape_h[h - 1]));
        err |= dc_buf_printf(b, "\"/>\n");
        err |= svg_legend(b, row++, color, r->name, r->is_baseline ? LEGEND_DASHED : LEGEND_LINE);
    }
    err |= dc_buf_printf(b, "</svg>\n");
    return err;
}

/* The one-bucket-ahead forecasts of method m for series si: p10-p90 band,
 * p50 and the actuals, over the target buckets. */
static int svg_series(const dc_backtest_t *bt, dc_buf_t *b, size_t m, size_t si)
{
    bt_fc_t fc[DC_BACKTEST_HORIZON_MAX];
    uint8_t have[DC_BACKTEST_HORIZON_MAX];
    const bt_sku_t *s = &bt->skus[bt->series[si]];
    int64_t n = bt->n_origins, t0 = bt->first_origin + 1;
    double ymax = 0, x1 = (double)(n > 1 ? n - 1 : 1);
    char title[160], d0[32], d1[32];
    int err = 0;
    bt_fc_t *band = malloc((size_t)n * sizeof(*band));

    if (!band)
        return DC_ERR_NOMEM;
    for (int64_t oi = 0; oi < n; oi++) {
        dc__backtest_forecast(bt, m, si, oi, fc, have);
        band[oi] = fc[0];
        if (band[oi].p90 > ymax)
            ymax = band[oi].p90;
        if (s->y[t0 + oi] > ymax)
            ymax = s->y[t0 + oi];
    }
    snprintf(title, sizeof(title), "%s (series %zu): %s, one bucket ahead", s->sku, si + 1,
             bt->results[m].name);
    err |= svg_open(b, title, 0, ymax, "units");
    err |= dc_buf_printf(b,
                         "<text x=\"%d\" y=\"%d\">%s</text><text x=\"%.1f\" y=\"%d\" "
                         "text-anchor=\"end\">%s</text>\n",
                         PLOT_L, PLOT_H - PLOT_B + 16, dc__backtest_bucket_str(bt, t0, d0, 32),
                         px(0, x1, x1), PLOT_H - PLOT_B + 16,
                         dc__backtest_bucket_str(bt, t0 + n - 1, d1, 32));
    err |= dc_buf_printf(b, "<polygon fill=\"#1f77b4\" fill-opacity=\"0.2\" stroke=\"none\" "
                            "points=\"");
    for (int64_t k = 0; k < n; k++)
        err |= dc_buf_printf(b, "%.1f,%.1f ", px(0, x1, (double)k), py(0, ymax, band[k].p90));
    for (int64_t k = n - 1; k >= 0; k--)
        err |= dc_buf_printf(b, "%.1f,%.1f%s", px(0, x1, (double)k), py(0, ymax, band[k].p10),
                             k ? " " : "");
    err |= dc_buf_printf(b, "\"/>\n<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" "
                            "points=\"");
    for (int64_t k = 0; k < n; k++)
        err |= dc_buf_printf(b, "%s%.1f,%.1f", k ? " " : "", px(0, x1, (double)k),
                             py(0, ymax, band[k].p50));
    err |= dc_buf_printf(b, "\"/>\n<polyline fill=\"none\" stroke=\"#222\" stroke-width=\"1\" "
                            "points=\"");
    for (int64_t k = 0; k < n; k++)
        err |= dc_buf_printf(b, "%s%.1f,%.1f", k ? " " : "", px(0, x1, (double)k),
                             py(0, ymax, s->y[t0 + k]));
    err |= dc_buf_printf(b, "\"/>\n");
    err |= svg_legend(b, 0, "#222", "actual", LEGEND_LINE);
    err |= svg_legend(b, 1, "#1f77b4", "p50", LEGEND_LINE);
    err |= svg_legend(b, 2, "#1f77b4", "p10\xe2\x80\x93p90", LEGEND_BAND);
    err |= dc_buf_printf(b, "</svg>\n");
    free(band);
    return err;
}

static int html_table(const dc_backtest_t *bt, dc_buf_t *b)
{
    char v[7][32];
    int err = 0;

    err |= dc_buf_printf(b, "<table>\n<tr><th>method</th><th>what it is</th><th>WAPE h=1</th>"
                            "<th>WAPE h=1..%d</th><th>MASE</th><th>QL 0.1</th><th>QL 0.5</th>"
                            "<th>QL 0.9</th><th>cov 10&ndash;90</th></tr>\n",
                         bt->H);
    for (size_t m = 0; m < bt->n_results; m++) {
        const dc_backtest_result_t *r = &bt->results[m];
        err |= dc_buf_printf(b, "<tr%s><td>", r->is_baseline ? "" : " class=\"model\"");
        err |= html_text(b, r->name);
        err |= dc_buf_printf(b, "</td><td>");
        if (r->n_missing)
            err |= dc_buf_printf(b, "unscorable: %lld targets without a forecast. ",
                                 (long long)r->n_missing);
        err |= html_text(b, r->desc);
        err |= dc_buf_printf(b,
                             "</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
                             "<td>%s</td><td>%s</td></tr>\n",
                             fmt3(r->wape_h1, v[0], 32), fmt3(r->wape, v[1], 32),
                             fmt3(r->mase, v[2], 32), fmt3(r->ql10, v[3], 32),
                             fmt3(r->ql50, v[4], 32), fmt3(r->ql90, v[5], 32),
                             fmt3(r->coverage, v[6], 32));
    }
    err |= dc_buf_printf(b, "</table>\n");
    return err;
}

static int report_html(const dc_backtest_t *bt, dc_buf_t *b)
{
    size_t plot_m = BT_MA28_MEDIAN;
    int err = 0;

    /* Plot the first scorable model; without one, the best baseline. */
    for (size_t m = BT__BASELINES; m < bt->n_results; m++) {
        if (!bt->results[m].n_missing) {
            plot_m = m;
            break;
        }
    }
    err |= dc_buf_printf(b,
                         "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                         "<title>demandcast backtest</title>\n<style>\n"
                         "body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}\n"
                         "table{border-collapse:collapse;margin:1em 0}\n"
                         "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\n"
                         "td:nth-child(-n+2),th:nth-child(-n+2){text-align:left}\n"
                         "tr.model{font-weight:bold}\nsvg{display:block;margin:1em 0}\n"
                         "</style>\n</head>\n<body>\n<h1>demandcast backtest</h1>\n<p>");
    {
        dc_buf_t sum = {0};
        if (summary_text(bt, &sum) || dc_buf_append(&sum, "", 1))
            err = DC_ERR_NOMEM;
        else
            err |= html_text(b, (const char *)sum.data);
        dc_buf_free(&sum);
    }
    err |= dc_buf_printf(b, "</p>\n");
    err |= html_table(bt, b);
    err |= svg_horizons(bt, b);
    err |= dc_buf_printf(b, "<h2>Forecast vs actual, top %d series</h2>\n",
                         bt->n_series < PLOT_SERIES ? (int)bt->n_series : PLOT_SERIES);
    for (size_t si = 0; si < bt->n_series && si < PLOT_SERIES; si++)
        err |= svg_series(bt, b, plot_m, si);
    err |= dc_buf_printf(b, "</body>\n</html>\n");
    return err ? DC_ERR_NOMEM : 0;
}

int dc_backtest_write_report(const dc_backtest_t *bt, const char *dir, char *errstr,
                             size_t errstr_size)
{
    dc_buf_t md = {0}, js = {0}, html = {0};
    int err;

    if (!bt->finished)
        return dc_seterr(errstr, errstr_size, DC_ERR_INVAL, "backtest: not finished");
    if (mkdir(dir, 0777) && errno != EEXIST)
        return dc_seterr(errstr, errstr_size, DC_ERR_IO, "%s: %s", dir, strerror(errno));
    if (report_md(bt, &md) || report_json(bt, &js) || report_html(bt, &html)) {
        err = dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((err = write_file(dir, "report.md", &md, errstr, errstr_size)) ||
        (err = write_file(dir, "report.json", &js, errstr, errstr_size)) ||
        (err = write_file(dir, "report.html", &html, errstr, errstr_size)))
        goto fail;
fail:
    dc_buf_free(&md);
    dc_buf_free(&js);
    dc_buf_free(&html);
    return err;
}
