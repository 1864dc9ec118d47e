/* cli/cmd_gen.c - `demandcast gen`: the synthetic shop's events into Kafka
 * (when kafka.bootstrap.servers is set) and/or Avro object container files. */
#include "cli/cli.h"
#include "producers/producers.h"
#include "schemas/schemas.h"

#include <jansson.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* How long the end of a run waits for Kafka to acknowledge what is queued. */
#define FLUSH_TIMEOUT_MS 60000

static const char usage_text[] =
    "Usage: demandcast gen [--seed S] [--skus N] [--events N] [--out-dir DIR]\n"
    "                      [--truth FILE] [--rate R] [--start TIME] [--summary FILE]\n"
    "                      [--sessions-per-hour X | --days D] [--promos-per-day P]\n\n"
    "Generate a synthetic shop: sessions that view SKUs (Zipf popularity, daily and\n"
    "weekly seasonality), cart some and order some minutes later, a few\n"
    "cancellations, and injected promotions that lift a SKU's traffic and orders.\n"
    "The same options give the same events. Clicks go to topic.clickstream keyed\n"
    "by SKU and orders to topic.orders keyed by order id, framed Avro, with the\n"
    "event time as the message timestamp, when kafka.bootstrap.servers is set;\n"
    "with --out-dir they go to DIR/clickstream.avro and DIR/orders.avro. Counts\n"
    "by type are printed on stderr at the end.\n\n"
    "Options:\n"
    "      --seed S              random seed (default 1)\n"
    "      --skus N              number of SKUs (default 1000)\n"
    "      --events N            clicks plus orders to generate, exactly (default\n"
    "                            100000); 0 runs until SIGINT/SIGTERM\n"
    "      --out-dir DIR         write Avro object container files into DIR\n"
    "      --truth FILE          write the injected promotions as CSV\n"
    "                            (sku,start,end,lift; ISO-8601 UTC)\n"
    "      --rate R              emit at most R events per second of wall-clock time\n"
    "                            (default: as fast as possible)\n"
    "      --start TIME          event time of the first session\n"
    "                            (default 2026-01-05T00:00:00Z, a Monday)\n"
    "      --summary FILE        write counts (totals, per type, per topic, per SKU)\n"
    "                            and the promotions as JSON\n"
    "      --sessions-per-hour X mean shopping sessions per hour of event time\n"
    "                            (default 1000, about 5700 events an hour; at most\n"
    "                            1e6: the shop keeps the pending events of every\n"
    "                            session in flight, about 100 MB at that rate)\n"
    "      --days D              instead, choose the session rate so that --events\n"
    "                            span about D days of event time\n"
    "      --promos-per-day P    mean promotions started per day (default 1; 0: none)\n"
    DC_CLI_COMMON_HELP
    "\nSIGINT or SIGTERM stops generating early; what was generated is still\n"
    "delivered, written and reported.\n\n"
    "Exit status: 0 when every event generated was written (and delivered), 1 on a\n"
    "write or delivery failure, 2 on bad arguments.\n";

typedef struct {
    dc_shop_params_t params;
    double days;
    double rate;
    const char *out_dir, *truth, *summary;
} gen_opts_t;

/* Everything a run writes to, and the counts per destination. */
typedef struct {
    dc_codec_t *codec;
    dc_kafka_producer_t *kp;
    const char *topic_clicks, *topic_orders;
    dc_ocf_writer_t *ocf_clicks, *ocf_orders;
    char *path_clicks, *path_orders;
    uint64_t n_clicks, n_orders;
    dc_buf_t buf;
} sinks_t;

static int parse_u64(const char *opt, const char *arg, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;
    errno = 0;
    v = strtoull(arg, &end, 10);
    if (errno || end == arg || *end || arg[0] == '-' || v > max)
        return dc_cli_usage_error("gen", "%s expects an integer in 0..%llu, got \"%s\"", opt,
                                  (unsigned long long)max, arg);
    *out = v;
    return DC_EXIT_OK;
}

static int parse_double(const char *opt, const char *arg, double min, double max, double *out)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(arg, &end);
    if (errno || end == arg || *end || !isfinite(v) || v < min || v > max)
        return dc_cli_usage_error("gen", "%s expects a number in %g..%g, got \"%s\"", opt, min, max,
                                  arg);
    *out = v;
    return DC_EXIT_OK;
}

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int sinks_open(sinks_t *s, const dc_conf_t *conf, const gen_opts_t *o)
{
    char errstr[512];

    s->codec = dc_codec_new(conf, errstr, sizeof(errstr));
    if (!s->codec) {
        fprintf(stderr, "demandcast gen: %s\n", errstr);
        return DC_EXIT_FAIL;
    }
    if (dc_conf_passthrough(conf, "kafka.bootstrap.servers")) {
        s->topic_clicks = dc_conf_str(conf, "topic.clickstream");
        s->topic_orders = dc_conf_str(conf, "topic.orders");
        s->kp = dc_kafka_producer_new(conf, errstr, sizeof(errstr));
        if (!s->kp) {
            fprintf(stderr, "demandcast gen: %s\n", errstr);
            return DC_EXIT_USAGE;
        }
    }
    if (o->out_dir) {
        if (mkdir(o->out_dir, 0777) && errno != EEXIST) {
            fprintf(stderr, "demandcast gen: cannot create %s: %s\n", o->out_dir, strerror(errno));
            return DC_EXIT_FAIL;
        }
        s->path_clicks = path_join(o->out_dir, "clickstream.avro");
        s->path_orders = path_join(o->out_dir, "orders.avro");
        if (!s->path_clicks || !s->path_orders) {
            fprintf(stderr, "demandcast gen: out of memory\n");
            return DC_EXIT_FAIL;
        }
        s->ocf_clicks = dc_ocf_writer_new(s->path_clicks, DC_REC_CLICK, errstr, sizeof(errstr));
        if (s->ocf_clicks)
            s->ocf_orders = dc_ocf_writer_new(s->path_orders, DC_REC_ORDER, errstr, sizeof(errstr));
        if (!s->ocf_clicks || !s->ocf_orders) {
            fprintf(stderr, "demandcast gen: %s\n", errstr);
            return DC_EXIT_FAIL;
        }
    }
    return DC_EXIT_OK;
}

/* Closes the files; returns 1 if one failed to close cleanly (its last
 * block could not be written). */
static int sinks_close_files(sinks_t *s)
{
    int rc = DC_EXIT_OK, err;

    if ((err = dc_ocf_writer_close(s->ocf_clicks))) {
        fprintf(stderr, "demandcast gen: %s: %s\n", s->path_clicks, dc_err2str(err));
        rc = DC_EXIT_FAIL;
    }
    if ((err = dc_ocf_writer_close(s->ocf_orders))) {
        fprintf(stderr, "demandcast gen: %s: %s\n", s->path_orders, dc_err2str(err));
        rc = DC_EXIT_FAIL;
    }
    s->ocf_clicks = s->ocf_orders = NULL;
    return rc;
}

static void sinks_free(sinks_t *s)
{
    dc_ocf_writer_close(s->ocf_clicks);
    dc_ocf_writer_close(s->ocf_orders);
    /* The run has flushed with a bound already; whatever is left is lost. */
    dc_kafka_producer_destroy(s->kp, 0);
    dc_codec_destroy(s->codec);
    free(s->path_clicks);
    free(s->path_orders);
    dc_buf_free(&s->buf);
}

static int write_click(sinks_t *s, const dc_click_t *click)
{
    int err;
    if (s->kp) {
        s->buf.len = 0;
        if ((err = dc_codec_encode_click(s->codec, click, &s->buf)))
            return err;
        dc_kafka_msg_t msg = {.topic = s->topic_clicks,
                              .key = click->sku,
                              .key_len = strlen(click->sku),
                              .value = s->buf.data,
                              .value_len = s->buf.len,
                              .timestamp_ms = click->ts_ms};
        if ((err = dc_kafka_producer_produce(s->kp, &msg)))
            return err;
    }
    if (s->ocf_clicks && (err = dc_ocf_write_click(s->ocf_clicks, click)))
        return err;
    s->n_clicks++;
    return DC_OK;
}

static int write_order(sinks_t *s, const dc_order_t *order)
{
    int err;
    if (s->kp) {
        s->buf.len = 0;
        if ((err = dc_codec_encode_order(s->codec, order, &s->buf)))
            return err;
        dc_kafka_msg_t msg = {.topic = s->topic_orders,
                              .key = order->order_id,
                              .key_len = strlen(order->order_id),
                              .value = s->buf.data,
                              .value_len = s->buf.len,
                              .timestamp_ms = order->ts_ms};
        if ((err = dc_kafka_producer_produce(s->kp, &msg)))
            return err;
    }
    if (s->ocf_orders && (err = dc_ocf_write_order(s->ocf_orders, order)))
        return err;
    s->n_orders++;
    return DC_OK;
}

/* Holds emission to rate events per second of wall-clock time, serving
 * Kafka delivery reports while it waits. */
static void pace(const sinks_t *s, double rate, double t0, uint64_t emitted)
{
    double ahead = t0 + (double)emitted / rate - dc_monotonic_s();
    while (ahead > 0 && !dc_cli_stop_requested()) {
        double step = ahead < 0.1 ? ahead : 0.1;
        if (s->kp) {
            dc_kafka_producer_poll(s->kp, (int)(step * 1000) + 1);
        } else {
            struct timespec ts = {0, (long)(step * 1e9)};
            nanosleep(&ts, NULL);
        }
        ahead = t0 + (double)emitted / rate - dc_monotonic_s();
    }
}

static int write_truth(const dc_shop_t *shop, const char *path)
{
    FILE *f = fopen(path, "w");
    int err;
    if (!f) {
        fprintf(stderr, "demandcast gen: cannot create %s: %s\n", path, strerror(errno));
        return DC_EXIT_FAIL;
    }
    err = dc_shop_write_truth(shop, f);
    if (fclose(f) || err) {
        fprintf(stderr, "demandcast gen: cannot write %s\n", path);
        return DC_EXIT_FAIL;
    }
    return DC_EXIT_OK;
}

static json_t *time_json(int64_t ms)
{
    char buf[32];
    return json_string(dc_time_format(ms, buf, sizeof(buf)));
}

/* The summary tests and people read: totals, per type, per destination,
 * per SKU, and the promotions. json_object_set_new() ignores NULL values,
 * so an allocation failure shows up as a missing key, and is caught at the
 * end by the failing dump. */
static int write_summary(const dc_shop_t *shop, const sinks_t *s, const gen_opts_t *o,
                         double seconds)
{
    dc_shop_stats_t st;
    json_t *root = json_object(), *types = json_object(), *skus = json_object(),
           *promos = json_array(), *dest = json_object();
    int rc = DC_EXIT_OK;

    dc_shop_stats(shop, &st);
    if (!root || !types || !skus || !promos || !dest) {
        json_decref(types);
        json_decref(skus);
        json_decref(promos);
        json_decref(dest);
        rc = DC_EXIT_FAIL;
        goto out;
    }
    json_object_set_new(root, "seed", json_integer((json_int_t)o->params.seed));
    json_object_set_new(root, "skus", json_integer(o->params.n_skus));
    json_object_set_new(root, "events", json_integer((json_int_t)st.events));
    json_object_set_new(root, "clicks", json_integer((json_int_t)st.clicks));
    json_object_set_new(root, "orders", json_integer((json_int_t)st.orders));
    json_object_set_new(root, "orders_placed", json_integer((json_int_t)st.orders_placed));
    json_object_set_new(root, "orders_cancelled", json_integer((json_int_t)st.orders_cancelled));
    json_object_set_new(root, "order_lines", json_integer((json_int_t)st.order_lines));
    json_object_set_new(root, "units", json_integer((json_int_t)st.units));
    json_object_set_new(root, "sessions", json_integer((json_int_t)st.sessions));
    json_object_set_new(root, "sessions_per_hour", json_real(o->params.sessions_per_hour));
    json_object_set_new(root, "first_ts", time_json(st.first_ts_ms));
    json_object_set_new(root, "last_ts", time_json(st.last_ts_ms));
    json_object_set_new(root, "first_ts_ms", json_integer(st.first_ts_ms));
    json_object_set_new(root, "last_ts_ms", json_integer(st.last_ts_ms));
    json_object_set_new(root, "seconds", json_real(seconds));
    for (int t = 0; t < DC_CLICK__COUNT; t++)
        json_object_set_new(types, dc_click_type_name((dc_click_type_t)t),
                            json_integer((json_int_t)st.clicks_by_type[t]));
    json_object_set_new(root, "clicks_by_type", types);

    if (s->kp) {
        json_t *topics = json_object();
        /* Both names may be one topic. */
        uint64_t to_orders = s->n_orders;
        if (!strcmp(s->topic_clicks, s->topic_orders))
            to_orders += s->n_clicks;
        json_object_set_new(topics, s->topic_clicks, json_integer((json_int_t)s->n_clicks));
        json_object_set_new(topics, s->topic_orders, json_integer((json_int_t)to_orders));
        json_object_set_new(root, "topics", topics);
    }
    if (s->path_clicks) {
        json_object_set_new(dest, s->path_clicks, json_integer((json_int_t)s->n_clicks));
        json_object_set_new(dest, s->path_orders, json_integer((json_int_t)s->n_orders));
    }
    json_object_set_new(root, "files", dest);

    for (size_t i = 0; i < dc_shop_promo_count(shop); i++) {
        dc_shop_promo_t p;
        json_t *jp = json_object();
        dc_shop_promo(shop, i, &p);
        json_object_set_new(jp, "sku", json_string(dc_shop_sku_name(shop, p.sku)));
        json_object_set_new(jp, "start", time_json(p.start_ms));
        json_object_set_new(jp, "end", time_json(p.end_ms));
        json_object_set_new(jp, "lift", json_real(p.lift));
        json_object_set_new(jp, "discount", json_real(p.discount));
        json_object_set_new(jp, "code", json_string(p.code));
        json_array_append_new(promos, jp);
    }
    json_object_set_new(root, "promotions", promos);

    /* SKUs that saw any event; the rest have zero of everything. */
    for (uint32_t i = 0; i < dc_shop_sku_count(shop); i++) {
        dc_shop_sku_stats_t ss;
        dc_shop_sku_stats(shop, i, &ss);
        if (!ss.views && !ss.carts && !ss.units && !ss.units_cancelled)
            continue;
        json_t *js = json_object();
        json_object_set_new(js, "views", json_integer((json_int_t)ss.views));
        json_object_set_new(js, "carts", json_integer((json_int_t)ss.carts));
        json_object_set_new(js, "order_lines", json_integer((json_int_t)ss.order_lines));
        json_object_set_new(js, "units", json_integer((json_int_t)ss.units));
        json_object_set_new(js, "units_cancelled", json_integer((json_int_t)ss.units_cancelled));
        json_object_set_new(js, "price", json_real(ss.price));
        json_object_set_new(js, "rank", json_integer(ss.rank));
        json_object_set_new(skus, dc_shop_sku_name(shop, i), js);
    }
    json_object_set_new(root, "per_sku", skus);

    if (json_dump_file(root, o->summary, JSON_INDENT(1) | JSON_SORT_KEYS)) {
        fprintf(stderr, "demandcast gen: cannot write %s\n", o->summary);
        rc = DC_EXIT_FAIL;
    }
out:
    json_decref(root);
    return rc;
}

static int parse_args(int argc, char **argv, dc_conf_t *conf, gen_opts_t *o)
{
    enum {
        O_SEED = 256, O_SKUS, O_EVENTS, O_OUT, O_TRUTH, O_RATE, O_START, O_SUMMARY, O_SPH,
        O_DAYS, O_PPD
    };
    static const struct option longopts[] = {{"seed", required_argument, NULL, O_SEED},
                                             {"skus", required_argument, NULL, O_SKUS},
                                             {"events", required_argument, NULL, O_EVENTS},
                                             {"out-dir", required_argument, NULL, O_OUT},
                                             {"truth", required_argument, NULL, O_TRUTH},
                                             {"rate", required_argument, NULL, O_RATE},
                                             {"start", required_argument, NULL, O_START},
                                             {"summary", required_argument, NULL, O_SUMMARY},
                                             {"sessions-per-hour", required_argument, NULL, O_SPH},
                                             {"days", required_argument, NULL, O_DAYS},
                                             {"promos-per-day", required_argument, NULL, O_PPD},
                                             DC_CLI_COMMON_LONGOPTS,
                                             {NULL, 0, NULL, 0}};
    int opt, rc = DC_EXIT_OK, rate_set = 0;
    uint64_t v = 0;

    dc_shop_params_init(&o->params);
    while ((opt = getopt_long(argc, argv, DC_CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        switch (opt) {
        case O_SEED:
            rc = parse_u64("--seed", optarg, UINT64_MAX, &o->params.seed);
            break;
        case O_SKUS:
            if (!(rc = parse_u64("--skus", optarg, DC_SHOP_MAX_SKUS, &v)) && !v)
                rc = dc_cli_usage_error("gen", "--skus must be at least 1");
            o->params.n_skus = (uint32_t)v;
            break;
        case O_EVENTS:
            rc = parse_u64("--events", optarg, UINT64_MAX, &o->params.n_events);
            break;
        case O_OUT:
            o->out_dir = optarg;
            break;
        case O_TRUTH:
            o->truth = optarg;
            break;
        case O_RATE:
            if (!(rc = parse_double("--rate", optarg, 0, 1e9, &o->rate)) && o->rate <= 0)
                rc = dc_cli_usage_error("gen", "--rate must be positive");
            break;
        case O_START:
            if (dc_time_parse(optarg, &o->params.start_ms) || o->params.start_ms < 0)
                rc = dc_cli_usage_error("gen", "--start expects a time like 2026-01-05T00:00:00Z "
                                               "(after 1970), got \"%s\"", optarg);
            break;
        case O_SUMMARY:
            o->summary = optarg;
            break;
        case O_SPH:
            if (!(rc = parse_double("--sessions-per-hour", optarg, 0,
                                    DC_SHOP_MAX_SESSIONS_PER_HOUR,
                                    &o->params.sessions_per_hour)) &&
                o->params.sessions_per_hour <= 0)
                rc = dc_cli_usage_error("gen", "--sessions-per-hour must be positive");
            rate_set = 1;
            break;
        case O_DAYS:
            if (!(rc = parse_double("--days", optarg, 0, 36500, &o->days)) && o->days <= 0)
                rc = dc_cli_usage_error("gen", "--days must be positive");
            break;
        case O_PPD:
            rc = parse_double("--promos-per-day", optarg, 0, 24, &o->params.promos_per_day);
            break;
        default:
            if ((rc = dc_cli_common_opt(opt, optarg, conf, usage_text)) >= 0)
                return rc == DC_EXIT_OK ? -1 : rc; /* -1: --help was shown */
            rc = DC_EXIT_OK;
        }
        if (rc)
            return rc;
    }
    if (optind < argc)
        return dc_cli_usage_error("gen", "unexpected argument \"%s\"", argv[optind]);
    if (o->days > 0) {
        if (rate_set)
            return dc_cli_usage_error("gen", "give --days or --sessions-per-hour, not both");
        if (!o->params.n_events)
            return dc_cli_usage_error("gen", "--days needs a number of --events");
        o->params.sessions_per_hour =
            (double)o->params.n_events / (o->days * 24 * dc_shop_events_per_session());
        if (!(o->params.sessions_per_hour <= DC_SHOP_MAX_SESSIONS_PER_HOUR))
            return dc_cli_usage_error("gen", "--days %g is too short for %llu events (at most "
                                      "%g sessions an hour)", o->days,
                                      (unsigned long long)o->params.n_events,
                                      DC_SHOP_MAX_SESSIONS_PER_HOUR);
    }
    if (!dc_conf_passthrough(conf, "kafka.bootstrap.servers") && !o->out_dir)
        return dc_cli_usage_error("gen", "nothing to write to: set kafka.bootstrap.servers "
                                         "(-X kafka.bootstrap.servers=HOST:PORT) or --out-dir");
    return dc_cli_apply_log_level(conf);
}

static void report(const dc_shop_t *shop, const sinks_t *s, double seconds)
{
    dc_shop_stats_t st;
    char a[32], b[32];

    dc_shop_stats(shop, &st);
    fprintf(stderr,
            "demandcast gen: %llu events: %llu clicks (%llu views, %llu carts), %llu orders "
            "(%llu placed, %llu cancelled; %llu lines, %llu units) in %.2f s (%.0f events/s)\n",
            (unsigned long long)st.events, (unsigned long long)st.clicks,
            (unsigned long long)st.clicks_by_type[DC_CLICK_VIEW],
            (unsigned long long)st.clicks_by_type[DC_CLICK_ADD_TO_CART],
            (unsigned long long)st.orders, (unsigned long long)st.orders_placed,
            (unsigned long long)st.orders_cancelled, (unsigned long long)st.order_lines,
            (unsigned long long)st.units, seconds, seconds > 0 ? (double)st.events / seconds : 0);
    if (st.events)
        fprintf(stderr, "demandcast gen: event time %s .. %s, %zu promotion(s)\n",
                dc_time_format(st.first_ts_ms, a, sizeof(a)),
                dc_time_format(st.last_ts_ms, b, sizeof(b)), dc_shop_promo_count(shop));
    if (s->kp)
        fprintf(stderr, "demandcast gen: %llu to %s, %llu to %s\n",
                (unsigned long long)s->n_clicks, s->topic_clicks,
                (unsigned long long)s->n_orders, s->topic_orders);
    if (s->path_clicks)
        fprintf(stderr, "demandcast gen: %llu to %s, %llu to %s\n",
                (unsigned long long)s->n_clicks, s->path_clicks,
                (unsigned long long)s->n_orders, s->path_orders);
}

int dc_cmd_gen(int argc, char **argv)
{
    dc_conf_t *conf = dc_conf_new();
    dc_shop_t *shop = NULL;
    sinks_t sinks = {0};
    gen_opts_t o = {0};
    dc_click_t click = {0};
    dc_order_t order = {0};
    char errstr[512];
    int rc, type = DC_OK, err = DC_OK;
    double t0;

    if (!conf)
        return DC_EXIT_FAIL;
    if ((rc = parse_args(argc, argv, conf, &o))) {
        rc = rc < 0 ? DC_EXIT_OK : rc;
        goto out;
    }
    shop = dc_shop_new(&o.params, errstr, sizeof(errstr));
    if (!shop) {
        rc = dc_cli_usage_error("gen", "%s", errstr);
        goto out;
    }
    if ((rc = sinks_open(&sinks, conf, &o)))
        goto out;
    dc_cli_install_signals();

    t0 = dc_monotonic_s();
    while (!dc_cli_stop_requested() && (type = dc_shop_next(shop, &click, &order)) >= 0) {
        err = type == DC_REC_CLICK ? write_click(&sinks, &click) : write_order(&sinks, &order);
        if (err)
            break;
        if (o.rate > 0)
            pace(&sinks, o.rate, t0, sinks.n_clicks + sinks.n_orders);
    }
    if (!err && !dc_cli_stop_requested() && type != DC_ERR_EOF)
        err = type;
    if (err) {
        fprintf(stderr, "demandcast gen: %s%s%s\n", dc_err2str(err),
                err == DC_ERR_KAFKA ? ": " : "",
                err == DC_ERR_KAFKA ? dc_kafka_producer_errstr(sinks.kp) : "");
        rc = DC_EXIT_FAIL;
    }
    if (sinks.kp) {
        int ferr = dc_kafka_producer_flush(sinks.kp, FLUSH_TIMEOUT_MS);
        dc_kafka_producer_stats_t ks;
        dc_kafka_producer_stats(sinks.kp, &ks);
        if (ferr == DC_ERR_AGAIN) {
            fprintf(stderr, "demandcast gen: %llu message(s) still undelivered after %d s\n",
                    (unsigned long long)(ks.produced - ks.delivered - ks.failed),
                    FLUSH_TIMEOUT_MS / 1000);
            rc = DC_EXIT_FAIL;
        } else if (ferr) {
            fprintf(stderr, "demandcast gen: %llu message(s) failed: %s\n",
                    (unsigned long long)ks.failed, dc_kafka_producer_errstr(sinks.kp));
            rc = DC_EXIT_FAIL;
        }
    }
    if (sinks_close_files(&sinks))
        rc = DC_EXIT_FAIL;
    double seconds = dc_monotonic_s() - t0;
    report(shop, &sinks, seconds);
    if (dc_cli_stop_requested())
        fprintf(stderr, "demandcast gen: stopped by a signal\n");
    if (o.truth && write_truth(shop, o.truth))
        rc = DC_EXIT_FAIL;
    if (o.summary && write_summary(shop, &sinks, &o, seconds))
        rc = DC_EXIT_FAIL;

out:
    sinks_free(&sinks);
    dc_order_clear(&order);
    dc_shop_destroy(shop);
    dc_conf_destroy(conf);
    return rc;
}
