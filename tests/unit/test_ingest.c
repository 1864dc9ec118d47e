/* tests/unit/test_ingest.c - the consumer-group source of `run` against an
 * in-process mock cluster (librdkafka's): every message comes once, in
 * offset order within its partition, also when reading is paused or a
 * partition sought back in the middle of a run (the messages the source
 * took from a partition's queue at once), and a backlog is read in event
 * time across partitions. The backlog spans the same event times on three
 * partitions, 4000 messages on one and 400 on each of the others (the
 * shape a popular SKU's partition gives). Read by event time, no partition
 * gets further ahead of the others than one run of the sparse ones
 * (DC_INGEST_RUN messages of 10 time units); read in turn, the sparse ones
 * end while the full one has a tenth of its backlog behind it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "consumers/consumers.h"

#include <librdkafka/rdkafka_mock.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_PARTS 3
#define FULL 4000  /* clicks/0: event times 0, 1, 2, ... */
#define SPARSE 400 /* clicks/1 and orders/0: event times 0, 10, 20, ... */
#define TOTAL (FULL + 2 * SPARSE)
#define RUN_SPAN (DC_INGEST_RUN * 10) /* a run of a sparse partition */

typedef struct {
    int topic;
    int32_t partition;
    int n;        /* messages */
    int64_t step; /* event time from one to the next */
} part_spec_t;

static const part_spec_t parts[N_PARTS] = {
    {DC_INGEST_CLICKS, 0, FULL, 1},
    {DC_INGEST_CLICKS, 1, SPARSE, 10},
    {DC_INGEST_ORDERS, 0, SPARSE, 10},
};

typedef struct {
    int64_t next_offset[N_PARTS];
    int64_t newest[N_PARTS]; /* INT64_MIN until its first message */
    int at_end[N_PARTS];
} reader_t;

static int part_index(int topic, int32_t partition)
{
    for (int i = 0; i < N_PARTS; i++)
        if (parts[i].topic == topic && parts[i].partition == partition)
            return i;
    return -1;
}

static int on_assigned(void *opaque, int topic, const char *name, int32_t partition,
                       int64_t *start)
{
    (void)opaque, (void)topic, (void)name, (void)partition;
    *start = -1; /* auto.offset.reset: the beginning */
    return 0;
}

static int on_revoked(void *opaque, int topic, int32_t partition)
{
    (void)opaque, (void)topic, (void)partition;
    return 0;
}

static void on_at_end(void *opaque, int topic, int32_t partition)
{
    reader_t *r = opaque;
    int i = part_index(topic, partition);
    if (i >= 0)
        r->at_end[i] = 1;
}

static int64_t on_event_time(void *opaque, int topic, int32_t partition)
{
    reader_t *r = opaque;
    int i = part_index(topic, partition);
    return i >= 0 ? r->newest[i] : INT64_MIN;
}

/* The backlog, produced before any consumer joins. */
static rd_kafka_mock_cluster_t *backlog(rd_kafka_t **prk)
{
    char errstr[256], ts[24];
    rd_kafka_conf_t *rkconf = rd_kafka_conf_new();
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, rkconf, errstr, sizeof(errstr));
    assert_non_null(rk);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
    assert_non_null(mc);
    assert_int_equal(rd_kafka_mock_topic_create(mc, "shop.clickstream", 2, 1), 0);
    assert_int_equal(rd_kafka_mock_topic_create(mc, "shop.orders", 1, 1), 0);

    rd_kafka_t *producer;
    rkconf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(rkconf, "bootstrap.servers",
                                       rd_kafka_mock_cluster_bootstraps(mc), errstr,
                                       sizeof(errstr)),
                     RD_KAFKA_CONF_OK);
    assert_non_null(producer = rd_kafka_new(RD_KAFKA_PRODUCER, rkconf, errstr, sizeof(errstr)));
    for (int i = 0; i < N_PARTS; i++)
        for (int k = 0; k < parts[i].n; k++) {
            int len = snprintf(ts, sizeof(ts), "%lld", (long long)(k * parts[i].step));
            const char *topic =
                parts[i].topic == DC_INGEST_CLICKS ? "shop.clickstream" : "shop.orders";
            assert_int_equal(rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic),
                                               RD_KAFKA_V_PARTITION(parts[i].partition),
                                               RD_KAFKA_V_VALUE(ts, (size_t)len),
                                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                               RD_KAFKA_V_END),
                             RD_KAFKA_RESP_ERR_NO_ERROR);
            rd_kafka_poll(producer, 0);
        }
    assert_int_equal(rd_kafka_flush(producer, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(producer);
    *prk = rk;
    return mc;
}

/* What happens after the INTERRUPT_AT-th message, in the middle of its
 * run: nothing, a pause (with reads while paused) and a resume, or a seek
 * of its partition SEEK_BACK messages back. */
typedef enum { READ_THROUGH, READ_PAUSE, READ_SEEK } interrupt_t;
#define INTERRUPT_AT 10
#define SEEK_BACK 5

/* Reads the whole backlog as one group member; returns how far one
 * partition got ahead of another in event time, at the most, while both
 * had messages left. */
static int64_t read_backlog(rd_kafka_mock_cluster_t *mc, const char *group, int aligned,
                            interrupt_t interrupt)
{
    char errstr[256];
    reader_t r = {0};
    dc_conf_t *conf = dc_conf_new();
    dc_ingest_cbs_t cbs = {.assigned = on_assigned, .revoked = on_revoked,
                           .at_end = on_at_end, .event_time = aligned ? on_event_time : NULL,
                           .opaque = &r};
    dc_ingest_msg_t msg;
    int64_t spread = 0;
    int got = 0, rc, expected = TOTAL + (interrupt == READ_SEEK ? SEEK_BACK : 0);

    for (int i = 0; i < N_PARTS; i++)
        r.newest[i] = INT64_MIN;
    assert_int_equal(dc_conf_set(conf, "kafka.bootstrap.servers",
                                 rd_kafka_mock_cluster_bootstraps(mc), errstr, sizeof(errstr)),
                     0);
    assert_int_equal(dc_conf_set(conf, "kafka.group.id", group, errstr, sizeof(errstr)), 0);
    dc_ingest_t *in = dc_ingest_new(conf, &cbs, NULL, errstr, sizeof(errstr));
    assert_non_null(in);

    /* The whole backlog waits in the partitions' queues before reading
     * goes on: which partition the broker answers first must not decide
     * the order. */
    double deadline = dc_monotonic_s() + 60;
    while ((rc = dc_ingest_next(in, &msg, 100)) == DC_ERR_AGAIN)
        assert_true(dc_monotonic_s() < deadline);
    assert_int_equal(rc, DC_OK);
    while (dc_ingest_queued(in) < TOTAL - 1) {
        assert_true(dc_monotonic_s() < deadline);
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    for (;;) {
        int i = part_index(msg.topic, msg.partition);
        assert_true(i >= 0);
        /* Once each, in offset order. */
        assert_int_equal(msg.offset, r.next_offset[i]);
        r.next_offset[i]++;
        char ts[24] = "";
        memcpy(ts, msg.value, msg.value_len < sizeof(ts) - 1 ? msg.value_len : sizeof(ts) - 1);
        r.newest[i] = atoll(ts);
        dc_ingest_release(in, &msg);
        got++;
        if (got == INTERRUPT_AT && interrupt == READ_PAUSE) {
            dc_ingest_pause(in, 1);
            for (double until = dc_monotonic_s() + 0.3; dc_monotonic_s() < until;)
                assert_int_equal(dc_ingest_next(in, &msg, 10), DC_ERR_AGAIN);
            dc_ingest_pause(in, 0);
        } else if (got == INTERRUPT_AT && interrupt == READ_SEEK) {
            r.next_offset[i] -= SEEK_BACK;
            assert_int_equal(dc_ingest_seek(in, parts[i].topic, parts[i].partition,
                                            r.next_offset[i]),
                             DC_OK);
        }
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        for (int k = 0; k < N_PARTS; k++) {
            if (r.newest[k] == INT64_MIN || r.next_offset[k] == parts[k].n)
                continue;
            lo = r.newest[k] < lo ? r.newest[k] : lo;
            hi = r.newest[k] > hi ? r.newest[k] : hi;
        }
        if (lo != INT64_MAX && hi - lo > spread)
            spread = hi - lo;
        if (got == expected)
            break;
        while ((rc = dc_ingest_next(in, &msg, 100)) == DC_ERR_AGAIN)
            assert_true(dc_monotonic_s() < deadline);
        assert_int_equal(rc, DC_OK);
    }
    for (int i = 0; i < N_PARTS; i++)
        assert_int_equal(r.next_offset[i], parts[i].n);
    /* Nothing more, and every partition's end is told. */
    while (!(r.at_end[0] && r.at_end[1] && r.at_end[2])) {
        assert_true(dc_monotonic_s() < deadline);
        assert_int_equal(dc_ingest_next(in, &msg, 100), DC_ERR_AGAIN);
    }
    dc_ingest_destroy(in);
    dc_conf_destroy(conf);
    return spread;
}

static void test_event_time_order(void **state)
{
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc = backlog(&rk);
    (void)state;

    int64_t aligned = read_backlog(mc, "aligned", 1, READ_THROUGH);
    int64_t in_turn = read_backlog(mc, "in-turn", 0, READ_THROUGH);
    printf("most event time one partition got ahead of another: %lld read by event time, "
           "%lld read in turn\n",
           (long long)aligned, (long long)in_turn);
    assert_true(aligned <= RUN_SPAN + 10);
    assert_true(in_turn > FULL / 2);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
}

/* Reads a backlog of its own whole, interrupted after INTERRUPT_AT
 * messages. */
static void read_interrupted(const char *group, interrupt_t interrupt)
{
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc = backlog(&rk);

    read_backlog(mc, group, 1, interrupt);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
}

/* Backpressure pauses reading while a run is half handed out: nothing of
 * it comes while paused, and after the resume each message comes once. */
static void test_pause_mid_run(void **state)
{
    (void)state;
    read_interrupted("paused", READ_PAUSE);
}

/* A rewind seeks a partition back while its run is half handed out: the
 * rest of the run never comes, the partition goes on from the offset
 * sought. */
static void test_seek_mid_run(void **state)
{
    (void)state;
    read_interrupted("sought", READ_SEEK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_time_order),
        cmocka_unit_test(test_pause_mid_run),
        cmocka_unit_test(test_seek_mid_run),
    };
    dc_log_set_level(DC_LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
