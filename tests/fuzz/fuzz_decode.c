/* tests/fuzz/fuzz_decode.c - libFuzzer target for the Confluent-framed Avro
 * decoders. Each input is decoded as all four record types; besides our own
 * ids 1..4, ids 5..8 carry writer schemas with extra fields of every Avro
 * type, so the resolution and skipping paths are fuzzed too.
 *
 * Beyond "no crash, no sanitizer report", whatever decodes must re-encode
 * (decoded strings are UTF-8, enums and counts in range), and that encoding
 * must decode and re-encode to the same bytes. */
#include "schemas/schemas.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *const extra_fields =
    "[{\"name\":\"x_map\",\"type\":{\"type\":\"map\",\"values\":[\"null\",\"bytes\",\"float\"]}},"
    "{\"name\":\"x_fixed\",\"type\":{\"type\":\"fixed\",\"name\":\"F4\",\"size\":4}},"
    "{\"name\":\"x_rec\",\"type\":{\"type\":\"record\",\"name\":\"Nested\",\"fields\":["
    "{\"name\":\"b\",\"type\":\"boolean\"},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}},"
    "{\"name\":\"l\",\"type\":{\"type\":\"array\",\"items\":\"int\"}}]}}]";

/* Our schema of type with the extra fields inserted before its last field. */
static char *with_extras(dc_rec_type_t type)
{
    json_t *root = json_loads(dc_schema_json(type), 0, NULL);
    json_t *extras = json_loads(extra_fields, 0, NULL);
    json_t *fields = json_object_get(root, "fields");
    size_t at = json_array_size(fields) - 1;
    char *out;

    for (size_t i = 0; i < json_array_size(extras); i++)
        json_array_insert(fields, at + i, json_array_get(extras, i));
    if (!(out = json_dumps(root, JSON_COMPACT)))
        abort();
    json_decref(extras);
    json_decref(root);
    return out;
}

static dc_codec_t *codec(void)
{
    static dc_codec_t *c;
    char errstr[512];

    if (c)
        return c;
    if (!(c = dc_codec_new(NULL, errstr, sizeof(errstr))))
        abort();
    for (int t = 0; t < DC_REC__COUNT; t++) {
        char *json = with_extras((dc_rec_type_t)t);
        if (dc_codec_register(c, (dc_rec_type_t)t, 5 + t, json, errstr, sizeof(errstr)))
            abort();
        free(json);
    }
    return c;
}

/* The decoded records; static because a Forecast is large. */
static dc_click_t click;
static dc_order_t order;
static dc_forecast_t forecast;
static dc_surge_t surge;
static dc_buf_t enc1, enc2, json;

static void check_stable(dc_rec_type_t type)
{
    dc_codec_t *c = codec();
    char errstr[256];
    int err;

    enc1.len = enc2.len = json.len = 0;
    switch (type) {
    case DC_REC_CLICK:
        err = dc_codec_encode_click(c, &click, &enc1) ||
              dc_codec_decode_click(c, enc1.data, enc1.len, &click, errstr, sizeof(errstr)) ||
              dc_codec_encode_click(c, &click, &enc2) || dc_click_to_json(&click, &json);
        break;
    case DC_REC_ORDER:
        err = dc_codec_encode_order(c, &order, &enc1) ||
              dc_codec_decode_order(c, enc1.data, enc1.len, &order, errstr, sizeof(errstr)) ||
              dc_codec_encode_order(c, &order, &enc2) || dc_order_to_json(&order, &json);
        break;
    case DC_REC_FORECAST:
        err = dc_codec_encode_forecast(c, &forecast, &enc1) ||
              dc_codec_decode_forecast(c, enc1.data, enc1.len, &forecast, errstr, sizeof(errstr)) ||
              dc_codec_encode_forecast(c, &forecast, &enc2) || dc_forecast_to_json(&forecast, &json);
        break;
    default:
        err = dc_codec_encode_surge(c, &surge, &enc1) ||
              dc_codec_decode_surge(c, enc1.data, enc1.len, &surge, errstr, sizeof(errstr)) ||
              dc_codec_encode_surge(c, &surge, &enc2) || dc_surge_to_json(&surge, &json);
        break;
    }
    if (err || enc1.len != enc2.len || memcmp(enc1.data, enc2.data, enc1.len))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dc_codec_t *c = codec();
    char errstr[256];

    if (!dc_codec_decode_click(c, data, size, &click, errstr, sizeof(errstr)))
        check_stable(DC_REC_CLICK);
    if (!dc_codec_decode_order(c, data, size, &order, errstr, sizeof(errstr)))
        check_stable(DC_REC_ORDER);
    if (!dc_codec_decode_forecast(c, data, size, &forecast, errstr, sizeof(errstr)))
        check_stable(DC_REC_FORECAST);
    if (!dc_codec_decode_surge(c, data, size, &surge, errstr, sizeof(errstr)))
        check_stable(DC_REC_SURGE);
    return 0;
}
