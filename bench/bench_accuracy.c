/* bench/bench_accuracy.c - the inference stage alone on the UCI Online Retail
 * file: daily buckets aggregated in memory (no Kafka, no Redis), the same
 * warm start and forecaster `replay --train-until` drives, scored by the
 * backtest on PROTOCOL.md's validation window. It prints the accuracy table
 * and the time the model took, so model settings can be compared quickly;
 * `demandcast replay` remains the measure of record.
 *
 *   bench_accuracy FILE.csv.gz [KEY=VALUE ...]   (any configuration property)
 */
#include "consumers/consumers.h"
#include "inference/forecaster.h"
#include "producers/backtest.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400000LL

typedef struct {
    double units, cancelled, price_sum, price_n;
} cell_t;

typedef struct {
    dc_backtest_t *bt;
    int model;
    int64_t first_origin;
} scorer_t;

static int on_forecast(void *opaque, const dc_forecast_t *fc)
{
    scorer_t *s = opaque;
    if (fc->bucket_start < s->first_origin)
        return 0;
    for (size_t k = 0; k < fc->n_horizons; k++) {
        const dc_horizon_t *h = &fc->horizons[k];
        int err = dc_backtest_add_forecast(s->bt, s->model, fc->sku, fc->bucket_start, h->offset,
                                           h->mean, h->p10, h->p50, h->p90);
        if (err)
            return err;
    }
    return 0;
}

int main(int argc, char **argv)
{
    char errstr[512];
    dc_conf_t *conf = dc_conf_new();
    dc_order_t order = {0};
    dc_strmap_t *skus = dc_strmap_new();
    cell_t *cells = NULL;
    size_t cells_cap = 0;
    int64_t day0, train_until, n_days;
    int err;

    if (argc < 2) {
        fprintf(stderr, "usage: bench_accuracy FILE.csv.gz [KEY=VALUE ...]\n");
        return 2;
    }
    dc_conf_set(conf, "bucket.width", "1d", NULL, 0);
    dc_conf_set(conf, "horizon", "7", NULL, 0);
    for (int i = 2; i < argc; i++)
        if (dc_conf_set_kv(conf, argv[i], errstr, sizeof(errstr))) {
            fprintf(stderr, "%s\n", errstr);
            return 2;
        }
    dc_time_parse("2010-12-01", &day0);
    dc_time_parse("2011-07-01", &train_until);
    n_days = 304;

    double t0 = dc_monotonic_s();
    dc_csv_reader_t *csv = dc_csv_reader_new(argv[1], "uci-online-retail", errstr, sizeof(errstr));
    if (!csv) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    while ((err = dc_csv_reader_next(csv, &order, errstr, sizeof(errstr))) != DC_ERR_EOF) {
        if (err == DC_ERR_IO || err == DC_ERR_NOMEM)
            return 1;
        if (err)
            continue;
        int64_t d = (order.ts_ms - day0) / DAY;
        for (size_t i = 0; i < order.n_lines; i++) {
            int64_t k = dc_strmap_put(skus, order.lines[i].sku, NULL);
            if ((size_t)(k + 1) * (size_t)n_days > cells_cap) {
                size_t cap = cells_cap ? cells_cap * 2 : (size_t)n_days * 1024;
                cells = realloc(cells, cap * sizeof(*cells));
                memset(cells + cells_cap, 0, (cap - cells_cap) * sizeof(*cells));
                cells_cap = cap;
            }
            cell_t *c = &cells[(size_t)k * (size_t)n_days + (size_t)d];
            if (order.status == DC_ORDER_PLACED)
                c->units += order.lines[i].qty;
            else
                c->cancelled += order.lines[i].qty;
            c->price_sum += order.lines[i].unit_price;
            c->price_n++;
        }
    }
    dc_csv_reader_destroy(csv);
    dc_order_clear(&order);
    double t_read = dc_monotonic_s() - t0;

    size_t n_skus = dc_strmap_count(skus);
    int64_t *first = malloc(n_skus * sizeof(*first));
    for (size_t k = 0; k < n_skus; k++) {
        first[k] = -1;
        for (int64_t d = 0; d < n_days && first[k] < 0; d++) {
            const cell_t *c = &cells[k * (size_t)n_days + (size_t)d];
            if (c->units > 0 || c->cancelled > 0 || c->price_n > 0)
                first[k] = d;
        }
    }

    dc_backtest_conf_t bc;
    dc_backtest_conf_init(&bc);
    scorer_t sc = {dc_backtest_new(&bc, errstr, sizeof(errstr)), 0, train_until - DAY};
    sc.model = dc_backtest_add_model(sc.bt, "demandcast", NULL);
    for (size_t k = 0; k < n_skus; k++)
        for (int64_t d = 0; d < n_days; d++)
            if (cells[k * (size_t)n_days + (size_t)d].units > 0)
                dc_backtest_add_actual(sc.bt, dc_strmap_key(skus, k), day0 + d * DAY,
                                       cells[k * (size_t)n_days + (size_t)d].units);

    dc_model_conf_t mc;
    if (dc_model_conf_load(&mc, conf, errstr, sizeof(errstr)))
        return 2;
    dc_model_t *model = dc_model_new(&mc, errstr, sizeof(errstr));
    dc_forecaster_t *fc = dc_forecaster_new(conf, model, errstr, sizeof(errstr));
    dc_model_fit_opts_t fit;
    dc_model_fit_opts_default(&fit);
    fit.epochs = (int)dc_conf_int(conf, "train.epochs");
    fit.seed = (uint64_t)dc_conf_int(conf, "model.seed");
    dc_warmstart_t *ws = dc_warmstart_new(fc, train_until, &fit, errstr, sizeof(errstr));
    dc_forecaster_sink_t sink = {on_forecast, NULL, &sc};
    dc_forecaster_input_t *in = malloc(n_skus * sizeof(*in));

    double t1 = dc_monotonic_s();
    for (int64_t d = 0; d < n_days; d++) {
        size_t n = 0;
        for (size_t k = 0; k < n_skus; k++) {
            const cell_t *c = &cells[k * (size_t)n_days + (size_t)d];
            if (first[k] < 0 || first[k] > d)
                continue;
            in[n].sku = dc_strmap_key(skus, k);
            in[n].bucket = (dc_model_bucket_t){.start_ms = day0 + d * DAY,
                                               .width_ms = DAY,
                                               .units = c->units,
                                               .cancelled = c->cancelled,
                                               .price = c->price_n ? c->price_sum / c->price_n
                                                                   : NAN};
            n++;
        }
        if ((err = dc_warmstart_close(ws, day0 + d * DAY, in, n, &sink))) {
            fprintf(stderr, "close failed: %s\n", dc_err2str(err));
            return 1;
        }
    }
    double t_model = dc_monotonic_s() - t1;
    if (dc_backtest_finish(sc.bt, errstr, sizeof(errstr))) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    printf("| method | WAPE h=1 | WAPE h=1..7 | MASE | QL 0.1 | QL 0.5 | QL 0.9 | cov |\n");
    for (size_t i = 0; i < dc_backtest_result_count(sc.bt); i++) {
        const dc_backtest_result_t *r = dc_backtest_result(sc.bt, i);
        printf("| %s | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f | missing %lld\n", r->name,
               r->wape_h1, r->wape, r->mase, r->ql10, r->ql50, r->ql90, r->coverage,
               (long long)r->n_missing);
    }
    printf("read %.2f s, model %.2f s (fit + %lld daily closes), blend weight %.3f\n", t_read,
           t_model, (long long)n_days, dc_forecaster_blend_weight(fc));
    dc_warmstart_destroy(ws);
    dc_forecaster_destroy(fc);
    dc_backtest_destroy(sc.bt);
    dc_strmap_destroy(skus);
    free(cells);
    free(first);
    free(in);
    dc_conf_destroy(conf);
    return 0;
}
