/* pipeline/modelstage.c - closed buckets into the forecaster (see pipeline.h). */
#include "pipeline/pipeline.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct dc_modelstage_s {
    dc_forecaster_t *fc;
    dc_warmstart_t *ws; /* NULL without an offline fit */
    dc_forecaster_sink_t sink;
    dc_forecaster_input_t *in;
    size_t in_cap;
};

dc_modelstage_t *dc_modelstage_new(const dc_conf_t *conf, const dc_modelstage_opts_t *opts,
                                   const dc_forecaster_sink_t *sink, char *errstr,
                                   size_t errstr_size)
{
    dc_modelstage_t *ms = calloc(1, sizeof(*ms));
    dc_model_conf_t mc;
    dc_model_t *model = NULL;
    const char *path = dc_conf_str(conf, "model.path");

    if (!ms) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    ms->sink = *sink;
    if (dc_model_conf_load(&mc, conf, errstr, errstr_size))
        goto fail;
    if (path && *path) {
        /* The checkpoint's dimensions win over the configured ones: the file
         * is what `train` fitted. */
        dc_buf_t file = {0};
        FILE *f = fopen(path, "rb");
        char chunk[65536];
        size_t got;
        if (!f) {
            dc_seterr(errstr, errstr_size, DC_ERR_IO, "model.path %s: cannot open", path);
            goto fail;
        }
        while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
            if (dc_buf_append(&file, chunk, got))
                break;
        fclose(f);
        int err = dc_model_peek(file.data, file.len, &mc, errstr, errstr_size);
        if (!err && (model = dc_model_new(&mc, errstr, errstr_size)))
            err = dc_model_load(model, file.data, file.len, errstr, errstr_size);
        dc_buf_free(&file);
        if (err || !model)
            goto fail;
    } else if (!(model = dc_model_new(&mc, errstr, errstr_size))) {
        goto fail;
    }
    if (!(ms->fc = dc_forecaster_new(conf, model, errstr, errstr_size)))
        goto fail;
    model = NULL;
    if (opts && opts->train_until != INT64_MIN &&
        !(ms->ws = dc_warmstart_new(ms->fc, opts->train_until, &opts->fit, errstr, errstr_size)))
        goto fail;
    return ms;
fail:
    dc_model_destroy(model);
    dc_modelstage_destroy(ms);
    return NULL;
}

void dc_modelstage_destroy(dc_modelstage_t *ms)
{
    if (!ms)
        return;
    dc_warmstart_destroy(ms->ws);
    dc_forecaster_destroy(ms->fc);
    free(ms->in);
    free(ms);
}

dc_forecaster_t *dc_modelstage_forecaster(dc_modelstage_t *ms) { return ms->fc; }

int dc_modelstage_bucket_closed(void *opaque, const dc_bucket_t *bucket)
{
    dc_modelstage_t *ms = opaque;
    /* The feature store delivers a bucket again after a crash, until a flush
     * acknowledges it; the forecaster has then already stepped it. */
    if (bucket->start <= dc_forecaster_last_closed(ms->fc))
        return DC_OK;
    if (bucket->n_skus > ms->in_cap) {
        size_t cap = ms->in_cap ? ms->in_cap : 256;
        while (cap < bucket->n_skus)
            cap *= 2;
        dc_forecaster_input_t *in = realloc(ms->in, cap * sizeof(*in));
        if (!in)
            return DC_ERR_NOMEM;
        ms->in = in;
        ms->in_cap = cap;
    }
    for (size_t i = 0; i < bucket->n_skus; i++) {
        const dc_bucket_sku_t *s = &bucket->skus[i];
        ms->in[i].sku = s->sku;
        ms->in[i].bucket = (dc_model_bucket_t){
            .start_ms = bucket->start,
            .width_ms = bucket->width,
            .units = (double)s->units,
            .cancelled = (double)s->cancelled,
            .views = (double)s->views,
            .carts = (double)s->carts,
            .price = s->avg_price > 0 ? s->avg_price : NAN,
            .promo_share = s->promo_share,
        };
    }
    if (ms->ws)
        return dc_warmstart_close(ms->ws, bucket->start, ms->in, bucket->n_skus, &ms->sink);
    return dc_forecaster_close(ms->fc, bucket->start, ms->in, bucket->n_skus, &ms->sink);
}

void dc_modelstage_attach(dc_modelstage_t *ms, dc_pipeline_sinks_t *sinks)
{
    sinks->bucket_closed = dc_modelstage_bucket_closed;
    sinks->closed_opaque = ms;
}

int dc_modelstage_finish(dc_modelstage_t *ms)
{
    return ms->ws ? dc_warmstart_finish(ms->ws, &ms->sink) : DC_OK;
}
