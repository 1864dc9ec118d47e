/* tests/unit/test_kafka_consumer.c - the configuration every consumer of
 * the project is made from: the fetch settings come first (so the
 * pipeline's consumer keeps its queue fed, not only the tools'), then the
 * caller's defaults, then kafka.* properties, then the caller's overrides;
 * a property librdkafka refuses is named in the error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "consumers/consumers.h"

#include <librdkafka/rdkafka.h>

#include <string.h>

/* The value of name in rkconf. */
static const char *get(rd_kafka_conf_t *rkconf, const char *name)
{
    static char value[256];
    size_t size = sizeof(value);

    assert_int_equal(rd_kafka_conf_get(rkconf, name, value, &size), RD_KAFKA_CONF_OK);
    return value;
}

static void set(dc_conf_t *conf, const char *name, const char *value)
{
    char errstr[256];
    assert_int_equal(dc_conf_set(conf, name, value, errstr, sizeof(errstr)), 0);
}

static void test_order(void **state)
{
    static const char *const defaults[] = {"group.id", "from-defaults", "fetch.wait.max.ms",
                                           "250", NULL};
    static const char *const overrides[] = {"enable.auto.commit", "false", NULL};
    dc_conf_t *conf = dc_conf_new();
    char errstr[256];
    rd_kafka_conf_t *rkconf;
    (void)state;

    set(conf, "kafka.bootstrap.servers", "127.0.0.1:1");

    /* The fetch settings with nothing else said. */
    rkconf = dc__kafka_consumer_conf(conf, NULL, NULL, errstr, sizeof(errstr));
    assert_non_null(rkconf);
    assert_string_equal(get(rkconf, "queued.min.messages"), "1000000");
    assert_string_equal(get(rkconf, "fetch.wait.max.ms"), "100");
    rd_kafka_conf_destroy(rkconf);

    /* The caller's defaults win over them, kafka.* over those, overrides
     * over everything. */
    set(conf, "kafka.group.id", "from-config");
    set(conf, "kafka.queued.min.messages", "5000");
    set(conf, "kafka.enable.auto.commit", "true");
    rkconf = dc__kafka_consumer_conf(conf, defaults, overrides, errstr, sizeof(errstr));
    assert_non_null(rkconf);
    assert_string_equal(get(rkconf, "fetch.wait.max.ms"), "250");
    assert_string_equal(get(rkconf, "group.id"), "from-config");
    assert_string_equal(get(rkconf, "queued.min.messages"), "5000");
    assert_string_equal(get(rkconf, "enable.auto.commit"), "false");
    rd_kafka_conf_destroy(rkconf);

    /* A property librdkafka refuses is named as the user wrote it. */
    set(conf, "kafka.queued.min.messages", "many");
    assert_null(dc__kafka_consumer_conf(conf, NULL, NULL, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "kafka.queued.min.messages"));
    dc_conf_destroy(conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
