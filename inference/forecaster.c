/* inference/forecaster.c - bucket close: LSTM step, online learning,
 * baseline, blend, surges (see forecaster.h). */
#include "inference/forecaster.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The blend weight follows the experts' losses over roughly the last 30
 * closes: quick enough to notice a model that got worse, slow enough that
 * one odd bucket does not swing every forecast. */
#define BLEND_ALPHA (1.0 / 30)

/* What the forecaster keeps per SKU besides the model and baseline records. */
typedef struct {
    int64_t prev_target;  /* bucket the one-ahead forecasts below are for; INT64_MIN none */
    float prev_lstm[3];   /* p10, p50, p90 of the LSTM for prev_target */
    float prev_base[3];   /* the baseline's */
    dc_surge_sku_t surge;
} sku_meta_t;

struct dc_forecaster_s {
    dc_model_t *model;
    int horizon;
    int train_online;
    int train_batch;
    double blend_fixed; /* < 0: learned */
    double loss_lstm, loss_base;
    int64_t width;
    int64_t last_closed;

    dc_baseline_params_t bparams;
    dc_baseline_season_t bseason;
    dc_surge_params_t sparams;
    dc_surge_season_t sseason;

    dc_strmap_t *skus;
    size_t cap;               /* SKU records allocated */
    size_t model_size, base_size;
    unsigned char *model_arena;
    unsigned char *base_arena;
    sku_meta_t *meta;

    /* Per-close workspaces, grown with the number of SKUs in a close. */
    size_t work_cap;
    size_t *order;
    uint32_t *index;
    dc_model_sku_t **recs;
    dc_model_bucket_t *buckets;
    dc_model_dist_t *dist;
    dc_forecast_t out;
    dc_surge_t alert;
};

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

static dc_model_sku_t *model_rec(dc_forecaster_t *fc, size_t i)
{
    return (dc_model_sku_t *)(fc->model_arena + i * fc->model_size);
}

static dc_baseline_sku_t *base_rec(dc_forecaster_t *fc, size_t i)
{
    return (dc_baseline_sku_t *)(fc->base_arena + i * fc->base_size);
}

dc_forecaster_t *dc_forecaster_new(const dc_conf_t *conf, dc_model_t *model, char *errstr,
                                   size_t errstr_size)
{
    dc_forecaster_t *fc = calloc(1, sizeof(*fc));
    if (!fc) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    fc->width = dc_conf_duration_ms(conf, "bucket.width");
    fc->horizon = dc_model_conf(model)->horizon;
    if (fc->horizon > DC_HORIZON_MAX) {
        dc_seterr(errstr, errstr_size, DC_ERR_CONFIG, "horizon %d exceeds %d", fc->horizon,
                  DC_HORIZON_MAX);
        goto fail;
    }
    fc->train_online = dc_conf_bool(conf, "train.online");
    fc->train_batch = (int)dc_conf_int(conf, "train.batch");
    fc->blend_fixed = dc_conf_double(conf, "forecast.blend");
    fc->loss_lstm = fc->loss_base = 1.0;
    fc->last_closed = INT64_MIN;
    dc_baseline_params_from_conf(&fc->bparams, conf);
    dc_baseline_season_init(&fc->bseason, &fc->bparams);
    dc_surge_params_from_conf(&fc->sparams, conf);
    dc_surge_season_init(&fc->sseason);
    fc->model_size = align8(dc_model_sku_size(model));
    fc->base_size = align8(dc_baseline_sku_size(&fc->bparams));
    if (!(fc->skus = dc_strmap_new())) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    fc->model = model;
    return fc;
fail:
    dc_strmap_destroy(fc->skus);
    free(fc);
    return NULL;
}

void dc_forecaster_destroy(dc_forecaster_t *fc)
{
    if (!fc)
        return;
    dc_model_destroy(fc->model);
    dc_strmap_destroy(fc->skus);
    free(fc->model_arena);
    free(fc->base_arena);
    free(fc->meta);
    free(fc->order);
    free(fc->index);
    free(fc->recs);
    free(fc->buckets);
    free(fc->dist);
    free(fc);
}

dc_model_t *dc_forecaster_model(dc_forecaster_t *fc) { return fc->model; }
int64_t dc_forecaster_last_closed(const dc_forecaster_t *fc) { return fc->last_closed; }
size_t dc_forecaster_sku_count(const dc_forecaster_t *fc) { return dc_strmap_count(fc->skus); }

size_t dc_forecaster_bytes_per_sku(const dc_forecaster_t *fc)
{
    return fc->model_size + fc->base_size + sizeof(sku_meta_t);
}

double dc_forecaster_blend_weight(const dc_forecaster_t *fc)
{
    if (fc->blend_fixed >= 0)
        return fc->blend_fixed;
    return fc->loss_base / (fc->loss_lstm + fc->loss_base);
}

/* Makes room for SKU records up to n (amortised doubling: allocation happens
 * only while the SKU population grows). */
static int reserve_skus(dc_forecaster_t *fc, size_t n)
{
    size_t cap = fc->cap ? fc->cap : 256;
    unsigned char *m, *b;
    sku_meta_t *meta;
    if (n <= fc->cap)
        return DC_OK;
    while (cap < n)
        cap *= 2;
    if (!(m = realloc(fc->model_arena, cap * fc->model_size)))
        return DC_ERR_NOMEM;
    fc->model_arena = m;
    if (!(b = realloc(fc->base_arena, cap * fc->base_size)))
        return DC_ERR_NOMEM;
    fc->base_arena = b;
    if (!(meta = realloc(fc->meta, cap * sizeof(*meta))))
        return DC_ERR_NOMEM;
    fc->meta = meta;
    fc->cap = cap;
    return DC_OK;
}

static int reserve_work(dc_forecaster_t *fc, size_t n)
{
    size_t cap = fc->work_cap ? fc->work_cap : 256;
    void *p;
    if (n <= fc->work_cap)
        return DC_OK;
    while (cap < n)
        cap *= 2;
#define GROW(field, count)                                                                      \
    if (!(p = realloc(fc->field, (count) * sizeof(*fc->field))))                               \
        return DC_ERR_NOMEM;                                                                    \
    fc->field = p;
    GROW(order, cap)
    GROW(index, cap)
    GROW(recs, cap)
    GROW(buckets, cap)
    GROW(dist, cap * (size_t)fc->horizon)
#undef GROW
    fc->work_cap = cap;
    return DC_OK;
}

/* qsort has no context argument: the input being sorted is passed here. */
static const dc_forecaster_input_t *sort_input;

static int cmp_by_sku(const void *a, const void *b)
{
    return strcmp(sort_input[*(const size_t *)a].sku, sort_input[*(const size_t *)b].sku);
}

static double pinball3(const float q[3], double actual)
{
    static const double levels[3] = {0.1, 0.5, 0.9};
    double loss = 0;
    for (int k = 0; k < 3; k++) {
        double d = actual - q[k];
        loss += d >= 0 ? levels[k] * d : (levels[k] - 1) * d;
    }
    return loss;
}

/* Finds or creates the records of a SKU; returns its index or -1. */
static int64_t sku_index(dc_forecaster_t *fc, const char *sku)
{
    int inserted;
    int64_t i = dc_strmap_put(fc->skus, sku, &inserted);
    if (i < 0 || !inserted)
        return i;
    if (reserve_skus(fc, (size_t)i + 1))
        return -1;
    dc_model_sku_init(fc->model, model_rec(fc, (size_t)i));
    dc_baseline_sku_init(base_rec(fc, (size_t)i));
    memset(&fc->meta[i], 0, sizeof(fc->meta[i]));
    fc->meta[i].prev_target = INT64_MIN;
    return i;
}

int dc_forecaster_close(dc_forecaster_t *fc, int64_t bucket_start, const dc_forecaster_input_t *in,
                        size_t n, const dc_forecaster_sink_t *sink)
{
    double total_units = 0, total_views = 0, loss_l = 0, loss_b = 0, w;
    size_t scored = 0;
    int err, hz = fc->horizon;

    if (fc->last_closed != INT64_MIN && bucket_start <= fc->last_closed)
        return DC_ERR_INVAL;
    if ((err = reserve_work(fc, n)))
        return err;

    /* Byte order of SKU names, whatever order the caller used. */
    for (size_t i = 0; i < n; i++)
        fc->order[i] = i;
    sort_input = in;
    qsort(fc->order, n, sizeof(*fc->order), cmp_by_sku);
    sort_input = NULL;

    for (size_t j = 0; j < n; j++) {
        const dc_forecaster_input_t *x = &in[fc->order[j]];
        int64_t i = sku_index(fc, x->sku);
        if (i < 0)
            return DC_ERR_NOMEM;
        fc->index[j] = (uint32_t)i;
        fc->buckets[j] = x->bucket;
        total_units += x->bucket.units;
        total_views += x->bucket.views;
        /* Score both experts' one-ahead forecasts of this bucket. */
        sku_meta_t *m = &fc->meta[i];
        if (m->prev_target == bucket_start) {
            loss_l += pinball3(m->prev_lstm, x->bucket.units);
            loss_b += pinball3(m->prev_base, x->bucket.units);
            scored++;
        }
    }
    /* Only now: a SKU added above may have moved the arena. */
    for (size_t j = 0; j < n; j++)
        fc->recs[j] = model_rec(fc, fc->index[j]);
    if (scored && loss_l + loss_b > 0) {
        fc->loss_lstm += BLEND_ALPHA * (loss_l / scored - fc->loss_lstm);
        fc->loss_base += BLEND_ALPHA * (loss_b / scored - fc->loss_base);
    }
    w = dc_forecaster_blend_weight(fc);

    dc_baseline_season_observe(&fc->bseason, &fc->bparams, bucket_start, total_units);
    if ((err = dc_model_step(fc->model, fc->recs, fc->buckets, n, fc->dist)))
        return err;
    if (fc->train_online) {
        /* A guard that skipped or rolled back a step already kept the last
         * good weights; the forecasts go out regardless. */
        for (size_t j = 0; j < n; j += (size_t)fc->train_batch) {
            size_t m = n - j < (size_t)fc->train_batch ? n - j : (size_t)fc->train_batch;
            dc_model_train(fc->model, fc->recs + j, m, NULL);
        }
    }

    dc_forecast_t *out = &fc->out;
    out->bucket_start = bucket_start;
    out->bucket_width = fc->width;
    out->issued_at = bucket_start + fc->width;
    out->model_version = (int64_t)dc_model_version(fc->model);
    out->n_horizons = (size_t)hz;
    for (size_t j = 0; j < n; j++) {
        uint32_t i = fc->index[j];
        const dc_model_bucket_t *b = &fc->buckets[j];
        dc_baseline_sku_t *base = base_rec(fc, i);
        sku_meta_t *m = &fc->meta[i];

        dc_baseline_sku_push(&fc->bparams, base, bucket_start, b->units, total_units <= 0);
        snprintf(out->sku, sizeof(out->sku), "%s", dc_strmap_key(fc->skus, i));
        out->cold_start = dc_model_sku_is_cold(fc->recs[j]);
        for (int k = 0; k < hz; k++) {
            const dc_model_dist_t *d = &fc->dist[j * (size_t)hz + (size_t)k];
            dc_nb_summary_t nb;
            dc_baseline_fc_t bf;
            int64_t target = bucket_start + (int64_t)(k + 1) * fc->width;
            dc_nb_summary(d->mu, d->alpha, &nb);
            dc_baseline_forecast(&fc->bparams, &fc->bseason, base, target, &bf);
            dc_horizon_t *h = &out->horizons[k];
            h->offset = k + 1;
            h->mean = w * nb.mean + (1 - w) * bf.mean;
            h->p10 = w * nb.p10 + (1 - w) * bf.p10;
            h->p50 = w * nb.p50 + (1 - w) * bf.p50;
            h->p90 = w * nb.p90 + (1 - w) * bf.p90;
            if (k == 0) {
                m->prev_target = target;
                m->prev_lstm[0] = (float)nb.p10;
                m->prev_lstm[1] = (float)nb.p50;
                m->prev_lstm[2] = (float)nb.p90;
                m->prev_base[0] = (float)bf.p10;
                m->prev_base[1] = (float)bf.p50;
                m->prev_base[2] = (float)bf.p90;
            }
        }
        if ((err = sink->forecast(sink->opaque, out)))
            return err;

        dc_surge_obs_t obs = {bucket_start, b->units, b->views, b->carts,
                              hz > 0 ? out->horizons[0].mean : NAN};
        if (dc_surge_observe(&fc->sparams, &fc->sseason, &m->surge, out->sku, &obs, &fc->alert) &&
            sink->surge && (err = sink->surge(sink->opaque, &fc->alert)))
            return err;
    }
    dc_surge_season_observe(&fc->sseason, &fc->sparams, bucket_start, total_views);
    fc->last_closed = bucket_start;
    return DC_OK;
}
