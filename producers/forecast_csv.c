/* producers/forecast_csv.c - forecasts to the CSV of PROTOCOL.md section 8. */
#include "producers/backtest_int.h"
#include "producers/producers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000LL

struct dc_forecast_csv_s {
    FILE *f;
    int64_t origin_from, origin_to, target_to;
    dc_strmap_t *skus; /* NULL: every SKU */
    uint64_t rows;
    int failed;
};

dc_forecast_csv_t *dc_forecast_csv_new(const char *path, int64_t origin_from, int64_t origin_to,
                                       int64_t target_to, const char *const *skus,
                                       size_t n_skus, char *errstr, size_t errstr_size)
{
    dc_forecast_csv_t *csv = calloc(1, sizeof(*csv));
    if (!csv) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    csv->origin_from = origin_from;
    csv->origin_to = origin_to;
    csv->target_to = target_to;
    if (skus) {
        if (!(csv->skus = dc_strmap_new()))
            goto nomem;
        for (size_t i = 0; i < n_skus; i++)
            if (dc_strmap_put(csv->skus, skus[i], NULL) < 0)
                goto nomem;
    }
    if (!(csv->f = fopen(path, "w"))) {
        dc_seterr(errstr, errstr_size, DC_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (fputs("sku,origin,target,horizon,mean,p10,p50,p90\n", csv->f) == EOF)
        csv->failed = 1;
    return csv;
nomem:
    dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
fail:
    dc_strmap_destroy(csv->skus);
    free(csv);
    return NULL;
}

static char *bucket_text(int64_t ms, int64_t width, char *buf, size_t size)
{
    if (width % DAY_MS == 0 && ms % DAY_MS == 0)
        return dc_date_format(ms, buf, size);
    return dc_time_format(ms, buf, size);
}

int dc_forecast_csv_write(dc_forecast_csv_t *csv, const dc_forecast_t *fc)
{
    char origin[32], target[32], v[4][32];

    if (fc->bucket_start < csv->origin_from || fc->bucket_start > csv->origin_to)
        return DC_OK;
    if (csv->skus && dc_strmap_find(csv->skus, fc->sku) < 0)
        return DC_OK;
    bucket_text(fc->bucket_start, fc->bucket_width, origin, sizeof(origin));
    for (size_t k = 0; k < fc->n_horizons; k++) {
        const dc_horizon_t *h = &fc->horizons[k];
        int64_t t = fc->bucket_start + (int64_t)h->offset * fc->bucket_width;
        if (t > csv->target_to)
            break;
        bucket_text(t, fc->bucket_width, target, sizeof(target));
        if (fprintf(csv->f, "%s,%s,%s,%d,%s,%s,%s,%s\n", fc->sku, origin, target, (int)h->offset,
                    dc__fmt_plain(h->mean, 2, v[0], sizeof(v[0])),
                    dc__fmt_plain(h->p10, 2, v[1], sizeof(v[1])),
                    dc__fmt_plain(h->p50, 2, v[2], sizeof(v[2])),
                    dc__fmt_plain(h->p90, 2, v[3], sizeof(v[3]))) < 0) {
            csv->failed = 1;
            return DC_ERR_IO;
        }
        csv->rows++;
    }
    return DC_OK;
}

uint64_t dc_forecast_csv_rows(const dc_forecast_csv_t *csv) { return csv->rows; }

int dc_forecast_csv_close(dc_forecast_csv_t *csv)
{
    int err;
    if (!csv)
        return DC_OK;
    err = fclose(csv->f) || csv->failed ? DC_ERR_IO : DC_OK;
    dc_strmap_destroy(csv->skus);
    free(csv);
    return err;
}
