/* cli/cmd_run.c - `demandcast run`: the pipeline daemon. Wiring only: the
 * Kafka consumer group as the source, the feature store, the DLQ, the model
 * stage with its state in Redis, forecasts and surges to Kafka, and the
 * /metrics and /health endpoint. */
#include "cli/cli.h"
#include "pipeline/pipeline.h"

#include <stdio.h>
#include <unistd.h>

static const char usage_text[] =
    "Usage: demandcast run [-c FILE] [-X KEY=VALUE ...]\n\n"
    "Consume topic.clickstream and topic.orders as the consumer group kafka.group.id\n"
    "(default \"demandcast\"), keep rolling-window features per SKU in Redis with\n"
    "exactly-once state, send bad input to topic.dlq, and close event-time buckets.\n"
    "Each closed bucket steps every active SKU's model and publishes one Forecast per\n"
    "SKU to topic.forecasts and any SurgeAlert to topic.surges; once Kafka has\n"
    "acknowledged them, the model and per-SKU state are saved in Redis, so a restart\n"
    "(or another instance taking over) continues from the last bucket closed.\n"
    "model.path seeds the model when Redis holds no state yet. With http.port set,\n"
    "GET /metrics (Prometheus text) and GET /health are served on that port.\n"
    "Runs until SIGTERM or SIGINT, then drains: the last batch is flushed to Redis,\n"
    "offsets are committed and the group is left.\n\n"
    "Options:\n" DC_CLI_COMMON_HELP;

/* How long the end of a run waits for Kafka to acknowledge what is queued. */
#define DRAIN_TIMEOUT_MS 30000
/* A close waits for Kafka in steps of this long, logging now and then. */
#define FLUSH_STEP_MS 1000
#define FLUSH_LOG_S 10.0

typedef struct {
    dc_modelstage_t *ms;
    dc_forecast_kafka_sink_t *fsink;
    dc_kafka_producer_t *kp;
    uint64_t forecasts, surges; /* published as of the last close logged */
    dc_metric_t *m_last_closed, *m_version;
} run_t;

/* The model stage's flush: a close is saved (and so acknowledged) only once
 * every record it published is in Kafka. librdkafka retries failed sends
 * itself until message.timeout.ms, so this wait is bounded by that. */
static int flush_published(void *opaque)
{
    run_t *run = opaque;
    double start = dc_monotonic_s(), next_log = start + FLUSH_LOG_S;
    for (;;) {
        int err = dc_forecast_kafka_sink_flush(run->fsink, FLUSH_STEP_MS);
        if (err != DC_ERR_AGAIN) {
            if (err)
                dc_log(DC_LOG_ERROR, "run", "forecasts not delivered: %s",
                       dc_kafka_producer_errstr(run->kp));
            return err;
        }
        if (dc_monotonic_s() >= next_log) {
            dc_log(DC_LOG_WARN, "run", "waiting %.0f s for Kafka to acknowledge forecasts",
                   dc_monotonic_s() - start);
            next_log += FLUSH_LOG_S;
        }
    }
}

static int on_bucket_closed(void *opaque, const dc_bucket_t *bucket)
{
    run_t *run = opaque;
    dc_forecaster_t *fc = dc_modelstage_forecaster(run->ms);
    int64_t before = dc_forecaster_last_closed(fc);
    char when[32];
    int err = dc_modelstage_bucket_closed(run->ms, bucket);
    if (err)
        return err;
    uint64_t f = dc_forecast_kafka_sink_forecasts(run->fsink);
    uint64_t s = dc_forecast_kafka_sink_surges(run->fsink);
    dc_time_format(bucket->start, when, sizeof(when));
    if (dc_forecaster_last_closed(fc) == before)
        dc_log(DC_LOG_INFO, "run", "bucket %s closed again (already forecast)", when);
    else
        dc_log(DC_LOG_INFO, "run", "bucket %s closed: %zu active SKUs, %llu forecasts, "
               "%llu surge alerts, model version %llu", when, bucket->n_skus,
               (unsigned long long)(f - run->forecasts), (unsigned long long)(s - run->surges),
               (unsigned long long)dc_model_version(dc_forecaster_model(fc)));
    run->forecasts = f;
    run->surges = s;
    return DC_OK;
}

/* /health, on the HTTP thread: reads only the metrics (atomics). */
static int health(void *opaque, char *msg, size_t msg_size)
{
    run_t *run = opaque;
    double last = dc_metric_value(run->m_last_closed);
    char when[32];
    if (dc_cli_stop_requested()) {
        snprintf(msg, msg_size, "draining");
        return 0;
    }
    if (last > 0)
        snprintf(msg, msg_size, "ok: buckets closed up to %s, model version %.0f",
                 dc_time_format((int64_t)(last * 1000), when, sizeof(when)),
                 dc_metric_value(run->m_version));
    else
        snprintf(msg, msg_size, "ok: no bucket closed yet");
    return 1;
}

int dc_cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {DC_CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    dc_conf_t *conf = dc_conf_new();
    dc_metrics_t *metrics = NULL;
    dc_featstore_t *fs = NULL;
    dc_kafka_producer_t *kp = NULL;
    dc_codec_t *codec = NULL;
    dc_dlq_sink_t *dlq = NULL;
    dc_pipeline_t *pl = NULL;
    dc_ingest_t *in = NULL;
    dc_http_t *http = NULL;
    dc_pipeline_sinks_t sinks = {0};
    dc_forecaster_sink_t fsink;
    dc_ingest_cbs_t cbs;
    dc_source_t source;
    dc_limits_t lim;
    run_t run = {0};
    char errstr[512], host[128] = "localhost", instance[160];
    int opt, rc = DC_EXIT_FAIL, err;

    if (!conf)
        return DC_EXIT_FAIL;
    while ((opt = getopt_long(argc, argv, DC_CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1)
        if ((rc = dc_cli_common_opt(opt, optarg, conf, usage_text)) >= 0)
            goto out;
    if (optind < argc) {
        rc = dc_cli_usage_error("run", "unexpected argument \"%s\"", argv[optind]);
        goto out;
    }
    if ((rc = dc_cli_apply_log_level(conf)))
        goto out;
    if (dc_limits_init(&lim, conf, errstr, sizeof(errstr))) {
        rc = dc_cli_usage_error("run", "%s", errstr);
        goto out;
    }
    if (!dc_conf_passthrough(conf, "kafka.bootstrap.servers")) {
        rc = dc_cli_usage_error("run", "kafka.bootstrap.servers is not set");
        goto out;
    }
    rc = DC_EXIT_FAIL;
    gethostname(host, sizeof(host) - 1);
    snprintf(instance, sizeof(instance), "%s:%d", host, (int)getpid());
    /* What the failures below that have no text of their own mean. */
    snprintf(errstr, sizeof(errstr), "out of memory");
    if (!(metrics = dc_metrics_new()))
        goto fail;
    if (!(fs = dc_featstore_new(conf, &lim, instance, errstr, sizeof(errstr))) ||
        !(kp = dc_kafka_producer_new(conf, errstr, sizeof(errstr))) ||
        !(codec = dc_codec_new(conf, errstr, sizeof(errstr))) ||
        !(run.fsink = dc_forecast_kafka_sink_new(kp, codec, dc_conf_str(conf, "topic.forecasts"),
                                                 dc_conf_str(conf, "topic.surges"), errstr,
                                                 sizeof(errstr))))
        goto fail;
    run.kp = kp;
    dc_forecast_kafka_sink_attach(run.fsink, &fsink);
    if (!(run.ms = dc_modelstage_new(conf, NULL, &fsink, errstr, sizeof(errstr))) ||
        dc_modelstage_metrics(run.ms, metrics) ||
        dc_modelstage_persist(run.ms, conf, flush_published, &run, errstr, sizeof(errstr)))
        goto fail;
    run.m_last_closed = dc_metrics_gauge(metrics, "dc_forecast_last_bucket_end_seconds", NULL, "");
    run.m_version = dc_metrics_gauge(metrics, "dc_model_version", NULL, "");
    sinks.bucket_closed = on_bucket_closed;
    sinks.closed_opaque = &run;
    if (!(dlq = dc_dlq_sink_new(kp, dc_conf_str(conf, "topic.dlq"))))
        goto fail;
    dc_dlq_sink_attach(dlq, &sinks);
    if (!(pl = dc_pipeline_new(conf, &lim, fs, &sinks, metrics, errstr, sizeof(errstr))))
        goto fail;
    dc_pipeline_ingest_cbs(pl, &cbs);
    if (!(in = dc_ingest_new(conf, &cbs, metrics, errstr, sizeof(errstr))))
        goto fail;
    dc_pipeline_ingest_source(&source, in);
    if (dc_conf_int(conf, "http.port") > 0 &&
        !(http = dc_http_new(NULL, (int)dc_conf_int(conf, "http.port"), metrics, health, &run,
                             errstr, sizeof(errstr))))
        goto fail;
    dc_cli_install_signals();
    dc_log(DC_LOG_INFO, "run", "instance %s started%s", instance,
           http ? "; /metrics and /health on http.port" : "");
    err = dc_pipeline_run(pl, &source, dc_cli_stop_requested, DRAIN_TIMEOUT_MS);
    /* Leaving the group revokes every partition, which flushes once more. */
    dc_ingest_destroy(in);
    in = NULL;
    if (err) {
        const char *why = dc_pipeline_errstr(pl);
        fprintf(stderr, "demandcast run: %s%s%s\n", dc_err2str(err), *why ? ": " : "", why);
        goto out;
    }
    dc_log(DC_LOG_INFO, "run", "stopped: %llu forecasts and %llu surge alerts published",
           (unsigned long long)dc_forecast_kafka_sink_forecasts(run.fsink),
           (unsigned long long)dc_forecast_kafka_sink_surges(run.fsink));
    rc = DC_EXIT_OK;
    goto out;
fail:
    fprintf(stderr, "demandcast run: %s\n", errstr);
out:
    dc_http_destroy(http);
    dc_ingest_destroy(in);
    dc_pipeline_destroy(pl);
    dc_dlq_sink_destroy(dlq);
    dc_modelstage_destroy(run.ms);
    dc_forecast_kafka_sink_destroy(run.fsink);
    dc_kafka_producer_destroy(kp, DRAIN_TIMEOUT_MS);
    dc_codec_destroy(codec);
    dc_featstore_destroy(fs);
    dc_metrics_destroy(metrics);
    dc_conf_destroy(conf);
    return rc;
}
