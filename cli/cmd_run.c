/* cli/cmd_run.c - `demandcast run`: the pipeline daemon. Wiring only: the
 * Kafka consumer group as the source, the feature store, the DLQ, and (for
 * now) a log line per closed bucket as its consumer. */
#include "cli/cli.h"
#include "pipeline/pipeline.h"

#include <stdio.h>
#include <unistd.h>

static const char usage_text[] =
    "Usage: demandcast run [-c FILE] [-X KEY=VALUE ...]\n\n"
    "Consume topic.clickstream and topic.orders as the consumer group kafka.group.id\n"
    "(default \"demandcast\"), keep rolling-window features per SKU in Redis with\n"
    "exactly-once state, send bad input to topic.dlq, and close event-time buckets.\n"
    "Runs until SIGTERM or SIGINT, then drains: the last batch is flushed to Redis,\n"
    "offsets are committed and the group is left.\n\n"
    "Options:\n" DC_CLI_COMMON_HELP;

static int log_bucket(void *opaque, const dc_bucket_t *bucket)
{
    char when[32];
    int64_t units = 0, views = 0;

    (void)opaque;
    for (size_t i = 0; i < bucket->n_skus; i++) {
        units += bucket->skus[i].units;
        views += bucket->skus[i].views;
    }
    dc_log(DC_LOG_INFO, "run", "bucket %s closed: %zu active SKUs, %lld units, %lld views",
           dc_time_format(bucket->start, when, sizeof(when)), bucket->n_skus, (long long)units,
           (long long)views);
    return DC_OK;
}

int dc_cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {DC_CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    dc_conf_t *conf = dc_conf_new();
    dc_metrics_t *metrics = NULL;
    dc_featstore_t *fs = NULL;
    dc_kafka_producer_t *kp = NULL;
    dc_dlq_sink_t *dlq = NULL;
    dc_pipeline_t *pl = NULL;
    dc_ingest_t *in = NULL;
    dc_pipeline_sinks_t sinks = {.bucket_closed = log_bucket};
    dc_ingest_cbs_t cbs;
    dc_source_t source;
    dc_limits_t lim;
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
    if (!(metrics = dc_metrics_new()))
        goto out;
    if (!(fs = dc_featstore_new(conf, &lim, instance, errstr, sizeof(errstr))) ||
        !(kp = dc_kafka_producer_new(conf, errstr, sizeof(errstr)))) {
        fprintf(stderr, "demandcast run: %s\n", errstr);
        goto out;
    }
    if (!(dlq = dc_dlq_sink_new(kp, dc_conf_str(conf, "topic.dlq"))))
        goto out;
    dc_dlq_sink_attach(dlq, &sinks);
    if (!(pl = dc_pipeline_new(conf, &lim, fs, &sinks, metrics, errstr, sizeof(errstr)))) {
        fprintf(stderr, "demandcast run: %s\n", errstr);
        goto out;
    }
    dc_pipeline_ingest_cbs(pl, &cbs);
    if (!(in = dc_ingest_new(conf, &cbs, metrics, errstr, sizeof(errstr)))) {
        fprintf(stderr, "demandcast run: %s\n", errstr);
        goto out;
    }
    dc_pipeline_ingest_source(&source, in);
    dc_cli_install_signals();
    dc_log(DC_LOG_INFO, "run", "instance %s started", instance);
    err = dc_pipeline_run(pl, &source, dc_cli_stop_requested, 30000);
    /* Leaving the group revokes every partition, which flushes once more. */
    dc_ingest_destroy(in);
    in = NULL;
    if (err) {
        fprintf(stderr, "demandcast run: %s\n", dc_err2str(err));
        goto out;
    }
    rc = DC_EXIT_OK;
out:
    dc_ingest_destroy(in);
    dc_pipeline_destroy(pl);
    dc_dlq_sink_destroy(dlq);
    dc_kafka_producer_destroy(kp, 10000);
    dc_featstore_destroy(fs);
    dc_metrics_destroy(metrics);
    dc_conf_destroy(conf);
    return rc;
}
