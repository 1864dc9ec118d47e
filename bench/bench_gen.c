/* bench/bench_gen.c - events per second of the synthetic shop on one thread:
 *   1. the generator alone (the reference),
 *   2. generate + encode (framed Avro into one reused buffer),
 *   3. generate + encode + produce into an in-process embedded Kafka
 *      (librdkafka's mock cluster), until every message is acknowledged,
 * each as a ratio to the generator alone measured in the same run. The mock
 * cluster's broker threads share the machine, so figure 3 is what
 * `demandcast gen` can sustain against the embedded broker.
 *
 *   bench_gen [EVENTS]   (default 2000000; 1000 SKUs, seed 1)
 */
#include "producers/producers.h"
#include "schemas/schemas.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <stdlib.h>
#include <string.h>

typedef struct {
    dc_codec_t *codec;
    dc_kafka_producer_t *kp;
    dc_buf_t buf;
} sink_t;

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_gen: %s: %s\n", what, why);
    exit(1);
}

/* Runs the shop for n events through sink (codec and producer optional);
 * returns events per second. */
static double run(uint64_t n, sink_t *s)
{
    dc_shop_params_t params;
    dc_click_t click = {0};
    dc_order_t order = {0};
    char errstr[256];
    uint64_t bytes = 0;
    int type, err = 0;

    dc_shop_params_init(&params);
    params.n_events = n;
    dc_shop_t *shop = dc_shop_new(&params, errstr, sizeof(errstr));
    if (!shop)
        die("shop", errstr);
    double t0 = dc_monotonic_s();
    while ((type = dc_shop_next(shop, &click, &order)) >= 0) {
        if (!s)
            continue;
        s->buf.len = 0;
        dc_kafka_msg_t msg = {0};
        if (type == DC_REC_CLICK) {
            err = dc_codec_encode_click(s->codec, &click, &s->buf);
            msg.topic = "shop.clickstream";
            msg.key = click.sku;
            msg.key_len = strlen(click.sku);
            msg.timestamp_ms = click.ts_ms;
        } else {
            err = dc_codec_encode_order(s->codec, &order, &s->buf);
            msg.topic = "shop.orders";
            msg.key = order.order_id;
            msg.key_len = strlen(order.order_id);
            msg.timestamp_ms = order.ts_ms;
        }
        bytes += s->buf.len;
        if (!err && s->kp) {
            msg.value = s->buf.data;
            msg.value_len = s->buf.len;
            err = dc_kafka_producer_produce(s->kp, &msg);
        }
        if (err)
            die("encode/produce", s->kp ? dc_kafka_producer_errstr(s->kp) : dc_err2str(err));
    }
    if (type != DC_ERR_EOF)
        die("shop", dc_err2str(type));
    if (s && s->kp && dc_kafka_producer_flush(s->kp, 120000))
        die("flush", dc_kafka_producer_errstr(s->kp));
    double secs = dc_monotonic_s() - t0;
    if (s)
        printf("  (%.1f bytes per framed record)\n", (double)bytes / (double)n);
    dc_order_clear(&order);
    dc_shop_destroy(shop);
    return (double)n / secs;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
    char errstr[512];
    sink_t s = {0};

    dc_log_set_level(DC_LOG_WARN);
    dc_conf_t *conf = dc_conf_new();
    if (!conf || !n)
        die("setup", "out of memory or no events");
    if (!(s.codec = dc_codec_new(conf, errstr, sizeof(errstr))))
        die("codec", errstr);

    double gen = run(n, NULL);
    printf("generate:                  %10.0f events/s  (reference)\n", gen);

    double enc = run(n, &s);
    printf("generate+encode:           %10.0f events/s  ratio %.3f vs generate\n", enc, enc / gen);

    /* The mock cluster lives in a client handle of its own. */
    rd_kafka_conf_t *mconf = rd_kafka_conf_new();
    /* It connects nowhere itself; its warning that it cannot is noise. */
    rd_kafka_conf_set(mconf, "log_level", "3", errstr, sizeof(errstr));
    rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, errstr, sizeof(errstr));
    if (!mrk)
        die("mock handle", errstr);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(mrk, 1);
    if (!mc)
        die("mock cluster", "cannot start");
    rd_kafka_mock_topic_create(mc, "shop.clickstream", 4, 1);
    rd_kafka_mock_topic_create(mc, "shop.orders", 4, 1);
    if (dc_conf_set(conf, "kafka.bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc), errstr,
                    sizeof(errstr)))
        die("conf", errstr);
    if (!(s.kp = dc_kafka_producer_new(conf, errstr, sizeof(errstr))))
        die("producer", errstr);
    double prod = run(n, &s);
    dc_kafka_producer_stats_t st;
    dc_kafka_producer_stats(s.kp, &st);
    printf("generate+encode+produce:   %10.0f events/s  ratio %.3f vs generate  "
           "(mock cluster, %llu delivered, %llu failed)\n",
           prod, prod / gen, (unsigned long long)st.delivered, (unsigned long long)st.failed);

    dc_kafka_producer_destroy(s.kp, 10000);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mrk);
    dc_codec_destroy(s.codec);
    dc_buf_free(&s.buf);
    dc_conf_destroy(conf);
    return st.delivered == n && !st.failed ? 0 : 1;
}
