/* tests/integration/0018-slow-model-drain.c - a replay whose next stage (the
 * model) is slower than reading: the source is read to its end long before
 * the buckets are delivered, and every bucket must still reach the next
 * stage, once each and in order, however long that takes after the end; the
 * final flush's deadline bounds a store that fails, not a slow model. The
 * input is a CSV file of order lines over 240 hours, read through the file
 * source `replay` uses, into a real Redis (run-c.sh: DC_REDIS_PORT, DC_TMP).
 * The delivered rows must add up to the file's units. */
#include "pipeline/pipeline.h"
#include "tests/integration/it_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T0 1767571200000LL /* 2026-01-05T00:00:00Z */
#define HOURS 240
#define SINK_MS 15        /* the model's time per bucket: 3.6 s over all of them */
#define DRAIN_MS 1000     /* the final flush's deadline, well under that */
#define HOUR_MS 3600000LL

typedef struct {
    int64_t first, next; /* first bucket delivered, the start expected next */
    int64_t buckets, units;
    const char *error;
} seen_t;

static int slow_model(void *opaque, const dc_bucket_t *bucket)
{
    seen_t *seen = opaque;
    struct timespec pause = {0, SINK_MS * 1000000L};

    if (seen->buckets && bucket->start != seen->next)
        seen->error = "a bucket came out of order, twice or not at all";
    if (!seen->buckets)
        seen->first = bucket->start;
    seen->next = bucket->start + bucket->width;
    seen->buckets++;
    for (size_t i = 0; i < bucket->n_skus; i++)
        seen->units += bucket->skus[i].units;
    nanosleep(&pause, NULL);
    return DC_OK;
}

int main(void)
{
    const char *port = getenv("DC_REDIS_PORT"), *tmp = getenv("DC_TMP");
    char errstr[512], path[4096], when[32];
    const char *paths[1] = {path};
    int64_t units = 0;
    seen_t seen = {0};
    dc_limits_t lim;
    dc_conf_t *conf = dc_conf_new();
    FILE *f;

    if (!port || !tmp)
        die("environment", "DC_REDIS_PORT or DC_TMP is not set (run me through run-c.sh)");
    dc_log_set_level(DC_LOG_WARN);
    snprintf(path, sizeof(path), "%s/lines.csv", tmp);
    if (!(f = fopen(path, "w")))
        die(path, "cannot write");
    fprintf(f, "id,sku,qty,price,ts\n");
    for (int h = 0; h < HOURS; h++) {
        time_t t = (time_t)((T0 + h * HOUR_MS + 17 * 60000) / 1000);
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", gmtime(&t));
        fprintf(f, "%d,10001,%d,2.50,%s\n", 1000 + h, 1 + h % 3, when);
        units += 1 + h % 3;
        if (h % 5 == 0) {
            fprintf(f, "%d,10002,4,1.25,%s\n", 5000 + h, when);
            units += 4;
        }
    }
    fclose(f);

    dc_pipeline_sinks_t sinks = {.bucket_closed = slow_model, .closed_opaque = &seen};
    dc_featstore_t *fs = NULL;
    dc_file_source_t *src = NULL;
    dc_pipeline_t *pl = NULL;
    dc_source_t source;
    if (!conf || dc_conf_set(conf, "redis.port", port, errstr, sizeof(errstr)) ||
        dc_limits_init(&lim, conf, errstr, sizeof(errstr)) ||
        !(fs = dc_featstore_new(conf, &lim, "0018", errstr, sizeof(errstr))) ||
        !(src = dc_file_source_new(paths, 1, "order_id=id;sku=sku;qty=qty;price=price;ts=ts",
                                   errstr, sizeof(errstr))) ||
        !(pl = dc_pipeline_new(conf, &lim, fs, &sinks, NULL, errstr, sizeof(errstr))))
        die("setup", errstr);
    dc_file_source_attach(src, &source);
    int err = dc_pipeline_run(pl, &source, NULL, DRAIN_MS);
    if (err)
        die("run", dc_err2str(err));
    if (seen.error)
        die("delivery", seen.error);
    printf("0018: %lld buckets delivered, %lld units (the file has %lld)\n",
           (long long)seen.buckets, (long long)seen.units, (long long)units);
    if (seen.buckets != HOURS || seen.first != T0 || seen.units != units)
        die("delivery", "not every bucket, or not every unit, reached the model");
    dc_pipeline_destroy(pl);
    dc_file_source_destroy(src);
    dc_featstore_destroy(fs);
    dc_conf_destroy(conf);
    puts("0018 ok");
    return 0;
}
