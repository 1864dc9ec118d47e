/* consumers/kafka_consumer.c - a librdkafka consumer handle configured from
 * dc_conf_t: defaults, then kafka.* properties, then the caller's overrides. */
#include "consumers/consumers.h"

#include <string.h>

void dc__kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    dc_log(level <= 3 ? DC_LOG_ERROR : level <= 4 ? DC_LOG_WARN : level <= 6 ? DC_LOG_INFO
                                                                              : DC_LOG_DEBUG,
           "kafka", "%s: %s", fac, buf);
}

typedef struct {
    rd_kafka_conf_t *rkconf;
    char *errstr;
    size_t errstr_size;
} conf_ctx_t;

/* prefix names the property as the user wrote it ("kafka." for config keys). */
static int set_prop(conf_ctx_t *ctx, const char *prefix, const char *name, const char *value)
{
    char why[256];
    if (rd_kafka_conf_set(ctx->rkconf, name, value, why, sizeof(why)) != RD_KAFKA_CONF_OK)
        return dc_seterr(ctx->errstr, ctx->errstr_size, DC_ERR_CONFIG, "%s%s: %s", prefix, name,
                         why);
    return DC_OK;
}

static int apply_kafka_prop(const char *name, const char *value, void *opaque)
{
    return set_prop(opaque, "kafka.", name, value);
}

/* How every consumer fetches, before the caller's defaults.
 * An empty fetch waits fetch.wait.max.ms, and the embedded broker answers an
 * empty fetch only then: keep it short for latency.
 * queued.min.messages counts the queue a partition feeds: the one consumer
 * queue of all of them, or its own (the ingest's). Once it is passed,
 * librdkafka 2.0 fetches again only when its broker thread next wakes, up
 * to a second later (2.1 adds fetch.queue.backoff.ms for this): at
 * librdkafka's 100000 a consumer slower than the broker drains the queue
 * and then idles. The prefetch stays bounded by
 * queued.max.messages.kbytes. */
static const char *const fetch_defaults[] = {"fetch.wait.max.ms", "100",
                                             "queued.min.messages", "1000000", NULL};

rd_kafka_conf_t *dc__kafka_consumer_conf(const dc_conf_t *conf, const char *const *defaults,
                                         const char *const *overrides, char *errstr,
                                         size_t errstr_size)
{
    conf_ctx_t ctx = {rd_kafka_conf_new(), errstr, errstr_size};

    if (!ctx.rkconf) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (!dc_conf_passthrough(conf, "kafka.bootstrap.servers")) {
        dc_seterr(errstr, errstr_size, DC_ERR_CONFIG, "kafka.bootstrap.servers is not set");
        goto fail;
    }
    for (size_t i = 0; fetch_defaults[i]; i += 2)
        if (set_prop(&ctx, "", fetch_defaults[i], fetch_defaults[i + 1]))
            goto fail;
    for (size_t i = 0; defaults && defaults[i]; i += 2)
        if (set_prop(&ctx, "", defaults[i], defaults[i + 1]))
            goto fail;
    if (dc_conf_foreach_prefixed(conf, "kafka.", apply_kafka_prop, &ctx))
        goto fail;
    for (size_t i = 0; overrides && overrides[i]; i += 2)
        if (set_prop(&ctx, "", overrides[i], overrides[i + 1]))
            goto fail;
    rd_kafka_conf_set_log_cb(ctx.rkconf, dc__kafka_log);
    return ctx.rkconf;
fail:
    rd_kafka_conf_destroy(ctx.rkconf);
    return NULL;
}

rd_kafka_t *dc_kafka_consumer_new(const dc_conf_t *conf, const char *const *overrides,
                                  char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *rkconf = dc__kafka_consumer_conf(conf, NULL, overrides, errstr,
                                                      errstr_size);
    rd_kafka_t *rk;
    char why[512];
    size_t size = 0;

    if (!rkconf)
        return NULL;
    /* With no destination, only the length (including the NUL) is read. */
    if (rd_kafka_conf_get(rkconf, "group.id", NULL, &size) != RD_KAFKA_CONF_OK || size <= 1) {
        dc_seterr(errstr, errstr_size, DC_ERR_CONFIG, "kafka.group.id is not set");
        rd_kafka_conf_destroy(rkconf);
        return NULL;
    }
    if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, rkconf, why, sizeof(why)))) {
        dc_seterr(errstr, errstr_size, DC_ERR_KAFKA, "cannot create Kafka consumer: %s", why);
        rd_kafka_conf_destroy(rkconf);
        return NULL;
    }
    /* Everything, rebalances included, is served by rd_kafka_consumer_poll();
     * rd_kafka_new() took the conf. */
    rd_kafka_poll_set_consumer(rk);
    return rk;
}
