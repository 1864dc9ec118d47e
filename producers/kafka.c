/* producers/kafka.c - the Kafka producer every demandcast sink writes
 * through: configured from dc_conf_t, idempotent and batched by default,
 * never dropping a message on a full queue, counting delivery reports. */
#include "consumers/consumers.h"
#include "producers/producers.h"

#include <librdkafka/rdkafka.h>

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Topics are few (the outputs of DESIGN.md section 2); their handles are
 * looked up by name once and kept, instead of per message. */
#define MAX_TOPICS 16

/* Throughput defaults, applied before the user's kafka.* keys so any of
 * them can be overridden. The local queue is large so a burst from `gen`
 * or a closing bucket rarely waits; lingering a few milliseconds fills
 * batches. */
static const char *const defaults[][2] = {
    {"enable.idempotence", "true"},
    {"linger.ms", "5"},
    {"batch.num.messages", "10000"},
    {"queue.buffering.max.messages", "1000000"},
    {"queue.buffering.max.kbytes", "1048576"},
    {"partitioner", "murmur2_random"},
};

struct dc_kafka_producer_s {
    rd_kafka_t *rk;
    struct {
        char *name;
        rd_kafka_topic_t *rkt;
    } topics[MAX_TOPICS];
    int n_topics;
    dc_kafka_producer_stats_t stats;
    int fatal;
    char errstr[512];
};

static void set_error(dc_kafka_producer_t *kp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_error(dc_kafka_producer_t *kp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(kp->errstr, sizeof(kp->errstr), fmt, ap);
    va_end(ap);
}

/* Runs in the thread that polls (ours), so plain counters suffice. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    dc_kafka_producer_t *kp = opaque;
    (void)rk;
    if (!msg->err) {
        kp->stats.delivered++;
        return;
    }
    /* The first failure is the one worth reporting; later ones usually
     * repeat it. */
    if (!kp->stats.failed++)
        set_error(kp, "delivery to %s failed: %s", rd_kafka_topic_name(msg->rkt),
                  rd_kafka_err2str(msg->err));
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    dc_kafka_producer_t *kp = opaque;
    char fatal[512];

    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        /* With idempotence a fatal error (e.g. a fenced or out-of-sequence
         * producer) means no message can be sent safely any more. */
        rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        kp->fatal = 1;
        set_error(kp, "fatal producer error: %s", fatal);
        dc_log(DC_LOG_ERROR, "kafka", "%s", kp->errstr);
        return;
    }
    /* Transport errors are retried by librdkafka; they are worth a line. */
    dc_log(DC_LOG_WARN, "kafka", "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

typedef struct {
    rd_kafka_conf_t *rkconf;
    char *errstr;
    size_t errstr_size;
} conf_ctx_t;

static int apply_kafka_prop(const char *name, const char *value, void *opaque)
{
    conf_ctx_t *ctx = opaque;
    char why[256];
    if (rd_kafka_conf_set(ctx->rkconf, name, value, why, sizeof(why)) != RD_KAFKA_CONF_OK)
        return dc_seterr(ctx->errstr, ctx->errstr_size, DC_ERR_CONFIG, "kafka.%s: %s", name, why);
    return 0;
}

dc_kafka_producer_t *dc_kafka_producer_new(const dc_conf_t *conf, char *errstr,
                                           size_t errstr_size)
{
    dc_kafka_producer_t *kp = NULL;
    rd_kafka_conf_t *rkconf = NULL;
    conf_ctx_t ctx = {NULL, errstr, errstr_size};
    char why[256];

    if (!dc_conf_passthrough(conf, "kafka.bootstrap.servers")) {
        dc_seterr(errstr, errstr_size, DC_ERR_CONFIG, "kafka.bootstrap.servers is not set");
        goto fail;
    }
    kp = calloc(1, sizeof(*kp));
    rkconf = rd_kafka_conf_new();
    if (!kp || !rkconf) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < DC_ARRAY_SIZE(defaults); i++) {
        if (rd_kafka_conf_set(rkconf, defaults[i][0], defaults[i][1], why, sizeof(why)) !=
            RD_KAFKA_CONF_OK) {
            dc_seterr(errstr, errstr_size, DC_ERR_CONFIG, "%s: %s", defaults[i][0], why);
            goto fail;
        }
    }
    ctx.rkconf = rkconf;
    if (dc_conf_foreach_prefixed(conf, "kafka.", apply_kafka_prop, &ctx))
        goto fail;
    rd_kafka_conf_set_opaque(rkconf, kp);
    rd_kafka_conf_set_dr_msg_cb(rkconf, on_delivery);
    rd_kafka_conf_set_error_cb(rkconf, on_error);
    rd_kafka_conf_set_log_cb(rkconf, dc__kafka_log);
    kp->rk = rd_kafka_new(RD_KAFKA_PRODUCER, rkconf, why, sizeof(why));
    if (!kp->rk) {
        dc_seterr(errstr, errstr_size, DC_ERR_KAFKA, "cannot create Kafka producer: %s", why);
        goto fail;
    }
    return kp; /* rd_kafka_new() took rkconf */

fail:
    if (rkconf)
        rd_kafka_conf_destroy(rkconf);
    free(kp);
    return NULL;
}

void dc_kafka_producer_destroy(dc_kafka_producer_t *kp, int flush_timeout_ms)
{
    if (!kp)
        return;
    if (rd_kafka_flush(kp->rk, flush_timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
        dc_log(DC_LOG_WARN, "kafka", "%d message(s) not delivered before shutdown",
               rd_kafka_outq_len(kp->rk));
    for (int i = 0; i < kp->n_topics; i++) {
        rd_kafka_topic_destroy(kp->topics[i].rkt);
        free(kp->topics[i].name);
    }
    rd_kafka_destroy(kp->rk);
    free(kp);
}

static rd_kafka_topic_t *topic_handle(dc_kafka_producer_t *kp, const char *name)
{
    for (int i = 0; i < kp->n_topics; i++)
        if (!strcmp(kp->topics[i].name, name))
            return kp->topics[i].rkt;
    if (kp->n_topics == MAX_TOPICS) {
        set_error(kp, "more than %d topics (cannot add %s)", MAX_TOPICS, name);
        return NULL;
    }
    char *copy = strdup(name);
    rd_kafka_topic_t *rkt = copy ? rd_kafka_topic_new(kp->rk, name, NULL) : NULL;
    if (!rkt) {
        free(copy);
        set_error(kp, "cannot create topic handle %s: %s", name,
                  rd_kafka_err2str(rd_kafka_last_error()));
        return NULL;
    }
    kp->topics[kp->n_topics].name = copy;
    kp->topics[kp->n_topics].rkt = rkt;
    kp->n_topics++;
    return rkt;
}

int dc_kafka_producer_produce(dc_kafka_producer_t *kp, const dc_kafka_msg_t *msg)
{
    rd_kafka_topic_t *rkt;
    rd_kafka_headers_t *hdrs = NULL;
    rd_kafka_resp_err_t err;

    if (kp->fatal)
        return DC_ERR_KAFKA;
    if (!(rkt = topic_handle(kp, msg->topic)))
        return DC_ERR_KAFKA;
    for (;;) {
        /* Headers are built per attempt: a successful produce takes them. */
        if (msg->n_headers) {
            hdrs = rd_kafka_headers_new(msg->n_headers);
            for (size_t i = 0; i < msg->n_headers; i++)
                rd_kafka_header_add(hdrs, msg->headers[i].name, -1, msg->headers[i].value,
                                    (ssize_t)msg->headers[i].size);
        }
        err = rd_kafka_producev(kp->rk, RD_KAFKA_V_RKT(rkt),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_KEY(msg->key, msg->key_len),
                                RD_KAFKA_V_VALUE((void *)msg->value, msg->value_len),
                                RD_KAFKA_V_TIMESTAMP(msg->timestamp_ms),
                                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        hdrs = NULL;
        /* Full: let deliveries drain the queue, then try again. Nothing is
         * dropped; if the cluster is gone, message.timeout.ms fails queued
         * messages and so frees room. */
        rd_kafka_poll(kp->rk, 100);
    }
    if (err) {
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        set_error(kp, "cannot produce to %s: %s", msg->topic, rd_kafka_err2str(err));
        return DC_ERR_KAFKA;
    }
    kp->stats.produced++;
    rd_kafka_poll(kp->rk, 0);
    return DC_OK;
}

void dc_kafka_producer_poll(dc_kafka_producer_t *kp, int timeout_ms)
{
    rd_kafka_poll(kp->rk, timeout_ms);
}

int dc_kafka_producer_flush(dc_kafka_producer_t *kp, int timeout_ms)
{
    rd_kafka_flush(kp->rk, timeout_ms);
    if (kp->stats.failed || kp->fatal)
        return DC_ERR_KAFKA;
    if (rd_kafka_outq_len(kp->rk) > 0)
        return DC_ERR_AGAIN;
    return DC_OK;
}

void dc_kafka_producer_stats(const dc_kafka_producer_t *kp, dc_kafka_producer_stats_t *stats)
{
    *stats = kp->stats;
}

const char *dc_kafka_producer_errstr(const dc_kafka_producer_t *kp) { return kp->errstr; }
