/* consumers/ingest.c - the consumer-group source of `run`: positions come
 * from the feature store through the owner's callbacks, never from Kafka's
 * committed offsets alone. */
#include "consumers/consumers.h"

#include <stdlib.h>
#include <string.h>

#define LAG_INTERVAL_S 5.0

struct dc_ingest_s {
    rd_kafka_t *rk;
    dc_ingest_cbs_t cbs;
    char *topics[2];
    int paused;
    int fatal;
    double last_lag;
    dc_metric_t *m_lag;
};

static int topic_index(const dc_ingest_t *in, const char *name)
{
    for (int i = 0; i < 2; i++)
        if (!strcmp(in->topics[i], name))
            return i;
    return -1;
}

/* Sets each partition's start offset from the owner, then takes them. */
static void assign(dc_ingest_t *in, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts,
                   int cooperative)
{
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t start = -1;
        int t = topic_index(in, p->topic);
        if (t < 0 || !in->cbs.assigned ||
            in->cbs.assigned(in->cbs.opaque, t, p->topic, p->partition, &start)) {
            /* Without its stored offset a partition cannot be read exactly
             * once; leave the group so another instance takes it. */
            dc_log(DC_LOG_ERROR, "ingest", "cannot set up %s/%d; leaving the group",
                   p->topic, (int)p->partition);
            in->fatal = 1;
            start = -1;
        }
        p->offset = start >= 0 ? start : RD_KAFKA_OFFSET_INVALID;
        dc_log(DC_LOG_INFO, "ingest", "assigned %s/%d from offset %lld", p->topic,
               (int)p->partition, (long long)start);
    }
    if (cooperative)
        error = rd_kafka_incremental_assign(rk, parts);
    else
        err = rd_kafka_assign(rk, parts);
    if (error) {
        dc_log(DC_LOG_ERROR, "ingest", "assign: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (err) {
        dc_log(DC_LOG_ERROR, "ingest", "assign: %s", rd_kafka_err2str(err));
    }
    if (in->paused)
        rd_kafka_pause_partitions(rk, parts);
}

static void revoke(dc_ingest_t *in, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts,
                   int cooperative)
{
    for (int i = 0; i < parts->cnt; i++) {
        int t = topic_index(in, parts->elems[i].topic);
        if (t >= 0 && in->cbs.revoked)
            in->cbs.revoked(in->cbs.opaque, t, parts->elems[i].partition);
        dc_log(DC_LOG_INFO, "ingest", "revoked %s/%d", parts->elems[i].topic,
               (int)parts->elems[i].partition);
    }
    if (cooperative) {
        rd_kafka_error_t *error = rd_kafka_incremental_unassign(rk, parts);
        if (error)
            rd_kafka_error_destroy(error);
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    dc_ingest_t *in = opaque;
    int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
        assign(in, rk, parts, cooperative);
    else
        revoke(in, rk, parts, cooperative);
}

dc_ingest_t *dc_ingest_new(const dc_conf_t *conf, const dc_ingest_cbs_t *cbs,
                           dc_metrics_t *metrics, char *errstr, size_t errstr_size)
{
    static const char *const defaults[] = {"group.id", "demandcast", "auto.offset.reset",
                                           "earliest", NULL};
    /* Exactly once depends on these; a user setting cannot turn them off. */
    static const char *const forced[] = {"enable.auto.commit", "false",
                                         "enable.auto.offset.store", "false",
                                         "enable.partition.eof", "true", NULL};
    dc_ingest_t *in = calloc(1, sizeof(*in));
    rd_kafka_conf_t *rkconf = NULL;
    rd_kafka_topic_partition_list_t *subs = NULL;
    rd_kafka_resp_err_t err;
    char why[512];

    if (!in) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    in->cbs = *cbs;
    in->topics[0] = strdup(dc_conf_str(conf, "topic.clickstream"));
    in->topics[1] = strdup(dc_conf_str(conf, "topic.orders"));
    if (!in->topics[0] || !in->topics[1]) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (!(rkconf = dc__kafka_consumer_conf(conf, defaults, forced, errstr, errstr_size)))
        goto fail;
    rd_kafka_conf_set_rebalance_cb(rkconf, on_rebalance);
    rd_kafka_conf_set_opaque(rkconf, in);
    if (!(in->rk = rd_kafka_new(RD_KAFKA_CONSUMER, rkconf, why, sizeof(why)))) {
        dc_seterr(errstr, errstr_size, DC_ERR_KAFKA, "kafka consumer: %s", why);
        goto fail;
    }
    rkconf = NULL; /* owned by the handle now */
    rd_kafka_poll_set_consumer(in->rk);
    subs = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(subs, in->topics[0], RD_KAFKA_PARTITION_UA);
    rd_kafka_topic_partition_list_add(subs, in->topics[1], RD_KAFKA_PARTITION_UA);
    if ((err = rd_kafka_subscribe(in->rk, subs))) {
        dc_seterr(errstr, errstr_size, DC_ERR_KAFKA, "subscribe: %s", rd_kafka_err2str(err));
        goto fail;
    }
    rd_kafka_topic_partition_list_destroy(subs);
    in->m_lag = dc_metrics_gauge(metrics, "dc_consumer_lag", NULL,
                                 "Messages behind the high watermark, over assigned partitions.");
    in->last_lag = dc_monotonic_coarse_s();
    return in;
fail:
    if (subs)
        rd_kafka_topic_partition_list_destroy(subs);
    if (rkconf)
        rd_kafka_conf_destroy(rkconf);
    dc_ingest_destroy(in);
    return NULL;
}

void dc_ingest_destroy(dc_ingest_t *in)
{
    if (!in)
        return;
    if (in->rk) {
        rd_kafka_consumer_close(in->rk);
        rd_kafka_destroy(in->rk);
    }
    free(in->topics[0]);
    free(in->topics[1]);
    free(in);
}

/* Sum of (high watermark - position) over the assignment, from the values the
 * client caches with every fetch (no request to the broker). */
static void update_lag(dc_ingest_t *in)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    int64_t lag = 0;

    if (!in->m_lag || rd_kafka_assignment(in->rk, &parts) || !parts)
        return;
    rd_kafka_position(in->rk, parts);
    for (int i = 0; i < parts->cnt; i++) {
        int64_t lo, hi;
        if (rd_kafka_get_watermark_offsets(in->rk, parts->elems[i].topic,
                                           parts->elems[i].partition, &lo, &hi) ||
            hi < 0)
            continue;
        int64_t pos = parts->elems[i].offset >= 0 ? parts->elems[i].offset : lo;
        if (hi > pos)
            lag += hi - pos;
    }
    rd_kafka_topic_partition_list_destroy(parts);
    dc_metric_set(in->m_lag, (double)lag);
}

int dc_ingest_next(dc_ingest_t *in, dc_ingest_msg_t *msg, int timeout_ms)
{
    rd_kafka_message_t *m;
    int t;

    if (dc_monotonic_coarse_s() - in->last_lag >= LAG_INTERVAL_S) {
        update_lag(in);
        in->last_lag = dc_monotonic_coarse_s();
    }
    if (in->fatal)
        return DC_ERR_KAFKA;
    if (!(m = rd_kafka_consumer_poll(in->rk, timeout_ms)))
        return DC_ERR_AGAIN;
    if (m->err) {
        int rc = DC_ERR_AGAIN;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            t = m->rkt ? topic_index(in, rd_kafka_topic_name(m->rkt)) : -1;
            if (t >= 0 && in->cbs.at_end)
                in->cbs.at_end(in->cbs.opaque, t, m->partition);
        } else if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
            char why[256];
            rd_kafka_fatal_error(in->rk, why, sizeof(why));
            dc_log(DC_LOG_ERROR, "ingest", "fatal: %s", why);
            rc = DC_ERR_KAFKA;
        } else {
            dc_log(DC_LOG_WARN, "ingest", "consumer: %s", rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
        return rc;
    }
    t = topic_index(in, rd_kafka_topic_name(m->rkt));
    if (t < 0) {
        rd_kafka_message_destroy(m);
        return DC_ERR_AGAIN;
    }
    if (in->paused) {
        /* Fetched before the pause took hold: read it again after resuming. */
        dc_ingest_seek(in, t, m->partition, m->offset);
        rd_kafka_message_destroy(m);
        return DC_ERR_AGAIN;
    }
    msg->topic = t;
    msg->topic_name = in->topics[t];
    msg->partition = m->partition;
    msg->offset = m->offset;
    msg->key = m->key;
    msg->key_len = m->key_len;
    msg->value = m->payload;
    msg->value_len = m->len;
    msg->handle = m;
    return DC_OK;
}

void dc_ingest_release(dc_ingest_t *in, dc_ingest_msg_t *msg)
{
    (void)in;
    if (msg->handle)
        rd_kafka_message_destroy(msg->handle);
    msg->handle = NULL;
}

int dc_ingest_commit(dc_ingest_t *in, const int *topic, const int32_t *partition,
                     const int64_t *offset, size_t n)
{
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_resp_err_t err;

    if (!n)
        return DC_OK;
    list = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(list, in->topics[topic[i]], partition[i])->offset =
            offset[i];
    err = rd_kafka_commit(in->rk, list, 1);
    rd_kafka_topic_partition_list_destroy(list);
    if (err) {
        dc_log(DC_LOG_WARN, "ingest", "commit: %s", rd_kafka_err2str(err));
        return DC_ERR_KAFKA;
    }
    return DC_OK;
}

void dc_ingest_pause(dc_ingest_t *in, int pause)
{
    rd_kafka_topic_partition_list_t *parts = NULL;

    in->paused = pause;
    if (rd_kafka_assignment(in->rk, &parts) || !parts)
        return;
    if (pause)
        rd_kafka_pause_partitions(in->rk, parts);
    else
        rd_kafka_resume_partitions(in->rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
}

int dc_ingest_seek(dc_ingest_t *in, int topic, int32_t partition, int64_t offset)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_error_t *error;
    int rc = DC_OK;

    rd_kafka_topic_partition_list_add(list, in->topics[topic], partition)->offset =
        offset >= 0 ? offset : RD_KAFKA_OFFSET_BEGINNING;
    if ((error = rd_kafka_seek_partitions(in->rk, list, 5000))) {
        dc_log(DC_LOG_WARN, "ingest", "seek %s/%d: %s", in->topics[topic], (int)partition,
               rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        rc = DC_ERR_KAFKA;
    } else if (list->elems[0].err) {
        dc_log(DC_LOG_WARN, "ingest", "seek %s/%d: %s", in->topics[topic], (int)partition,
               rd_kafka_err2str(list->elems[0].err));
        rc = DC_ERR_KAFKA;
    }
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}
