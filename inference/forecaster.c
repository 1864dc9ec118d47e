/* inference/forecaster.c - bucket close: LSTM step, online learning,
 * baseline, blend, surges (see forecaster.h). */
#include "inference/forecaster.h"
#include "inference/inference_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* The blend is learned by following the leader over a grid of weights:
 * every close scores the one-ahead forecast each weight would have
 * published (pinball loss at 10/50/90 % over all SKUs), a slow average of
 * those losses is kept per weight, and the weight with the least average
 * publishes. Unlike weights in inverse proportion to each expert's loss, this
 * goes to 0 when the LSTM adds nothing to the baseline and to 1 when the
 * baseline adds nothing to the LSTM. The averages follow roughly the last 30
 * closes: quick enough to notice a model that got worse, slow enough that
 * one odd bucket does not swing every forecast. */
#define BLEND_ALPHA (1.0 / 30)
#define BLEND_GRID 11 /* weights 0, 0.1, ..., 1 */

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
    size_t train_per_close; /* train.skus.per.close; 0 = every SKU */
    double blend_fixed; /* < 0: learned */
    double blend_loss[BLEND_GRID]; /* slow average of each grid weight's loss */
    int64_t width;
    int64_t last_closed;
    uint64_t model_fallbacks; /* horizons published from the baseline alone */

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
    dc_model_sku_t **train_recs;
    dc_model_bucket_t *buckets;
    dc_model_dist_t *dist;
    dc_forecast_t out;
    dc_baseline_fc_t base_fc[DC_HORIZON_MAX];
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
    fc->train_per_close = (size_t)dc_conf_int(conf, "train.skus.per.close");
    fc->blend_fixed = dc_conf_double(conf, "forecast.blend");
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
    free(fc->train_recs);
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

uint64_t dc_forecaster_model_fallbacks(const dc_forecaster_t *fc) { return fc->model_fallbacks; }

double dc_forecaster_blend_weight(const dc_forecaster_t *fc)
{
    int best = BLEND_GRID / 2; /* an even blend until the losses say otherwise */
    if (fc->blend_fixed >= 0)
        return fc->blend_fixed;
    for (int g = 0; g < BLEND_GRID; g++)
        if (fc->blend_loss[g] < fc->blend_loss[best])
            best = g;
    return (double)best / (BLEND_GRID - 1);
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
    GROW(train_recs, cap)
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

/* Closes between two training windows of a SKU when n SKUs close: 1 (all
 * train at every close, on windows that slide by one bucket) when
 * train.skus.per.close is 0, else the window length, so that every bucket is
 * trained on once, or more when needed to keep about train.skus.per.close
 * SKUs training per close. Sliding windows train on every bucket K times
 * over for K times the work; on the Online Retail backtests they forecast
 * no better. */
static int64_t train_period(const dc_forecaster_t *fc, size_t n)
{
    size_t per = fc->train_per_close, k = (size_t)dc_model_conf(fc->model)->bptt;
    if (per == 0)
        return 1;
    size_t p = (n + per - 1) / per;
    return (int64_t)(p > k ? p : k);
}

/* Whether the SKU of dense index i trains at the close of bucket number b
 * when SKUs train every `period` closes: index and bucket spread the SKUs
 * evenly over the closes, and neither depends on when the process started. */
static int train_due(int64_t b, uint32_t i, int64_t period)
{
    return ((b + (int64_t)i) % period + period) % period == 0;
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
    dc_baseline_sku_init(&fc->bparams, base_rec(fc, (size_t)i));
    memset(&fc->meta[i], 0, sizeof(fc->meta[i]));
    fc->meta[i].prev_target = INT64_MIN;
    return i;
}

int dc_forecaster_close(dc_forecaster_t *fc, int64_t bucket_start, const dc_forecaster_input_t *in,
                        size_t n, const dc_forecaster_sink_t *sink)
{
    double total_units = 0, total_views = 0, grid_loss[BLEND_GRID] = {0}, w;
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
        /* Score the one-ahead forecast of this bucket every grid weight
         * would have published. */
        sku_meta_t *m = &fc->meta[i];
        if (m->prev_target == bucket_start) {
            for (int g = 0; g < BLEND_GRID; g++) {
                double wg = (double)g / (BLEND_GRID - 1);
                float q[3];
                for (int k = 0; k < 3; k++)
                    q[k] = (float)(wg * m->prev_lstm[k] + (1 - wg) * m->prev_base[k]);
                grid_loss[g] += pinball3(q, x->bucket.units);
            }
            scored++;
        }
    }
    /* Only now: a SKU added above may have moved the arena. */
    for (size_t j = 0; j < n; j++)
        fc->recs[j] = model_rec(fc, fc->index[j]);
    if (scored)
        for (int g = 0; g < BLEND_GRID; g++)
            fc->blend_loss[g] += BLEND_ALPHA * (grid_loss[g] / scored - fc->blend_loss[g]);
    w = dc_forecaster_blend_weight(fc);

    dc_baseline_season_observe(&fc->bseason, &fc->bparams, bucket_start, total_units);
    int64_t period = fc->train_online ? train_period(fc, n) : 1;
    int64_t bucket_no = dc_time_floor(bucket_start, fc->width) / fc->width;
    int64_t window = dc_model_conf(fc->model)->bptt;
    if (period > 1) {
        /* A SKU that trains K-1 closes from now starts its window with
         * this bucket, so the window is whole when it trains. */
        for (size_t j = 0; j < n; j++)
            if (train_due(bucket_no + window - 1, fc->index[j], period))
                dc_model_sku_restart(fc->model, fc->recs[j]);
    }
    if ((err = dc_model_step(fc->model, fc->recs, fc->buckets, n, fc->dist)))
        return err;
    if (fc->train_online) {
        size_t n_train = 0;
        for (size_t j = 0; j < n; j++)
            if (period == 1 || train_due(bucket_no, fc->index[j], period))
                fc->train_recs[n_train++] = fc->recs[j];
        /* A guard that skipped or rolled back a step already kept the last
         * good weights; the forecasts go out regardless. */
        for (size_t j = 0; j < n_train; j += (size_t)fc->train_batch) {
            size_t m = n_train - j < (size_t)fc->train_batch ? n_train - j : (size_t)fc->train_batch;
            dc_model_train(fc->model, fc->train_recs + j, m, NULL);
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
        /* snprintf's truncation without its format parsing, once per SKU. */
        const char *key = dc_strmap_key(fc->skus, i);
        size_t key_len = strnlen(key, sizeof(out->sku) - 1);
        memcpy(out->sku, key, key_len);
        out->sku[key_len] = '\0';
        out->cold_start = dc_model_sku_is_cold(fc->recs[j]);
        dc_baseline_forecast_horizons(&fc->bparams, &fc->bseason, base, bucket_start + fc->width,
                                      hz, fc->base_fc);
        for (int k = 0; k < hz; k++) {
            const dc_model_dist_t *d = &fc->dist[j * (size_t)hz + (size_t)k];
            dc_nb_summary_t nb;
            const dc_baseline_fc_t bf = fc->base_fc[k];
            int64_t target = bucket_start + (int64_t)(k + 1) * fc->width;
            /* A distribution that is not a number, or a mean past any
             * count the model is ever shown, comes from a broken model (a
             * corrupt checkpoint, a blow-up the trainer's guards missed).
             * Its share goes to the baseline, so the SKU still gets a
             * forecast in line with its history, not 0 and not 1e30. */
            if (dc_nb_summary(d->mu, d->alpha, &nb) || nb.mean > DC__COUNT_MAX) {
                nb = (dc_nb_summary_t){bf.mean, bf.p10, bf.p50, bf.p90};
                fc->model_fallbacks++;
            }
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

        dc_surge_obs_t obs = {bucket_start, b->units, b->views, b->carts, b->promo_share,
                              hz > 0 ? out->horizons[0].mean : NAN,
                              hz > 0 ? fc->base_fc[0].mean : NAN};
        if (dc_surge_observe(&fc->sparams, &fc->sseason, &m->surge, out->sku, &obs, &fc->alert) &&
            sink->surge && (err = sink->surge(sink->opaque, &fc->alert)))
            return err;
    }
    dc_surge_season_observe(&fc->sseason, &fc->sparams, bucket_start, total_views);
    fc->last_closed = bucket_start;
    return DC_OK;
}

/* ------------------------------------------------------------------------ */
/* State records (format in forecaster.h)                                   */
/* ------------------------------------------------------------------------ */

#define GLOBAL_MAGIC "DCFG"
#define SKU_MAGIC "DCFS"
#define GLOBAL_VERSION 2 /* 2: the baseline's open share of each weekday */
#define SKU_VERSION 2    /* 2: the surge detector's evidence */
#define GLOBAL_FIXED                                                                            \
    (32 + BLEND_GRID * 8 + DC_BASELINE_MAX_SLOTS * 24 + 31 * 12 + 3 * 8 + 4) /* up to P */
#define SKU_FIXED 80 /* header, blend memory, surge, baseline header */

/* Little-endian cursors. A writer has its room reserved up front; a reader
 * checks every read against the end and remembers that one overran. */
typedef struct {
    uint8_t *p;
} st_wr_t;

typedef struct {
    const uint8_t *p, *end;
    int short_read;
} st_rd_t;

static void wr_bytes(st_wr_t *w, const void *v, size_t n)
{
    memcpy(w->p, v, n);
    w->p += n;
}

static void wr_u(st_wr_t *w, uint64_t v, int n)
{
    dc__put_le(w->p, v, n);
    w->p += n;
}

static void wr_f64(st_wr_t *w, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    wr_u(w, u, 8);
}

static void wr_f32(st_wr_t *w, float f)
{
    dc__put_f32(w->p, f);
    w->p += 4;
}

static uint64_t rd_u(st_rd_t *r, int n)
{
    if (r->end - r->p < n) {
        r->short_read = 1;
        r->p = r->end;
        return 0;
    }
    r->p += n;
    return dc__get_le(r->p - n, n);
}

static double rd_f64(st_rd_t *r)
{
    uint64_t u = rd_u(r, 8);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static float rd_f32(st_rd_t *r)
{
    uint32_t u = (uint32_t)rd_u(r, 4);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The magic, the CRC over all but the last 4 bytes, and a reader over the
 * bytes after the magic. */
static int st_open(const void *buf, size_t len, const char *magic, size_t min_len,
                   const char *what, st_rd_t *r, char *errstr, size_t errstr_size)
{
    const uint8_t *p = buf;
    if (len >= 4 && memcmp(p, magic, 4))
        return dc_seterr(errstr, errstr_size, DC_ERR_BAD_MAGIC, "%s: bad magic", what);
    if (len < min_len)
        return dc_seterr(errstr, errstr_size, DC_ERR_TRUNCATED, "%s: %zu bytes, too short", what,
                         len);
    uint32_t crc = (uint32_t)p[len - 4] | (uint32_t)p[len - 3] << 8 | (uint32_t)p[len - 2] << 16 |
                   (uint32_t)p[len - 1] << 24;
    if (crc != (uint32_t)crc32(0L, p, (uInt)(len - 4)))
        return dc_seterr(errstr, errstr_size, DC_ERR_CHECKSUM, "%s: CRC-32 mismatch", what);
    *r = (st_rd_t){p + 4, p + len - 4, 0};
    return DC_OK;
}

/* A bucket start a saved state can hold: none (INT64_MIN), or a multiple
 * of the bucket width within 2^53 ms of 1970 (some 285,000 years), so that
 * what is done with it (a season's slot, the gap since) cannot overflow. */
static int st_bucket_ok(const dc_forecaster_t *fc, int64_t t)
{
    const int64_t far = (int64_t)1 << 53;
    return t == INT64_MIN || (t >= -far && t <= far && t % fc->width == 0);
}

/* A count, a level or a loss a saved state can hold: what the forecaster
 * itself could have reached, so a damaged record cannot make its forecasts
 * NaN or negative. */
static int st_level_ok(double v) { return isfinite(v) && v >= 0; }

static uint32_t st_close(uint8_t *start, st_wr_t *w)
{
    uint32_t crc = (uint32_t)crc32(0L, start, (uInt)(w->p - start));
    wr_u(w, crc, 4);
    return crc;
}

const char *dc_forecaster_sku_name(const dc_forecaster_t *fc, size_t i)
{
    return dc_strmap_key(fc->skus, i);
}

int dc_forecaster_save_global(const dc_forecaster_t *fc, dc_buf_t *out)
{
    const dc_model_t *model = fc->model;
    size_t P = model->n_params, n = dc_strmap_count(fc->skus), len = GLOBAL_FIXED + 12 * P + 4;
    for (size_t i = 0; i < n; i++)
        len += 1 + strlen(dc_strmap_key(fc->skus, i));
    len += 4;
    int err = dc_buf_reserve(out, len);
    if (err)
        return err;
    uint8_t *start = out->data + out->len;
    st_wr_t w = {start};
    wr_bytes(&w, GLOBAL_MAGIC, 4);
    wr_u(&w, GLOBAL_VERSION, 4);
    wr_u(&w, (uint32_t)fc->horizon, 4);
    wr_u(&w, (uint32_t)fc->bseason.slots, 4);
    wr_u(&w, (uint64_t)fc->width, 8);
    wr_u(&w, (uint64_t)fc->last_closed, 8);
    for (int g = 0; g < BLEND_GRID; g++)
        wr_f64(&w, fc->blend_loss[g]);
    for (int i = 0; i < DC_BASELINE_MAX_SLOTS; i++)
        wr_f64(&w, fc->bseason.level[i]);
    for (int i = 0; i < DC_BASELINE_MAX_SLOTS; i++)
        wr_u(&w, fc->bseason.n[i], 4);
    for (int i = 0; i < DC_BASELINE_MAX_SLOTS; i++)
        wr_f64(&w, fc->bseason.open[i]);
    for (int i = 0; i < DC_BASELINE_MAX_SLOTS; i++)
        wr_u(&w, fc->bseason.seen[i], 4);
    for (int i = 0; i < 24; i++)
        wr_f64(&w, fc->sseason.hod_level[i]);
    for (int i = 0; i < 7; i++)
        wr_f64(&w, fc->sseason.dow_level[i]);
    for (int i = 0; i < 24; i++)
        wr_u(&w, fc->sseason.hod_n[i], 4);
    for (int i = 0; i < 7; i++)
        wr_u(&w, fc->sseason.dow_n[i], 4);
    wr_u(&w, model->loss_n, 8);
    wr_u(&w, model->good_since_snap, 8);
    wr_u(&w, model->snap_t, 8);
    wr_u(&w, P, 4);
    for (size_t i = 0; i < P; i++)
        wr_f32(&w, model->snap_params[i]);
    for (size_t i = 0; i < P; i++)
        wr_f32(&w, model->snap_m[i]);
    for (size_t i = 0; i < P; i++)
        wr_f32(&w, model->snap_v[i]);
    wr_u(&w, n, 4);
    for (size_t i = 0; i < n; i++) {
        const char *name = dc_strmap_key(fc->skus, i);
        size_t l = strlen(name);
        wr_u(&w, l, 1);
        wr_bytes(&w, name, l);
    }
    st_close(start, &w);
    out->len += len;
    return DC_OK;
}

int dc_forecaster_load_global(dc_forecaster_t *fc, const void *buf, size_t len, char *errstr,
                              size_t errstr_size)
{
    static const char what[] = "forecaster state";
    dc_model_t *model = fc->model;
    dc_baseline_season_t bs;
    dc_surge_season_t ss;
    dc_strmap_t *skus = NULL;
    st_rd_t r;
    int err = st_open(buf, len, GLOBAL_MAGIC, GLOBAL_FIXED + 8, what, &r, errstr, errstr_size);
    if (err)
        return err;
    uint32_t version = (uint32_t)rd_u(&r, 4);
    if (version != GLOBAL_VERSION)
        return dc_seterr(errstr, errstr_size, DC_ERR_VERSION, "%s: version %u, this build reads %d",
                         what, version, GLOBAL_VERSION);
    uint32_t horizon = (uint32_t)rd_u(&r, 4), slots = (uint32_t)rd_u(&r, 4);
    int64_t width = (int64_t)rd_u(&r, 8), last_closed = (int64_t)rd_u(&r, 8);
    if (horizon != (uint32_t)fc->horizon || width != fc->width ||
        slots != (uint32_t)fc->bseason.slots)
        return dc_seterr(errstr, errstr_size, DC_ERR_VERSION,
                         "%s: horizon %u, bucket width %lld ms; this forecaster has %d, %lld ms",
                         what, horizon, (long long)width, fc->horizon, (long long)fc->width);
    if (!st_bucket_ok(fc, last_closed))
        return dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED,
                         "%s: the last closed bucket, %lld, is no bucket start", what,
                         (long long)last_closed);
    double blend_loss[BLEND_GRID];
    int levels_ok = 1;
    for (int g = 0; g < BLEND_GRID; g++)
        levels_ok &= st_level_ok(blend_loss[g] = rd_f64(&r));
    memset(&bs, 0, sizeof(bs));
    memset(&ss, 0, sizeof(ss));
    bs.slots = (int)slots;
    for (int i = 0; i < DC_BASELINE_MAX_SLOTS; i++)
        levels_ok &= st_level_ok(bs.level[i] = rd_f64(&r));
    for (int i = 0; i < DC_BASELINE_MAX_SLOTS; i++)
        bs.n[i] = (uint32_t)rd_u(&r, 4);
    for (int i = 0; i < DC_BASELINE_MAX_SLOTS; i++)
        levels_ok &= st_level_ok(bs.open[i] = rd_f64(&r));
    for (int i = 0; i < DC_BASELINE_MAX_SLOTS; i++)
        bs.seen[i] = (uint32_t)rd_u(&r, 4);
    for (int i = 0; i < 24; i++)
        levels_ok &= st_level_ok(ss.hod_level[i] = rd_f64(&r));
    for (int i = 0; i < 7; i++)
        levels_ok &= st_level_ok(ss.dow_level[i] = rd_f64(&r));
    if (!levels_ok)
        return dc_seterr(errstr, errstr_size, DC_ERR_NUMERIC,
                         "%s: a blend loss or seasonal level is negative or not finite", what);
    for (int i = 0; i < 24; i++)
        ss.hod_n[i] = (uint32_t)rd_u(&r, 4);
    for (int i = 0; i < 7; i++)
        ss.dow_n[i] = (uint32_t)rd_u(&r, 4);
    uint64_t loss_n = rd_u(&r, 8), good_since_snap = rd_u(&r, 8), snap_t = rd_u(&r, 8);
    uint64_t P = rd_u(&r, 4);
    if (P != model->n_params)
        return dc_seterr(errstr, errstr_size, DC_ERR_VERSION,
                         "%s: %llu parameters, the model has %zu", what, (unsigned long long)P,
                         model->n_params);
    if ((size_t)(r.end - r.p) < 12 * P + 4)
        return dc_seterr(errstr, errstr_size, DC_ERR_TRUNCATED, "%s: snapshot cut short", what);
    const uint8_t *snap = r.p;
    r.p += 12 * P;
    for (size_t i = 0; i < 3 * P; i++) {
        st_rd_t f = {snap + 4 * i, snap + 4 * i + 4, 0};
        if (!isfinite(rd_f32(&f)))
            return dc_seterr(errstr, errstr_size, DC_ERR_NUMERIC, "%s: non-finite snapshot", what);
    }
    uint32_t n = (uint32_t)rd_u(&r, 4);
    if (!(skus = dc_strmap_new()))
        return dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < n && !r.short_read; i++) {
        char name[DC_SKU_MAX];
        size_t l = (size_t)rd_u(&r, 1);
        int inserted;
        if (l == 0 || l >= sizeof(name) || (size_t)(r.end - r.p) < l) {
            err = dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED, "%s: bad SKU name", what);
            goto fail;
        }
        memcpy(name, r.p, l);
        name[l] = '\0';
        r.p += l;
        if (strlen(name) != l || dc_strmap_put(skus, name, &inserted) < 0 || !inserted) {
            err = dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED,
                            "%s: SKU name %zu repeated or not text", what, (size_t)i);
            goto fail;
        }
    }
    if (r.short_read) {
        err = dc_seterr(errstr, errstr_size, DC_ERR_TRUNCATED, "%s: cut short", what);
        goto fail;
    }
    if (r.p != r.end) {
        err = dc_seterr(errstr, errstr_size, DC_ERR_TRAILING, "%s: %zu bytes after the record",
                        what, (size_t)(r.end - r.p));
        goto fail;
    }
    if ((err = reserve_skus(fc, n))) {
        dc_seterr(errstr, errstr_size, err, "out of memory");
        goto fail;
    }

    /* Everything checked: from here on the state is replaced. */
    fc->last_closed = last_closed;
    memcpy(fc->blend_loss, blend_loss, sizeof(blend_loss));
    fc->bseason = bs;
    fc->sseason = ss;
    for (size_t i = 0; i < 3 * P; i++) {
        st_rd_t f = {snap + 4 * i, snap + 4 * i + 4, 0};
        float v = rd_f32(&f);
        float *dst = i < P ? model->snap_params : i < 2 * P ? model->snap_m : model->snap_v;
        dst[i % P] = v;
    }
    model->loss_n = loss_n;
    model->good_since_snap = good_since_snap;
    model->snap_t = snap_t;
    dc_strmap_destroy(fc->skus);
    fc->skus = skus;
    for (size_t i = 0; i < n; i++) {
        dc_model_sku_init(model, model_rec(fc, i));
        dc_baseline_sku_init(&fc->bparams, base_rec(fc, i));
        memset(&fc->meta[i], 0, sizeof(fc->meta[i]));
        fc->meta[i].prev_target = INT64_MIN;
    }
    return DC_OK;
fail:
    dc_strmap_destroy(skus);
    return err;
}

/* Floats in a baseline ring: what dc_baseline_sku_size() holds past the header. */
static size_t base_window(const dc_forecaster_t *fc)
{
    return (dc_baseline_sku_size(&fc->bparams) - sizeof(dc_baseline_sku_t)) / sizeof(float);
}

int dc_forecaster_save_sku(const dc_forecaster_t *fc, const char *sku, dc_buf_t *out)
{
    int64_t i = dc_strmap_find(fc->skus, sku);
    size_t W = base_window(fc), start = out->len, fixed = SKU_FIXED + 4 * W + 4;
    int err;
    if (i < 0)
        return DC_ERR_INVAL;
    const dc_model_sku_t *mrec =
        (const dc_model_sku_t *)(fc->model_arena + (size_t)i * fc->model_size);
    const dc_baseline_sku_t *base =
        (const dc_baseline_sku_t *)(fc->base_arena + (size_t)i * fc->base_size);
    const sku_meta_t *m = &fc->meta[i];
    if ((err = dc_buf_reserve(out, fixed)))
        return err;
    st_wr_t w = {out->data + start};
    wr_bytes(&w, SKU_MAGIC, 4);
    wr_u(&w, SKU_VERSION, 1);
    wr_u(&w, 0, 1);
    wr_u(&w, W, 2);
    wr_u(&w, (uint64_t)m->prev_target, 8);
    for (int k = 0; k < 3; k++)
        wr_f32(&w, m->prev_lstm[k]);
    for (int k = 0; k < 3; k++)
        wr_f32(&w, m->prev_base[k]);
    wr_f32(&w, m->surge.level_units);
    wr_f32(&w, m->surge.level_views);
    wr_f32(&w, m->surge.level_carts);
    wr_f32(&w, m->surge.last_expected);
    wr_f32(&w, m->surge.evidence);
    wr_f32(&w, m->surge.promo_evidence);
    wr_u(&w, m->surge.seen, 2);
    wr_u(&w, m->surge.active, 1);
    wr_u(&w, m->surge.calm, 1);
    wr_u(&w, (uint64_t)base->last_bucket, 8);
    wr_u(&w, base->len, 2);
    wr_u(&w, base->head, 2);
    for (size_t k = 0; k < W; k++)
        wr_f32(&w, base->units[k]);
    out->len += fixed;
    /* The model record goes straight into out (which may move); its length
     * is filled in after. */
    if ((err = dc_model_sku_save(fc->model, mrec, out)) || (err = dc_buf_reserve(out, 4))) {
        out->len = start;
        return err;
    }
    w.p = out->data + start + fixed - 4;
    wr_u(&w, out->len - start - fixed, 4);
    w.p = out->data + out->len;
    st_close(out->data + start, &w);
    out->len += 4;
    return DC_OK;
}

int dc_forecaster_load_sku(dc_forecaster_t *fc, const char *sku, const void *buf, size_t len,
                           char *errstr, size_t errstr_size)
{
    int64_t i = dc_strmap_find(fc->skus, sku);
    size_t W = base_window(fc);
    sku_meta_t m;
    st_rd_t r;
    int err;
    if (i < 0)
        return dc_seterr(errstr, errstr_size, DC_ERR_INVAL,
                         "SKU %s is not in the forecaster's state", sku);
    if ((err = st_open(buf, len, SKU_MAGIC, SKU_FIXED + 8, "SKU forecaster state", &r, errstr,
                       errstr_size)))
        return err;
    uint32_t version = (uint32_t)rd_u(&r, 1), zero = (uint32_t)rd_u(&r, 1);
    size_t w = (size_t)rd_u(&r, 2);
    if (version != SKU_VERSION || zero || w != W)
        return dc_seterr(errstr, errstr_size, DC_ERR_VERSION,
                         "SKU %s state: version %u.%u, baseline window %zu; want %d.0, %zu", sku,
                         version, zero, w, SKU_VERSION, W);
    memset(&m, 0, sizeof(m));
    m.prev_target = (int64_t)rd_u(&r, 8);
    for (int k = 0; k < 3; k++)
        m.prev_lstm[k] = rd_f32(&r);
    for (int k = 0; k < 3; k++)
        m.prev_base[k] = rd_f32(&r);
    m.surge.level_units = rd_f32(&r);
    m.surge.level_views = rd_f32(&r);
    m.surge.level_carts = rd_f32(&r);
    m.surge.last_expected = rd_f32(&r);
    m.surge.evidence = rd_f32(&r);
    m.surge.promo_evidence = rd_f32(&r);
    m.surge.seen = (uint16_t)rd_u(&r, 2);
    m.surge.active = (uint8_t)rd_u(&r, 1);
    m.surge.calm = (uint8_t)rd_u(&r, 1);
    int64_t last_bucket = (int64_t)rd_u(&r, 8);
    uint16_t blen = (uint16_t)rd_u(&r, 2), bhead = (uint16_t)rd_u(&r, 2);
    const uint8_t *ring = r.p;
    r.p += 4 * W <= (size_t)(r.end - r.p) ? 4 * W : (size_t)(r.end - r.p);
    size_t L = (size_t)rd_u(&r, 4);
    if (r.short_read || (size_t)(r.end - r.p) < L)
        return dc_seterr(errstr, errstr_size, DC_ERR_TRUNCATED, "SKU %s state: cut short", sku);
    if ((size_t)(r.end - r.p) > L)
        return dc_seterr(errstr, errstr_size, DC_ERR_TRAILING,
                         "SKU %s state: %zu bytes after the record", sku,
                         (size_t)(r.end - r.p) - L);
    if (blen > W || (blen && bhead >= W))
        return dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED,
                         "SKU %s state: baseline ring %u/%u of %zu", sku, blen, bhead, W);
    if (!st_bucket_ok(fc, m.prev_target) || !st_bucket_ok(fc, last_bucket))
        return dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED,
                         "SKU %s state: bucket times %lld, %lld are no bucket starts", sku,
                         (long long)m.prev_target, (long long)last_bucket);
    /* The ring's buckets in use (newest at the head) hold units or NaN (the
     * shop was closed); the others are never read. */
    int numbers_ok = isfinite(m.surge.promo_evidence) && st_level_ok(m.surge.evidence) &&
                     st_level_ok(m.surge.level_units) && st_level_ok(m.surge.level_views) &&
                     st_level_ok(m.surge.level_carts) && st_level_ok(m.surge.last_expected);
    for (int k = 0; k < 3; k++)
        numbers_ok &= st_level_ok(m.prev_lstm[k]) && st_level_ok(m.prev_base[k]);
    for (size_t age = 0, at = bhead; age < blen; age++, at = at ? at - 1 : W - 1) {
        st_rd_t f = {ring + 4 * at, ring + 4 * at + 4, 0};
        float v = rd_f32(&f);
        numbers_ok &= isnan(v) || st_level_ok(v);
    }
    if (!numbers_ok)
        return dc_seterr(errstr, errstr_size, DC_ERR_NUMERIC,
                         "SKU %s state: a forecast, surge level or baseline bucket is negative "
                         "or not finite", sku);
    /* The model record is checked and loaded last: it changes nothing on failure. */
    if ((err = dc_model_sku_load(fc->model, model_rec(fc, (size_t)i), r.p, L, errstr,
                                 errstr_size)))
        return err;
    dc_baseline_sku_t *base = base_rec(fc, (size_t)i);
    base->last_bucket = last_bucket;
    base->len = blen;
    base->head = bhead;
    base->reserved = 0;
    for (size_t k = 0; k < W; k++) {
        st_rd_t f = {ring + 4 * k, ring + 4 * k + 4, 0};
        base->units[k] = rd_f32(&f);
    }
    fc->meta[i] = m;
    return DC_OK;
}
