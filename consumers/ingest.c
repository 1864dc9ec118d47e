/* consumers/ingest.c - the consumer-group source of `run`: positions come
 * from the feature store through the owner's callbacks, never from Kafka's
 * committed offsets alone. */
#define _GNU_SOURCE /* pipe2 */
#include "consumers/consumers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LAG_INTERVAL_S 5.0

/* An assigned partition's own queue: its messages stay there, not in the
 * consumer queue, so that the ingest chooses which partition to read. */
typedef struct {
    int topic;
    int32_t partition;
    rd_kafka_queue_t *q;
} part_queue_t;

struct dc_ingest_s {
    rd_kafka_t *rk;
    dc_ingest_cbs_t cbs;
    char *topics[2];
    int paused;
    int fatal;
    double last_lag;
    dc_metric_t *m_lag, *m_queued;
    rd_kafka_queue_t *consumer_q; /* rebalances and client errors */
    part_queue_t *pq;
    size_t n_pq, cap_pq;
    size_t cur;   /* the partition read now (n_pq: none) */
    int wake[2];  /* a pipe librdkafka writes to when an empty queue gets something */
    /* The run: messages of one partition taken from its queue together and
     * handed out one at a time. One call locks the queue once for them all,
     * where a call a message contended with librdkafka's broker thread,
     * which appends to that queue as it fetches. The run is ours until
     * handed out: a seek of its partition drops the rest of it. */
    rd_kafka_message_t *run[DC_INGEST_RUN];
    size_t run_at, run_n;
    int run_topic;
    int32_t run_partition;
};

static int topic_index(const dc_ingest_t *in, const char *name)
{
    for (int i = 0; i < 2; i++)
        if (!strcmp(in->topics[i], name))
            return i;
    return -1;
}

/* Gives the partition its own queue, before it is assigned: the assignment
 * leaves a queue the application forwarded (to none) as it is, so no
 * message of it ever reaches the consumer queue, and none is read out of
 * order. Partition ends and fetch errors come through it too. */
static int add_queue(dc_ingest_t *in, rd_kafka_t *rk, int topic, int32_t partition)
{
    if (in->n_pq == in->cap_pq) {
        size_t cap = in->cap_pq ? 2 * in->cap_pq : 16;
        part_queue_t *grown = realloc(in->pq, cap * sizeof(*grown));
        if (!grown)
            return DC_ERR_NOMEM;
        in->pq = grown;
        in->cap_pq = cap;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_get_partition(rk, in->topics[topic], partition);
    if (!q)
        return DC_ERR_KAFKA;
    rd_kafka_queue_forward(q, NULL);
    rd_kafka_queue_io_event_enable(q, in->wake[1], "q", 1);
    in->pq[in->n_pq++] = (part_queue_t){topic, partition, q};
    return DC_OK;
}

/* Frees what is left of the run if it is of (topic, partition), or of any
 * partition if topic < 0: those messages are not to be read any more. */
static void drop_run(dc_ingest_t *in, int topic, int32_t partition)
{
    if (topic >= 0 && (in->run_topic != topic || in->run_partition != partition))
        return;
    while (in->run_at < in->run_n)
        rd_kafka_message_destroy(in->run[in->run_at++]);
}

/* Takes a run from the queue of partition cur, without waiting; 0 if it
 * has nothing. */
static int take_run(dc_ingest_t *in)
{
    ssize_t n = rd_kafka_consume_batch_queue(in->pq[in->cur].q, 0, in->run, DC_INGEST_RUN);

    if (n <= 0)
        return 0;
    in->run_at = 0;
    in->run_n = (size_t)n;
    in->run_topic = in->pq[in->cur].topic;
    in->run_partition = in->pq[in->cur].partition;
    return 1;
}

static void drop_queue(dc_ingest_t *in, size_t i)
{
    drop_run(in, in->pq[i].topic, in->pq[i].partition);
    /* librdkafka keeps the queue: it must write to the pipe no more. */
    rd_kafka_queue_io_event_enable(in->pq[i].q, -1, NULL, 0);
    rd_kafka_queue_destroy(in->pq[i].q);
    in->pq[i] = in->pq[--in->n_pq];
    in->cur = in->n_pq; /* choose again */
}

static void drop_queue_of(dc_ingest_t *in, int topic, int32_t partition)
{
    for (size_t i = 0; i < in->n_pq; i++)
        if (in->pq[i].topic == topic && in->pq[i].partition == partition) {
            drop_queue(in, i);
            return;
        }
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
        if (t >= 0 && add_queue(in, rk, t, p->partition)) {
            dc_log(DC_LOG_ERROR, "ingest", "no queue for %s/%d; leaving the group", p->topic,
                   (int)p->partition);
            in->fatal = 1;
        }
        p->offset = start >= 0 ? start : RD_KAFKA_OFFSET_INVALID;
        dc_log(DC_LOG_INFO, "ingest", "assigned %s/%d from offset %lld%s", p->topic,
               (int)p->partition, (long long)start, cooperative ? " (incremental)" : "");
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

static void unassign(dc_ingest_t *in, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts,
                     int cooperative)
{
    for (int i = 0; i < parts->cnt; i++) {
        int t = topic_index(in, parts->elems[i].topic);
        if (t >= 0 && in->cbs.revoked)
            in->cbs.revoked(in->cbs.opaque, t, parts->elems[i].partition);
        if (t >= 0)
            drop_queue_of(in, t, parts->elems[i].partition);
        dc_log(DC_LOG_INFO, "ingest", "revoked %s/%d%s", parts->elems[i].topic,
               (int)parts->elems[i].partition, cooperative ? " (incremental)" : "");
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
        unassign(in, rk, parts, cooperative);
}

dc_ingest_t *dc_ingest_new(const dc_conf_t *conf, const dc_ingest_cbs_t *cbs,
                           dc_metrics_t *metrics, char *errstr, size_t errstr_size)
{
    /* Each partition has a queue of its own here, and librdkafka bounds
     * each by queued.max.messages.kbytes: 8 MB a partition keeps 16 of
     * them at 128 MB, where its 64 MB default bounded the one queue. */
    static const char *const defaults[] = {"group.id", "demandcast", "auto.offset.reset",
                                           "earliest", "queued.max.messages.kbytes", "8192",
                                           NULL};
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
    in->wake[0] = in->wake[1] = -1;
    if (pipe2(in->wake, O_NONBLOCK | O_CLOEXEC)) {
        dc_seterr(errstr, errstr_size, DC_ERR_IO, "pipe: %s", strerror(errno));
        goto fail;
    }
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
    in->consumer_q = rd_kafka_queue_get_consumer(in->rk);
    rd_kafka_queue_io_event_enable(in->consumer_q, in->wake[1], "c", 1);
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
    in->m_queued = dc_metrics_gauge(metrics, "dc_consumer_queued", NULL,
                                    "Messages fetched and not yet read, over assigned partitions.");
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
        drop_run(in, -1, 0);
        rd_kafka_consumer_close(in->rk);
        while (in->n_pq)
            drop_queue(in, in->n_pq - 1);
        if (in->consumer_q) {
            rd_kafka_queue_io_event_enable(in->consumer_q, -1, NULL, 0);
            rd_kafka_queue_destroy(in->consumer_q);
        }
        rd_kafka_destroy(in->rk);
    }
    for (int i = 0; i < 2; i++)
        if (in->wake[i] >= 0)
            close(in->wake[i]);
    free(in->pq);
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
    dc_metric_set(in->m_queued, (double)dc_ingest_queued(in));
}

size_t dc_ingest_queued(const dc_ingest_t *in)
{
    size_t n = 0;
    for (size_t i = 0; i < in->n_pq; i++)
        n += rd_kafka_queue_length(in->pq[i].q);
    return n + in->run_n - in->run_at;
}

/* Picks the partition to read next: of those with messages waiting, the
 * one the owner has seen least far in event time (cbs.event_time), as
 * Kafka Streams picks the lowest timestamp. Reading a backlog, librdkafka
 * fetches the same bytes of every partition in turn, so a partition twice
 * as full as the others falls behind in event time, holds the watermark
 * back, and the buckets close in a rush at its end; read this way they
 * close as the backlog is read. Without the callback: the next in turn. */
static void choose(dc_ingest_t *in)
{
    size_t best = in->n_pq, from = in->cur < in->n_pq ? in->cur + 1 : 0;
    int64_t best_ts = INT64_MAX;

    for (size_t k = 0; k < in->n_pq; k++) {
        size_t i = (from + k) % in->n_pq;
        if (!rd_kafka_queue_length(in->pq[i].q))
            continue;
        int64_t ts = in->cbs.event_time
                         ? in->cbs.event_time(in->cbs.opaque, in->pq[i].topic, in->pq[i].partition)
                         : INT64_MIN;
        if (best == in->n_pq || ts < best_ts) {
            best = i;
            best_ts = ts;
        }
        if (!in->cbs.event_time)
            break;
    }
    in->cur = best;
}

/* Waits until a queue may have got something, or timeout_ms. */
static void wait_for_queues(dc_ingest_t *in, int timeout_ms)
{
    struct pollfd pfd = {.fd = in->wake[0], .events = POLLIN};
    char drain[64];

    if (timeout_ms > 0 && poll(&pfd, 1, timeout_ms) > 0)
        while (read(in->wake[0], drain, sizeof(drain)) > 0)
            ;
}

/* The next message or event of any queue, NULL if none within timeout_ms.
 * The consumer queue is served only here, between runs: it runs the
 * rebalance callback, and the caller has released the message before and
 * the run is empty, so none of a partition the callback revokes is still
 * being worked on or waiting.
 * *topic gets the topic of a partition's queue that gave the message (-1
 * for the consumer queue): the thread that reads the input then compares
 * no topic names. */
static rd_kafka_message_t *next_message(dc_ingest_t *in, int timeout_ms, int *topic)
{
    /* Set on the first wait only: in a busy stream a message is there at
     * once, and a clock read for each cost the thread that reads the input
     * about 7 % of its time in bench_ingest. */
    double deadline = 0;
    rd_kafka_message_t *m;

    for (;;) {
        if (in->run_at < in->run_n) {
            *topic = in->run_topic;
            return in->run[in->run_at++];
        }
        /* Between runs only: a rebalance finds no message of ours. */
        *topic = -1;
        if ((m = rd_kafka_consumer_poll(in->rk, 0)))
            return m;
        choose(in);
        if (in->cur < in->n_pq && take_run(in))
            continue;
        double now = dc_monotonic_s();
        if (deadline == 0)
            deadline = now + timeout_ms / 1000.0;
        double left = deadline - now;
        if (left <= 0)
            return NULL;
        wait_for_queues(in, (int)(left * 1000.0) + 1);
    }
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
    if (!(m = next_message(in, timeout_ms, &t)))
        return DC_ERR_AGAIN;
    if (m->err) {
        int rc = DC_ERR_AGAIN;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (t < 0 && m->rkt)
                t = topic_index(in, rd_kafka_topic_name(m->rkt));
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
    if (t < 0)
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

    drop_run(in, topic, partition); /* librdkafka drops what it has fetched */
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
