/* pipeline/kafka_range.c - the input topics between two timestamps as a
 * finite pipeline source (see pipeline.h). */
#include "pipeline/pipeline.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SILENCE_LIMIT_S 30.0

typedef struct {
    int topic; /* DC_TOPIC_* */
    int32_t partition;
    int done;  /* at its end or past to_ms */
    int assigned;
} range_part_t;

struct dc_kafka_range_s {
    rd_kafka_t *rk;
    char *topics[2];
    int64_t from_ms, to_ms;
    range_part_t *parts;
    size_t n_parts, n_done;
    int64_t records, newest;
    double last_heard;
};

static int topic_index(const dc_kafka_range_t *kr, const char *name)
{
    return !strcmp(name, kr->topics[DC_TOPIC_CLICKS]) ? DC_TOPIC_CLICKS : DC_TOPIC_ORDERS;
}

static range_part_t *find_part(dc_kafka_range_t *kr, int topic, int32_t partition)
{
    for (size_t i = 0; i < kr->n_parts; i++)
        if (kr->parts[i].topic == topic && kr->parts[i].partition == partition)
            return &kr->parts[i];
    return NULL;
}

/* Lists every partition of both topics with the offset to start from. */
static rd_kafka_topic_partition_list_t *plan(dc_kafka_range_t *kr, char *errstr,
                                             size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(16);
    for (int t = 0; t < 2; t++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(kr->rk, kr->topics[t], NULL);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(kr->rk, 0, rkt, &md, 10000);
        rd_kafka_topic_destroy(rkt);
        if (err || md->topic_cnt != 1 || md->topics[0].err) {
            dc_seterr(errstr, errstr_size, DC_ERR_KAFKA, "topic %s: %s", kr->topics[t],
                      rd_kafka_err2str(err ? err : md->topic_cnt ? md->topics[0].err
                                                                 : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
            if (md)
                rd_kafka_metadata_destroy(md);
            rd_kafka_topic_partition_list_destroy(list);
            return NULL;
        }
        for (int p = 0; p < md->topics[0].partition_cnt; p++)
            rd_kafka_topic_partition_list_add(list, kr->topics[t], md->topics[0].partitions[p].id)
                ->offset = kr->from_ms;
        rd_kafka_metadata_destroy(md);
    }
    /* offsets-for-times answers -1 both where no message is that new and
     * where the broker cannot look it up; reading such a partition from the
     * beginning, filtered by timestamp, is right in both cases. */
    if (rd_kafka_offsets_for_times(kr->rk, list, 10000))
        for (int i = 0; i < list->cnt; i++)
            list->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    for (int i = 0; i < list->cnt; i++)
        if (list->elems[i].offset < 0 || list->elems[i].err)
            list->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    return list;
}

dc_kafka_range_t *dc_kafka_range_new(const dc_conf_t *conf, int64_t from_ms, int64_t to_ms,
                                     char *errstr, size_t errstr_size)
{
    char group[64];
    dc_kafka_range_t *kr = calloc(1, sizeof(*kr));
    rd_kafka_topic_partition_list_t *list = NULL;

    if (!kr) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    /* The group id only satisfies the client: nothing is committed. */
    snprintf(group, sizeof(group), "demandcast-replay-%d", (int)getpid());
    const char *overrides[] = {"group.id", group, "enable.auto.commit", "false",
                               "enable.partition.eof", "true", NULL};
    kr->from_ms = from_ms;
    kr->to_ms = to_ms;
    kr->newest = INT64_MIN;
    if (!(kr->topics[0] = strdup(dc_conf_str(conf, "topic.clickstream"))) ||
        !(kr->topics[1] = strdup(dc_conf_str(conf, "topic.orders")))) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (!(kr->rk = dc_kafka_consumer_new(conf, overrides, errstr, errstr_size)))
        goto fail;
    if (!(list = plan(kr, errstr, errstr_size)))
        goto fail;
    if (!(kr->parts = calloc((size_t)list->cnt + 1, sizeof(*kr->parts)))) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < list->cnt; i++)
        kr->parts[kr->n_parts++] =
            (range_part_t){topic_index(kr, list->elems[i].topic), list->elems[i].partition, 0, 0};
    if (rd_kafka_assign(kr->rk, list)) {
        dc_seterr(errstr, errstr_size, DC_ERR_KAFKA, "cannot assign the input partitions");
        goto fail;
    }
    rd_kafka_topic_partition_list_destroy(list);
    kr->last_heard = dc_monotonic_s();
    return kr;
fail:
    if (list)
        rd_kafka_topic_partition_list_destroy(list);
    dc_kafka_range_destroy(kr);
    return NULL;
}

void dc_kafka_range_destroy(dc_kafka_range_t *kr)
{
    if (!kr)
        return;
    if (kr->rk) {
        rd_kafka_consumer_close(kr->rk);
        rd_kafka_destroy(kr->rk);
    }
    free(kr->topics[0]);
    free(kr->topics[1]);
    free(kr->parts);
    free(kr);
}

static void finish_part(dc_kafka_range_t *kr, dc_pipeline_t *pl, range_part_t *p)
{
    if (p->done)
        return;
    p->done = 1;
    kr->n_done++;
    dc_pipeline_at_end(pl, p->topic, p->partition);
    /* Stop fetching what lies beyond the range. */
    rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(one, kr->topics[p->topic], p->partition);
    rd_kafka_pause_partitions(kr->rk, one);
    rd_kafka_topic_partition_list_destroy(one);
}

static int src_next(void *src, dc_pipeline_t *pl, dc_srcmsg_t *msg, int timeout_ms)
{
    dc_kafka_range_t *kr = src;
    int64_t start;
    int err;

    /* The pipeline learns every partition before the first message, so the
     * low watermark waits for all of them. */
    for (size_t i = 0; i < kr->n_parts; i++) {
        range_part_t *p = &kr->parts[i];
        if (!p->assigned) {
            if ((err = dc_pipeline_assign(pl, p->topic, kr->topics[p->topic], p->partition,
                                          &start)))
                return err;
            p->assigned = 1;
        }
    }
    for (;;) {
        if (kr->n_done == kr->n_parts)
            return DC_ERR_EOF;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(kr->rk, timeout_ms);
        if (!m) {
            if (dc_monotonic_s() - kr->last_heard > SILENCE_LIMIT_S) {
                dc_log(DC_LOG_ERROR, "replay", "Kafka silent for %.0f s with %zu partitions "
                                               "unfinished",
                       SILENCE_LIMIT_S, kr->n_parts - kr->n_done);
                return DC_ERR_KAFKA;
            }
            return DC_ERR_AGAIN;
        }
        kr->last_heard = dc_monotonic_s();
        range_part_t *p = m->rkt ? find_part(kr, topic_index(kr, rd_kafka_topic_name(m->rkt)),
                                             m->partition)
                                 : NULL;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (p)
                finish_part(kr, pl, p);
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->err) {
            dc_log(DC_LOG_WARN, "replay", "Kafka: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        rd_kafka_timestamp_type_t tstype;
        int64_t ts = rd_kafka_message_timestamp(m, &tstype);
        if (!p || p->done || ts < kr->from_ms) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (ts > kr->to_ms) {
            finish_part(kr, pl, p);
            rd_kafka_message_destroy(m);
            continue;
        }
        memset(msg, 0, sizeof(*msg));
        msg->topic = p->topic;
        msg->topic_name = kr->topics[p->topic];
        msg->partition = m->partition;
        msg->offset = m->offset;
        msg->key = m->key;
        msg->key_len = m->key_len;
        msg->value = m->payload;
        msg->value_len = m->len;
        msg->handle = m;
        kr->records++;
        if (ts > kr->newest)
            kr->newest = ts;
        return DC_OK;
    }
}

static void src_release(void *src, dc_srcmsg_t *msg)
{
    (void)src;
    rd_kafka_message_destroy(msg->handle);
    msg->handle = NULL;
}

void dc_kafka_range_attach(dc_kafka_range_t *kr, dc_source_t *source)
{
    memset(source, 0, sizeof(*source));
    source->next = src_next;
    source->release = src_release;
    source->src = kr;
}

int64_t dc_kafka_range_records(const dc_kafka_range_t *kr) { return kr->records; }
int64_t dc_kafka_range_newest(const dc_kafka_range_t *kr) { return kr->newest; }
