/* tests/fuzz/fuzz_state.c - libFuzzer target for the loaders of what a
 * restarted or rebalanced instance resumes from (inference/forecaster.h):
 * the model checkpoint, the forecaster's global record and a SKU's record,
 * which live in Redis where any other client could have overwritten them.
 *
 * The first input byte picks the loader (its value mod 3: checkpoint,
 * global record, SKU record) and, with bit 7, how the rest makes the record:
 *   clear  the rest is the record;
 *   set    the rest edits a valid record of that kind, saved by a forecaster
 *          that has closed a few buckets: nothing leaves it whole, else a
 *          u16 (little-endian) new length (mod the record's length + 64;
 *          bytes past the end are 0), then (u16 offset, byte) pairs XORed
 *          in.
 * Either way the last 4 bytes become the record's CRC, and in a SKU record
 * those of the model's record inside it (inference/sku.c) too, so that the
 * loaders get past them to the fields. On success the forecaster must save
 * the very bytes it loaded; either way it must close the next bucket with
 * forecasts that are finite, not negative, and whose quantiles do not
 * cross (a loader changes nothing before it has checked everything). */
#include "inference/forecaster.h"
#include "tests/state_crc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400000LL
#define T0 1767571200000LL /* 2026-01-05, a Monday */
#define N_SKUS 3

static const char *const skus[N_SKUS] = {"85123A", "22423", "84077"};
static dc_forecaster_t *origin; /* closed a few buckets: the source of valid records */
static dc_buf_t valid[3];       /* its checkpoint, global record, first SKU's record */

static dc_forecaster_t *make(void)
{
    static const char *const kv[][2] = {{"bucket.width", "1d"},       {"horizon", "3"},
                                        {"model.hidden", "8"},        {"train.bptt", "3"},
                                        {"surge.warmup", "2"}};
    char errstr[256];
    dc_conf_t *conf = dc_conf_new();
    dc_model_conf_t mc;
    dc_model_t *model;
    dc_forecaster_t *fc;

    for (size_t i = 0; conf && i < DC_ARRAY_SIZE(kv); i++)
        if (dc_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof(errstr)))
            abort();
    if (!conf || dc_model_conf_load(&mc, conf, errstr, sizeof(errstr)) ||
        !(model = dc_model_new(&mc, errstr, sizeof(errstr))) ||
        !(fc = dc_forecaster_new(conf, model, errstr, sizeof(errstr))))
        abort();
    dc_conf_destroy(conf);
    return fc;
}

/* Whatever state it loaded, a forecaster's forecasts are numbers whose
 * quantiles do not cross: a damaged record must not poison them. */
static int check_forecast(void *opaque, const dc_forecast_t *fc)
{
    (void)opaque;
    for (size_t h = 0; h < fc->n_horizons; h++) {
        const dc_horizon_t *q = &fc->horizons[h];
        if (!isfinite(q->mean) || !isfinite(q->p90) || !(q->mean >= 0) || !(q->p10 >= 0) ||
            !(q->p10 <= q->p50) || !(q->p50 <= q->p90))
            abort();
    }
    return 0;
}

/* Closes day d for every SKU, with demand that varies by day and SKU. */
static int close_day(dc_forecaster_t *fc, int d)
{
    dc_forecaster_input_t in[N_SKUS];
    dc_forecaster_sink_t sink = {check_forecast, NULL, NULL};

    for (int s = 0; s < N_SKUS; s++) {
        dc_model_bucket_t b = {T0 + d * DAY, DAY, (double)((d * 7 + s * 5) % 9), 0, 0, 0, 2.5, 0};
        b.views = 10 * b.units;
        b.carts = 2 * b.units;
        in[s].sku = skus[s];
        in[s].bucket = b;
    }
    return dc_forecaster_close(fc, T0 + d * DAY, in, N_SKUS, &sink);
}

static void setup(void)
{
    origin = make();
    for (int d = 0; d < 6; d++)
        if (close_day(origin, d))
            abort();
    if (dc_model_save(dc_forecaster_model(origin), &valid[0]) ||
        dc_forecaster_save_global(origin, &valid[1]) ||
        dc_forecaster_save_sku(origin, skus[0], &valid[2]))
        abort();
}

/* The model's record inside a SKU record: after the baseline ring (its
 * window W a u16 at 6, its floats from 80), a u32 length, then the record. */
static void put_model_crc(dc_buf_t *rec)
{
    if (rec->len < 84)
        return;
    size_t at = 80 + 4 * (size_t)(rec->data[6] | rec->data[7] << 8);
    if (at + 8 > rec->len)
        return;
    size_t L = (size_t)rec->data[at] | (size_t)rec->data[at + 1] << 8 |
               (size_t)rec->data[at + 2] << 16 | (size_t)rec->data[at + 3] << 24;
    if (L >= 4 && L <= rec->len - 4 - (at + 4))
        test_put_crc(rec->data + at + 4, L);
}

static int load(dc_forecaster_t *fc, int kind, const dc_buf_t *rec)
{
    char errstr[256];

    switch (kind) {
    case 0:
        return dc_model_load(dc_forecaster_model(fc), rec->data, rec->len, errstr,
                             sizeof(errstr));
    case 1:
        return dc_forecaster_load_global(fc, rec->data, rec->len, errstr, sizeof(errstr));
    default:
        return dc_forecaster_load_sku(fc, skus[0], rec->data, rec->len, errstr, sizeof(errstr));
    }
}

static int save(dc_forecaster_t *fc, int kind, dc_buf_t *out)
{
    switch (kind) {
    case 0: return dc_model_save(dc_forecaster_model(fc), out);
    case 1: return dc_forecaster_save_global(fc, out);
    default: return dc_forecaster_save_sku(fc, skus[0], out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dc_buf_t rec = {0}, again = {0};
    dc_forecaster_t *fc;
    int kind, err;

    if (size < 1)
        return 0;
    if (!origin)
        setup();
    kind = data[0] % 3;
    if (data[0] & 0x80) {
        const dc_buf_t *v = &valid[kind];
        size_t len = size < 3 ? v->len : (size_t)(data[1] | data[2] << 8) % (v->len + 64);
        if (dc_buf_reserve(&rec, len + 1))
            abort();
        memset(rec.data, 0, len);
        memcpy(rec.data, v->data, len < v->len ? len : v->len);
        rec.len = len;
        for (size_t i = 3; i + 3 <= size && len; i += 3)
            rec.data[(size_t)(data[i] | data[i + 1] << 8) % len] ^= data[i + 2];
    } else if (dc_buf_append(&rec, data + 1, size - 1)) {
        abort();
    }
    if (kind == 2)
        put_model_crc(&rec);
    if (rec.len >= 4)
        test_put_crc(rec.data, rec.len);

    /* A SKU's record loads into a forecaster that lists the SKU: one
     * holding the origin's state; the others into a new one. */
    fc = make();
    if (kind == 2 && (load(fc, 0, &valid[0]) || load(fc, 1, &valid[1])))
        abort();
    err = load(fc, kind, &rec);
    if (!err && (save(fc, kind, &again) || again.len != rec.len ||
                 memcmp(again.data, rec.data, rec.len)))
        abort();
    /* The next bucket after whatever the forecaster holds now: a loaded
     * global record may have moved its last close anywhere. */
    int64_t last = dc_forecaster_last_closed(fc);
    if (last == INT64_MIN)
        close_day(fc, 0);
    else if (last >= T0 && last < T0 + 1000 * DAY && (last - T0) % DAY == 0)
        close_day(fc, (int)((last - T0) / DAY) + 1);
    dc_forecaster_destroy(fc);
    dc_buf_free(&rec);
    dc_buf_free(&again);
    return 0;
}
