/* inference/sku.c - the per-SKU record: input features, scaling, history
 * ring and its compact serialisation. */
#include "inference/inference_int.h"

#include <zlib.h>

/* EWMAs of the scaling follow about four weeks of buckets whatever the
 * bucket width, so the scale tracks a SKU's level but not a single order. */
#define SCALE_SPAN_MS (28.0 * 86400000.0)

size_t dc_model_sku_size(const dc_model_t *model)
{
    size_t floats = 4 * (size_t)model->H + (size_t)model->K * DC__ROW;
    size_t size = sizeof(dc_model_sku_t) + floats * sizeof(float);
    /* Records are laid out back to back in arenas: keep int64 aligned. */
    return (size + 7) & ~(size_t)7;
}

float *dc_model_sku_h(const dc_model_t *model, dc_model_sku_t *sku)
{
    (void)model;
    return sku->data;
}

float *dc_model_sku_c(const dc_model_t *model, dc_model_sku_t *sku)
{
    return sku->data + model->H;
}

float *dc__sku_h0(const dc_model_t *model, dc_model_sku_t *sku)
{
    return sku->data + 2 * model->H;
}

float *dc__sku_c0(const dc_model_t *model, dc_model_sku_t *sku)
{
    return sku->data + 3 * model->H;
}

float *dc__sku_hist(const dc_model_t *model, dc_model_sku_t *sku)
{
    return sku->data + 4 * model->H;
}

void dc_model_sku_init(const dc_model_t *model, dc_model_sku_t *sku)
{
    memset(sku, 0, dc_model_sku_size(model));
    sku->last_bucket = INT64_MIN;
}

void dc_model_sku_restart(const dc_model_t *model, dc_model_sku_t *sku)
{
    memcpy(dc__sku_h0(model, sku), dc_model_sku_h(model, sku), sizeof(float) * model->H);
    memcpy(dc__sku_c0(model, sku), dc_model_sku_c(model, sku), sizeof(float) * model->H);
    sku->hist_len = 0;
    sku->hist_head = 0;
}

int dc_model_sku_is_cold(const dc_model_sku_t *sku)
{
    return sku->n_steps < DC_MODEL_COLD_STEPS;
}

static float ewma_value(float m, float w, float fallback)
{
    return w > 0 ? m / w : fallback;
}

float dc_model_sku_scale(const dc_model_sku_t *sku)
{
    float s = ewma_value(sku->units_m, sku->units_w, 1.0f);
    return s > DC__SCALE_MIN ? s : DC__SCALE_MIN;
}

double dc__clean_count(double v)
{
    return isfinite(v) && v > 0 ? (v < DC__COUNT_MAX ? v : DC__COUNT_MAX) : 0.0;
}


/* v over its scale (the SKU's own value before its first bucket). */
static float scaled_arg(double v, float m, float w)
{
    float s = ewma_value(m, w, (float)v);
    s = s > DC__SCALE_MIN ? s : DC__SCALE_MIN;
    return (float)(v / s);
}

static void calendar(int64_t start_ms, float *v)
{
    /* Calendar of the bucket start in UTC. Floor division keeps times
     * before 1970 right; 1970-01-01 was a Thursday (day 3 with Monday 0). */
    int64_t day_ms = 86400000;
    int64_t days = start_ms / day_ms - (start_ms % day_ms < 0);
    int64_t in_day = start_ms - days * day_ms;
    int64_t dow = ((days % 7) + 7 + 3) % 7;
    double ha = 2.0 * M_PI * (double)in_day / (double)day_ms;
    double da = 2.0 * M_PI * (double)dow / 7.0;
    v[0] = (float)sin(ha);
    v[1] = (float)cos(ha);
    v[2] = (float)sin(da);
    v[3] = (float)cos(da);
}

/* Writes every input but the log1p ones into x, and the arguments of
 * those into args (DC__LOG_ARGS floats, in dc__features_finish's order),
 * so that a batch of rows can take its logarithms in one vector loop. */
static void features_args(const dc_model_sku_t *sku, const dc_model_bucket_t *bucket,
                          dc__calendar_t *cal, float *x, float *args)
{
    double units = dc__clean_count(bucket->units);
    args[0] = scaled_arg(units, sku->units_m, sku->units_w);
    args[1] = scaled_arg(dc__clean_count(bucket->views), sku->views_m, sku->views_w);
    args[2] = scaled_arg(dc__clean_count(bucket->carts), sku->carts_m, sku->carts_w);
    /* Cancellations are scaled like the units they cancel. */
    float su = ewma_value(sku->units_m, sku->units_w, (float)units);
    su = su > DC__SCALE_MIN ? su : DC__SCALE_MIN;
    double cancelled = dc__clean_count(bucket->cancelled);
    args[3] = (float)(cancelled / su);
    args[4] = dc_model_sku_scale(sku);
    float rel = 0.0f;
    if (isfinite(bucket->price) && bucket->price > 0 && sku->price_w > 0) {
        double r = log(bucket->price / (sku->price_m / sku->price_w));
        rel = (float)(r < -3 ? -3 : r > 3 ? 3 : r);
    }
    x[DC_FEAT_PRICE_REL] = rel;
    double promo = bucket->promo_share;
    x[DC_FEAT_PROMO] = (float)(isfinite(promo) ? (promo < 0 ? 0 : promo > 1 ? 1 : promo) : 0);
    float v[4];
    if (cal && cal->start_ms == bucket->start_ms) {
        memcpy(v, cal->v, sizeof(v));
    } else {
        calendar(bucket->start_ms, v);
        if (cal) {
            cal->start_ms = bucket->start_ms;
            memcpy(cal->v, v, sizeof(v));
        }
    }
    x[DC_FEAT_HOUR_SIN] = v[0];
    x[DC_FEAT_HOUR_COS] = v[1];
    x[DC_FEAT_DOW_SIN] = v[2];
    x[DC_FEAT_DOW_COS] = v[3];
}

DC__CLONES
void dc__log1p_n(float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = dc__log1pf(v[i]);
}

void dc__features_finish(float *x, const float *logs)
{
    x[DC_FEAT_UNITS] = logs[0];
    x[DC_FEAT_VIEWS] = logs[1];
    x[DC_FEAT_CARTS] = logs[2];
    x[DC_FEAT_CANCELLED] = logs[3];
    x[DC_FEAT_LEVEL] = logs[4] * 0.25f;
}

void dc_model_features(const dc_model_sku_t *sku, const dc_model_bucket_t *bucket, float *x)
{
    float args[DC__LOG_ARGS];
    features_args(sku, bucket, NULL, x, args);
    dc__log1p_n(args, DC__LOG_ARGS);
    dc__features_finish(x, args);
}

static void ewma_update(float *m, float *w, double v, float beta)
{
    *m = (1.0f - beta) * *m + beta * (float)v;
    *w = (1.0f - beta) * *w + beta;
}

float dc__sku_observe_args(dc_model_sku_t *sku, const dc_model_bucket_t *bucket,
                           dc__calendar_t *cal, float *x, float *args)
{
    features_args(sku, bucket, cal, x, args);
    double width = bucket->width_ms > 0 ? (double)bucket->width_ms : 3600000.0;
    double b = width / SCALE_SPAN_MS;
    float beta = (float)(b < 1.0 / 4096 ? 1.0 / 4096 : b > 0.5 ? 0.5 : b);
    ewma_update(&sku->units_m, &sku->units_w, dc__clean_count(bucket->units), beta);
    ewma_update(&sku->views_m, &sku->views_w, dc__clean_count(bucket->views), beta);
    ewma_update(&sku->carts_m, &sku->carts_w, dc__clean_count(bucket->carts), beta);
    /* The usual price follows only buckets that saw a price. */
    if (isfinite(bucket->price) && bucket->price > 0 && bucket->price < 1e12)
        ewma_update(&sku->price_m, &sku->price_w, bucket->price, beta);
    return dc_model_sku_scale(sku);
}

float dc__sku_observe(dc_model_sku_t *sku, const dc_model_bucket_t *bucket, dc__calendar_t *cal,
                      float *x)
{
    float args[DC__LOG_ARGS];
    float scale = dc__sku_observe_args(sku, bucket, cal, x, args);
    dc__log1p_n(args, DC__LOG_ARGS);
    dc__features_finish(x, args);
    return scale;
}

size_t dc__sku_history(const dc_model_t *model, const dc_model_sku_t *sku, float *rows, float *y)
{
    const float *hist = dc__sku_hist(model, (dc_model_sku_t *)sku);
    for (size_t j = 0; j < sku->hist_len; j++) {
        const float *row = hist + ((sku->hist_head + j) % (size_t)model->K) * DC__ROW;
        memcpy(rows + j * DC__ROW, row, sizeof(float) * DC__ROW);
        y[j] = row[DC__F + 1];
    }
    return sku->hist_len;
}

/* ---- serialisation ---- */

#define SKU_FORMAT_VERSION 1
#define SKU_HEADER 24

int dc_model_sku_save(const dc_model_t *model, const dc_model_sku_t *sku, dc_buf_t *out)
{
    int H = model->H, K = model->K;
    size_t nf = 8 + 4 * (size_t)H + (size_t)sku->hist_len * DC__ROW;
    size_t len = SKU_HEADER + 4 * nf + 4;
    int err = dc_buf_reserve(out, len);
    if (err)
        return err;
    uint8_t *p = out->data + out->len;
    p[0] = 'D';
    p[1] = 'S';
    p[2] = SKU_FORMAT_VERSION;
    p[3] = DC__F;
    dc__put_le(p + 4, (uint16_t)H, 2);
    dc__put_le(p + 6, (uint16_t)K, 2);
    dc__put_le(p + 8, sku->hist_len, 2);
    dc__put_le(p + 10, sku->n_steps, 4);
    dc__put_le(p + 14, (uint64_t)sku->last_bucket, 8);
    dc__put_le(p + 22, 0, 2);
    uint8_t *q = p + SKU_HEADER;
    const float scal[8] = {sku->units_m, sku->units_w, sku->views_m, sku->views_w,
                           sku->carts_m, sku->carts_w, sku->price_m, sku->price_w};
    for (int i = 0; i < 8; i++, q += 4)
        dc__put_f32(q, scal[i]);
    for (size_t i = 0; i < 4 * (size_t)H; i++, q += 4)
        dc__put_f32(q, sku->data[i]);
    const float *hist = sku->data + 4 * H;
    for (size_t j = 0; j < sku->hist_len; j++) {
        const float *row = hist + ((sku->hist_head + j) % (size_t)K) * DC__ROW;
        for (int i = 0; i < DC__ROW; i++, q += 4)
            dc__put_f32(q, row[i]);
    }
    dc__put_le(q, (uint32_t)crc32(0L, p, (uInt)(q - p)), 4);
    out->len += len;
    return 0;
}

int dc_model_sku_load(const dc_model_t *model, dc_model_sku_t *sku, const void *buf, size_t len,
                      char *errstr, size_t errstr_size)
{
    const uint8_t *p = buf;
    int H = model->H, K = model->K;
    if (len < SKU_HEADER + 4)
        return dc_seterr(errstr, errstr_size, DC_ERR_TRUNCATED, "SKU state: %zu bytes, too short",
                         len);
    if (p[0] != 'D' || p[1] != 'S')
        return dc_seterr(errstr, errstr_size, DC_ERR_BAD_MAGIC, "SKU state: bad magic");
    /* Bytes 22 and 23 are 0 in this version: anything else is another. */
    if (p[2] != SKU_FORMAT_VERSION || p[22] || p[23])
        return dc_seterr(errstr, errstr_size, DC_ERR_VERSION,
                         "SKU state: format version %u (reserved %u %u), want %u (0 0)", p[2],
                         p[22], p[23], SKU_FORMAT_VERSION);
    uint16_t hist_len = (uint16_t)dc__get_le(p + 8, 2);
    if (p[3] != DC__F || dc__get_le(p + 4, 2) != (uint64_t)H || dc__get_le(p + 6, 2) != (uint64_t)K ||
        hist_len > K)
        return dc_seterr(errstr, errstr_size, DC_ERR_VERSION,
                         "SKU state: dimensions F=%u H=%u K=%u differ from the model's F=%d H=%d K=%d",
                         p[3], (unsigned)dc__get_le(p + 4, 2), (unsigned)dc__get_le(p + 6, 2),
                         DC__F, H, K);
    size_t want = SKU_HEADER + 4 * (8 + 4 * (size_t)H + (size_t)hist_len * DC__ROW) + 4;
    if (len < want)
        return dc_seterr(errstr, errstr_size, DC_ERR_TRUNCATED, "SKU state: %zu bytes, want %zu",
                         len, want);
    if (len > want)
        return dc_seterr(errstr, errstr_size, DC_ERR_TRAILING, "SKU state: %zu bytes, want %zu",
                         len, want);
    if ((uint32_t)dc__get_le(p + want - 4, 4) != (uint32_t)crc32(0L, p, (uInt)(want - 4)))
        return dc_seterr(errstr, errstr_size, DC_ERR_CHECKSUM, "SKU state: CRC mismatch");
    const uint8_t *q = p + SKU_HEADER;
    for (size_t i = 0; i < (want - SKU_HEADER - 4) / 4; i++)
        if (!isfinite(dc__get_f32(q + 4 * i)))
            return dc_seterr(errstr, errstr_size, DC_ERR_NUMERIC, "SKU state: non-finite value");
    /* The scalers as ewma_update leaves them: four pairs of a mean's sum m
     * and weight w, w within [0, 1] and m / w a count or price within
     * [0, DC__COUNT_MAX] (the 1e-4 to spare is rounding). A negative or huge
     * one would make the inputs or the scale NaN or infinite. */
    for (int i = 0; i < 8; i += 2) {
        float m = dc__get_f32(q + 4 * i), w = dc__get_f32(q + 4 * i + 4);
        if (!(w >= 0 && w <= 1.0001f && m >= 0 && m <= w * (float)DC__COUNT_MAX * 1.0001f))
            return dc_seterr(errstr, errstr_size, DC_ERR_NUMERIC,
                             "SKU state: scaler %d is %g over a weight of %g", i / 2, (double)m,
                             (double)w);
    }
    /* The recurrent state as the LSTM leaves it: h = o * tanh(c) within
     * [-1, 1], and c moved by at most about 1 a step (c = f * c + i * g,
     * each factor within [-1, 1]). The gates' approximations reach past 1
     * by up to 4e-7, which the 0.1 % on h and the factor 2 on c cover. A
     * state past that is none the model made, and would overflow its head. */
    uint32_t n_steps = (uint32_t)dc__get_le(p + 10, 4);
    const uint8_t *state = q + 4 * 8; /* h, c, h0, c0 after the 8 scalers */
    for (size_t i = 0; i < 4 * (size_t)H; i++) {
        int is_c = (i / (size_t)H) % 2;
        float v = fabsf(dc__get_f32(state + 4 * i));
        float limit = is_c ? 2 * ((float)n_steps + 1) : 1.001f;
        if (v > limit)
            return dc_seterr(errstr, errstr_size, DC_ERR_NUMERIC,
                             "SKU state: recurrent state %g past %g after %u steps", (double)v,
                             (double)limit, n_steps);
    }
    dc_model_sku_init(model, sku);
    sku->hist_len = hist_len;
    sku->n_steps = n_steps;
    sku->last_bucket = (int64_t)dc__get_le(p + 14, 8);
    float *scal[8] = {&sku->units_m, &sku->units_w, &sku->views_m, &sku->views_w,
                      &sku->carts_m, &sku->carts_w, &sku->price_m, &sku->price_w};
    for (int i = 0; i < 8; i++, q += 4)
        *scal[i] = dc__get_f32(q);
    for (size_t i = 0; i < 4 * (size_t)H + (size_t)hist_len * DC__ROW; i++, q += 4)
        sku->data[i] = dc__get_f32(q);
    return 0;
}
