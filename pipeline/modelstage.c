/* pipeline/modelstage.c - closed buckets into the forecaster, its metrics,
 * and its state kept in Redis across restarts (see pipeline.h). */
#include "pipeline/pipeline.h"

#include <hiredis/hiredis.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Redis failures during a close are retried this many redis.timeout spans. */
#define RETRY_SPANS 6

typedef struct {
    dc_metric_t *closes, *forecasts, *cold, *fallbacks, *surges[3], *skus, *version, *blend,
        *steps, *skipped, *rollbacks, *loss, *last_closed, *close_s, *ckpt_s, *ckpt_bytes, *reloads, *fenced;
} stage_metrics_t;

struct dc_modelstage_s {
    dc_forecaster_t *fc;
    dc_warmstart_t *ws; /* NULL without an offline fit */
    dc_forecaster_sink_t sink;     /* the caller's */
    dc_forecaster_sink_t counting; /* counts, then forwards to sink */
    dc_forecaster_input_t *in;
    size_t in_cap;
    stage_metrics_t m;

    /* Checkpoints in Redis; rc is NULL until dc_modelstage_persist. */
    int persist;
    redisContext *rc;
    char *host, *user, *password, *prefix, *model_key;
    int port, db;
    int64_t timeout_ms;
    int (*flush)(void *opaque);
    void *flush_opaque;
    int64_t expect; /* the bucket the state in Redis was saved after (INT64_MIN: none) */
    dc_buf_t blob;  /* model checkpoint, then global record; reused */
    dc_buf_t recs;  /* SKU records of a close, back to back; reused */
    size_t *rec_end;
    size_t rec_cap;
    char errstr[512];
};

static int count_forecast(void *opaque, const dc_forecast_t *f)
{
    dc_modelstage_t *ms = opaque;
    dc_metric_add(ms->m.forecasts, 1);
    if (f->cold_start)
        dc_metric_add(ms->m.cold, 1);
    return ms->sink.forecast(ms->sink.opaque, f);
}

static int count_surge(void *opaque, const dc_surge_t *alert)
{
    dc_modelstage_t *ms = opaque;
    if ((int)alert->state >= 0 && (int)alert->state < 3)
        dc_metric_add(ms->m.surges[alert->state], 1);
    return ms->sink.surge ? ms->sink.surge(ms->sink.opaque, alert) : DC_OK;
}

/* Loads a model checkpoint file: its dimensions win over the configured
 * ones, since the file is what `train` fitted. */
static dc_model_t *model_from_file(const char *path, dc_model_conf_t *mc, char *errstr,
                                   size_t errstr_size)
{
    dc_buf_t file = {0};
    dc_model_t *model = NULL;
    FILE *f = fopen(path, "rb");
    char chunk[65536];
    size_t got;
    int err = DC_OK;
    if (!f) {
        dc_seterr(errstr, errstr_size, DC_ERR_IO, "model.path %s: cannot open", path);
        return NULL;
    }
    while (!err && (got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        err = dc_buf_append(&file, chunk, got);
    fclose(f);
    if (err)
        dc_seterr(errstr, errstr_size, err, "model.path %s: out of memory", path);
    else if (!dc_model_peek(file.data, file.len, mc, errstr, errstr_size) &&
             (model = dc_model_new(mc, errstr, errstr_size)) &&
             dc_model_load(model, file.data, file.len, errstr, errstr_size)) {
        dc_model_destroy(model);
        model = NULL;
    }
    dc_buf_free(&file);
    return model;
}

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
    ms->counting = (dc_forecaster_sink_t){count_forecast, count_surge, ms};
    ms->expect = INT64_MIN;
    if (dc_model_conf_load(&mc, conf, errstr, errstr_size))
        goto fail;
    if (path && *path)
        model = model_from_file(path, &mc, errstr, errstr_size);
    else
        model = dc_model_new(&mc, errstr, errstr_size);
    if (!model)
        goto fail;
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
    if (ms->rc)
        redisFree(ms->rc);
    free(ms->host);
    free(ms->user);
    free(ms->password);
    free(ms->prefix);
    free(ms->model_key);
    dc_buf_free(&ms->blob);
    dc_buf_free(&ms->recs);
    free(ms->rec_end);
    free(ms->in);
    free(ms);
}

dc_forecaster_t *dc_modelstage_forecaster(dc_modelstage_t *ms) { return ms->fc; }

int dc_modelstage_metrics(dc_modelstage_t *ms, dc_metrics_t *metrics)
{
    static const char *const states[3] = {"state=\"START\"", "state=\"UPDATE\"", "state=\"END\""};
    stage_metrics_t *m = &ms->m;
    m->closes = dc_metrics_counter(metrics, "dc_forecast_closes_total", NULL,
                                   "Bucket closes the forecaster stepped (redeliveries excluded).");
    m->forecasts = dc_metrics_counter(metrics, "dc_forecasts_total", NULL,
                                      "Forecast records published.");
    m->cold = dc_metrics_counter(metrics, "dc_forecasts_cold_start_total", NULL,
                                 "Forecast records flagged cold_start.");
    m->fallbacks = dc_metrics_counter(metrics, "dc_forecast_model_fallbacks_total", NULL,
                                      "Forecast horizons published from the baseline alone "
                                      "because the model's distribution was unusable.");
    for (int i = 0; i < 3; i++)
        m->surges[i] = dc_metrics_counter(metrics, "dc_surge_alerts_total", states[i],
                                          "SurgeAlert records published, by state.");
    m->skus = dc_metrics_gauge(metrics, "dc_forecaster_skus", NULL,
                               "SKUs the forecaster holds state for.");
    m->version = dc_metrics_gauge(metrics, "dc_model_version", NULL,
                                  "Model version (optimiser steps applied).");
    m->blend = dc_metrics_gauge(metrics, "dc_forecast_blend_weight", NULL,
                                "Weight of the LSTM in the published quantiles.");
    m->steps = dc_metrics_counter(metrics, "dc_model_train_steps_total", NULL,
                                  "Online optimiser steps applied.");
    m->skipped = dc_metrics_counter(metrics, "dc_model_train_skipped_total", NULL,
                                    "Training steps skipped for a non-finite loss or gradient.");
    m->rollbacks = dc_metrics_counter(metrics, "dc_model_train_rollbacks_total", NULL,
                                      "Divergent training steps rolled back.");
    m->loss = dc_metrics_gauge(metrics, "dc_model_train_loss", NULL,
                               "Running mean of the online training loss (NB NLL).");
    m->last_closed = dc_metrics_gauge(metrics, "dc_forecast_last_bucket_end_seconds", NULL,
                                      "Event time (Unix seconds) of the end of the last bucket "
                                      "closed.");
    m->close_s = dc_metrics_counter(metrics, "dc_forecast_close_seconds_total", NULL,
                                    "Time spent stepping, training and publishing closes.");
    m->ckpt_s = dc_metrics_counter(metrics, "dc_state_checkpoint_seconds_total", NULL,
                                   "Time spent saving the forecaster state to Redis.");
    m->ckpt_bytes = dc_metrics_gauge(metrics, "dc_state_checkpoint_bytes", NULL,
                                     "Bytes written by the last state checkpoint.");
    m->reloads = dc_metrics_counter(metrics, "dc_state_loads_total", NULL,
                                    "Forecaster states loaded from Redis (start, takeover).");
    m->fenced = dc_metrics_counter(metrics, "dc_state_fenced_total", NULL,
                                   "Checkpoints refused because Redis no longer held the "
                                   "state they followed (another instance saved first, or "
                                   "Redis lost writes).");
    return m->closes && m->fenced ? DC_OK : DC_ERR_NOMEM;
}

/* Moves the gauges to the forecaster as it is now. */
static void metrics_update(dc_modelstage_t *ms)
{
    dc_model_stats_t st;
    dc_model_stats(dc_forecaster_model(ms->fc), &st);
    dc_metric_set(ms->m.skus, (double)dc_forecaster_sku_count(ms->fc));
    dc_metric_set(ms->m.version, (double)dc_model_version(dc_forecaster_model(ms->fc)));
    dc_metric_set(ms->m.blend, dc_forecaster_blend_weight(ms->fc));
    dc_metric_set(ms->m.fallbacks, (double)dc_forecaster_model_fallbacks(ms->fc));
    /* Restored with the model, so they stay monotonic across restarts. */
    dc_metric_set(ms->m.steps, (double)st.steps);
    dc_metric_set(ms->m.skipped, (double)st.skipped);
    dc_metric_set(ms->m.rollbacks, (double)st.rollbacks);
    dc_metric_set(ms->m.loss, st.loss_mean);
}

/* ------------------------------------------------------------------------ */
/* Redis                                                                    */
/* ------------------------------------------------------------------------ */

static void disconnect(dc_modelstage_t *ms)
{
    if (ms->rc)
        redisFree(ms->rc);
    ms->rc = NULL;
}

/* A reply that is an error, or none (the connection failed): fills errstr
 * and drops a failed connection. Frees r. */
static int reply_err(dc_modelstage_t *ms, redisReply *r, const char *what)
{
    if (!r) {
        dc_seterr(ms->errstr, sizeof(ms->errstr), DC_ERR_REDIS, "redis %s: %s", what,
                  ms->rc && ms->rc->err ? ms->rc->errstr : "no reply");
        disconnect(ms);
    } else {
        dc_seterr(ms->errstr, sizeof(ms->errstr), DC_ERR_REDIS, "redis %s: %s", what,
                  r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
    }
    return DC_ERR_REDIS;
}

/* A failure in the middle of pipelined replies: the replies still unread
 * would answer the next commands, so the connection goes too. */
static int lost(dc_modelstage_t *ms, redisReply *r, const char *what)
{
    int err = reply_err(ms, r, what);
    disconnect(ms);
    return err;
}

static redisReply *command(dc_modelstage_t *ms, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = ms->rc ? redisvCommand(ms->rc, fmt, ap) : NULL;
    va_end(ap);
    return r;
}

static int connect_redis(dc_modelstage_t *ms)
{
    struct timeval tv = {(time_t)(ms->timeout_ms / 1000),
                         (suseconds_t)(ms->timeout_ms % 1000) * 1000};
    redisReply *r;

    disconnect(ms);
    ms->rc = redisConnectWithTimeout(ms->host, ms->port, tv);
    if (!ms->rc || ms->rc->err) {
        dc_seterr(ms->errstr, sizeof(ms->errstr), DC_ERR_REDIS, "redis %s:%d: %s", ms->host,
                  ms->port, ms->rc ? ms->rc->errstr : "cannot allocate a context");
        disconnect(ms);
        return DC_ERR_REDIS;
    }
    redisSetTimeout(ms->rc, tv);
    if (ms->password) {
        r = ms->user ? command(ms, "AUTH %s %s", ms->user, ms->password)
                     : command(ms, "AUTH %s", ms->password);
        if (!r || r->type == REDIS_REPLY_ERROR)
            return reply_err(ms, r, "AUTH");
        freeReplyObject(r);
    }
    if (ms->db) {
        r = command(ms, "SELECT %d", ms->db);
        if (!r || r->type == REDIS_REPLY_ERROR)
            return reply_err(ms, r, "SELECT");
        freeReplyObject(r);
    }
    return DC_OK;
}

static int64_t parse_bucket(const redisReply *r, int *ok)
{
    char *end;
    long long v;
    *ok = 1;
    if (r->type == REDIS_REPLY_NIL)
        return INT64_MIN;
    if (r->type != REDIS_REPLY_STRING) {
        *ok = 0;
        return INT64_MIN;
    }
    v = strtoll(r->str, &end, 10);
    *ok = end != r->str && *end == '\0';
    return v;
}

/* The bucket the state in Redis was saved after, into *bucket. */
static int read_stored(dc_modelstage_t *ms, int64_t *bucket)
{
    redisReply *r = command(ms, "HGET %s bucket", ms->model_key);
    int ok;
    if (!r || (r->type != REDIS_REPLY_NIL && r->type != REDIS_REPLY_STRING))
        return reply_err(ms, r, "HGET bucket");
    *bucket = parse_bucket(r, &ok);
    freeReplyObject(r);
    if (!ok)
        return dc_seterr(ms->errstr, sizeof(ms->errstr), DC_ERR_MALFORMED,
                         "%s: field bucket is not a number", ms->model_key);
    return DC_OK;
}

/* Loads the state saved after bucket `stored`. The SKU records are read in
 * one MULTI with the version, so a save by another instance in between is
 * noticed (DC_ERR_AGAIN: read again). */
static int load_state(dc_modelstage_t *ms, int64_t stored)
{
    redisReply *r = command(ms, "HMGET %s model global", ms->model_key), *x = NULL;
    dc_forecaster_t *fc = ms->fc;
    char *es = ms->errstr;
    size_t es_size = sizeof(ms->errstr), n;
    int err, ok;

    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        return reply_err(ms, r, "HMGET model global");
    if (r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return dc_seterr(es, es_size, DC_ERR_MALFORMED, "%s: model or global missing",
                         ms->model_key);
    }
    if ((err = dc_model_load(dc_forecaster_model(fc), r->element[0]->str, r->element[0]->len, es,
                             es_size)) ||
        (err = dc_forecaster_load_global(fc, r->element[1]->str, r->element[1]->len, es,
                                         es_size))) {
        freeReplyObject(r);
        return err;
    }
    freeReplyObject(r);
    n = dc_forecaster_sku_count(fc);
    redisAppendCommand(ms->rc, "MULTI");
    redisAppendCommand(ms->rc, "HGET %s bucket", ms->model_key);
    for (size_t i = 0; i < n; i++)
        redisAppendCommand(ms->rc, "GET %s:{%s}:fc", ms->prefix, dc_forecaster_sku_name(fc, i));
    redisAppendCommand(ms->rc, "EXEC");
    /* MULTI, HGET and the GETs answer OK or QUEUED; EXEC has the values. */
    for (size_t i = 0; i < n + 2; i++) {
        if (redisGetReply(ms->rc, (void **)&r) != REDIS_OK)
            return lost(ms, NULL, "MULTI GET");
        if (r->type == REDIS_REPLY_ERROR)
            return lost(ms, r, "MULTI GET");
        freeReplyObject(r);
    }
    if (redisGetReply(ms->rc, (void **)&x) != REDIS_OK)
        return lost(ms, NULL, "EXEC");
    if (x->type != REDIS_REPLY_ARRAY || x->elements != n + 1)
        return reply_err(ms, x, "EXEC");
    if (parse_bucket(x->element[0], &ok) != stored || !ok) {
        freeReplyObject(x);
        return DC_ERR_AGAIN;
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = x->element[i + 1];
        const char *sku = dc_forecaster_sku_name(fc, i);
        if (e->type != REDIS_REPLY_STRING) {
            err = dc_seterr(es, es_size, DC_ERR_MALFORMED, "%s:{%s}:fc is missing", ms->prefix,
                            sku);
            break;
        }
        if ((err = dc_forecaster_load_sku(fc, sku, e->str, e->len, es, es_size)))
            break;
    }
    freeReplyObject(x);
    if (err)
        return err;
    if (dc_forecaster_last_closed(fc) != stored)
        return dc_seterr(es, es_size, DC_ERR_MALFORMED,
                         "%s: bucket %lld but its global record says %lld", ms->model_key,
                         (long long)stored, (long long)dc_forecaster_last_closed(fc));
    return DC_OK;
}

/* Step 1 of a close (pipeline.h): makes the forecaster the state in Redis. */
static int sync_state(dc_modelstage_t *ms)
{
    int64_t stored, mine = dc_forecaster_last_closed(ms->fc);
    char when[32];
    int err;

    if ((err = read_stored(ms, &stored)))
        return err;
    ms->expect = stored;
    if (stored == mine)
        return DC_OK;
    if (stored == INT64_MIN) {
        dc_log(DC_LOG_WARN, "model", "%s is gone from Redis; saving this process's state "
               "again at the next close", ms->model_key);
        return DC_OK;
    }
    while ((err = load_state(ms, stored)) == DC_ERR_AGAIN)
        if ((err = read_stored(ms, &stored)))
            return err;
    if (err)
        return err;
    ms->expect = stored;
    dc_metric_add(ms->m.reloads, 1);
    dc_log(DC_LOG_INFO, "model", "state loaded from Redis: last bucket %s, model version %llu, "
           "%zu SKUs", dc_time_format(stored, when, sizeof(when)),
           (unsigned long long)dc_model_version(dc_forecaster_model(ms->fc)),
           dc_forecaster_sku_count(ms->fc));
    return DC_OK;
}

/* Redis no longer holds the state this close started from: another
 * instance saved one after it (it owns the forecaster now), or Redis lost
 * its latest writes. Step 1 of the next close loads what Redis holds. */
static int fenced(dc_modelstage_t *ms)
{
    dc_metric_add(ms->m.fenced, 1);
    dc_log(DC_LOG_WARN, "model", "the forecaster state in Redis is not the one this close "
           "started from (another instance saved first, or Redis lost writes); loading it "
           "at the next close");
    ms->expect = INT64_MIN;
    return DC_OK;
}

/* Step 5: saves the state after the close of bucket, if Redis still holds
 * the state of ms->expect. */
static int save_state(dc_modelstage_t *ms, const dc_bucket_t *bucket)
{
    dc_forecaster_t *fc = ms->fc;
    dc_model_t *model = dc_forecaster_model(fc);
    redisReply *r;
    int64_t stored;
    size_t n = bucket->n_skus, model_len, off = 0;
    int err;
    char num[32], ver[32], cnt[32];

    if (n > ms->rec_cap) {
        size_t *p = realloc(ms->rec_end, n * sizeof(*p));
        if (!p)
            return DC_ERR_NOMEM;
        ms->rec_end = p;
        ms->rec_cap = n;
    }
    ms->blob.len = ms->recs.len = 0;
    if ((err = dc_model_save(model, &ms->blob)))
        return err;
    model_len = ms->blob.len;
    if ((err = dc_forecaster_save_global(fc, &ms->blob)))
        return err;
    for (size_t i = 0; i < n; i++) {
        if ((err = dc_forecaster_save_sku(fc, bucket->skus[i].sku, &ms->recs)))
            return err;
        ms->rec_end[i] = ms->recs.len;
    }

    r = command(ms, "WATCH %s", ms->model_key);
    if (!r || r->type == REDIS_REPLY_ERROR)
        return reply_err(ms, r, "WATCH");
    freeReplyObject(r);
    if ((err = read_stored(ms, &stored)))
        return err;
    if (stored == bucket->start) {
        /* Saved already: the connection failed after EXEC, before its reply. */
        r = command(ms, "UNWATCH");
        if (r)
            freeReplyObject(r);
        ms->expect = stored;
        return DC_OK;
    }
    if (stored != ms->expect) {
        r = command(ms, "UNWATCH");
        if (r)
            freeReplyObject(r);
        return fenced(ms);
    }
    snprintf(num, sizeof(num), "%lld", (long long)bucket->start);
    snprintf(ver, sizeof(ver), "%llu", (unsigned long long)dc_model_version(model));
    snprintf(cnt, sizeof(cnt), "%zu", dc_forecaster_sku_count(fc));
    redisAppendCommand(ms->rc, "MULTI");
    redisAppendCommand(ms->rc, "HSET %s bucket %s version %s skus %s model %b global %b",
                       ms->model_key, num, ver, cnt, ms->blob.data, model_len,
                       ms->blob.data + model_len, ms->blob.len - model_len);
    for (size_t i = 0; i < n; i++) {
        redisAppendCommand(ms->rc, "SET %s:{%s}:fc %b", ms->prefix, bucket->skus[i].sku,
                           ms->recs.data + off, ms->rec_end[i] - off);
        off = ms->rec_end[i];
    }
    redisAppendCommand(ms->rc, "EXEC");
    /* MULTI, HSET and the SETs answer OK or QUEUED; then EXEC. */
    for (size_t i = 0; i < n + 2; i++) {
        if (redisGetReply(ms->rc, (void **)&r) != REDIS_OK)
            return lost(ms, NULL, "MULTI");
        if (r->type == REDIS_REPLY_ERROR)
            return lost(ms, r, "MULTI");
        freeReplyObject(r);
    }
    if (redisGetReply(ms->rc, (void **)&r) != REDIS_OK)
        return lost(ms, NULL, "EXEC");
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return fenced(ms);
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n + 1)
        return reply_err(ms, r, "EXEC");
    freeReplyObject(r);
    ms->expect = bucket->start;
    dc_metric_set(ms->m.ckpt_bytes, (double)(ms->blob.len + ms->recs.len));
    return DC_OK;
}

/* Runs step(ms, bucket) until it succeeds, reconnecting after a lost
 * connection, for at most RETRY_SPANS x redis.timeout. Other errors (an
 * error reply on a live connection, bad state) return at once. */
static int with_retry(dc_modelstage_t *ms, int (*step)(dc_modelstage_t *, const dc_bucket_t *),
                      const dc_bucket_t *bucket)
{
    double deadline = dc_monotonic_s() + RETRY_SPANS * (double)ms->timeout_ms / 1000.0;
    double backoff = 0.05;
    for (;;) {
        int err = ms->rc ? DC_OK : connect_redis(ms);
        if (!err)
            err = step(ms, bucket);
        if (err != DC_ERR_REDIS || ms->rc || dc_monotonic_s() + backoff > deadline)
            return err;
        dc_log(DC_LOG_WARN, "model", "%s; retrying", ms->errstr);
        struct timespec ts = {(time_t)backoff, (long)((backoff - (double)(time_t)backoff) * 1e9)};
        nanosleep(&ts, NULL);
        backoff = backoff * 2 > 2.0 ? 2.0 : backoff * 2;
    }
}

static int sync_step(dc_modelstage_t *ms, const dc_bucket_t *bucket)
{
    (void)bucket;
    return sync_state(ms);
}

static char *dup_text(const char *s) { return s && *s ? strdup(s) : NULL; }

int dc_modelstage_persist(dc_modelstage_t *ms, const dc_conf_t *conf, int (*flush)(void *opaque),
                          void *flush_opaque, char *errstr, size_t errstr_size)
{
    const char *prefix = dc_conf_str(conf, "redis.key.prefix");
    int err;

    if (ms->ws)
        return dc_seterr(errstr, errstr_size, DC_ERR_INVAL,
                         "the model stage cannot keep state while a warm start is pending");
    free(ms->host);
    free(ms->user);
    free(ms->password);
    free(ms->prefix);
    free(ms->model_key);
    ms->host = strdup(dc_conf_str(conf, "redis.host"));
    ms->user = dup_text(dc_conf_str(conf, "redis.user"));
    ms->password = dup_text(dc_conf_str(conf, "redis.password"));
    ms->prefix = strdup(prefix);
    ms->model_key = malloc(strlen(prefix) + sizeof(":{meta}:model"));
    if (!ms->host || !ms->prefix || !ms->model_key)
        return dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
    sprintf(ms->model_key, "%s:{meta}:model", prefix);
    ms->port = (int)dc_conf_int(conf, "redis.port");
    ms->db = (int)dc_conf_int(conf, "redis.db");
    ms->timeout_ms = dc_conf_duration_ms(conf, "redis.timeout");
    ms->flush = flush;
    ms->flush_opaque = flush_opaque;
    if ((err = connect_redis(ms)) || (err = sync_state(ms)))
        return dc_seterr(errstr, errstr_size, err, "%s", ms->errstr);
    ms->persist = 1;
    metrics_update(ms);
    return DC_OK;
}

int dc_modelstage_bucket_closed(void *opaque, const dc_bucket_t *bucket)
{
    dc_modelstage_t *ms = opaque;
    double t0;
    int err;

    if (ms->persist && (err = with_retry(ms, sync_step, bucket))) {
        dc_log(DC_LOG_ERROR, "model", "%s", ms->errstr);
        return err;
    }
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
    t0 = dc_monotonic_s();
    if (ms->ws)
        err = dc_warmstart_close(ms->ws, bucket->start, ms->in, bucket->n_skus, &ms->counting);
    else
        err = dc_forecaster_close(ms->fc, bucket->start, ms->in, bucket->n_skus, &ms->counting);
    if (err)
        return err;
    dc_metric_add(ms->m.close_s, dc_monotonic_s() - t0);
    dc_metric_add(ms->m.closes, 1);
    dc_metric_set(ms->m.last_closed, (double)(bucket->start + bucket->width) / 1000.0);
    metrics_update(ms);
    if (ms->flush && (err = ms->flush(ms->flush_opaque)))
        return err;
    if (ms->persist) {
        t0 = dc_monotonic_s();
        if ((err = with_retry(ms, save_state, bucket))) {
            dc_log(DC_LOG_ERROR, "model", "%s", ms->errstr);
            return err;
        }
        dc_metric_add(ms->m.ckpt_s, dc_monotonic_s() - t0);
    }
    return DC_OK;
}

void dc_modelstage_attach(dc_modelstage_t *ms, dc_pipeline_sinks_t *sinks)
{
    sinks->bucket_closed = dc_modelstage_bucket_closed;
    sinks->closed_opaque = ms;
}

int dc_modelstage_finish(dc_modelstage_t *ms)
{
    return ms->ws ? dc_warmstart_finish(ms->ws, &ms->counting) : DC_OK;
}
