/* tests/unit/test_common.c - errors, event time, durations, the config table
 * and properties files, metrics rendering, sorting names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static void test_err_names(void **state)
{
    (void)state;
    assert_string_equal(dc_err_name(DC_ERR_TOO_LATE), "too_late");
    assert_string_equal(dc_err_name(DC_ERR_TRUNCATED), "truncated");
    assert_string_equal(dc_err_name(DC_OK), "ok");
    assert_string_equal(dc_err_name(-1000), "unknown");
    assert_string_equal(dc_err2str(42), "unknown error");
    /* Every code has a distinct name: DLQ headers and metric labels rely on it. */
    for (int a = 0; a < DC_ERR__COUNT; a++)
        for (int b = a + 1; b < DC_ERR__COUNT; b++)
            assert_string_not_equal(dc_err_name(-a), dc_err_name(-b));
}

static void test_time_parse_format(void **state)
{
    int64_t ms;
    char buf[32];
    (void)state;
    assert_int_equal(dc_time_parse("1970-01-01", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(dc_time_parse("2011-06-30 08:26:00", &ms), 0);
    assert_int_equal(ms, 1309422360000LL);
    assert_string_equal(dc_time_format(ms, buf, sizeof(buf)), "2011-06-30T08:26:00Z");
    assert_string_equal(dc_date_format(ms, buf, sizeof(buf)), "2011-06-30");
    assert_int_equal(dc_time_parse("2011-06-30T09:26:00+01:00", &ms), 0);
    assert_int_equal(ms, 1309422360000LL);
    assert_int_equal(dc_time_parse("2011-06-30T08:26:00.125Z", &ms), 0);
    assert_int_equal(ms, 1309422360125LL);
    assert_string_equal(dc_time_format(ms, buf, sizeof(buf)), "2011-06-30T08:26:00.125Z");
    assert_int_equal(dc_time_parse("2012-02-29", &ms), 0);
    assert_int_equal(dc_time_parse("1309422360000", &ms), 0);
    assert_int_equal(ms, 1309422360000LL);
    assert_int_equal(dc_time_parse("1969-12-31T23:59:59.999Z", &ms), 0);
    assert_int_equal(ms, -1);
    assert_string_equal(dc_time_format(-1, buf, sizeof(buf)), "1969-12-31T23:59:59.999Z");
    assert_string_equal(dc_time_format(INT64_MIN, buf, sizeof(buf)), "-9223372036854775808ms");
    assert_string_equal(dc_date_format(INT64_MAX, buf, sizeof(buf)), "9223372036854775807ms");
    assert_string_equal(dc_time_format(253402300799999LL, buf, sizeof(buf)),
                        "9999-12-31T23:59:59.999Z");
    assert_int_not_equal(dc_time_parse("2011-02-30", &ms), 0);
    assert_int_not_equal(dc_time_parse("2011-13-01", &ms), 0);
    assert_int_not_equal(dc_time_parse("2011-06-30T25:00", &ms), 0);
    assert_int_not_equal(dc_time_parse("2011-06-30 08:26:00 junk", &ms), 0);
    assert_int_not_equal(dc_time_parse("", &ms), 0);
    assert_int_equal(dc_time_floor(-1, 1000), -1000);
    assert_int_equal(dc_time_floor(1999, 1000), 1000);
}

static void test_durations(void **state)
{
    int64_t ms;
    char buf[32];
    (void)state;
    assert_int_equal(dc_duration_parse("5m", &ms), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(dc_duration_parse("7d", &ms), 0);
    assert_int_equal(ms, 604800000);
    assert_int_equal(dc_duration_parse("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(dc_duration_parse("1500", &ms), 0);
    assert_int_equal(ms, 1500);
    assert_int_not_equal(dc_duration_parse("5x", &ms), 0);
    assert_int_not_equal(dc_duration_parse("m", &ms), 0);
    assert_int_not_equal(dc_duration_parse("99999999999999999w", &ms), 0);
    assert_string_equal(dc_duration_format(86400000, buf, sizeof(buf)), "1d");
    assert_string_equal(dc_duration_format(90000, buf, sizeof(buf)), "90s");
}

static void test_conf_defaults_and_set(void **state)
{
    char errstr[256];
    dc_conf_t *conf = dc_conf_new();
    (void)state;
    assert_non_null(conf);
    assert_string_equal(dc_conf_str(conf, "topic.orders"), "shop.orders");
    assert_int_equal(dc_conf_int(conf, "redis.port"), 6379);
    assert_int_equal(dc_conf_duration_ms(conf, "bucket.width"), 3600000);
    assert_false(dc_conf_is_set(conf, "redis.port"));
    assert_int_equal(dc_conf_set(conf, "redis.port", "7000", errstr, sizeof(errstr)), 0);
    assert_int_equal(dc_conf_int(conf, "redis.port"), 7000);
    assert_true(dc_conf_is_set(conf, "redis.port"));
    /* Out of range, wrong type, unknown key: each fails naming the key. */
    assert_int_equal(dc_conf_set(conf, "redis.port", "70000", errstr, sizeof(errstr)),
                     DC_ERR_CONFIG);
    assert_non_null(strstr(errstr, "redis.port"));
    assert_int_equal(dc_conf_int(conf, "redis.port"), 7000);
    assert_int_equal(dc_conf_set(conf, "redis.port", "12ab", errstr, sizeof(errstr)),
                     DC_ERR_CONFIG);
    assert_int_equal(dc_conf_set(conf, "redis.prot", "1", errstr, sizeof(errstr)), DC_ERR_CONFIG);
    assert_non_null(strstr(errstr, "unknown configuration property \"redis.prot\""));
    assert_int_equal(dc_conf_set(conf, "bucket.width", "1d", errstr, sizeof(errstr)), 0);
    assert_int_equal(dc_conf_duration_ms(conf, "bucket.width"), 86400000);
    assert_int_equal(dc_conf_set(conf, "bucket.width", "1s", errstr, sizeof(errstr)),
                     DC_ERR_CONFIG);
    assert_int_equal(dc_conf_set(conf, "train.online", "off", errstr, sizeof(errstr)), 0);
    assert_false(dc_conf_bool(conf, "train.online"));
    assert_int_equal(dc_conf_set(conf, "train.online", "maybe", errstr, sizeof(errstr)),
                     DC_ERR_CONFIG);
    assert_int_equal(dc_conf_set(conf, "train.lr", "nan", errstr, sizeof(errstr)),
                     DC_ERR_CONFIG);
    assert_int_equal(dc_conf_set(conf, "kafka.", "x", errstr, sizeof(errstr)), DC_ERR_CONFIG);
    dc_conf_destroy(conf);
}

static int collect(const char *name, const char *value, void *opaque)
{
    dc_buf_t *buf = opaque;
    return dc_buf_printf(buf, "%s=%s;", name, value);
}

static void test_conf_file_and_passthrough(void **state)
{
    char path[] = "/tmp/dc-conf-XXXXXX", errstr[512];
    int fd = mkstemp(path);
    dc_conf_t *conf = dc_conf_new();
    dc_buf_t buf = {0};
    (void)state;
    static const char text[] = "# comment\n! also a comment\n\n"
                               "  kafka.bootstrap.servers = 127.0.0.1:9092  \n"
                               "redis.password=s3cr=t\n"
                               "kafka.security.protocol=SASL_SSL\n"
                               "kafka.bootstrap.servers=127.0.0.1:9093\n";
    assert_true(write(fd, text, sizeof(text) - 1) == (ssize_t)sizeof(text) - 1);
    close(fd);
    assert_int_equal(dc_conf_load(conf, path, errstr, sizeof(errstr)), 0);
    assert_string_equal(dc_conf_str(conf, "redis.password"), "s3cr=t");
    assert_string_equal(dc_conf_passthrough(conf, "kafka.bootstrap.servers"), "127.0.0.1:9093");
    assert_int_equal(dc_conf_foreach_prefixed(conf, "kafka.", collect, &buf), 0);
    assert_int_equal(dc_buf_append(&buf, "", 1), 0);
    assert_string_equal((char *)buf.data,
                        "bootstrap.servers=127.0.0.1:9093;security.protocol=SASL_SSL;");
    dc_buf_free(&buf);

    /* A bad line fails the load with FILE:LINE. */
    fd = open(path, O_WRONLY | O_TRUNC);
    static const char bad[] = "redis.port=1\nno_equals_sign\n";
    assert_true(write(fd, bad, sizeof(bad) - 1) == (ssize_t)sizeof(bad) - 1);
    close(fd);
    assert_int_equal(dc_conf_load(conf, path, errstr, sizeof(errstr)), DC_ERR_CONFIG);
    char want[600];
    snprintf(want, sizeof(want), "%s:2:", path);
    assert_non_null(strstr(errstr, want));
    unlink(path);
    assert_int_equal(dc_conf_load(conf, path, errstr, sizeof(errstr)), DC_ERR_CONFIG);
    dc_conf_destroy(conf);
}

static void test_metrics_render(void **state)
{
    dc_metrics_t *m = dc_metrics_new();
    dc_buf_t buf = {0};
    (void)state;
    dc_metric_t *late = dc_metrics_counter(m, "dc_late_events_total", NULL, "Late events.");
    dc_metric_t *dlq = dc_metrics_counter(m, "dc_dlq_messages_total", "reason=\"too_late\"",
                                          "Messages sent to the DLQ.");
    dc_metric_t *dlq2 = dc_metrics_counter(m, "dc_dlq_messages_total", "reason=\"malformed\"",
                                           "Messages sent to the DLQ.");
    assert_ptr_equal(dlq, dc_metrics_counter(m, "dc_dlq_messages_total", "reason=\"too_late\"",
                                             NULL));
    dc_metric_add(late, 3);
    dc_metric_add(dlq, 1);
    dc_metric_add(dlq2, 2);
    dc_metric_add(NULL, 1);
    /* Gauges print the shortest text that reads back as their value. */
    dc_metric_set(dc_metrics_gauge(m, "dc_weight", NULL, "A weight."), 0.3);
    dc_metric_set(dc_metrics_gauge(m, "dc_sum", NULL, "A sum."), 0.1 + 0.2);
    dc_metric_set(dc_metrics_gauge(m, "dc_unknown", NULL, "Not known yet."), NAN);
    assert_int_equal(dc_metrics_render(m, &buf), 0);
    assert_int_equal(dc_buf_append(&buf, "", 1), 0);
    assert_string_equal((char *)buf.data,
                        "# HELP dc_dlq_messages_total Messages sent to the DLQ.\n"
                        "# TYPE dc_dlq_messages_total counter\n"
                        "dc_dlq_messages_total{reason=\"malformed\"} 2\n"
                        "dc_dlq_messages_total{reason=\"too_late\"} 1\n"
                        "# HELP dc_late_events_total Late events.\n"
                        "# TYPE dc_late_events_total counter\n"
                        "dc_late_events_total 3\n"
                        "# HELP dc_sum A sum.\n"
                        "# TYPE dc_sum gauge\n"
                        "dc_sum 0.30000000000000004\n"
                        "# HELP dc_unknown Not known yet.\n"
                        "# TYPE dc_unknown gauge\n"
                        "dc_unknown NaN\n"
                        "# HELP dc_weight A weight.\n"
                        "# TYPE dc_weight gauge\n"
                        "dc_weight 0.3\n");
    dc_buf_free(&buf);
    dc_metrics_destroy(m);
}

/* Reference order for test_name_sort: strcmp, then the original position
 * (the sort keeps equal names in order). */
static int cmp_ref(const void *a, const void *b)
{
    const dc_name_key_t *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    return c ? c : (x->value > y->value) - (x->value < y->value);
}

/* Names sort as strcmp orders them, equal ones in their order: SKU codes,
 * names sharing their first 8 bytes, prefixes of each other, repeats. */
static void test_name_sort(void **state)
{
    enum { N = 3000 };
    static char names[N][24];
    static dc_name_key_t keys[N], tmp[N], ref[N];
    uint64_t rng = 42;
    (void)state;

    for (int i = 0; i < N; i++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        unsigned r = (unsigned)(rng >> 33);
        switch (r % 4) {
        case 0: snprintf(names[i], sizeof(names[i]), "%05u", 10000 + r % 900); break;
        case 1: snprintf(names[i], sizeof(names[i]), "LONGNAME%u", r % 300); break;
        case 2: snprintf(names[i], sizeof(names[i]), "LONGNAM%.*s", (int)(r % 3), "EEE"); break;
        default: snprintf(names[i], sizeof(names[i]), "%c", 'A' + (char)(r % 26)); break;
        }
        keys[i] = dc_name_key(names[i], strlen(names[i]), i);
    }
    memcpy(ref, keys, sizeof(keys));
    qsort(ref, N, sizeof(ref[0]), cmp_ref);
    dc_name_sort(keys, tmp, N);
    for (int i = 0; i < N; i++) {
        assert_string_equal(keys[i].s, ref[i].s);
        assert_int_equal(keys[i].value, ref[i].value);
        if (i)
            assert_true(dc_name_cmp(&keys[i - 1], &keys[i]) <= 0);
    }
    dc_name_key_t a = dc_name_key("LONGNAME1", 9, 0), b = dc_name_key("LONGNAME10", 10, 0);
    assert_true(dc_name_cmp(&a, &b) < 0 && dc_name_cmp(&b, &a) > 0);
    assert_int_equal(dc_name_cmp(&a, &a), 0);
}

static void test_strmap(void **state)
{
    dc_strmap_t *map = dc_strmap_new();
    char key[32];
    int inserted;
    (void)state;
    assert_int_equal(dc_strmap_find(map, "85123A"), -1);
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "SKU%05d", i * 7);
        assert_int_equal(dc_strmap_put(map, key, &inserted), i);
        assert_true(inserted);
    }
    assert_int_equal(dc_strmap_count(map), 10000);
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "SKU%05d", i * 7);
        assert_int_equal(dc_strmap_find(map, key), i);
        assert_int_equal(dc_strmap_put(map, key, &inserted), i);
        assert_false(inserted);
        assert_string_equal(dc_strmap_key(map, (size_t)i), key);
    }
    assert_int_equal(dc_strmap_find(map, "SKU00001"), -1);
    assert_int_equal(dc_strmap_find(map, ""), -1);
    assert_int_equal(dc_strmap_put(map, "", NULL), 10000);
    assert_null(dc_strmap_key(map, 10001));
    dc_strmap_destroy(map);
    dc_strmap_destroy(NULL);
}

/* Sends one GET over a real socket and returns the whole response. */
static void http_get(int port, const char *path, char *resp, size_t size)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char req[256];
    size_t got = 0;
    ssize_t n;
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
    assert_true(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
    while (got < size - 1 && (n = read(fd, resp + got, size - 1 - got)) > 0)
        got += (size_t)n;
    resp[got] = '\0';
    close(fd);
}

static int health_state;
static int health(void *opaque, char *msg, size_t size)
{
    (void)opaque;
    if (!health_state)
        snprintf(msg, size, "redis unreachable");
    return health_state;
}

static void test_http_endpoint(void **state)
{
    char errstr[256], resp[4096];
    dc_metrics_t *m = dc_metrics_new();
    (void)state;
    dc_metric_add(dc_metrics_counter(m, "dc_events_in_total", NULL, "Events consumed."), 42);
    dc_http_t *http = dc_http_new("127.0.0.1", 0, m, health, NULL, errstr, sizeof(errstr));
    assert_non_null(http);
    assert_true(dc_http_port(http) > 0);
    http_get(dc_http_port(http), "/metrics", resp, sizeof(resp));
    assert_non_null(strstr(resp, " 200 OK\r\n"));
    assert_non_null(strstr(resp, "\r\n\r\n# HELP dc_events_in_total Events consumed.\n"
                                 "# TYPE dc_events_in_total counter\ndc_events_in_total 42\n"));
    health_state = 1;
    http_get(dc_http_port(http), "/health", resp, sizeof(resp));
    assert_non_null(strstr(resp, " 200 OK\r\n"));
    assert_non_null(strstr(resp, "\r\n\r\nok\n"));
    health_state = 0;
    http_get(dc_http_port(http), "/health", resp, sizeof(resp));
    assert_non_null(strstr(resp, " 503 "));
    assert_non_null(strstr(resp, "redis unreachable"));
    http_get(dc_http_port(http), "/nope", resp, sizeof(resp));
    assert_non_null(strstr(resp, " 404 "));
    dc_http_destroy(http);
    dc_http_destroy(NULL);
    dc_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_names),
        cmocka_unit_test(test_time_parse_format),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_conf_defaults_and_set),
        cmocka_unit_test(test_conf_file_and_passthrough),
        cmocka_unit_test(test_metrics_render),
        cmocka_unit_test(test_http_endpoint),
        cmocka_unit_test(test_strmap),
        cmocka_unit_test(test_name_sort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
