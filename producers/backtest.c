/* producers/backtest.c - scoring of forecasts against actual demand exactly as
 * PROTOCOL.md sections 4-9 define it, with the baselines computed from the
 * same actuals; see backtest.h for the contract. */
#define _GNU_SOURCE /* qsort_r */
#include "producers/backtest_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000LL
#define MA_WINDOW 28
#define SEASON 7
/* Bounds memory: 100,000 buckets is 270 years of days. */
#define MAX_BUCKETS 100000
#define MAX_WIDTH (366 * DAY_MS)

static const struct {
    const char *name;
    const char *desc;
    int has_quantiles;
} baselines[BT__BASELINES] = {
    {"zero", "0 everywhere (reference)", 0},
    {"naive", "the origin bucket's demand, for every h", 0},
    {"snaive7",
     "demand a multiple of 7 buckets before the target, the latest on or before the origin "
     "(daily: the same weekday last week)",
     0},
    {"ma28", "mean of the last 28 buckets", 0},
    {"ma28 median",
     "median of the last 28 buckets; quantiles: empirical (linearly interpolated) quantiles of "
     "the same 28 buckets",
     1},
};

void dc_backtest_conf_init(dc_backtest_conf_t *conf)
{
    memset(conf, 0, sizeof(*conf));
    dc_time_parse("2010-12-01", &conf->train_from);
    dc_time_parse("2011-06-30", &conf->train_until);
    dc_time_parse("2011-07-01", &conf->eval_from);
    dc_time_parse("2011-09-30", &conf->eval_to);
    conf->bucket_width = DAY_MS;
    conf->horizon = 7;
    conf->min_days = 60;
    conf->max_series = 500;
}

/* Bucket index of a time known to lie in the window (see dc_backtest_new). */
static int64_t bucket_of(const dc_backtest_t *bt, int64_t ts)
{
    return dc_time_floor(ts - bt->conf.train_from, bt->conf.bucket_width) /
           bt->conf.bucket_width;
}

/* Bucket index of any time, or -1 outside train_from .. eval_to. */
static int64_t bucket_in(const dc_backtest_t *bt, int64_t ts)
{
    int64_t end = bt->conf.train_from + bt->n_buckets * bt->conf.bucket_width;
    return ts < bt->conf.train_from || ts >= end ? -1 : bucket_of(bt, ts);
}

dc_backtest_t *dc_backtest_new(const dc_backtest_conf_t *conf, char *errstr,
                               size_t errstr_size)
{
    dc_backtest_t *bt = calloc(1, sizeof(*bt));

    if (!bt) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    bt->conf = *conf;
    if (conf->bucket_width <= 0 || conf->bucket_width > MAX_WIDTH) {
        dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                  "backtest: bucket width must be positive and at most 366 days");
        goto fail;
    }
    /* In doubles, so that no difference of two times can overflow; once this
     * holds, every time in the window is within MAX_BUCKETS buckets of
     * train_from and int64 arithmetic on it is safe. */
    double span = (double)MAX_BUCKETS * (double)conf->bucket_width;
    double d_until = (double)conf->train_until - (double)conf->train_from;
    double d_from = (double)conf->eval_from - (double)conf->train_from;
    double d_to = (double)conf->eval_to - (double)conf->train_from;
    if (d_until < 0 || d_from < 0 || d_to < d_from || d_until > span || d_to > span) {
        dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                  "backtest: need train_from <= train_until, train_from <= eval_from <= "
                  "eval_to and at most %d buckets in all",
                  MAX_BUCKETS);
        goto fail;
    }
    bt->n_train = bucket_of(bt, conf->train_until) + 1;
    bt->first_origin = bucket_of(bt, conf->eval_from) - 1;
    bt->n_buckets = bucket_of(bt, conf->eval_to) + 1;
    bt->n_origins = bt->n_buckets - 1 - bt->first_origin;
    bt->H = conf->horizon;
    if (bt->n_train < DC_BACKTEST_MIN_TRAIN) {
        dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                  "backtest: the train span has %lld buckets, at least %d are needed",
                  (long long)bt->n_train, DC_BACKTEST_MIN_TRAIN);
        goto fail;
    }
    if (bt->first_origin < bt->n_train - 1) {
        dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                  "backtest: targets must start after the train span");
        goto fail;
    }
    if (conf->horizon < 1 || conf->horizon > DC_BACKTEST_HORIZON_MAX || conf->min_days < 1 ||
        conf->max_series < 1) {
        dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                  "backtest: horizon must be 1..%d, min_days and max_series >= 1",
                  DC_BACKTEST_HORIZON_MAX);
        goto fail;
    }
    bt->n_slots = 1024;
    if (!(bt->slots = calloc(bt->n_slots, sizeof(*bt->slots)))) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    return bt;
fail:
    dc_backtest_destroy(bt);
    return NULL;
}

void dc_backtest_destroy(dc_backtest_t *bt)
{
    if (!bt)
        return;
    for (size_t i = 0; i < bt->n_skus; i++)
        free(bt->skus[i].y);
    for (size_t i = 0; i < bt->n_models; i++) {
        free(bt->models[i].desc);
        free(bt->models[i].fc);
        free(bt->models[i].have);
    }
    free(bt->models);
    free(bt->skus);
    free(bt->slots);
    free(bt->series);
    free(bt->scale);
    free(bt->results);
    free(bt);
}

/* ---- SKU table: open addressing on dc_str_hash ---- */

/* Index of sku, or -1. */
static int64_t sku_find(const dc_backtest_t *bt, const char *sku)
{
    size_t mask = bt->n_slots - 1;
    for (size_t i = dc_str_hash(sku) & mask;; i = (i + 1) & mask) {
        uint32_t v = bt->slots[i];
        if (!v)
            return -1;
        if (!strcmp(bt->skus[v - 1].sku, sku))
            return v - 1;
    }
}

static void slot_put(uint32_t *slots, size_t n_slots, const char *sku, uint32_t v)
{
    size_t mask = n_slots - 1;
    size_t i = dc_str_hash(sku) & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = v;
}

/* Adds a new SKU (known to be absent); returns its index or DC_ERR_NOMEM. */
static int64_t sku_add(dc_backtest_t *bt, const char *sku)
{
    bt_sku_t *s;

    if (bt->n_skus == UINT32_MAX - 1)
        return DC_ERR_NOMEM;
    if ((bt->n_skus + 1) * 2 > bt->n_slots) {
        size_t n = bt->n_slots * 2;
        uint32_t *slots = calloc(n, sizeof(*slots));
        if (!slots)
            return DC_ERR_NOMEM;
        for (size_t i = 0; i < bt->n_skus; i++)
            slot_put(slots, n, bt->skus[i].sku, (uint32_t)i + 1);
        free(bt->slots);
        bt->slots = slots;
        bt->n_slots = n;
    }
    if (bt->n_skus == bt->skus_cap) {
        size_t cap = bt->skus_cap ? bt->skus_cap * 2 : 256;
        bt_sku_t *skus = realloc(bt->skus, cap * sizeof(*skus));
        if (!skus)
            return DC_ERR_NOMEM;
        bt->skus = skus;
        bt->skus_cap = cap;
    }
    s = &bt->skus[bt->n_skus];
    memset(s, 0, sizeof(*s));
    if (!(s->y = calloc((size_t)bt->n_buckets, sizeof(*s->y))))
        return DC_ERR_NOMEM;
    strcpy(s->sku, sku);
    s->series = -1;
    slot_put(bt->slots, bt->n_slots, sku, (uint32_t)bt->n_skus + 1);
    return (int64_t)bt->n_skus++;
}

int dc_backtest_add_actual(dc_backtest_t *bt, const char *sku, int64_t ts, double units)
{
    int64_t t, i;

    if (bt->finished || !isfinite(units) || units < 0 || !*sku ||
        strlen(sku) >= sizeof(bt->skus[0].sku))
        return DC_ERR_INVAL;
    if ((t = bucket_in(bt, ts)) < 0) {
        bt->actuals_ignored++;
        return DC_OK;
    }
    if (bt->selected && t < bt->n_train)
        return DC_ERR_TOO_LATE;
    if ((i = sku_find(bt, sku)) < 0 && (i = sku_add(bt, sku)) < 0)
        return (int)i;
    bt->skus[i].y[t] += units;
    return DC_OK;
}

/* ---- Series selection (PROTOCOL.md section 4) ---- */

static int by_train_total(const void *a, const void *b, void *opaque)
{
    const bt_sku_t *skus = opaque;
    const bt_sku_t *x = &skus[*(const size_t *)a], *y = &skus[*(const size_t *)b];
    if (x->train_total != y->train_total)
        return x->train_total > y->train_total ? -1 : 1;
    return strcmp(x->sku, y->sku);
}

static size_t model_cells(const dc_backtest_t *bt)
{
    return bt->n_series * (size_t)bt->n_origins * (size_t)bt->H;
}

static int model_alloc(dc_backtest_t *bt, bt_model_t *m)
{
    size_t n = model_cells(bt);
    free(m->fc);
    free(m->have);
    m->fc = NULL;
    m->have = NULL;
    if (!n)
        return 0;
    m->fc = calloc(n, sizeof(*m->fc));
    m->have = calloc(n, sizeof(*m->have));
    return m->fc && m->have ? 0 : DC_ERR_NOMEM;
}

static int select_series(dc_backtest_t *bt)
{
    size_t *eligible = malloc((bt->n_skus ? bt->n_skus : 1) * sizeof(*eligible));
    size_t n = 0;
    int err = DC_ERR_NOMEM;

    /* A retry after a failed allocation starts over. */
    free(bt->series);
    free(bt->scale);
    bt->series = NULL;
    bt->scale = NULL;
    if (!eligible)
        goto fail;
    for (size_t i = 0; i < bt->n_skus; i++) {
        bt_sku_t *s = &bt->skus[i];
        int64_t days = 0;
        s->train_total = 0;
        for (int64_t t = 0; t < bt->n_train; t++) {
            s->train_total += s->y[t];
            days += s->y[t] > 0;
        }
        if (days >= bt->conf.min_days)
            eligible[n++] = i;
    }
    qsort_r(eligible, n, sizeof(*eligible), by_train_total, bt->skus);
    bt->n_eligible = (int64_t)n;
    bt->n_series = n < (size_t)bt->conf.max_series ? n : (size_t)bt->conf.max_series;
    bt->next_train_total = n > bt->n_series ? bt->skus[eligible[bt->n_series]].train_total : -1;
    bt->series = eligible; /* the first n_series entries; the rest is unused */
    eligible = NULL;
    if (!(bt->scale = calloc(bt->n_series ? bt->n_series : 1, sizeof(*bt->scale))))
        goto fail;
    for (size_t si = 0; si < bt->n_series; si++) {
        bt_sku_t *s = &bt->skus[bt->series[si]];
        double sum = 0;
        s->series = (int64_t)si;
        for (int64_t t = SEASON; t < bt->n_train; t++)
            sum += fabs(s->y[t] - s->y[t - SEASON]);
        bt->scale[si] = sum / (double)(bt->n_train - SEASON);
    }
    for (size_t k = 0; k < bt->n_models; k++)
        if ((err = model_alloc(bt, &bt->models[k])))
            goto fail;
    bt->selected = 1;
    err = 0;
fail:
    free(eligible);
    return err;
}

int dc_backtest_select(dc_backtest_t *bt)
{
    return bt->selected ? 0 : select_series(bt);
}

int dc_backtest_add_model(dc_backtest_t *bt, const char *name, const char *desc)
{
    bt_model_t *models, *m;

    if (bt->finished || !name || !*name || strlen(name) >= DC_BACKTEST_NAME_MAX)
        return DC_ERR_INVAL;
    for (size_t i = 0; i < BT__BASELINES; i++)
        if (!strcmp(baselines[i].name, name))
            return DC_ERR_INVAL;
    for (size_t i = 0; i < bt->n_models; i++)
        if (!strcmp(bt->models[i].name, name))
            return DC_ERR_INVAL;
    if (!(models = realloc(bt->models, (bt->n_models + 1) * sizeof(*models))))
        return DC_ERR_NOMEM;
    bt->models = models;
    m = &models[bt->n_models];
    memset(m, 0, sizeof(*m));
    strcpy(m->name, name);
    if (!(m->desc = strdup(desc ? desc : "")) || (bt->selected && model_alloc(bt, m))) {
        free(m->desc);
        free(m->fc);
        free(m->have);
        return DC_ERR_NOMEM;
    }
    return (int)bt->n_models++;
}

int dc__backtest_horizons(const dc_backtest_t *bt, int64_t oi)
{
    int64_t left = bt->n_buckets - 1 - (bt->first_origin + oi);
    return left < bt->H ? (int)left : bt->H;
}

int dc_backtest_add_forecast(dc_backtest_t *bt, int model, const char *sku, int64_t origin,
                             int horizon, double mean, double p10, double p50, double p90)
{
    int64_t i, oi;
    size_t cell;
    bt_model_t *m;
    int err;

    if (bt->finished || model < 0 || (size_t)model >= bt->n_models || horizon < 1)
        return DC_ERR_INVAL;
    if (!isfinite(mean) || !isfinite(p10) || !isfinite(p50) || !isfinite(p90) || mean < 0 ||
        p10 < 0 || p10 > p50 || p50 > p90)
        return DC_ERR_INVAL;
    if ((err = dc_backtest_select(bt)))
        return err;
    oi = bucket_in(bt, origin) - bt->first_origin;
    if (oi < 0 || oi >= bt->n_origins || horizon > dc__backtest_horizons(bt, oi) ||
        (i = sku_find(bt, sku)) < 0 || bt->skus[i].series < 0) {
        bt->forecasts_ignored++;
        return DC_OK;
    }
    m = &bt->models[model];
    cell = ((size_t)bt->skus[i].series * (size_t)bt->n_origins + (size_t)oi) * (size_t)bt->H +
           (size_t)(horizon - 1);
    if (m->have[cell])
        bt->forecasts_replaced++;
    m->have[cell] = 1;
    m->fc[cell] = (bt_fc_t){mean, p10, p50, p90};
    return DC_OK;
}

/* ---- Baselines (PROTOCOL.md section 9) ---- */

/* Quantile q of the sorted x[0..n-1] by linear interpolation between order
 * statistics at position q (n - 1), as numpy's default does. */
static double quantile_sorted(const double *x, int n, double q)
{
    double pos = q * (n - 1);
    int lo = (int)pos;
    double frac = pos - lo;
    if (lo + 1 >= n)
        return x[n - 1];
    return x[lo] + frac * (x[lo + 1] - x[lo]);
}

void dc__backtest_forecast(const dc_backtest_t *bt, size_t m, size_t si, int64_t oi,
                           bt_fc_t *out, uint8_t *have)
{
    const double *y = bt->skus[bt->series[si]].y;
    int64_t o = bt->first_origin + oi;
    double win[MA_WINDOW], sum = 0, v;

    if (m >= BT__BASELINES) {
        const bt_model_t *mod = &bt->models[m - BT__BASELINES];
        size_t cell = (si * (size_t)bt->n_origins + (size_t)oi) * (size_t)bt->H;
        memcpy(out, mod->fc + cell, (size_t)bt->H * sizeof(*out));
        memcpy(have, mod->have + cell, (size_t)bt->H);
        return;
    }
    memset(have, 1, (size_t)bt->H);
    if (m == BT_MA28 || m == BT_MA28_MEDIAN) {
        for (int k = 0; k < MA_WINDOW; k++) {
            win[k] = y[o - MA_WINDOW + 1 + k];
            sum += win[k];
        }
    }
    for (int h = 1; h <= bt->H; h++) {
        bt_fc_t *f = &out[h - 1];
        switch (m) {
        case BT_ZERO: v = 0; break;
        case BT_NAIVE: v = y[o]; break;
        case BT_SNAIVE7:
            /* The same weekday in the last week on or before the origin. */
            v = y[o + h - SEASON * ((h + SEASON - 1) / SEASON)];
            break;
        default: v = sum / MA_WINDOW; break;
        }
        *f = (bt_fc_t){v, v, v, v};
    }
    if (m == BT_MA28_MEDIAN) {
        /* Insertion sort: 28 values, mostly runs of zeros. */
        for (int i = 1; i < MA_WINDOW; i++) {
            double x = win[i];
            int j = i;
            for (; j > 0 && win[j - 1] > x; j--)
                win[j] = win[j - 1];
            win[j] = x;
        }
        bt_fc_t f = {sum / MA_WINDOW, quantile_sorted(win, MA_WINDOW, 0.1),
                     quantile_sorted(win, MA_WINDOW, 0.5), quantile_sorted(win, MA_WINDOW, 0.9)};
        for (int h = 0; h < bt->H; h++)
            out[h] = f;
    }
}

/* ---- Scoring (PROTOCOL.md section 6) ---- */

static double pinball(double q, double a, double f)
{
    double d = a - f;
    return d >= 0 ? q * d : (q - 1) * d;
}

static void score(dc_backtest_t *bt, size_t m, dc_backtest_result_t *r, bt_fc_t *fc,
                  uint8_t *have)
{
    double ae[DC_BACKTEST_HORIZON_MAX] = {0}, act[DC_BACKTEST_HORIZON_MAX] = {0};
    double pin10 = 0, pin50 = 0, pin90 = 0, mase_sum = 0, ae_all = 0, act_all = 0;
    int64_t covered = 0, mase_n = 0;

    for (size_t si = 0; si < bt->n_series; si++) {
        const double *y = bt->skus[bt->series[si]].y;
        double s_ae = 0;
        int64_t s_n = 0;
        for (int64_t oi = 0; oi < bt->n_origins; oi++) {
            int nh = dc__backtest_horizons(bt, oi);
            int64_t o = bt->first_origin + oi;
            dc__backtest_forecast(bt, m, si, oi, fc, have);
            for (int h = 1; h <= nh; h++) {
                const bt_fc_t *f = &fc[h - 1];
                double a = y[o + h], e;
                if (!have[h - 1]) {
                    r->n_missing++;
                    continue;
                }
                e = fabs(a - f->p50);
                ae[h - 1] += e;
                act[h - 1] += a;
                s_ae += e;
                s_n++;
                pin10 += pinball(0.1, a, f->p10);
                pin50 += pinball(0.5, a, f->p50);
                pin90 += pinball(0.9, a, f->p90);
                covered += f->p10 <= a && a <= f->p90;
            }
        }
        r->n_targets += s_n;
        /* A series whose train demand repeats exactly every week has no
         * scale; it cannot be put on the MASE scale and is left out. */
        if (s_n > 0 && bt->scale[si] > 0) {
            mase_sum += s_ae / (double)s_n / bt->scale[si];
            mase_n++;
        }
    }
    for (int h = 0; h < bt->H; h++) {
        r->wape_h[h] = ae[h] / act[h];
        ae_all += ae[h];
        act_all += act[h];
    }
    for (int h = bt->H; h < DC_BACKTEST_HORIZON_MAX; h++)
        r->wape_h[h] = NAN;
    r->wape_h1 = r->wape_h[0];
    r->wape = ae_all / act_all;
    r->mase = mase_sum / (double)mase_n;
    r->ql10 = r->ql50 = r->ql90 = r->coverage = NAN;
    if (r->has_quantiles) {
        r->ql10 = 2 * pin10 / act_all;
        r->ql50 = 2 * pin50 / act_all;
        r->ql90 = 2 * pin90 / act_all;
        r->coverage = (double)covered / (double)r->n_targets;
    }
    if (r->n_missing) {
        r->wape_h1 = r->wape = r->mase = r->ql10 = r->ql50 = r->ql90 = r->coverage = NAN;
        for (int h = 0; h < DC_BACKTEST_HORIZON_MAX; h++)
            r->wape_h[h] = NAN;
    }
}

int dc_backtest_finish(dc_backtest_t *bt, char *errstr, size_t errstr_size)
{
    bt_fc_t fc[DC_BACKTEST_HORIZON_MAX];
    uint8_t have[DC_BACKTEST_HORIZON_MAX];
    int err;

    if (bt->finished)
        return dc_seterr(errstr, errstr_size, DC_ERR_INVAL, "backtest: already finished");
    if ((err = dc_backtest_select(bt)))
        return dc_seterr(errstr, errstr_size, err, "out of memory");
    if (bt->n_series == 0)
        return dc_seterr(errstr, errstr_size, DC_ERR_INVAL,
                         "backtest: no SKU has demand on %d train buckets (of %lld SKUs)",
                         bt->conf.min_days, (long long)bt->n_skus);
    bt->n_results = BT__BASELINES + bt->n_models;
    if (!(bt->results = calloc(bt->n_results, sizeof(*bt->results))))
        return dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
    for (size_t m = 0; m < bt->n_results; m++) {
        dc_backtest_result_t *r = &bt->results[m];
        if (m < BT__BASELINES) {
            strcpy(r->name, baselines[m].name);
            r->desc = baselines[m].desc;
            r->is_baseline = 1;
            r->has_quantiles = baselines[m].has_quantiles;
        } else {
            strcpy(r->name, bt->models[m - BT__BASELINES].name);
            r->desc = bt->models[m - BT__BASELINES].desc;
            r->has_quantiles = 1;
        }
        score(bt, m, r, fc, have);
    }
    bt->finished = 1;
    return DC_OK;
}

size_t dc_backtest_result_count(const dc_backtest_t *bt)
{
    return bt->n_results;
}

const dc_backtest_result_t *dc_backtest_result(const dc_backtest_t *bt, size_t i)
{
    return i < bt->n_results ? &bt->results[i] : NULL;
}

const dc_backtest_result_t *dc_backtest_result_find(const dc_backtest_t *bt, const char *name)
{
    for (size_t i = 0; i < bt->n_results; i++)
        if (!strcmp(bt->results[i].name, name))
            return &bt->results[i];
    return NULL;
}

int dc_backtest_summary(const dc_backtest_t *bt, dc_backtest_summary_t *s)
{
    int64_t zeros = 0, first_target = bt->first_origin + 1;

    if (!bt->selected)
        return DC_ERR_INVAL;
    memset(s, 0, sizeof(*s));
    s->n_skus = (int64_t)bt->n_skus;
    s->n_eligible = bt->n_eligible;
    s->n_series = (int64_t)bt->n_series;
    s->n_train_days = bt->n_train;
    s->n_origins = bt->n_origins;
    for (int64_t oi = 0; oi < bt->n_origins; oi++)
        s->n_pairs += dc__backtest_horizons(bt, oi);
    s->n_targets = s->n_pairs * s->n_series;
    for (size_t si = 0; si < bt->n_series; si++) {
        const double *y = bt->skus[bt->series[si]].y;
        for (int64_t t = first_target; t < bt->n_buckets; t++) {
            s->target_units += y[t];
            zeros += y[t] == 0;
        }
    }
    s->zero_share = (double)zeros / (double)(s->n_series * (bt->n_buckets - first_target));
    s->next_train_total = bt->next_train_total;
    s->actuals_ignored = bt->actuals_ignored;
    s->forecasts_ignored = bt->forecasts_ignored;
    s->forecasts_replaced = bt->forecasts_replaced;
    return DC_OK;
}

int dc_backtest_series(const dc_backtest_t *bt, size_t i, const char **sku, double *train_total,
                       const double **daily, size_t *n_buckets)
{
    if (!bt->selected || i >= bt->n_series)
        return DC_ERR_INVAL;
    const bt_sku_t *s = &bt->skus[bt->series[i]];
    if (sku)
        *sku = s->sku;
    if (train_total)
        *train_total = s->train_total;
    if (daily)
        *daily = s->y;
    if (n_buckets)
        *n_buckets = (size_t)bt->n_buckets;
    return DC_OK;
}

/* ---- Forecast file (PROTOCOL.md section 8) ---- */

char *dc__fmt_plain(double v, int decimals, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%.*f", decimals, v);
    if (n < 0 || (size_t)n >= size)
        n = (int)size - 1;
    if (strchr(buf, '.')) {
        while (n > 0 && buf[n - 1] == '0')
            buf[--n] = '\0';
        if (n > 0 && buf[n - 1] == '.')
            buf[--n] = '\0';
    }
    if (!strcmp(buf, "-0"))
        strcpy(buf, "0");
    return buf;
}

char *dc__backtest_bucket_str(const dc_backtest_t *bt, int64_t idx, char *buf, size_t size)
{
    int64_t ms = bt->conf.train_from + idx * bt->conf.bucket_width;
    if (bt->conf.bucket_width % DAY_MS == 0 && bt->conf.train_from % DAY_MS == 0)
        return dc_date_format(ms, buf, size);
    return dc_time_format(ms, buf, size);
}

static int by_sku(const void *a, const void *b, void *opaque)
{
    const dc_backtest_t *bt = opaque;
    return strcmp(bt->skus[bt->series[*(const size_t *)a]].sku,
                  bt->skus[bt->series[*(const size_t *)b]].sku);
}

int dc_backtest_write_forecasts_csv(const dc_backtest_t *bt, const char *path,
                                    const char *method, const char *const *skus, size_t n_skus,
                                    char *errstr, size_t errstr_size)
{
    bt_fc_t fc[DC_BACKTEST_HORIZON_MAX];
    uint8_t have[DC_BACKTEST_HORIZON_MAX];
    size_t *order = NULL, m;
    FILE *f = NULL;
    int err = DC_OK;

    if (!bt->finished)
        return dc_seterr(errstr, errstr_size, DC_ERR_INVAL, "backtest: not finished");
    for (m = 0; m < bt->n_results; m++)
        if (!strcmp(bt->results[m].name, method))
            break;
    if (m == bt->n_results)
        return dc_seterr(errstr, errstr_size, DC_ERR_INVAL, "backtest: no method \"%s\"",
                         method);
    if (bt->results[m].n_missing)
        return dc_seterr(errstr, errstr_size, DC_ERR_INVAL,
                         "backtest: %s lacks %lld forecasts; its file would be unscorable",
                         method, (long long)bt->results[m].n_missing);
    if (!(order = malloc(bt->n_series * sizeof(*order)))) {
        err = dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < bt->n_series; i++)
        order[i] = i;
    qsort_r(order, bt->n_series, sizeof(*order), by_sku, (void *)bt);
    if (!(f = fopen(path, "w"))) {
        err = dc_seterr(errstr, errstr_size, DC_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    fputs("sku,origin,target,horizon,mean,p10,p50,p90\n", f);
    for (size_t k = 0; k < bt->n_series; k++) {
        size_t si = order[k];
        const char *sku = bt->skus[bt->series[si]].sku;
        if (skus) {
            size_t j = 0;
            while (j < n_skus && strcmp(skus[j], sku))
                j++;
            if (j == n_skus)
                continue;
        }
        for (int64_t oi = 0; oi < bt->n_origins; oi++) {
            char origin[32], target[32], v[4][32];
            int nh = dc__backtest_horizons(bt, oi);
            dc__backtest_bucket_str(bt, bt->first_origin + oi, origin, sizeof(origin));
            dc__backtest_forecast(bt, m, si, oi, fc, have);
            for (int h = 1; h <= nh; h++) {
                const bt_fc_t *p = &fc[h - 1];
                fprintf(f, "%s,%s,%s,%d,%s,%s,%s,%s\n", sku, origin,
                        dc__backtest_bucket_str(bt, bt->first_origin + oi + h, target,
                                                sizeof(target)),
                        h, dc__fmt_plain(p->mean, 2, v[0], sizeof(v[0])),
                        dc__fmt_plain(p->p10, 2, v[1], sizeof(v[1])),
                        dc__fmt_plain(p->p50, 2, v[2], sizeof(v[2])),
                        dc__fmt_plain(p->p90, 2, v[3], sizeof(v[3])));
            }
        }
    }
    if (ferror(f)) {
        err = dc_seterr(errstr, errstr_size, DC_ERR_IO, "%s: write failed", path);
        goto fail;
    }
fail:
    if (f && fclose(f) && !err)
        err = dc_seterr(errstr, errstr_size, DC_ERR_IO, "%s: %s", path, strerror(errno));
    free(order);
    return err;
}
