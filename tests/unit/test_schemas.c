/* tests/unit/test_schemas.c - the codec: round trips of the four records,
 * exact framing and body bytes, schema resolution against writer schemas
 * encoded by avro-c itself, every malformed-input case, JSON rendering, and
 * OCF files through a temporary directory. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "schemas/schemas.h"

#include <avro.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char errstr[512];

static dc_codec_t *new_codec(void)
{
    dc_codec_t *codec = dc_codec_new(NULL, errstr, sizeof(errstr));
    assert_non_null(codec);
    return codec;
}

/* ---- building raw bytes by hand, straight from the Avro specification ---- */

static void put_varint(dc_buf_t *b, int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (u >= 0x80) {
        uint8_t c = (uint8_t)(u | 0x80);
        assert_int_equal(dc_buf_append(b, &c, 1), 0);
        u >>= 7;
    }
    uint8_t c = (uint8_t)u;
    assert_int_equal(dc_buf_append(b, &c, 1), 0);
}

static void put_text(dc_buf_t *b, const char *s)
{
    put_varint(b, (int64_t)strlen(s));
    assert_int_equal(dc_buf_append(b, s, strlen(s)), 0);
}

static void put_header(dc_buf_t *b, uint32_t id)
{
    uint8_t h[5] = {0, (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id};
    assert_int_equal(dc_buf_append(b, h, 5), 0);
}

static void put_raw_double(dc_buf_t *b, double d)
{
    assert_int_equal(dc_buf_append(b, &d, 8), 0); /* little-endian host */
}

/* A framed ClickEvent body up to (not including) the type enum. */
static void put_click_prefix(dc_buf_t *b, const char *sku)
{
    put_header(b, 1);
    put_text(b, "e1");
    put_varint(b, 1000);
    put_text(b, sku);
    put_text(b, "u1");
    put_text(b, "s1");
}

/* ---- sample records ---- */

static void sample_click(dc_click_t *c)
{
    memset(c, 0, sizeof(*c));
    strcpy(c->event_id, "evt-0001");
    c->ts_ms = 1309422360123LL;
    strcpy(c->sku, "SKU-\xc3\xa9t\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x9b\x92"); /* é, €, 🛒 */
    strcpy(c->user_id, "user \"quoted\" \\ back");
    strcpy(c->session_id, "s-42");
    c->type = DC_CLICK_SEARCH_CLICK;
    c->price = 19.99;
    c->has_promo = 1;
    strcpy(c->promo, "SUMMER-10");
}

static void assert_click_equal(const dc_click_t *a, const dc_click_t *b)
{
    assert_string_equal(a->event_id, b->event_id);
    assert_int_equal(a->ts_ms, b->ts_ms);
    assert_string_equal(a->sku, b->sku);
    assert_string_equal(a->user_id, b->user_id);
    assert_string_equal(a->session_id, b->session_id);
    assert_int_equal(a->type, b->type);
    assert_memory_equal(&a->price, &b->price, sizeof(double)); /* bit-exact, -0.0 too */
    assert_int_equal(a->has_promo, b->has_promo);
    if (a->has_promo)
        assert_string_equal(a->promo, b->promo);
    else
        assert_string_equal(b->promo, "");
}

static void sample_order(dc_order_t *o, size_t n_lines)
{
    dc_order_clear(o);
    strcpy(o->order_id, "536365");
    o->ts_ms = 1291191960000LL;
    strcpy(o->user_id, "17850");
    o->status = DC_ORDER_PLACED;
    for (size_t i = 0; i < n_lines; i++) {
        char sku[32];
        snprintf(sku, sizeof(sku), "85123A-%zu", i);
        assert_int_equal(dc_order_add_line(o, sku, (int32_t)(i + 1), 2.55 * (double)(i + 1)), 0);
    }
}

static void assert_order_equal(const dc_order_t *a, const dc_order_t *b)
{
    assert_string_equal(a->order_id, b->order_id);
    assert_int_equal(a->ts_ms, b->ts_ms);
    assert_string_equal(a->user_id, b->user_id);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->n_lines, b->n_lines);
    for (size_t i = 0; i < a->n_lines; i++) {
        assert_string_equal(a->lines[i].sku, b->lines[i].sku);
        assert_int_equal(a->lines[i].qty, b->lines[i].qty);
        assert_memory_equal(&a->lines[i].unit_price, &b->lines[i].unit_price, sizeof(double));
    }
    assert_int_equal(a->has_promo_code, b->has_promo_code);
    if (a->has_promo_code)
        assert_string_equal(a->promo_code, b->promo_code);
}

static void sample_forecast(dc_forecast_t *f, size_t n)
{
    memset(f, 0, sizeof(*f));
    strcpy(f->sku, "22423");
    f->bucket_start = 1291190400000LL;
    f->bucket_width = 3600000;
    f->issued_at = 1291194000000LL;
    f->model_version = INT64_MAX;
    f->n_horizons = n;
    for (size_t i = 0; i < n; i++) {
        f->horizons[i].offset = (int32_t)(i + 1);
        f->horizons[i].mean = 3.25 + (double)i;
        f->horizons[i].p10 = 1.0 / 3.0;
        f->horizons[i].p50 = (double)i;
        f->horizons[i].p90 = DBL_MAX;
    }
    f->cold_start = 1;
}

static void assert_forecast_equal(const dc_forecast_t *a, const dc_forecast_t *b)
{
    assert_string_equal(a->sku, b->sku);
    assert_int_equal(a->bucket_start, b->bucket_start);
    assert_int_equal(a->bucket_width, b->bucket_width);
    assert_int_equal(a->issued_at, b->issued_at);
    assert_int_equal(a->model_version, b->model_version);
    assert_int_equal(a->n_horizons, b->n_horizons);
    assert_memory_equal(a->horizons, b->horizons, a->n_horizons * sizeof(dc_horizon_t));
    assert_int_equal(a->cold_start, b->cold_start);
}

static void sample_surge(dc_surge_t *s, size_t n)
{
    memset(s, 0, sizeof(*s));
    strcpy(s->sku, "84029E");
    s->state = DC_SURGE_UPDATE;
    s->detected_at = -1; /* before the epoch */
    s->expected = 120.5;
    s->baseline = DBL_MIN;
    s->ratio = -0.0;
    s->n_signals = n;
    for (size_t i = 0; i < n; i++) {
        snprintf(s->signals[i].name, sizeof(s->signals[i].name), "signal_%zu", i);
        s->signals[i].value = (double)i - 0.5;
    }
}

static void assert_surge_equal(const dc_surge_t *a, const dc_surge_t *b)
{
    assert_string_equal(a->sku, b->sku);
    assert_int_equal(a->state, b->state);
    assert_int_equal(a->detected_at, b->detected_at);
    assert_memory_equal(&a->expected, &b->expected, 3 * sizeof(double));
    assert_int_equal(a->n_signals, b->n_signals);
    for (size_t i = 0; i < a->n_signals; i++) {
        assert_string_equal(a->signals[i].name, b->signals[i].name);
        assert_memory_equal(&a->signals[i].value, &b->signals[i].value, sizeof(double));
    }
}

/* ---- names and embedded schemas ---- */

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(dc_schema_name(DC_REC_CLICK), "demandcast.ClickEvent");
    assert_string_equal(dc_schema_name(DC_REC_SURGE), "demandcast.SurgeAlert");
    assert_string_equal(dc_click_type_name(DC_CLICK_REMOVE_FROM_CART), "REMOVE_FROM_CART");
    assert_string_equal(dc_order_status_name(DC_ORDER_CANCELLED), "CANCELLED");
    assert_string_equal(dc_surge_state_name(DC_SURGE_END), "END");
    for (int t = 0; t < DC_REC__COUNT; t++) {
        /* The embedded text is the .avsc file byte for byte. */
        static const char *const files[] = {"ClickEvent", "OrderEvent", "Forecast", "SurgeAlert"};
        const char *src = getenv("DC_SOURCE_DIR");
        char path[4096], *text;
        FILE *f;
        long n;
        if (!src)
            continue;
        snprintf(path, sizeof(path), "%s/schemas/%s.avsc", src, files[t]);
        assert_non_null(f = fopen(path, "rb"));
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        rewind(f);
        text = calloc(1, (size_t)n + 1);
        assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        assert_string_equal(dc_schema_json((dc_rec_type_t)t), text);
        free(text);
    }
}

/* ---- round trips ---- */

static void test_click_round_trip(void **state)
{
    dc_codec_t *codec = new_codec();
    dc_buf_t buf = {0};
    dc_click_t in, out;
    static const uint8_t header[5] = {0, 0, 0, 0, 1};
    (void)state;

    sample_click(&in);
    assert_int_equal(dc_codec_encode_click(codec, &in, &buf), 0);
    assert_memory_equal(buf.data, header, 5);
    memset(&out, 0x5a, sizeof(out));
    assert_int_equal(dc_codec_decode_click(codec, buf.data, buf.len, &out, errstr, sizeof(errstr)), 0);
    assert_click_equal(&in, &out);

    /* Null promo, the smallest and largest numbers, empty strings. */
    in.has_promo = 0;
    strcpy(in.promo, "ignored when null");
    in.ts_ms = INT64_MIN;
    in.price = -0.0;
    in.event_id[0] = '\0';
    in.type = DC_CLICK_VIEW;
    buf.len = 0;
    assert_int_equal(dc_codec_encode_click(codec, &in, &buf), 0);
    assert_int_equal(dc_codec_decode_click(codec, buf.data, buf.len, &out, errstr, sizeof(errstr)), 0);
    in.promo[0] = '\0';
    assert_click_equal(&in, &out);
    in.ts_ms = INT64_MAX;
    in.price = NAN;
    buf.len = 0;
    assert_int_equal(dc_codec_encode_click(codec, &in, &buf), 0);
    assert_int_equal(dc_codec_decode_click(codec, buf.data, buf.len, &out, errstr, sizeof(errstr)), 0);
    assert_int_equal(out.ts_ms, INT64_MAX);
    assert_true(isnan(out.price));

    /* A string of exactly the field's capacity (63 bytes) fits. */
    memset(in.sku, 'x', DC_SKU_MAX - 1);
    in.sku[DC_SKU_MAX - 1] = '\0';
    buf.len = 0;
    assert_int_equal(dc_codec_encode_click(codec, &in, &buf), 0);
    assert_int_equal(dc_codec_decode_click(codec, buf.data, buf.len, &out, errstr, sizeof(errstr)), 0);
    assert_string_equal(out.sku, in.sku);

    dc_buf_free(&buf);
    dc_codec_destroy(codec);
}

/* The body bytes follow from the Avro spec alone: zig-zag varints, length-
 * prefixed strings, little-endian doubles, union branch indexes. */
static void test_exact_bytes(void **state)
{
    static const uint8_t want[] = {0x00, 0x00, 0x00, 0x01, 0x02,     /* magic, id 258 */
                                   0x02, 'e',                        /* event_id "e" */
                                   0x03,                             /* ts -2 */
                                   0x02, 's', 0x02, 'u', 0x02, 'x', /* sku, user, session */
                                   0x02,                             /* ADD_TO_CART */
                                   0, 0, 0, 0, 0, 0, 0xf0, 0x3f,     /* price 1.0 */
                                   0x02, 0x02, 'P'};                 /* promo: branch 1, "P" */
    dc_conf_t *conf = dc_conf_new();
    dc_codec_t *codec;
    dc_buf_t buf = {0};
    dc_click_t c = {0};
    (void)state;

    assert_int_equal(dc_conf_set(conf, "schema.id.click", "258", errstr, sizeof(errstr)), 0);
    assert_non_null(codec = dc_codec_new(conf, errstr, sizeof(errstr)));
    strcpy(c.event_id, "e");
    c.ts_ms = -2;
    strcpy(c.sku, "s");
    strcpy(c.user_id, "u");
    strcpy(c.session_id, "x");
    c.type = DC_CLICK_ADD_TO_CART;
    c.price = 1.0;
    c.has_promo = 1;
    strcpy(c.promo, "P");
    assert_int_equal(dc_codec_encode_click(codec, &c, &buf), 0);
    assert_int_equal(buf.len, sizeof(want));
    assert_memory_equal(buf.data, want, sizeof(want));

    int32_t id;
    dc_rec_type_t type;
    assert_int_equal(dc_codec_peek_id(buf.data, buf.len, &id), 0);
    assert_int_equal(id, 258);
    assert_int_equal(dc_codec_id_type(codec, 258, &type), 0);
    assert_int_equal(type, DC_REC_CLICK);
    assert_int_equal(dc_codec_id_type(codec, 2, &type), 0);
    assert_int_equal(type, DC_REC_ORDER);
    assert_int_equal(dc_codec_id_type(codec, 1, &type), DC_ERR_UNKNOWN_SCHEMA);

    /* Encoding appends: a second record follows the first unchanged. */
    assert_int_equal(dc_codec_encode_click(codec, &c, &buf), 0);
    assert_int_equal(buf.len, 2 * sizeof(want));
    assert_memory_equal(buf.data + sizeof(want), want, sizeof(want));

    /* Two types may not share an id. */
    assert_int_equal(dc_conf_set(conf, "schema.id.order", "258", errstr, sizeof(errstr)), 0);
    assert_null(dc_codec_new(conf, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "258"));

    dc_buf_free(&buf);
    dc_codec_destroy(codec);
    dc_conf_destroy(conf);
}

static void test_order_round_trip(void **state)
{
    dc_codec_t *codec = new_codec();
    dc_buf_t buf = {0};
    dc_order_t in = {0}, out = {0};
    dc_order_line_t *lines;
    size_t cap;
    (void)state;

    /* Empty lines, then three, then a thousand, then one: the decoded
     * record's lines array grows once and is then reused. */
    static const size_t counts[] = {0, 3, 1000, 1};
    for (size_t k = 0; k < DC_ARRAY_SIZE(counts); k++) {
        sample_order(&in, counts[k]);
        in.status = k % 2 ? DC_ORDER_CANCELLED : DC_ORDER_PLACED;
        in.has_promo_code = (int)(k % 2);
        strcpy(in.promo_code, k % 2 ? "BLACK-FRIDAY" : "");
        buf.len = 0;
        assert_int_equal(dc_codec_encode_order(codec, &in, &buf), 0);
        assert_int_equal(dc_codec_decode_order(codec, buf.data, buf.len, &out, errstr, sizeof(errstr)), 0);
        assert_order_equal(&in, &out);
    }
    assert_true(out.lines_cap >= 1000);
    lines = out.lines;
    cap = out.lines_cap;
    sample_order(&in, 7);
    buf.len = 0;
    assert_int_equal(dc_codec_encode_order(codec, &in, &buf), 0);
    assert_int_equal(dc_codec_decode_order(codec, buf.data, buf.len, &out, errstr, sizeof(errstr)), 0);
    assert_ptr_equal(out.lines, lines);
    assert_int_equal(out.lines_cap, cap);
    assert_order_equal(&in, &out);

    dc_order_clear(&in);
    dc_order_clear(&out);
    assert_null(out.lines);
    dc_order_clear(NULL);
    dc_buf_free(&buf);
    dc_codec_destroy(codec);
}

static void test_forecast_surge_round_trip(void **state)
{
    dc_codec_t *codec = new_codec();
    dc_buf_t buf = {0};
    static dc_forecast_t fin, fout;
    dc_surge_t sin, sout;
    (void)state;

    static const size_t counts[] = {0, 1, 24, DC_HORIZON_MAX};
    for (size_t k = 0; k < DC_ARRAY_SIZE(counts); k++) {
        sample_forecast(&fin, counts[k]);
        fin.cold_start = (int)(k % 2);
        buf.len = 0;
        assert_int_equal(dc_codec_encode_forecast(codec, &fin, &buf), 0);
        assert_int_equal(buf.data[4], 3);
        assert_int_equal(dc_codec_decode_forecast(codec, buf.data, buf.len, &fout, errstr, sizeof(errstr)), 0);
        assert_forecast_equal(&fin, &fout);
    }
    for (size_t n = 0; n <= DC_SIGNALS_MAX; n += 4) {
        sample_surge(&sin, n);
        buf.len = 0;
        assert_int_equal(dc_codec_encode_surge(codec, &sin, &buf), 0);
        assert_int_equal(buf.data[4], 4);
        assert_int_equal(dc_codec_decode_surge(codec, buf.data, buf.len, &sout, errstr, sizeof(errstr)), 0);
        assert_surge_equal(&sin, &sout);
    }
    dc_buf_free(&buf);
    dc_codec_destroy(codec);
}

/* ---- encoder refusals ---- */

static void test_encode_invalid(void **state)
{
    dc_codec_t *codec = new_codec();
    dc_buf_t buf = {0};
    dc_click_t c;
    dc_forecast_t *f = calloc(1, sizeof(*f));
    (void)state;

    assert_int_equal(dc_buf_append(&buf, "keep", 4), 0);
    sample_click(&c);
    memset(c.sku, 'x', sizeof(c.sku)); /* no terminator inside the field */
    assert_int_equal(dc_codec_encode_click(codec, &c, &buf), DC_ERR_INVAL);
    sample_click(&c);
    c.type = DC_CLICK__COUNT;
    assert_int_equal(dc_codec_encode_click(codec, &c, &buf), DC_ERR_INVAL);
    sample_click(&c);
    strcpy(c.user_id, "bad \xff utf-8");
    assert_int_equal(dc_codec_encode_click(codec, &c, &buf), DC_ERR_INVAL);
    sample_forecast(f, 1);
    f->n_horizons = DC_HORIZON_MAX + 1;
    assert_int_equal(dc_codec_encode_forecast(codec, f, &buf), DC_ERR_INVAL);
    /* A refused record leaves the buffer as it was. */
    assert_int_equal(buf.len, 4);
    assert_memory_equal(buf.data, "keep", 4);
    free(f);
    dc_buf_free(&buf);
    dc_codec_destroy(codec);
}

/* ---- resolution ---- */

/* ClickEvent as a newer producer writes it: an extra nullable field in the
 * middle, an extra array and map at the end, price as float, and the
 * ClickType symbols in another order plus one we do not know. */
static const char *const click_v2 =
    "{\"type\":\"record\",\"name\":\"ClickEvent\",\"namespace\":\"demandcast\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"ts\",\"type\":\"long\"},"
    "{\"name\":\"referrer\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"sku\",\"type\":\"string\"},"
    "{\"name\":\"user_id\",\"type\":\"string\"},"
    "{\"name\":\"session_id\",\"type\":\"string\"},"
    "{\"name\":\"type\",\"type\":{\"type\":\"enum\",\"name\":\"ClickType\",\"symbols\":"
    "[\"SEARCH_CLICK\",\"VIEW\",\"SHARE\",\"ADD_TO_CART\",\"REMOVE_FROM_CART\",\"WISHLIST\"]}},"
    "{\"name\":\"price\",\"type\":\"float\"},"
    "{\"name\":\"promo\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"},\"default\":[]},"
    "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":\"long\"},\"default\":{}}]}";

/* ClickEvent as an older producer wrote it: no promo, ts as int. */
static const char *const click_v0 =
    "{\"type\":\"record\",\"name\":\"ClickEvent\",\"namespace\":\"demandcast\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"ts\",\"type\":\"int\"},"
    "{\"name\":\"sku\",\"type\":\"string\"},"
    "{\"name\":\"user_id\",\"type\":\"string\"},"
    "{\"name\":\"session_id\",\"type\":\"string\"},"
    "{\"name\":\"type\",\"type\":{\"type\":\"enum\",\"name\":\"ClickType\",\"symbols\":"
    "[\"VIEW\",\"ADD_TO_CART\",\"REMOVE_FROM_CART\",\"WISHLIST\",\"SEARCH_CLICK\"]}},"
    "{\"name\":\"price\",\"type\":\"double\"}]}";

/* Encodes one record of writer schema json with avro-c's generic values (an
 * encoder we did not write), framed with id. Fields not named here keep
 * avro-c's zero defaults. */
static void avro_encode_click(const char *json, uint32_t id, const char *sku, const char *type,
                              dc_buf_t *out)
{
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t rec, field, branch, item;
    char body[1024] = {0};
    avro_writer_t w = avro_writer_memory(body, sizeof(body));
    int idx;

    assert_int_equal(avro_schema_from_json_length(json, strlen(json), &schema), 0);
    iface = avro_generic_class_from_schema(schema);
    assert_int_equal(avro_generic_value_new(iface, &rec), 0);
    assert_int_equal(avro_value_get_by_name(&rec, "event_id", &field, NULL), 0);
    assert_int_equal(avro_value_set_string(&field, "ev-9"), 0);
    assert_int_equal(avro_value_get_by_name(&rec, "ts", &field, NULL), 0);
    if (avro_value_get_type(&field) == AVRO_INT32)
        assert_int_equal(avro_value_set_int(&field, 123456), 0);
    else
        assert_int_equal(avro_value_set_long(&field, 1309422360000LL), 0);
    assert_int_equal(avro_value_get_by_name(&rec, "sku", &field, NULL), 0);
    assert_int_equal(avro_value_set_string(&field, sku), 0);
    assert_int_equal(avro_value_get_by_name(&rec, "user_id", &field, NULL), 0);
    assert_int_equal(avro_value_set_string(&field, "u-9"), 0);
    assert_int_equal(avro_value_get_by_name(&rec, "session_id", &field, NULL), 0);
    assert_int_equal(avro_value_set_string(&field, "s-9"), 0);
    assert_int_equal(avro_value_get_by_name(&rec, "type", &field, NULL), 0);
    idx = avro_schema_enum_get_by_name(avro_value_get_schema(&field), type);
    assert_true(idx >= 0);
    assert_int_equal(avro_value_set_enum(&field, idx), 0);
    assert_int_equal(avro_value_get_by_name(&rec, "price", &field, NULL), 0);
    if (avro_value_get_type(&field) == AVRO_FLOAT)
        assert_int_equal(avro_value_set_float(&field, 2.5f), 0);
    else
        assert_int_equal(avro_value_set_double(&field, 2.5), 0);
    if (!avro_value_get_by_name(&rec, "referrer", &field, NULL)) {
        assert_int_equal(avro_value_set_branch(&field, 1, &branch), 0);
        assert_int_equal(avro_value_set_string(&branch, "https://example.com/"), 0);
    }
    if (!avro_value_get_by_name(&rec, "promo", &field, NULL)) {
        assert_int_equal(avro_value_set_branch(&field, 1, &branch), 0);
        assert_int_equal(avro_value_set_string(&branch, "P1"), 0);
    }
    if (!avro_value_get_by_name(&rec, "tags", &field, NULL)) {
        assert_int_equal(avro_value_append(&field, &item, NULL), 0);
        assert_int_equal(avro_value_set_string(&item, "new"), 0);
        assert_int_equal(avro_value_append(&field, &item, NULL), 0);
        assert_int_equal(avro_value_set_string(&item, "sale"), 0);
    }
    if (!avro_value_get_by_name(&rec, "attrs", &field, NULL)) {
        assert_int_equal(avro_value_add(&field, "rank", &item, NULL, NULL), 0);
        assert_int_equal(avro_value_set_long(&item, -7), 0);
    }
    assert_int_equal(avro_value_write(w, &rec), 0);
    out->len = 0;
    put_header(out, id);
    assert_int_equal(dc_buf_append(out, body, (size_t)avro_writer_tell(w)), 0);
    avro_writer_free(w);
    avro_value_decref(&rec);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
}

static void test_resolution(void **state)
{
    dc_codec_t *codec = new_codec();
    dc_buf_t buf = {0};
    dc_click_t c;
    dc_rec_type_t type;
    (void)state;

    assert_int_equal(dc_codec_register(codec, DC_REC_CLICK, 11, click_v2, errstr, sizeof(errstr)), 0);
    assert_int_equal(dc_codec_register(codec, DC_REC_CLICK, 10, click_v0, errstr, sizeof(errstr)), 0);
    assert_int_equal(dc_codec_id_type(codec, 11, &type), 0);
    assert_int_equal(type, DC_REC_CLICK);

    avro_encode_click(click_v2, 11, "SKU-2", "ADD_TO_CART", &buf);
    assert_int_equal(dc_codec_decode_click(codec, buf.data, buf.len, &c, errstr, sizeof(errstr)), 0);
    assert_string_equal(c.event_id, "ev-9");
    assert_int_equal(c.ts_ms, 1309422360000LL);
    assert_string_equal(c.sku, "SKU-2");
    assert_string_equal(c.user_id, "u-9");
    assert_string_equal(c.session_id, "s-9");
    assert_int_equal(c.type, DC_CLICK_ADD_TO_CART); /* mapped by name, not index */
    assert_true(c.price == 2.5);
    assert_int_equal(c.has_promo, 1);
    assert_string_equal(c.promo, "P1");

    /* A symbol the reader does not know fails that record only. */
    avro_encode_click(click_v2, 11, "SKU-2", "SHARE", &buf);
    assert_int_equal(dc_codec_decode_click(codec, buf.data, buf.len, &c, errstr, sizeof(errstr)),
                     DC_ERR_MALFORMED);
    assert_non_null(strstr(errstr, "SHARE"));

    c.has_promo = 1;
    strcpy(c.promo, "stale");
    avro_encode_click(click_v0, 10, "SKU-0", "WISHLIST", &buf);
    assert_int_equal(dc_codec_decode_click(codec, buf.data, buf.len, &c, errstr, sizeof(errstr)), 0);
    assert_int_equal(c.ts_ms, 123456); /* int promoted to long */
    assert_string_equal(c.sku, "SKU-0");
    assert_int_equal(c.type, DC_CLICK_WISHLIST);
    assert_int_equal(c.has_promo, 0); /* the default, null */
    assert_string_equal(c.promo, "");

    /* Refusals: a taken id, a negative id, unparsable JSON, a field of the
     * wrong type, a reader field without default that the writer lacks, a
     * record of another name. */
    assert_int_equal(dc_codec_register(codec, DC_REC_ORDER, 11, click_v2, errstr, sizeof(errstr)),
                     DC_ERR_INVAL);
    assert_int_equal(dc_codec_register(codec, DC_REC_CLICK, -5, click_v2, errstr, sizeof(errstr)),
                     DC_ERR_INVAL);
    assert_int_equal(dc_codec_register(codec, DC_REC_CLICK, 12, "{\"type\":", errstr, sizeof(errstr)),
                     DC_ERR_INVAL);
    assert_int_equal(dc_codec_register(codec, DC_REC_CLICK, 12,
                                       "{\"type\":\"record\",\"name\":\"ClickEvent\",\"fields\":["
                                       "{\"name\":\"event_id\",\"type\":\"int\"}]}",
                                       errstr, sizeof(errstr)),
                     DC_ERR_INVAL);
    assert_non_null(strstr(errstr, "event_id"));
    assert_int_equal(dc_codec_register(codec, DC_REC_CLICK, 12,
                                       "{\"type\":\"record\",\"name\":\"ClickEvent\",\"fields\":["
                                       "{\"name\":\"event_id\",\"type\":\"string\"}]}",
                                       errstr, sizeof(errstr)),
                     DC_ERR_INVAL);
    assert_non_null(strstr(errstr, "no default"));
    assert_int_equal(dc_codec_register(codec, DC_REC_CLICK, 12, dc_schema_json(DC_REC_ORDER), errstr,
                                       sizeof(errstr)),
                     DC_ERR_INVAL);
    assert_int_equal(dc_codec_id_type(codec, 12, &type), DC_ERR_UNKNOWN_SCHEMA);

    dc_buf_free(&buf);
    dc_codec_destroy(codec);
}

/* ---- hostile input ---- */

static int decode_any(dc_codec_t *codec, dc_rec_type_t type, const uint8_t *p, size_t n)
{
    static dc_click_t c;
    static dc_order_t o;
    static dc_forecast_t f;
    static dc_surge_t s;
    int err;

    errstr[0] = '\0';
    switch (type) {
    case DC_REC_CLICK: err = dc_codec_decode_click(codec, p, n, &c, errstr, sizeof(errstr)); break;
    case DC_REC_ORDER: err = dc_codec_decode_order(codec, p, n, &o, errstr, sizeof(errstr)); break;
    case DC_REC_FORECAST: err = dc_codec_decode_forecast(codec, p, n, &f, errstr, sizeof(errstr)); break;
    default: err = dc_codec_decode_surge(codec, p, n, &s, errstr, sizeof(errstr)); break;
    }
    /* Every failure explains itself. */
    if (err)
        assert_true(errstr[0] != '\0');
    if (type == DC_REC_ORDER && o.lines_cap > 4096)
        fail_msg("order lines grew to %zu", o.lines_cap);
    return err;
}

static void test_truncated_every_prefix(void **state)
{
    dc_codec_t *codec = new_codec();
    dc_buf_t bufs[DC_REC__COUNT] = {{0}};
    dc_click_t c;
    dc_order_t o = {0};
    static dc_forecast_t f;
    dc_surge_t s;
    (void)state;

    sample_click(&c);
    sample_order(&o, 3);
    o.has_promo_code = 1;
    strcpy(o.promo_code, "X");
    sample_forecast(&f, 5);
    sample_surge(&s, 3);
    assert_int_equal(dc_codec_encode_click(codec, &c, &bufs[DC_REC_CLICK]), 0);
    assert_int_equal(dc_codec_encode_order(codec, &o, &bufs[DC_REC_ORDER]), 0);
    assert_int_equal(dc_codec_encode_forecast(codec, &f, &bufs[DC_REC_FORECAST]), 0);
    assert_int_equal(dc_codec_encode_surge(codec, &s, &bufs[DC_REC_SURGE]), 0);
    for (int t = 0; t < DC_REC__COUNT; t++) {
        dc_buf_t *b = &bufs[t];
        /* Copy each prefix to a buffer of exactly its size, so ASan would
         * catch a read of even one byte past it. */
        for (size_t n = 0; n < b->len; n++) {
            uint8_t *p = malloc(n ? n : 1);
            memcpy(p, b->data, n);
            assert_int_equal(decode_any(codec, (dc_rec_type_t)t, p, n), DC_ERR_TRUNCATED);
            free(p);
        }
        assert_int_equal(decode_any(codec, (dc_rec_type_t)t, b->data, b->len), 0);
        /* One byte more is trailing garbage. */
        assert_int_equal(dc_buf_append(b, "\0", 1), 0);
        assert_int_equal(decode_any(codec, (dc_rec_type_t)t, b->data, b->len), DC_ERR_TRAILING);
        dc_buf_free(b);
    }
    dc_order_clear(&o);
    dc_codec_destroy(codec);
}

static void test_malformed(void **state)
{
    dc_codec_t *codec = new_codec();
    dc_buf_t b = {0};
    char sku64[DC_SKU_MAX + 1];
    (void)state;

    /* Framing. */
    put_click_prefix(&b, "A");
    b.data[0] = 1;
    assert_int_equal(decode_any(codec, DC_REC_CLICK, b.data, b.len), DC_ERR_BAD_MAGIC);
    b.len = 0;
    put_header(&b, 99);
    assert_int_equal(decode_any(codec, DC_REC_CLICK, b.data, b.len), DC_ERR_UNKNOWN_SCHEMA);
    assert_non_null(strstr(errstr, "99"));
    b.len = 0;
    put_click_prefix(&b, "A"); /* a ClickEvent id read as an order */
    assert_int_equal(decode_any(codec, DC_REC_ORDER, b.data, b.len), DC_ERR_UNKNOWN_SCHEMA);

    /* Bad varints: 10 continuation bytes, and a 10th byte past 64 bits. */
    b.len = 0;
    put_header(&b, 1);
    assert_int_equal(dc_buf_append(&b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11), 0);
    assert_int_equal(decode_any(codec, DC_REC_CLICK, b.data, b.len), DC_ERR_MALFORMED);
    b.len = 0;
    put_header(&b, 1);
    assert_int_equal(dc_buf_append(&b, "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x02", 10), 0);
    assert_int_equal(decode_any(codec, DC_REC_CLICK, b.data, b.len), DC_ERR_MALFORMED);

    /* Negative and huge string lengths: malformed, and decided before any
     * byte of the "string" is needed. */
    b.len = 0;
    put_header(&b, 1);
    put_varint(&b, -1);
    assert_int_equal(decode_any(codec, DC_REC_CLICK, b.data, b.len), DC_ERR_MALFORMED);
    assert_non_null(strstr(errstr, "negative"));
    b.len = 0;
    put_header(&b, 1);
    put_varint(&b, INT64_MAX);
    assert_int_equal(decode_any(codec, DC_REC_CLICK, b.data, b.len), DC_ERR_MALFORMED);

    /* Too long for the struct: a 64-byte SKU (the field holds 63). */
    memset(sku64, 'k', DC_SKU_MAX);
    sku64[DC_SKU_MAX] = '\0';
    b.len = 0;
    put_click_prefix(&b, sku64);
    assert_int_equal(decode_any(codec, DC_REC_CLICK, b.data, b.len), DC_ERR_MALFORMED);
    assert_non_null(strstr(errstr, "sku"));

    /* Not UTF-8, and an embedded NUL. */
    b.len = 0;
    put_click_prefix(&b, "bad\xc3(");
    assert_int_equal(decode_any(codec, DC_REC_CLICK, b.data, b.len), DC_ERR_MALFORMED);
    b.len = 0;
    put_header(&b, 1);
    put_varint(&b, 3);
    assert_int_equal(dc_buf_append(&b, "a\0b", 3), 0);
    assert_int_equal(decode_any(codec, DC_REC_CLICK, b.data, b.len), DC_ERR_MALFORMED);

    /* Enum index out of range either way. */
    for (int64_t bad = -1; bad <= DC_CLICK__COUNT; bad += DC_CLICK__COUNT + 1) {
        b.len = 0;
        put_click_prefix(&b, "A");
        put_varint(&b, bad);
        put_raw_double(&b, 1.0);
        put_varint(&b, 0);
        assert_int_equal(decode_any(codec, DC_REC_CLICK, b.data, b.len), DC_ERR_MALFORMED);
        assert_non_null(strstr(errstr, "enum"));
    }

    /* Union branch out of range. */
    for (int64_t bad = -1; bad <= 2; bad += 3) {
        b.len = 0;
        put_click_prefix(&b, "A");
        put_varint(&b, 0);
        put_raw_double(&b, 1.0);
        put_varint(&b, bad);
        assert_int_equal(decode_any(codec, DC_REC_CLICK, b.data, b.len), DC_ERR_MALFORMED);
        assert_non_null(strstr(errstr, "union"));
    }

    /* A boolean byte other than 0 or 1. */
    b.len = 0;
    put_header(&b, 3);
    put_text(&b, "S");
    for (int i = 0; i < 4; i++)
        put_varint(&b, 1);
    put_varint(&b, 0); /* no horizons */
    assert_int_equal(dc_buf_append(&b, "\x02", 1), 0);
    assert_int_equal(decode_any(codec, DC_REC_FORECAST, b.data, b.len), DC_ERR_MALFORMED);

    /* Array counts: a huge count (and a huge negative one with its block
     * size) fails before anything is sized by it; a negative block size is
     * malformed; more signals than the struct holds is malformed. */
    static const int64_t counts[][2] = {{(int64_t)1 << 40, -1}, {-((int64_t)1 << 40), 1},
                                        {INT64_MAX, -1},        {-3, -1}};
    static const int want[] = {DC_ERR_TRUNCATED, DC_ERR_TRUNCATED, DC_ERR_TRUNCATED,
                               DC_ERR_MALFORMED};
    for (size_t k = 0; k < DC_ARRAY_SIZE(counts); k++) {
        b.len = 0;
        put_header(&b, 2);
        put_text(&b, "O1");
        put_varint(&b, 5);
        put_text(&b, "U1");
        put_varint(&b, 0);
        put_varint(&b, counts[k][0]);
        if (counts[k][0] < 0)
            put_varint(&b, counts[k][1]);
        put_text(&b, "SKU");
        put_varint(&b, 1);
        put_raw_double(&b, 1.0);
        put_varint(&b, 0);
        put_varint(&b, 0);
        assert_int_equal(decode_any(codec, DC_REC_ORDER, b.data, b.len), want[k]);
    }
    b.len = 0;
    put_header(&b, 4);
    put_text(&b, "S");
    put_varint(&b, 0);
    put_varint(&b, 0);
    for (int i = 0; i < 3; i++)
        put_raw_double(&b, 1.0);
    put_varint(&b, DC_SIGNALS_MAX + 1);
    for (int i = 0; i < DC_SIGNALS_MAX + 1; i++) {
        put_text(&b, "n");
        put_raw_double(&b, 0.5);
    }
    put_varint(&b, 0);
    assert_int_equal(decode_any(codec, DC_REC_SURGE, b.data, b.len), DC_ERR_MALFORMED);
    /* The same in two blocks of 5 and 4 items. */
    b.len = 0;
    put_header(&b, 4);
    put_text(&b, "S");
    put_varint(&b, 0);
    put_varint(&b, 0);
    for (int i = 0; i < 3; i++)
        put_raw_double(&b, 1.0);
    for (int blk = 5; blk >= 4; blk--) {
        put_varint(&b, blk);
        for (int i = 0; i < blk; i++) {
            put_text(&b, "n");
            put_raw_double(&b, 0.5);
        }
    }
    put_varint(&b, 0);
    assert_int_equal(decode_any(codec, DC_REC_SURGE, b.data, b.len), DC_ERR_MALFORMED);

    dc_buf_free(&b);
    dc_codec_destroy(codec);
}

/* Fields a registered writer has and we skip are checked as strictly. */
static void test_malformed_skipped(void **state)
{
    dc_codec_t *codec = new_codec();
    dc_buf_t b = {0};
    dc_click_t c;
    (void)state;

    assert_int_equal(dc_codec_register(codec, DC_REC_CLICK, 11, click_v2, errstr, sizeof(errstr)), 0);
    /* A skipped string ("referrer") claiming an exabyte. */
    b.len = 0;
    put_header(&b, 11);
    put_text(&b, "e");
    put_varint(&b, 1);
    put_varint(&b, 1); /* referrer: string branch */
    put_varint(&b, (int64_t)1 << 60);
    assert_int_equal(dc_codec_decode_click(codec, b.data, b.len, &c, errstr, sizeof(errstr)),
                     DC_ERR_TRUNCATED);
    /* Its union branch out of range. */
    b.len = 0;
    put_header(&b, 11);
    put_text(&b, "e");
    put_varint(&b, 1);
    put_varint(&b, 7);
    assert_int_equal(dc_codec_decode_click(codec, b.data, b.len, &c, errstr, sizeof(errstr)),
                     DC_ERR_MALFORMED);

    /* A complete v2 record whose skipped "tags" array claims 2^40 items,
     * then one whose block says it has a negative size. */
    avro_encode_click(click_v2, 11, "S", "VIEW", &b);
    assert_int_equal(dc_codec_decode_click(codec, b.data, b.len, &c, errstr, sizeof(errstr)), 0);
    {
        /* tags follow the promo union (branch 1, "P1"): find them there. */
        uint8_t *p = memmem(b.data, b.len, "\x02\x04P1", 4);
        dc_buf_t bad = {0};
        assert_non_null(p);
        size_t head = (size_t)(p - b.data) + 4;
        assert_int_equal(dc_buf_append(&bad, b.data, head), 0);
        put_varint(&bad, (int64_t)1 << 40);
        put_text(&bad, "x");
        assert_int_equal(dc_codec_decode_click(codec, bad.data, bad.len, &c, errstr, sizeof(errstr)),
                         DC_ERR_TRUNCATED);
        bad.len = head;
        put_varint(&bad, -1);
        put_varint(&bad, -5);
        assert_int_equal(dc_codec_decode_click(codec, bad.data, bad.len, &c, errstr, sizeof(errstr)),
                         DC_ERR_MALFORMED);
        /* A negative count with a valid block size is skipped by its size. */
        bad.len = head;
        put_varint(&bad, -1);
        put_varint(&bad, 2);
        put_text(&bad, "x");
        put_varint(&bad, 0); /* end of tags */
        put_varint(&bad, 0); /* empty attrs map */
        assert_int_equal(dc_codec_decode_click(codec, bad.data, bad.len, &c, errstr, sizeof(errstr)), 0);
        dc_buf_free(&bad);
    }
    dc_buf_free(&b);
    dc_codec_destroy(codec);
}

/* ---- JSON ---- */

static void test_json(void **state)
{
    dc_buf_t b = {0};
    dc_click_t c;
    dc_order_t o = {0};
    dc_forecast_t *f = calloc(1, sizeof(*f));
    dc_surge_t s;
    (void)state;

    sample_click(&c);
    strcpy(c.session_id, "tab\there\x01");
    c.price = 0.1;
    assert_int_equal(dc_click_to_json(&c, &b), 0);
    assert_int_equal(dc_buf_append(&b, "", 1), 0);
    assert_string_equal((char *)b.data,
                        "{\"event_id\":\"evt-0001\",\"ts\":\"2011-06-30T08:26:00.123Z\","
                        "\"ts_ms\":1309422360123,\"sku\":\"SKU-\xc3\xa9t\xc3\xa9-\xe2\x82\xac-"
                        "\xf0\x9f\x9b\x92\",\"user_id\":\"user \\\"quoted\\\" \\\\ back\","
                        "\"session_id\":\"tab\\u0009here\\u0001\",\"type\":\"SEARCH_CLICK\","
                        "\"price\":0.1,\"promo\":\"SUMMER-10\"}");

    sample_order(&o, 2);
    o.ts_ms = INT64_MIN;
    o.lines[1].unit_price = NAN;
    b.len = 0;
    assert_int_equal(dc_order_to_json(&o, &b), 0);
    assert_int_equal(dc_buf_append(&b, "", 1), 0);
    assert_string_equal((char *)b.data,
                        "{\"order_id\":\"536365\",\"ts\":null,\"ts_ms\":-9223372036854775808,"
                        "\"user_id\":\"17850\",\"status\":\"PLACED\",\"lines\":["
                        "{\"sku\":\"85123A-0\",\"qty\":1,\"unit_price\":2.55},"
                        "{\"sku\":\"85123A-1\",\"qty\":2,\"unit_price\":null}],\"promo_code\":null}");

    sample_forecast(f, 1);
    b.len = 0;
    assert_int_equal(dc_forecast_to_json(f, &b), 0);
    assert_int_equal(dc_buf_append(&b, "", 1), 0);
    assert_string_equal((char *)b.data,
                        "{\"sku\":\"22423\",\"bucket_start\":\"2010-12-01T08:00:00Z\","
                        "\"bucket_start_ms\":1291190400000,\"bucket_width\":3600000,"
                        "\"issued_at\":\"2010-12-01T09:00:00Z\",\"issued_at_ms\":1291194000000,"
                        "\"model_version\":9223372036854775807,\"horizons\":[{\"offset\":1,"
                        "\"mean\":3.25,\"p10\":0.3333333333333333,\"p50\":0,"
                        "\"p90\":1.7976931348623157e+308}],\"cold_start\":true}");

    sample_surge(&s, 1);
    strcpy(s.signals[0].name, "bad\xff");
    b.len = 0;
    assert_int_equal(dc_surge_to_json(&s, &b), 0);
    assert_int_equal(dc_buf_append(&b, "", 1), 0);
    assert_string_equal((char *)b.data,
                        "{\"sku\":\"84029E\",\"state\":\"UPDATE\",\"detected_at\":"
                        "\"1969-12-31T23:59:59.999Z\",\"detected_at_ms\":-1,\"expected\":120.5,"
                        "\"baseline\":2.2250738585072014e-308,\"ratio\":-0,\"signals\":["
                        "{\"name\":\"bad\\ufffd\",\"value\":-0.5}]}");

    dc_order_clear(&o);
    free(f);
    dc_buf_free(&b);
}

/* ---- OCF ---- */

static char tmp_dir[64];

static void temp_path(char *path, size_t size, const char *name)
{
    char *dir = tmp_dir;
    if (!dir[0]) {
        strcpy(dir, "/tmp/dc-test-schemas.XXXXXX");
        assert_non_null(mkdtemp(dir));
    }
    snprintf(path, size, "%s/%s", dir, name);
}

static void test_ocf_round_trip(void **state)
{
    char path[128];
    dc_ocf_writer_t *w;
    dc_ocf_reader_t *r;
    dc_rec_type_t type;
    dc_click_t in, out;
    dc_order_t oin = {0}, oout = {0};
    const int n = 5000; /* several deflate blocks */
    (void)state;

    temp_path(path, sizeof(path), "clicks.avro");
    assert_non_null(w = dc_ocf_writer_new(path, DC_REC_CLICK, errstr, sizeof(errstr)));
    for (int i = 0; i < n; i++) {
        sample_click(&in);
        in.ts_ms += i;
        in.has_promo = i % 3 == 0;
        snprintf(in.event_id, sizeof(in.event_id), "evt-%d", i);
        assert_int_equal(dc_ocf_write_click(w, &in), 0);
    }
    assert_int_equal(dc_ocf_write_order(w, &oin), DC_ERR_INVAL);
    assert_int_equal(dc_ocf_writer_close(w), 0);
    assert_int_equal(dc_ocf_writer_close(NULL), 0);

    assert_non_null(r = dc_ocf_reader_new(path, &type, errstr, sizeof(errstr)));
    assert_int_equal(type, DC_REC_CLICK);
    for (int i = 0; i < n; i++) {
        sample_click(&in);
        in.ts_ms += i;
        in.has_promo = i % 3 == 0;
        snprintf(in.event_id, sizeof(in.event_id), "evt-%d", i);
        assert_int_equal(dc_ocf_read_click(r, &out), 0);
        assert_click_equal(&in, &out);
    }
    assert_int_equal(dc_ocf_read_click(r, &out), DC_ERR_EOF);
    assert_int_equal(dc_ocf_read_click(r, &out), DC_ERR_EOF);
    assert_int_equal(dc_ocf_read_order(r, &oout), DC_ERR_INVAL);
    dc_ocf_reader_destroy(r);
    dc_ocf_reader_destroy(NULL);

    /* Orders, with an empty-lines one. */
    temp_path(path, sizeof(path), "orders.avro");
    assert_non_null(w = dc_ocf_writer_new(path, DC_REC_ORDER, errstr, sizeof(errstr)));
    for (size_t i = 0; i < 4; i++) {
        sample_order(&oin, i);
        assert_int_equal(dc_ocf_write_order(w, &oin), 0);
    }
    assert_int_equal(dc_ocf_writer_close(w), 0);
    assert_non_null(r = dc_ocf_reader_new(path, &type, errstr, sizeof(errstr)));
    assert_int_equal(type, DC_REC_ORDER);
    for (size_t i = 0; i < 4; i++) {
        sample_order(&oin, i);
        assert_int_equal(dc_ocf_read_order(r, &oout), 0);
        assert_order_equal(&oin, &oout);
    }
    assert_int_equal(dc_ocf_read_order(r, &oout), DC_ERR_EOF);
    dc_ocf_reader_destroy(r);

    /* A file with no records opens and is at its end at once. */
    temp_path(path, sizeof(path), "empty.avro");
    assert_non_null(w = dc_ocf_writer_new(path, DC_REC_FORECAST, errstr, sizeof(errstr)));
    assert_int_equal(dc_ocf_writer_close(w), 0);
    assert_non_null(r = dc_ocf_reader_new(path, &type, errstr, sizeof(errstr)));
    assert_int_equal(type, DC_REC_FORECAST);
    static dc_forecast_t f;
    assert_int_equal(dc_ocf_read_forecast(r, &f), DC_ERR_EOF);
    dc_ocf_reader_destroy(r);
    unlink(path);
    temp_path(path, sizeof(path), "orders.avro");
    unlink(path);
    temp_path(path, sizeof(path), "clicks.avro");
    unlink(path);

    dc_order_clear(&oin);
    dc_order_clear(&oout);
}

static void test_ocf_corrupt(void **state)
{
    char path[128], bad[128];
    dc_ocf_writer_t *w;
    dc_rec_type_t type;
    dc_surge_t s;
    FILE *f;
    long size;
    uint8_t *data;
    (void)state;

    temp_path(path, sizeof(path), "surges.avro");
    assert_non_null(w = dc_ocf_writer_new(path, DC_REC_SURGE, errstr, sizeof(errstr)));
    sample_surge(&s, 2);
    for (int i = 0; i < 100; i++)
        assert_int_equal(dc_ocf_write_surge(w, &s), 0);
    assert_int_equal(dc_ocf_writer_close(w), 0);
    assert_non_null(f = fopen(path, "rb"));
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    data = malloc((size_t)size);
    assert_int_equal(fread(data, 1, (size_t)size, f), (size_t)size);
    fclose(f);

    /* Every truncation of the file is refused at open, not midway, except
     * the one that leaves just the header: that is a valid empty file. The
     * header ends with the sync marker that also ends the file's one block. */
    long header_end = (long)((uint8_t *)memmem(data, (size_t)size, data + size - 16, 16) - data) + 16;
    temp_path(bad, sizeof(bad), "bad.avro");
    for (long n = 0; n < size; n += n < 64 || (n > header_end - 8 && n < header_end + 40) ? 1 : 7) {
        dc_ocf_reader_t *r;
        assert_non_null(f = fopen(bad, "wb"));
        assert_int_equal(fwrite(data, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        r = dc_ocf_reader_new(bad, &type, errstr, sizeof(errstr));
        if (n == header_end) {
            assert_non_null(r);
            assert_int_equal(dc_ocf_read_surge(r, &s), DC_ERR_EOF);
            dc_ocf_reader_destroy(r);
        } else {
            assert_null(r);
        }
    }
    /* A missing file and a file that is not an OCF. */
    assert_null(dc_ocf_reader_new("/nonexistent/x.avro", &type, errstr, sizeof(errstr)));
    assert_non_null(f = fopen(bad, "wb"));
    fputs("order_id,ts\n", f);
    fclose(f);
    assert_null(dc_ocf_reader_new(bad, &type, errstr, sizeof(errstr)));
    assert_non_null(strstr(errstr, "magic"));
    unlink(bad);
    unlink(path);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_click_round_trip),
        cmocka_unit_test(test_exact_bytes),
        cmocka_unit_test(test_order_round_trip),
        cmocka_unit_test(test_forecast_surge_round_trip),
        cmocka_unit_test(test_encode_invalid),
        cmocka_unit_test(test_resolution),
        cmocka_unit_test(test_truncated_every_prefix),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_malformed_skipped),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_ocf_round_trip),
        cmocka_unit_test(test_ocf_corrupt),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (tmp_dir[0])
        rmdir(tmp_dir);
    return failed;
}
