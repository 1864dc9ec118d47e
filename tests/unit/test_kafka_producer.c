/* tests/unit/test_kafka_producer.c - the Kafka producer wrapper against an
 * in-process mock cluster (librdkafka's, no server): configuration errors
 * name their key, a full local queue never drops a message, messages arrive
 * with key, value, timestamp and headers, and injected broker errors surface
 * as counted delivery failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "producers/producers.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <string.h>

typedef struct {
    rd_kafka_t *rk; /* holds the cluster */
    rd_kafka_mock_cluster_t *mc;
    rd_kafka_t *client; /* a client of it, for watermarks */
    dc_conf_t *conf;
} fixture_t;

static int setup(void **state)
{
    static fixture_t f;
    char errstr[256];
    rd_kafka_conf_t *rkconf = rd_kafka_conf_new();

    rd_kafka_conf_set(rkconf, "log_level", "3", errstr, sizeof(errstr));
    f.rk = rd_kafka_new(RD_KAFKA_PRODUCER, rkconf, errstr, sizeof(errstr));
    if (!f.rk)
        return -1;
    f.mc = rd_kafka_mock_cluster_new(f.rk, 1);
    f.conf = dc_conf_new();
    if (!f.mc || !f.conf ||
        dc_conf_set(f.conf, "kafka.bootstrap.servers", rd_kafka_mock_cluster_bootstraps(f.mc),
                    errstr, sizeof(errstr)))
        return -1;
    rkconf = rd_kafka_conf_new();
    rd_kafka_conf_set(rkconf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(f.mc), errstr,
                      sizeof(errstr));
    if (!(f.client = rd_kafka_new(RD_KAFKA_PRODUCER, rkconf, errstr, sizeof(errstr))))
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    dc_conf_destroy(f->conf);
    rd_kafka_destroy(f->client);
    rd_kafka_mock_cluster_destroy(f->mc);
    rd_kafka_destroy(f->rk);
    return 0;
}

/* Sum of the high watermarks of topic's partitions: messages stored. */
static int64_t stored(fixture_t *f, const char *topic, int partitions)
{
    int64_t total = 0, lo, hi;
    for (int p = 0; p < partitions; p++) {
        assert_int_equal(rd_kafka_query_watermark_offsets(f->client, topic, p, &lo, &hi, 5000), 0);
        total += hi;
    }
    return total;
}

static void test_config_errors(void **state)
{
    fixture_t *f = *state;
    char errstr[256] = "";
    dc_conf_t *conf = dc_conf_new();

    assert_null(dc_kafka_producer_new(conf, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "kafka.bootstrap.servers"));
    assert_int_equal(dc_conf_set(conf, "kafka.bootstrap.servers", "127.0.0.1:1", errstr,
                                 sizeof(errstr)),
                     0);
    assert_int_equal(dc_conf_set(conf, "kafka.no.such.thing", "1", errstr, sizeof(errstr)), 0);
    assert_null(dc_kafka_producer_new(conf, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "kafka.no.such.thing"));
    dc_conf_destroy(conf);
    (void)f;
    dc_kafka_producer_destroy(NULL, 0);
}

/* A local queue of 10 messages and 1000 to send: produce waits instead of
 * failing or dropping, and every message is stored exactly once. */
static void test_queue_full_never_drops(void **state)
{
    fixture_t *f = *state;
    char errstr[256], value[32];
    dc_kafka_producer_stats_t st;

    assert_int_equal(rd_kafka_mock_topic_create(f->mc, "t.full", 2, 1), 0);
    assert_int_equal(dc_conf_set(f->conf, "kafka.queue.buffering.max.messages", "10", errstr,
                                 sizeof(errstr)),
                     0);
    dc_kafka_producer_t *kp = dc_kafka_producer_new(f->conf, errstr, sizeof(errstr));
    assert_non_null(kp);
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(value, sizeof(value), "v%d", i);
        dc_kafka_msg_t msg = {.topic = "t.full", .key = value, .key_len = (size_t)n,
                              .value = value, .value_len = (size_t)n};
        assert_int_equal(dc_kafka_producer_produce(kp, &msg), 0);
    }
    assert_int_equal(dc_kafka_producer_flush(kp, 10000), 0);
    dc_kafka_producer_stats(kp, &st);
    assert_int_equal(st.produced, 1000);
    assert_int_equal(st.delivered, 1000);
    assert_int_equal(st.failed, 0);
    assert_int_equal(stored(f, "t.full", 2), 1000);
    assert_string_equal(dc_kafka_producer_errstr(kp), "");
    dc_kafka_producer_destroy(kp, 1000);
    assert_int_equal(dc_conf_set(f->conf, "kafka.queue.buffering.max.messages", "1000000",
                                 errstr, sizeof(errstr)),
                     0);
}

/* What a consumer sees: key, value, the given timestamp and the headers. */
static void test_message_contents(void **state)
{
    fixture_t *f = *state;
    char errstr[256];
    const dc_kafka_header_t headers[] = {{"dc.error", "malformed", 9},
                                         {"dc.offset", "42", 2}};
    const uint8_t value[] = {0, 0, 0, 0, 1, 0xff, 0x00, 0x7f};

    assert_int_equal(rd_kafka_mock_topic_create(f->mc, "t.msg", 1, 1), 0);
    dc_kafka_producer_t *kp = dc_kafka_producer_new(f->conf, errstr, sizeof(errstr));
    assert_non_null(kp);
    dc_kafka_msg_t msg = {.topic = "t.msg", .key = "12345", .key_len = 5, .value = value,
                          .value_len = sizeof(value), .timestamp_ms = 1767571200123LL,
                          .headers = headers, .n_headers = 2};
    assert_int_equal(dc_kafka_producer_produce(kp, &msg), 0);
    assert_int_equal(dc_kafka_producer_flush(kp, 10000), 0);
    dc_kafka_producer_destroy(kp, 1000);

    rd_kafka_conf_t *cconf = rd_kafka_conf_new();
    rd_kafka_conf_set(cconf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(f->mc), errstr,
                      sizeof(errstr));
    rd_kafka_conf_set(cconf, "group.id", "test", errstr, sizeof(errstr));
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, errstr, sizeof(errstr));
    assert_non_null(c);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, "t.msg", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, parts), 0);
    rd_kafka_topic_partition_list_destroy(parts);

    rd_kafka_message_t *m = NULL;
    for (int tries = 0; tries < 100 && !m; tries++) {
        m = rd_kafka_consumer_poll(c, 100);
        if (m && m->err) {
            rd_kafka_message_destroy(m);
            m = NULL;
        }
    }
    assert_non_null(m);
    assert_int_equal(m->key_len, 5);
    assert_memory_equal(m->key, "12345", 5);
    assert_int_equal(m->len, sizeof(value));
    assert_memory_equal(m->payload, value, sizeof(value));
    assert_int_equal(rd_kafka_message_timestamp(m, NULL), 1767571200123LL);
    rd_kafka_headers_t *hdrs;
    const void *hv;
    size_t hsize;
    assert_int_equal(rd_kafka_message_headers(m, &hdrs), 0);
    assert_int_equal(rd_kafka_header_get_last(hdrs, "dc.error", &hv, &hsize), 0);
    assert_int_equal(hsize, 9);
    assert_memory_equal(hv, "malformed", 9);
    assert_int_equal(rd_kafka_header_get_last(hdrs, "dc.offset", &hv, &hsize), 0);
    assert_memory_equal(hv, "42", 2);
    rd_kafka_message_destroy(m);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

/* The broker refuses every produce request with a permanent error: each
 * message is counted as failed and flush reports it. */
static void test_delivery_failure_surfaces(void **state)
{
    fixture_t *f = *state;
    char errstr[256];
    dc_kafka_producer_stats_t st;

    assert_int_equal(rd_kafka_mock_topic_create(f->mc, "t.fail", 1, 1), 0);
    assert_int_equal(dc_conf_set(f->conf, "kafka.enable.idempotence", "false", errstr,
                                 sizeof(errstr)),
                     0);
    dc_kafka_producer_t *kp = dc_kafka_producer_new(f->conf, errstr, sizeof(errstr));
    assert_non_null(kp);
    rd_kafka_mock_push_request_errors(f->mc, 0 /* Produce */, 10,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    dc_kafka_msg_t msg = {.topic = "t.fail", .value = "x", .value_len = 1};
    assert_int_equal(dc_kafka_producer_produce(kp, &msg), 0);
    assert_int_equal(dc_kafka_producer_flush(kp, 10000), DC_ERR_KAFKA);
    dc_kafka_producer_stats(kp, &st);
    assert_int_equal(st.produced, 1);
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.delivered, 0);
    assert_non_null(strstr(dc_kafka_producer_errstr(kp), "t.fail"));
    dc_kafka_producer_destroy(kp, 1000);
    rd_kafka_mock_clear_request_errors(f->mc, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_queue_full_never_drops),
        cmocka_unit_test(test_message_contents),
        cmocka_unit_test(test_delivery_failure_surfaces),
    };
    dc_log_set_level(DC_LOG_ERROR);
    return cmocka_run_group_tests_name("kafka_producer", tests, setup, teardown);
}
