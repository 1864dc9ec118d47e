/* pipeline/kafka_io.c - the Kafka ends of `run`: the consumer group as a
 * pipeline source, and the DLQ as a reject sink. */
#include "pipeline/pipeline.h"

#include <stdlib.h>
#include <string.h>

static int on_assigned(void *opaque, int topic, const char *topic_name, int32_t partition,
                       int64_t *start)
{
    return dc_pipeline_assign(opaque, topic, topic_name, partition, start);
}

static int on_revoked(void *opaque, int topic, int32_t partition)
{
    return dc_pipeline_revoke(opaque, topic, partition);
}

static void on_at_end(void *opaque, int topic, int32_t partition)
{
    dc_pipeline_at_end(opaque, topic, partition);
}

static int64_t on_event_time(void *opaque, int topic, int32_t partition)
{
    return dc_pipeline_event_time(opaque, topic, partition);
}

void dc_pipeline_ingest_cbs(dc_pipeline_t *pl, dc_ingest_cbs_t *cbs)
{
    cbs->assigned = on_assigned;
    cbs->revoked = on_revoked;
    cbs->at_end = on_at_end;
    cbs->event_time = on_event_time;
    cbs->opaque = pl;
}

static int src_next(void *src, dc_pipeline_t *pl, dc_srcmsg_t *msg, int timeout_ms)
{
    dc_ingest_msg_t m;
    int err;

    (void)pl;
    if ((err = dc_ingest_next(src, &m, timeout_ms)))
        return err;
    memset(msg, 0, sizeof(*msg));
    msg->topic = m.topic;
    msg->topic_name = m.topic_name;
    msg->partition = m.partition;
    msg->offset = m.offset;
    msg->key = m.key;
    msg->key_len = m.key_len;
    msg->value = m.value;
    msg->value_len = m.value_len;
    msg->handle = m.handle;
    return DC_OK;
}

static void src_release(void *src, dc_srcmsg_t *msg)
{
    dc_ingest_msg_t m = {.handle = msg->handle};
    dc_ingest_release(src, &m);
    msg->handle = NULL;
}

static int src_commit(void *src, dc_parts_t *parts)
{
    size_t n = 0, cap = dc_parts_count(parts);
    int topic[cap ? cap : 1];
    int32_t partition[cap ? cap : 1];
    int64_t offset[cap ? cap : 1];

    for (size_t i = 0; i < cap; i++) {
        const dc_part_t *p = dc_parts_at(parts, i);
        if (p->stored_offset < 0)
            continue;
        topic[n] = p->topic;
        partition[n] = p->partition;
        offset[n++] = p->stored_offset;
    }
    return dc_ingest_commit(src, topic, partition, offset, n);
}

static void src_pause(void *src, int pause) { dc_ingest_pause(src, pause); }

static int src_rewind(void *src, dc_parts_t *parts)
{
    int err = DC_OK;
    for (size_t i = 0; i < dc_parts_count(parts); i++) {
        const dc_part_t *p = dc_parts_at(parts, i);
        int e = dc_ingest_seek(src, p->topic, p->partition, p->stored_offset);
        if (e && !err)
            err = e;
    }
    return err;
}

void dc_pipeline_ingest_source(dc_source_t *source, dc_ingest_t *in)
{
    source->next = src_next;
    source->release = src_release;
    source->commit = src_commit;
    source->pause = src_pause;
    source->rewind = src_rewind;
    source->src = in;
}

struct dc_dlq_sink_s {
    dc_kafka_producer_t *kp;
    char *topic;
};

dc_dlq_sink_t *dc_dlq_sink_new(dc_kafka_producer_t *kp, const char *dlq_topic)
{
    dc_dlq_sink_t *dlq = calloc(1, sizeof(*dlq));
    if (!dlq || !(dlq->topic = strdup(dlq_topic))) {
        free(dlq);
        return NULL;
    }
    dlq->kp = kp;
    return dlq;
}

void dc_dlq_sink_destroy(dc_dlq_sink_t *dlq)
{
    if (!dlq)
        return;
    free(dlq->topic);
    free(dlq);
}

static int dlq_reject(void *opaque, const dc_srcmsg_t *msg, int reason, const char *detail)
{
    dc_dlq_sink_t *dlq = opaque;
    char part[16], off[24];
    const char *name = dc_err_name(reason);

    snprintf(part, sizeof(part), "%d", (int)msg->partition);
    snprintf(off, sizeof(off), "%lld", (long long)msg->offset);
    dc_kafka_header_t hdrs[] = {
        {"dc.error", name, strlen(name)},
        {"dc.error.detail", detail, strlen(detail)},
        {"dc.source.topic", msg->topic_name, strlen(msg->topic_name)},
        {"dc.source.partition", part, strlen(part)},
        {"dc.source.offset", off, strlen(off)},
    };
    dc_kafka_msg_t km = {.topic = dlq->topic, .key = msg->key, .key_len = msg->key_len,
                         .value = msg->value, .value_len = msg->value_len,
                         .headers = hdrs, .n_headers = DC_ARRAY_SIZE(hdrs)};
    if (dc_kafka_producer_produce(dlq->kp, &km)) {
        dc_log(DC_LOG_ERROR, "dlq", "%s", dc_kafka_producer_errstr(dlq->kp));
        return DC_ERR_KAFKA;
    }
    return DC_OK;
}

static int dlq_flush(void *opaque)
{
    dc_dlq_sink_t *dlq = opaque;
    int err = dc_kafka_producer_flush(dlq->kp, 10000);
    if (err)
        dc_log(DC_LOG_WARN, "dlq", "flush: %s", dc_kafka_producer_errstr(dlq->kp));
    return err;
}

void dc_dlq_sink_attach(dc_dlq_sink_t *dlq, dc_pipeline_sinks_t *sinks)
{
    sinks->reject = dlq_reject;
    sinks->reject_flush = dlq_flush;
    sinks->reject_opaque = dlq;
}
