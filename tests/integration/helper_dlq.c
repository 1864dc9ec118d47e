/* tests/integration/helper_dlq.c - the producer side of 0014-dlq-reasons:
 * writes real malformed messages, byte for byte, into the input topics.
 *
 *   helper_dlq BOOTSTRAP history
 *       200 good views of SKU 10000, one an hour from T0, into
 *       shop.clickstream partition 0: enough event time for buckets to close
 *       and for T0 to be older than the longest window (too_late).
 *   helper_dlq BOOTSTRAP poison MANIFEST
 *       one message per bad-input case, each followed on the same partition
 *       by a good event of SKU 20000 (a view on the clickstream, a placed
 *       order of one unit on the orders topic), so the test can see that no
 *       poison message blocks its partition. MANIFEST gets one line per bad
 *       message: reason, topic, partition, offset, key and value in hex.
 *       It prints the good events written as "views=N units=M".
 *
 * Messages go to explicit partitions through librdkafka directly, one at a
 * time with a synchronous wait, so the offsets in the manifest are the ones
 * the broker gave. */
#include "schemas/schemas.h"

#include <librdkafka/rdkafka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T0 1767571200000LL /* 2026-01-05T00:00:00Z */
#define HOUR 3600000LL
#define CLICKS "shop.clickstream"
#define ORDERS "shop.orders"

static rd_kafka_t *rk;
static dc_codec_t *codec;
static int64_t last_offset;

static void die(const char *what, const char *why)
{
    fprintf(stderr, "helper_dlq: %s: %s\n", what, why);
    exit(1);
}

static void on_delivery(rd_kafka_t *k, const rd_kafka_message_t *m, void *opaque)
{
    (void)k;
    (void)opaque;
    if (m->err)
        die("delivery", rd_kafka_err2str(m->err));
    last_offset = m->offset;
}

/* Produces one message to (topic, partition 0) and returns its offset. */
static int64_t produce(const char *topic, const char *key, const void *value, size_t len)
{
    rd_kafka_resp_err_t err;

    last_offset = -1;
    err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                            RD_KAFKA_V_KEY(key, strlen(key)),
                            RD_KAFKA_V_VALUE((void *)value, len),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err)
        die("produce", rd_kafka_err2str(err));
    if (rd_kafka_flush(rk, 10000) || last_offset < 0)
        die("flush", "message not delivered within 10 s");
    return last_offset;
}

static void encode_click(dc_buf_t *buf, const char *sku, int64_t ts, double price)
{
    dc_click_t c = {.ts_ms = ts, .type = DC_CLICK_VIEW, .price = price};
    snprintf(c.event_id, sizeof(c.event_id), "e%lld", (long long)ts);
    snprintf(c.sku, sizeof(c.sku), "%s", sku);
    snprintf(c.user_id, sizeof(c.user_id), "u%lld", (long long)(ts % 7));
    snprintf(c.session_id, sizeof(c.session_id), "s1");
    buf->len = 0;
    if (dc_codec_encode_click(codec, &c, buf))
        die("encode", "click");
}

static void encode_order(dc_buf_t *buf, const char *sku, int64_t ts, int32_t qty, double price)
{
    dc_order_t o = {.ts_ms = ts, .status = DC_ORDER_PLACED};
    snprintf(o.order_id, sizeof(o.order_id), "o%lld", (long long)ts);
    snprintf(o.user_id, sizeof(o.user_id), "u1");
    if (dc_order_add_line(&o, sku, qty, price))
        die("encode", "order line");
    buf->len = 0;
    if (dc_codec_encode_order(codec, &o, buf))
        die("encode", "order");
    dc_order_clear(&o);
}

static void hex(FILE *f, const void *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        fprintf(f, "%02x", ((const uint8_t *)data)[i]);
}

int main(int argc, char **argv)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    dc_buf_t buf = {0}, good = {0};

    if (argc < 3 || (strcmp(argv[2], "history") && (strcmp(argv[2], "poison") || argc < 4)))
        die("usage", "helper_dlq BOOTSTRAP history | BOOTSTRAP poison MANIFEST");
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof(errstr)))
        die("config", errstr);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr))))
        die("producer", errstr);
    if (!(codec = dc_codec_new(NULL, errstr, sizeof(errstr))))
        die("codec", errstr);

    if (!strcmp(argv[2], "history")) {
        for (int i = 0; i < 200; i++) {
            char key[32];
            snprintf(key, sizeof(key), "history-%d", i);
            encode_click(&buf, "10000", T0 + i * HOUR, 5.0);
            produce(CLICKS, key, buf.data, buf.len);
        }
    } else {
        FILE *manifest = fopen(argv[3], "w");
        int64_t fresh = T0 + 200 * HOUR, future = (int64_t)time(NULL) * 1000 + 30 * 24 * HOUR;
        int views = 0, units = 0;
        uint8_t bytes[64];
        struct {
            const char *reason, *topic;
        } cases[] = {
            {"bad_magic", CLICKS},     {"unknown_schema", CLICKS}, {"truncated", CLICKS},
            {"truncated", CLICKS},     {"malformed", CLICKS},      {"trailing_bytes", CLICKS},
            {"bad_quantity", ORDERS},  {"bad_quantity", ORDERS},   {"bad_quantity", ORDERS},
            {"bad_price", CLICKS},     {"bad_price", CLICKS},      {"bad_price", ORDERS},
            {"bad_timestamp", CLICKS}, {"bad_timestamp", CLICKS},  {"too_late", CLICKS},
            {"bad_sku", CLICKS},
        };

        if (!manifest)
            die(argv[3], "cannot write");
        for (size_t i = 0; i < DC_ARRAY_SIZE(cases); i++) {
            const char *r = cases[i].reason;
            const int32_t bad_qty[] = {-3, 0, 2000000000};
            char key[48];
            int64_t off;

            encode_click(&buf, "20000", fresh, 5.0);
            if (!strcmp(r, "bad_magic")) {
                buf.data[0] = 1;
            } else if (!strcmp(r, "unknown_schema")) {
                buf.data[4] = 99;
            } else if (!strcmp(r, "truncated")) {
                /* A frame too short for its header, then a record cut short. */
                buf.len = i == 2 ? 3 : buf.len / 2;
            } else if (!strcmp(r, "malformed")) {
                /* A valid header, then a string length of -1. */
                memcpy(bytes, buf.data, 5);
                memcpy(bytes + 5, "\x01garbage", 8);
                buf.len = 0;
                dc_buf_append(&buf, bytes, 13);
            } else if (!strcmp(r, "trailing_bytes")) {
                dc_buf_append(&buf, "\0", 1);
            } else if (!strcmp(r, "bad_quantity")) {
                encode_order(&buf, "20000", fresh, bad_qty[i - 6], 5.0);
            } else if (!strcmp(r, "bad_price")) {
                if (i == 11)
                    encode_order(&buf, "20000", fresh, 1, NAN);
                else
                    encode_click(&buf, "20000", fresh, i == 9 ? NAN : INFINITY);
            } else if (!strcmp(r, "bad_timestamp")) {
                encode_click(&buf, "20000", i == 12 ? future : 1000, 5.0);
            } else if (!strcmp(r, "too_late")) {
                encode_click(&buf, "20000", T0, 5.0);
            } else if (!strcmp(r, "bad_sku")) {
                encode_click(&buf, "", fresh, 5.0);
            }
            snprintf(key, sizeof(key), "poison-%zu-%s", i, r);
            off = produce(cases[i].topic, key, buf.data, buf.len);
            fprintf(manifest, "%s\t%s\t0\t%lld\t", r, cases[i].topic, (long long)off);
            hex(manifest, key, strlen(key));
            fputc('\t', manifest);
            hex(manifest, buf.data, buf.len);
            fputc('\n', manifest);

            /* The good event behind it, a few seconds later in event time. */
            snprintf(key, sizeof(key), "good-%zu", i);
            if (!strcmp(cases[i].topic, CLICKS)) {
                encode_click(&good, "20000", fresh + (int64_t)i * 1000, 5.0);
                views++;
            } else {
                encode_order(&good, "20000", fresh + (int64_t)i * 1000, 1, 5.0);
                units++;
            }
            produce(cases[i].topic, key, good.data, good.len);
        }
        fclose(manifest);
        printf("views=%d units=%d\n", views, units);
    }
    dc_buf_free(&buf);
    dc_buf_free(&good);
    dc_codec_destroy(codec);
    rd_kafka_destroy(rk);
    return 0;
}
