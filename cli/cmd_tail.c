/* cli/cmd_tail.c - `demandcast tail`: print the records of a demandcast
 * topic as JSON lines, decoded by the schema id framed in each message. */
#include "cli/cli.h"
#include "consumers/consumers.h"
#include "schemas/schemas.h"

#include <jansson.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "Usage: demandcast tail --topic T [--count N] [--from-beginning] [--timeout SECONDS]\n"
    "                       [--group G]\n\n"
    "Print the records of a topic as JSON, one line each, decoding every message by\n"
    "the schema id in its framing. A message that does not decode (e.g. the raw bad\n"
    "input in the dead-letter topic) is printed as an object with its topic,\n"
    "partition, offset, key, headers, the error and the value in base64.\n\n"
    "Options:\n"
    "      --topic T           clickstream, orders, forecasts, surges or dlq (the topic\n"
    "                          the topic.* property names), or any topic name\n"
    "      --count N           stop after N records\n"
    "      --from-beginning    start at the oldest message (with --group: where the\n"
    "                          group has no committed offset yet)\n"
    "      --timeout SECONDS   stop after this long in all (default: run until\n"
    "                          SIGINT/SIGTERM or --count)\n"
    "      --group G           consume as consumer group G and commit offsets; without\n"
    "                          it a private group is used and nothing is committed\n"
    DC_CLI_COMMON_HELP
    "\nExit status: 0 when --count records were printed, or without --count at the\n"
    "timeout or signal; 1 when the timeout came first or the consumer failed; 2 on\n"
    "bad arguments.\n";

static const char *const topic_aliases[][2] = {
    {"clickstream", "topic.clickstream"}, {"orders", "topic.orders"},
    {"forecasts", "topic.forecasts"},     {"surges", "topic.surges"},
    {"dlq", "topic.dlq"},
};

/* The records decode into these; the forecast is large, so it lives here
 * once rather than on the stack. */
typedef struct {
    dc_codec_t *codec;
    dc_click_t click;
    dc_order_t order;
    dc_forecast_t forecast;
    dc_surge_t surge;
    dc_buf_t line;
} decoder_t;

static char *base64(const void *data, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const uint8_t *p = data;
    char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        *o++ = alphabet[v >> 18];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
        *o++ = i + 2 < len ? alphabet[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* Bytes as a JSON string when they are UTF-8 text, else as base64 under
 * the name with "_base64" appended. */
static void set_bytes(json_t *obj, const char *name, const void *data, size_t len)
{
    json_t *str = data ? json_stringn(data, len) : json_null();
    if (str) {
        json_object_set_new(obj, name, str);
        return;
    }
    char *b64 = base64(data, len), key[128];
    snprintf(key, sizeof(key), "%s_base64", name);
    json_object_set_new(obj, key, b64 ? json_string(b64) : NULL);
    free(b64);
}

/* The JSON of a message that is not a record we can decode. */
static int undecodable_json(const rd_kafka_message_t *msg, const char *why, dc_buf_t *out)
{
    json_t *root = json_object(), *headers = json_object();
    rd_kafka_headers_t *hdrs = NULL;
    const char *name;
    const void *value;
    size_t size;
    char *text;

    if (!root || !headers) {
        json_decref(root);
        json_decref(headers);
        return DC_ERR_NOMEM;
    }
    json_object_set_new(root, "topic", json_string(rd_kafka_topic_name(msg->rkt)));
    json_object_set_new(root, "partition", json_integer(msg->partition));
    json_object_set_new(root, "offset", json_integer(msg->offset));
    json_object_set_new(root, "error", json_string(why));
    set_bytes(root, "key", msg->key, msg->key_len);
    if (!rd_kafka_message_headers(msg, &hdrs))
        for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &value, &size); i++)
            set_bytes(headers, name, value, size);
    json_object_set_new(root, "headers", headers);
    text = base64(msg->payload, msg->len);
    json_object_set_new(root, "value_base64", text ? json_string(text) : NULL);
    free(text);
    text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text)
        return DC_ERR_NOMEM;
    int err = dc_buf_append(out, text, strlen(text));
    free(text);
    return err;
}

/* Appends the message's JSON line to d->line. */
static int message_json(decoder_t *d, const rd_kafka_message_t *msg)
{
    char errstr[512] = "";
    int32_t id;
    dc_rec_type_t type;
    int err;

    if ((err = dc_codec_peek_id(msg->payload, msg->len, &id)) ||
        (err = dc_codec_id_type(d->codec, id, &type))) {
        snprintf(errstr, sizeof(errstr), "%s", dc_err2str(err));
    } else {
        switch (type) {
        case DC_REC_CLICK:
            if (!(err = dc_codec_decode_click(d->codec, msg->payload, msg->len, &d->click, errstr,
                                              sizeof(errstr))))
                err = dc_click_to_json(&d->click, &d->line);
            break;
        case DC_REC_ORDER:
            if (!(err = dc_codec_decode_order(d->codec, msg->payload, msg->len, &d->order, errstr,
                                              sizeof(errstr))))
                err = dc_order_to_json(&d->order, &d->line);
            break;
        case DC_REC_FORECAST:
            if (!(err = dc_codec_decode_forecast(d->codec, msg->payload, msg->len, &d->forecast,
                                                 errstr, sizeof(errstr))))
                err = dc_forecast_to_json(&d->forecast, &d->line);
            break;
        case DC_REC_SURGE:
            if (!(err = dc_codec_decode_surge(d->codec, msg->payload, msg->len, &d->surge, errstr,
                                              sizeof(errstr))))
                err = dc_surge_to_json(&d->surge, &d->line);
            break;
        default:
            err = DC_ERR_UNKNOWN_SCHEMA;
        }
    }
    if (err == DC_ERR_NOMEM)
        return err;
    if (err) {
        d->line.len = 0;
        return undecodable_json(msg, errstr[0] ? errstr : dc_err2str(err), &d->line);
    }
    return DC_OK;
}

int dc_cmd_tail(int argc, char **argv)
{
    enum { O_TOPIC = 256, O_COUNT, O_BEGIN, O_TIMEOUT, O_GROUP };
    static const struct option longopts[] = {{"topic", required_argument, NULL, O_TOPIC},
                                             {"count", required_argument, NULL, O_COUNT},
                                             {"from-beginning", no_argument, NULL, O_BEGIN},
                                             {"timeout", required_argument, NULL, O_TIMEOUT},
                                             {"group", required_argument, NULL, O_GROUP},
                                             DC_CLI_COMMON_LONGOPTS,
                                             {NULL, 0, NULL, 0}};
    dc_conf_t *conf = dc_conf_new();
    decoder_t *d = calloc(1, sizeof(*d));
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_partition_list_t *topics = NULL;
    const char *topic = NULL, *group = NULL, *overrides[7];
    char private_group[64], errstr[512], *end;
    long long count = -1, printed = 0;
    double timeout = 0, deadline;
    int opt, rc = DC_EXIT_OK, from_beginning = 0, n_over = 0;
    rd_kafka_resp_err_t kerr;

    if (!conf || !d) {
        rc = DC_EXIT_FAIL;
        goto out;
    }
    while ((opt = getopt_long(argc, argv, DC_CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        switch (opt) {
        case O_TOPIC:
            topic = optarg;
            break;
        case O_COUNT:
            errno = 0;
            count = strtoll(optarg, &end, 10);
            if (errno || end == optarg || *end || count < 0) {
                rc = dc_cli_usage_error("tail", "--count expects a number >= 0, got \"%s\"",
                                        optarg);
                goto out;
            }
            break;
        case O_BEGIN:
            from_beginning = 1;
            break;
        case O_TIMEOUT:
            errno = 0;
            timeout = strtod(optarg, &end);
            if (errno || end == optarg || *end || !isfinite(timeout) || timeout <= 0) {
                rc = dc_cli_usage_error("tail", "--timeout expects seconds > 0, got \"%s\"",
                                        optarg);
                goto out;
            }
            break;
        case O_GROUP:
            group = optarg;
            break;
        default:
            if ((rc = dc_cli_common_opt(opt, optarg, conf, usage_text)) >= 0)
                goto out;
        }
    }
    if (optind < argc) {
        rc = dc_cli_usage_error("tail", "unexpected argument \"%s\"", argv[optind]);
        goto out;
    }
    if (!topic || !*topic) {
        rc = dc_cli_usage_error("tail", "--topic is required");
        goto out;
    }
    if (!dc_conf_passthrough(conf, "kafka.bootstrap.servers")) {
        rc = dc_cli_usage_error("tail", "set kafka.bootstrap.servers "
                                        "(-X kafka.bootstrap.servers=HOST:PORT)");
        goto out;
    }
    if ((rc = dc_cli_apply_log_level(conf)))
        goto out;
    for (size_t i = 0; i < DC_ARRAY_SIZE(topic_aliases); i++)
        if (!strcmp(topic, topic_aliases[i][0]))
            topic = dc_conf_str(conf, topic_aliases[i][1]);

    if (!(d->codec = dc_codec_new(conf, errstr, sizeof(errstr)))) {
        fprintf(stderr, "demandcast tail: %s\n", errstr);
        rc = DC_EXIT_FAIL;
        goto out;
    }
    if (!group) {
        /* A group of its own, so two tails each see every message. */
        snprintf(private_group, sizeof(private_group), "demandcast-tail-%ld-%lld", (long)getpid(),
                 (long long)dc_wallclock_ms());
        overrides[n_over++] = "group.id";
        overrides[n_over++] = private_group;
        overrides[n_over++] = "enable.auto.commit";
        overrides[n_over++] = "false";
    } else {
        overrides[n_over++] = "group.id";
        overrides[n_over++] = group;
    }
    if (from_beginning) {
        overrides[n_over++] = "auto.offset.reset";
        overrides[n_over++] = "earliest";
    }
    overrides[n_over] = NULL;
    if (!(rk = dc_kafka_consumer_new(conf, overrides, errstr, sizeof(errstr)))) {
        fprintf(stderr, "demandcast tail: %s\n", errstr);
        rc = DC_EXIT_USAGE;
        goto out;
    }
    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    if ((kerr = rd_kafka_subscribe(rk, topics))) {
        fprintf(stderr, "demandcast tail: cannot subscribe to %s: %s\n", topic,
                rd_kafka_err2str(kerr));
        rc = DC_EXIT_FAIL;
        goto out;
    }

    dc_cli_install_signals();
    deadline = timeout > 0 ? dc_monotonic_s() + timeout : INFINITY;
    while (printed != count && !dc_cli_stop_requested()) {
        double left = deadline - dc_monotonic_s();
        if (left <= 0)
            break;
        int wait_ms = left < 0.1 ? (int)(left * 1000) + 1 : 100;
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, wait_ms);
        if (!msg) {
            /* Idle: let a reader of a pipe see what came so far. */
            fflush(stdout);
            continue;
        }
        if (msg->err) {
            if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                dc_log(DC_LOG_WARN, "tail", "%s", rd_kafka_message_errstr(msg));
            rd_kafka_message_destroy(msg);
            continue;
        }
        d->line.len = 0;
        int err = message_json(d, msg);
        rd_kafka_message_destroy(msg);
        if (err || dc_buf_append(&d->line, "\n", 1)) {
            fprintf(stderr, "demandcast tail: out of memory\n");
            rc = DC_EXIT_FAIL;
            goto out;
        }
        if (fwrite(d->line.data, 1, d->line.len, stdout) != d->line.len) {
            fprintf(stderr, "demandcast tail: cannot write to stdout: %s\n", strerror(errno));
            rc = DC_EXIT_FAIL;
            goto out;
        }
        printed++;
    }
    if (count >= 0 && printed < count && !dc_cli_stop_requested()) {
        fprintf(stderr, "demandcast tail: timed out after %g s with %lld of %lld record(s)\n",
                timeout, printed, count);
        rc = DC_EXIT_FAIL;
    }

out:
    if (fflush(stdout) && rc == DC_EXIT_OK)
        rc = DC_EXIT_FAIL;
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    if (topics)
        rd_kafka_topic_partition_list_destroy(topics);
    if (d) {
        dc_codec_destroy(d->codec);
        dc_order_clear(&d->order);
        dc_buf_free(&d->line);
        free(d);
    }
    dc_conf_destroy(conf);
    return rc;
}
