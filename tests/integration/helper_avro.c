/* tests/integration/helper_avro.c - the C side of 0002-avro-interop: moves
 * records between JSON lines (which the Python side writes and checks) and
 * our codec and OCF files.
 *
 *   helper_avro encode TYPE IN.jsonl OUT.frames   JSON lines -> framed records
 *   helper_avro decode TYPE IN.frames              framed records -> JSON lines
 *   helper_avro ocf-write TYPE IN.jsonl OUT.avro   JSON lines -> OCF
 *   helper_avro ocf-read IN.avro                   OCF -> "TYPE" line, JSON lines
 *
 * TYPE is click, order, forecast or surge. Input JSON uses the Avro field
 * names with times as integer milliseconds; output is dc_*_to_json(). A
 * .frames file is a sequence of 4-byte big-endian lengths, each followed by
 * one framed record. */
#include "schemas/schemas.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[DC_REC__COUNT] = {"click", "order", "forecast", "surge"};

static int die(const char *fmt, const char *arg)
{
    fprintf(stderr, "helper_avro: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(1);
}

static void copy_str(char *dst, size_t size, json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (!s || strlen(s) >= size)
        die("bad string field %s", key);
    strcpy(dst, s);
}

static int nullable_str(char *dst, size_t size, json_t *obj, const char *key)
{
    if (json_is_null(json_object_get(obj, key))) {
        dst[0] = '\0';
        return 0;
    }
    copy_str(dst, size, obj, key);
    return 1;
}

static int64_t get_int(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        die("bad integer field %s", key);
    return json_integer_value(v);
}

static double get_num(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_number(v))
        die("bad number field %s", key);
    return json_number_value(v);
}

static int get_enum(json_t *obj, const char *key, const char *(*name)(int), int n)
{
    const char *s = json_string_value(json_object_get(obj, key));
    for (int i = 0; s && i < n; i++)
        if (!strcmp(name(i), s))
            return i;
    return die("bad enum field %s", key);
}

static const char *click_type(int i) { return dc_click_type_name((dc_click_type_t)i); }
static const char *order_status(int i) { return dc_order_status_name((dc_order_status_t)i); }
static const char *surge_state(int i) { return dc_surge_state_name((dc_surge_state_t)i); }

static dc_click_t click;
static dc_order_t order;
static dc_forecast_t forecast;
static dc_surge_t surge;

static void from_json(dc_rec_type_t type, json_t *o)
{
    json_t *arr, *item;
    size_t i;

    switch (type) {
    case DC_REC_CLICK:
        copy_str(click.event_id, sizeof(click.event_id), o, "event_id");
        click.ts_ms = get_int(o, "ts");
        copy_str(click.sku, sizeof(click.sku), o, "sku");
        copy_str(click.user_id, sizeof(click.user_id), o, "user_id");
        copy_str(click.session_id, sizeof(click.session_id), o, "session_id");
        click.type = (dc_click_type_t)get_enum(o, "type", click_type, DC_CLICK__COUNT);
        click.price = get_num(o, "price");
        click.has_promo = nullable_str(click.promo, sizeof(click.promo), o, "promo");
        break;
    case DC_REC_ORDER:
        copy_str(order.order_id, sizeof(order.order_id), o, "order_id");
        order.ts_ms = get_int(o, "ts");
        copy_str(order.user_id, sizeof(order.user_id), o, "user_id");
        order.status = (dc_order_status_t)get_enum(o, "status", order_status, DC_ORDER__COUNT);
        order.n_lines = 0;
        arr = json_object_get(o, "lines");
        json_array_foreach(arr, i, item) {
            const char *sku = json_string_value(json_object_get(item, "sku"));
            if (!sku || dc_order_add_line(&order, sku, (int32_t)get_int(item, "qty"),
                                          get_num(item, "unit_price")))
                die("bad line in %s", "lines");
        }
        order.has_promo_code =
            nullable_str(order.promo_code, sizeof(order.promo_code), o, "promo_code");
        break;
    case DC_REC_FORECAST:
        copy_str(forecast.sku, sizeof(forecast.sku), o, "sku");
        forecast.bucket_start = get_int(o, "bucket_start");
        forecast.bucket_width = get_int(o, "bucket_width");
        forecast.issued_at = get_int(o, "issued_at");
        forecast.model_version = get_int(o, "model_version");
        arr = json_object_get(o, "horizons");
        if (json_array_size(arr) > DC_HORIZON_MAX)
            die("too many %s", "horizons");
        forecast.n_horizons = json_array_size(arr);
        json_array_foreach(arr, i, item) {
            dc_horizon_t *h = &forecast.horizons[i];
            h->offset = (int32_t)get_int(item, "offset");
            h->mean = get_num(item, "mean");
            h->p10 = get_num(item, "p10");
            h->p50 = get_num(item, "p50");
            h->p90 = get_num(item, "p90");
        }
        forecast.cold_start = json_is_true(json_object_get(o, "cold_start"));
        break;
    default:
        copy_str(surge.sku, sizeof(surge.sku), o, "sku");
        surge.state = (dc_surge_state_t)get_enum(o, "state", surge_state, DC_SURGE__COUNT);
        surge.detected_at = get_int(o, "detected_at");
        surge.expected = get_num(o, "expected");
        surge.baseline = get_num(o, "baseline");
        surge.ratio = get_num(o, "ratio");
        arr = json_object_get(o, "signals");
        if (json_array_size(arr) > DC_SIGNALS_MAX)
            die("too many %s", "signals");
        surge.n_signals = json_array_size(arr);
        json_array_foreach(arr, i, item) {
            copy_str(surge.signals[i].name, sizeof(surge.signals[i].name), item, "name");
            surge.signals[i].value = get_num(item, "value");
        }
        break;
    }
}

static void print_json(dc_rec_type_t type)
{
    dc_buf_t b = {0};
    int err = type == DC_REC_CLICK   ? dc_click_to_json(&click, &b)
              : type == DC_REC_ORDER ? dc_order_to_json(&order, &b)
              : type == DC_REC_FORECAST ? dc_forecast_to_json(&forecast, &b)
                                        : dc_surge_to_json(&surge, &b);
    if (err)
        die("cannot render %s", "JSON");
    printf("%.*s\n", (int)b.len, (const char *)b.data);
    dc_buf_free(&b);
}

static dc_rec_type_t parse_type(const char *s)
{
    for (int t = 0; t < DC_REC__COUNT; t++)
        if (!strcmp(s, type_names[t]))
            return (dc_rec_type_t)t;
    die("unknown type %s", s);
    return DC_REC_CLICK;
}

/* Calls each(type, record) for every JSON line of path. */
static void for_each_line(const char *path, dc_rec_type_t type, void (*each)(dc_rec_type_t, void *),
                          void *opaque)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;

    if (!f)
        die("cannot open %s", path);
    while (getline(&line, &cap, f) > 0) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        if (!o)
            die("bad JSON line: %s", jerr.text);
        from_json(type, o);
        json_decref(o);
        each(type, opaque);
    }
    free(line);
    fclose(f);
}

static dc_codec_t *codec;

static void encode_one(dc_rec_type_t type, void *opaque)
{
    FILE *out = opaque;
    dc_buf_t b = {0};
    int err = type == DC_REC_CLICK   ? dc_codec_encode_click(codec, &click, &b)
              : type == DC_REC_ORDER ? dc_codec_encode_order(codec, &order, &b)
              : type == DC_REC_FORECAST ? dc_codec_encode_forecast(codec, &forecast, &b)
                                        : dc_codec_encode_surge(codec, &surge, &b);
    uint8_t len[4] = {(uint8_t)(b.len >> 24), (uint8_t)(b.len >> 16), (uint8_t)(b.len >> 8),
                      (uint8_t)b.len};
    if (err || fwrite(len, 1, 4, out) != 4 || fwrite(b.data, 1, b.len, out) != b.len)
        die("cannot encode: %s", dc_err2str(err));
    dc_buf_free(&b);
}

static void ocf_write_one(dc_rec_type_t type, void *opaque)
{
    dc_ocf_writer_t *w = opaque;
    int err = type == DC_REC_CLICK   ? dc_ocf_write_click(w, &click)
              : type == DC_REC_ORDER ? dc_ocf_write_order(w, &order)
              : type == DC_REC_FORECAST ? dc_ocf_write_forecast(w, &forecast)
                                        : dc_ocf_write_surge(w, &surge);
    if (err)
        die("cannot write OCF record: %s", dc_err2str(err));
}

static void decode_frames(dc_rec_type_t type, const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t len[4];
    char errstr[256];

    if (!f)
        die("cannot open %s", path);
    while (fread(len, 1, 4, f) == 4) {
        size_t n = (size_t)len[0] << 24 | (size_t)len[1] << 16 | (size_t)len[2] << 8 | len[3];
        uint8_t *buf = malloc(n ? n : 1);
        int err;
        if (!buf || fread(buf, 1, n, f) != n)
            die("truncated frame in %s", path);
        err = type == DC_REC_CLICK ? dc_codec_decode_click(codec, buf, n, &click, errstr, sizeof(errstr))
              : type == DC_REC_ORDER
                  ? dc_codec_decode_order(codec, buf, n, &order, errstr, sizeof(errstr))
              : type == DC_REC_FORECAST
                  ? dc_codec_decode_forecast(codec, buf, n, &forecast, errstr, sizeof(errstr))
                  : dc_codec_decode_surge(codec, buf, n, &surge, errstr, sizeof(errstr));
        free(buf);
        if (err)
            printf("ERROR %s: %s\n", dc_err_name(err), errstr);
        else
            print_json(type);
    }
    fclose(f);
}

static void ocf_read(const char *path)
{
    char errstr[256];
    dc_rec_type_t type;
    dc_ocf_reader_t *r = dc_ocf_reader_new(path, &type, errstr, sizeof(errstr));
    int err;

    if (!r)
        die("%s", errstr);
    printf("%s\n", type_names[type]);
    for (;;) {
        err = type == DC_REC_CLICK   ? dc_ocf_read_click(r, &click)
              : type == DC_REC_ORDER ? dc_ocf_read_order(r, &order)
              : type == DC_REC_FORECAST ? dc_ocf_read_forecast(r, &forecast)
                                        : dc_ocf_read_surge(r, &surge);
        if (err)
            break;
        print_json(type);
    }
    if (err != DC_ERR_EOF)
        die("read failed: %s", dc_ocf_reader_error(r));
    dc_ocf_reader_destroy(r);
}

int main(int argc, char **argv)
{
    char errstr[256];

    if (argc < 3)
        die("usage: see %s", __FILE__);
    if (!(codec = dc_codec_new(NULL, errstr, sizeof(errstr))))
        die("%s", errstr);
    if (!strcmp(argv[1], "encode") && argc == 5) {
        FILE *out = fopen(argv[4], "wb");
        if (!out)
            die("cannot create %s", argv[4]);
        for_each_line(argv[3], parse_type(argv[2]), encode_one, out);
        fclose(out);
    } else if (!strcmp(argv[1], "decode") && argc == 4) {
        decode_frames(parse_type(argv[2]), argv[3]);
    } else if (!strcmp(argv[1], "ocf-write") && argc == 5) {
        dc_rec_type_t type = parse_type(argv[2]);
        dc_ocf_writer_t *w = dc_ocf_writer_new(argv[4], type, errstr, sizeof(errstr));
        if (!w)
            die("%s", errstr);
        for_each_line(argv[3], type, ocf_write_one, w);
        if (dc_ocf_writer_close(w))
            die("cannot close %s", argv[4]);
    } else if (!strcmp(argv[1], "ocf-read") && argc == 3) {
        ocf_read(argv[2]);
    } else {
        die("bad arguments; see %s", __FILE__);
    }
    dc_order_clear(&order);
    dc_codec_destroy(codec);
    return 0;
}
