/* inference/warmstart.c - fit offline on the history before a cut-off, then
 * hand over to the online forecaster (see forecaster.h). */
#include "inference/forecaster.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One kept close: its SKUs are rows [first, first + n) of the row table. */
typedef struct {
    int64_t start;
    size_t first, n;
} kept_close_t;

typedef struct {
    uint32_t sku; /* index in the warm start's SKU map */
    dc_model_bucket_t bucket;
} kept_row_t;

struct dc_warmstart_s {
    dc_forecaster_t *fc;
    int64_t train_until, width;
    dc_model_fit_opts_t opts;
    int fitted;
    dc_strmap_t *skus;
    kept_close_t *closes;
    size_t n_closes, closes_cap;
    kept_row_t *rows;
    size_t n_rows, rows_cap;
};

dc_warmstart_t *dc_warmstart_new(dc_forecaster_t *fc, int64_t train_until,
                                 const dc_model_fit_opts_t *opts, char *errstr,
                                 size_t errstr_size)
{
    dc_warmstart_t *ws = calloc(1, sizeof(*ws));
    if (!ws || !(ws->skus = dc_strmap_new())) {
        free(ws);
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    ws->fc = fc;
    ws->train_until = train_until;
    ws->opts = *opts;
    return ws;
}

void dc_warmstart_destroy(dc_warmstart_t *ws)
{
    if (!ws)
        return;
    dc_strmap_destroy(ws->skus);
    free(ws->closes);
    free(ws->rows);
    free(ws);
}

int dc_warmstart_fitted(const dc_warmstart_t *ws) { return ws->fitted; }

static int keep(dc_warmstart_t *ws, int64_t bucket_start, const dc_forecaster_input_t *in, size_t n)
{
    if (ws->n_closes == ws->closes_cap) {
        size_t cap = ws->closes_cap ? ws->closes_cap * 2 : 64;
        kept_close_t *c = realloc(ws->closes, cap * sizeof(*c));
        if (!c)
            return DC_ERR_NOMEM;
        ws->closes = c;
        ws->closes_cap = cap;
    }
    if (ws->n_rows + n > ws->rows_cap) {
        size_t cap = ws->rows_cap ? ws->rows_cap : 1024;
        while (cap < ws->n_rows + n)
            cap *= 2;
        kept_row_t *r = realloc(ws->rows, cap * sizeof(*r));
        if (!r)
            return DC_ERR_NOMEM;
        ws->rows = r;
        ws->rows_cap = cap;
    }
    ws->closes[ws->n_closes++] = (kept_close_t){bucket_start, ws->n_rows, n};
    for (size_t i = 0; i < n; i++) {
        int64_t k = dc_strmap_put(ws->skus, in[i].sku, NULL);
        if (k < 0)
            return DC_ERR_NOMEM;
        ws->rows[ws->n_rows++] = (kept_row_t){(uint32_t)k, in[i].bucket};
    }
    return DC_OK;
}

static void log_epoch(int epoch, double loss, void *opaque)
{
    (void)opaque;
    dc_log(DC_LOG_INFO, "train", "epoch %d: mean NLL %.5f", epoch + 1, loss);
}

/* Builds each SKU's series from its first kept bucket to the last kept
 * close (buckets it was absent from are zero demand), and fits. */
static int fit(dc_warmstart_t *ws)
{
    size_t n_skus = dc_strmap_count(ws->skus), total = 0;
    int64_t *first = NULL;
    size_t *offs = NULL;
    dc_model_bucket_t *buckets = NULL;
    dc_model_series_t *series = NULL;
    int err = DC_ERR_NOMEM;
    char errstr[256];

    if (!ws->n_closes)
        return DC_OK;
    int64_t last = ws->closes[ws->n_closes - 1].start;
    first = malloc((n_skus ? n_skus : 1) * sizeof(*first));
    offs = malloc((n_skus + 1) * sizeof(*offs));
    series = malloc((n_skus ? n_skus : 1) * sizeof(*series));
    if (!first || !offs || !series)
        goto out;
    for (size_t i = 0; i < n_skus; i++)
        first[i] = INT64_MAX;
    for (size_t r = 0; r < ws->n_rows; r++) {
        int64_t s = ws->rows[r].bucket.start_ms;
        if (s < first[ws->rows[r].sku])
            first[ws->rows[r].sku] = s;
    }
    ws->width = ws->rows[0].bucket.width_ms;
    for (size_t i = 0; i < n_skus; i++) {
        offs[i] = total;
        total += (size_t)((last - first[i]) / ws->width + 1);
    }
    offs[n_skus] = total;
    buckets = calloc(total ? total : 1, sizeof(*buckets));
    if (!buckets)
        goto out;
    for (size_t i = 0; i < n_skus; i++) {
        size_t len = offs[i + 1] - offs[i];
        for (size_t t = 0; t < len; t++) {
            dc_model_bucket_t *b = &buckets[offs[i] + t];
            b->start_ms = first[i] + (int64_t)t * ws->width;
            b->width_ms = ws->width;
            b->price = NAN;
        }
        series[i] = (dc_model_series_t){buckets + offs[i], len};
    }
    for (size_t r = 0; r < ws->n_rows; r++) {
        const kept_row_t *row = &ws->rows[r];
        size_t t = (size_t)((row->bucket.start_ms - first[row->sku]) / ws->width);
        buckets[offs[row->sku] + t] = row->bucket;
    }
    dc_log(DC_LOG_INFO, "train", "fitting on %zu SKUs, %zu SKU-buckets, %d epochs", n_skus, total,
           ws->opts.epochs);
    dc_model_fit_opts_t opts = ws->opts;
    opts.progress = log_epoch;
    err = dc_model_fit(dc_forecaster_model(ws->fc), series, n_skus, &opts, errstr, sizeof(errstr));
    if (err)
        dc_log(DC_LOG_ERROR, "train", "offline fit failed: %s", errstr);
out:
    free(first);
    free(offs);
    free(buckets);
    free(series);
    return err;
}

int dc_warmstart_finish(dc_warmstart_t *ws, const dc_forecaster_sink_t *sink)
{
    dc_forecaster_input_t *in = NULL;
    size_t in_cap = 0;
    int err;

    if (ws->fitted)
        return DC_OK;
    ws->fitted = 1;
    if ((err = fit(ws)))
        return err;
    for (size_t c = 0; c < ws->n_closes && !err; c++) {
        const kept_close_t *kc = &ws->closes[c];
        if (kc->n > in_cap) {
            dc_forecaster_input_t *p = realloc(in, kc->n * sizeof(*p));
            if (!p) {
                err = DC_ERR_NOMEM;
                break;
            }
            in = p;
            in_cap = kc->n;
        }
        for (size_t i = 0; i < kc->n; i++) {
            const kept_row_t *row = &ws->rows[kc->first + i];
            in[i].sku = dc_strmap_key(ws->skus, row->sku);
            in[i].bucket = row->bucket;
        }
        err = dc_forecaster_close(ws->fc, kc->start, in, kc->n, sink);
    }
    free(in);
    /* The history has served its purpose. */
    free(ws->rows);
    free(ws->closes);
    ws->rows = NULL;
    ws->closes = NULL;
    ws->n_rows = ws->rows_cap = ws->n_closes = ws->closes_cap = 0;
    return err;
}

int dc_warmstart_close(dc_warmstart_t *ws, int64_t bucket_start, const dc_forecaster_input_t *in,
                       size_t n, const dc_forecaster_sink_t *sink)
{
    int err;
    if (!ws->fitted) {
        int64_t width = n ? in[0].bucket.width_ms : 0;
        if (n && bucket_start + width <= ws->train_until)
            return keep(ws, bucket_start, in, n);
        if (n && bucket_start + width > ws->train_until && (err = dc_warmstart_finish(ws, sink)))
            return err;
        if (!n)
            return DC_OK;
    }
    return dc_forecaster_close(ws->fc, bucket_start, in, n, sink);
}
