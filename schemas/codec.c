/* schemas/codec.c - the Confluent-framed codec: a table from schema id to a
 * compiled plan, encoders that frame our records, decoders that look up the
 * writer's plan by the id in the frame. */
#include "schemas/schemas_int.h"

#include <stdlib.h>
#include <string.h>

#define HEADER_LEN 5 /* magic byte 0, then a 4-byte big-endian schema id */

typedef struct {
    int32_t id;
    dc_rec_type_t type;
    dc__plan_t *plan;
} entry_t;

struct dc_codec_s {
    avro_schema_t schema[DC_REC__COUNT]; /* ours: what we write, what we read into */
    int32_t own_id[DC_REC__COUNT];
    /* A handful of ids at most (ours plus registered versions), so a linear
     * scan beats any hashing. */
    entry_t *entries;
    size_t n_entries;
};

static const char *const id_keys[DC_REC__COUNT] = {
    [DC_REC_CLICK] = "schema.id.click",
    [DC_REC_ORDER] = "schema.id.order",
    [DC_REC_FORECAST] = "schema.id.forecast",
    [DC_REC_SURGE] = "schema.id.surge",
};

static const entry_t *lookup(const dc_codec_t *codec, int32_t id)
{
    for (size_t i = 0; i < codec->n_entries; i++)
        if (codec->entries[i].id == id)
            return &codec->entries[i];
    return NULL;
}

static int add_entry(dc_codec_t *codec, dc_rec_type_t type, int32_t id, avro_schema_t writer,
                     char *errstr, size_t errstr_size)
{
    entry_t *entries;
    dc__plan_t *plan;
    int err;

    if (id < 0)
        return dc_seterr(errstr, errstr_size, DC_ERR_INVAL, "schema id %d is negative", id);
    if (lookup(codec, id))
        return dc_seterr(errstr, errstr_size, DC_ERR_INVAL, "schema id %d is already registered",
                         id);
    if ((err = dc__plan_compile(writer, codec->schema[type], dc__rrec(type), &plan, errstr,
                                errstr_size)))
        return err;
    entries = realloc(codec->entries, (codec->n_entries + 1) * sizeof(*entries));
    if (!entries) {
        dc__plan_destroy(plan);
        return dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
    }
    codec->entries = entries;
    codec->entries[codec->n_entries++] = (entry_t){id, type, plan};
    return DC_OK;
}

dc_codec_t *dc_codec_new(const dc_conf_t *conf, char *errstr, size_t errstr_size)
{
    dc_codec_t *codec = calloc(1, sizeof(*codec));

    if (!codec) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (int t = 0; t < DC_REC__COUNT; t++) {
        codec->own_id[t] = conf ? (int32_t)dc_conf_int(conf, id_keys[t]) : t + 1;
        if (dc__schema_parse((dc_rec_type_t)t, &codec->schema[t], errstr, errstr_size))
            goto fail;
    }
    for (int t = 0; t < DC_REC__COUNT; t++) {
        if (lookup(codec, codec->own_id[t])) {
            dc_seterr(errstr, errstr_size, DC_ERR_CONFIG, "%s=%d is already the id of another "
                      "record type", id_keys[t], codec->own_id[t]);
            goto fail;
        }
        if (add_entry(codec, (dc_rec_type_t)t, codec->own_id[t], codec->schema[t], errstr,
                      errstr_size))
            goto fail;
    }
    return codec;
fail:
    dc_codec_destroy(codec);
    return NULL;
}

void dc_codec_destroy(dc_codec_t *codec)
{
    if (!codec)
        return;
    for (size_t i = 0; i < codec->n_entries; i++)
        dc__plan_destroy(codec->entries[i].plan);
    free(codec->entries);
    for (int t = 0; t < DC_REC__COUNT; t++)
        if (codec->schema[t])
            avro_schema_decref(codec->schema[t]);
    free(codec);
}

int dc_codec_register(dc_codec_t *codec, dc_rec_type_t type, int32_t schema_id,
                      const char *writer_schema_json, char *errstr, size_t errstr_size)
{
    avro_schema_t writer;
    int err;

    if ((unsigned)type >= DC_REC__COUNT)
        return dc_seterr(errstr, errstr_size, DC_ERR_INVAL, "no record type %d", (int)type);
    if (avro_schema_from_json_length(writer_schema_json, strlen(writer_schema_json), &writer))
        return dc_seterr(errstr, errstr_size, DC_ERR_INVAL, "writer schema for id %d: %s",
                         schema_id, avro_strerror());
    err = add_entry(codec, type, schema_id, writer, errstr, errstr_size);
    avro_schema_decref(writer); /* the plan keeps its own reference */
    return err;
}

int dc_codec_peek_id(const void *buf, size_t len, int32_t *schema_id)
{
    const uint8_t *p = buf;

    if (len < HEADER_LEN)
        return DC_ERR_TRUNCATED;
    if (p[0] != 0)
        return DC_ERR_BAD_MAGIC;
    *schema_id = (int32_t)((uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4]);
    return DC_OK;
}

int dc_codec_id_type(const dc_codec_t *codec, int32_t schema_id, dc_rec_type_t *type)
{
    const entry_t *e = lookup(codec, schema_id);

    if (!e)
        return DC_ERR_UNKNOWN_SCHEMA;
    *type = e->type;
    return DC_OK;
}

static int encode(const dc_codec_t *codec, dc_rec_type_t type, const void *rec, dc_buf_t *out)
{
    uint32_t id = (uint32_t)codec->own_id[type];
    uint8_t header[HEADER_LEN] = {0, (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8),
                                  (uint8_t)id};
    size_t len0 = out->len;
    int err = dc_buf_append(out, header, sizeof(header));

    if (!err && (err = dc__encode(dc__rrec(type), rec, out)))
        out->len = len0;
    return err;
}

int dc_codec_encode_click(dc_codec_t *codec, const dc_click_t *click, dc_buf_t *out)
{
    return encode(codec, DC_REC_CLICK, click, out);
}

int dc_codec_encode_order(dc_codec_t *codec, const dc_order_t *order, dc_buf_t *out)
{
    return encode(codec, DC_REC_ORDER, order, out);
}

int dc_codec_encode_forecast(dc_codec_t *codec, const dc_forecast_t *fc, dc_buf_t *out)
{
    return encode(codec, DC_REC_FORECAST, fc, out);
}

int dc_codec_encode_surge(dc_codec_t *codec, const dc_surge_t *surge, dc_buf_t *out)
{
    return encode(codec, DC_REC_SURGE, surge, out);
}

static int decode(dc_codec_t *codec, dc_rec_type_t type, const void *buf, size_t len, void *out,
                  char *errstr, size_t errstr_size)
{
    const entry_t *e;
    int32_t id;

    switch (dc_codec_peek_id(buf, len, &id)) {
    case DC_OK: break;
    case DC_ERR_TRUNCATED:
        return dc_seterr(errstr, errstr_size, DC_ERR_TRUNCATED,
                         "%zu bytes, shorter than the 5-byte framing header", len);
    default:
        return dc_seterr(errstr, errstr_size, DC_ERR_BAD_MAGIC, "magic byte is 0x%02x, not 0",
                         *(const uint8_t *)buf);
    }
    if (!(e = lookup(codec, id)))
        return dc_seterr(errstr, errstr_size, DC_ERR_UNKNOWN_SCHEMA,
                         "schema id %d is not registered", id);
    if (e->type != type)
        return dc_seterr(errstr, errstr_size, DC_ERR_UNKNOWN_SCHEMA, "schema id %d is a %s, not a %s",
                         id, dc_schema_name(e->type), dc_schema_name(type));
    return dc__plan_decode(e->plan, (const uint8_t *)buf + HEADER_LEN, len - HEADER_LEN, out,
                           errstr, errstr_size);
}

int dc_codec_decode_click(dc_codec_t *codec, const void *buf, size_t len, dc_click_t *out,
                          char *errstr, size_t errstr_size)
{
    return decode(codec, DC_REC_CLICK, buf, len, out, errstr, errstr_size);
}

int dc_codec_decode_order(dc_codec_t *codec, const void *buf, size_t len, dc_order_t *out,
                          char *errstr, size_t errstr_size)
{
    return decode(codec, DC_REC_ORDER, buf, len, out, errstr, errstr_size);
}

int dc_codec_decode_forecast(dc_codec_t *codec, const void *buf, size_t len, dc_forecast_t *out,
                             char *errstr, size_t errstr_size)
{
    return decode(codec, DC_REC_FORECAST, buf, len, out, errstr, errstr_size);
}

int dc_codec_decode_surge(dc_codec_t *codec, const void *buf, size_t len, dc_surge_t *out,
                          char *errstr, size_t errstr_size)
{
    return decode(codec, DC_REC_SURGE, buf, len, out, errstr, errstr_size);
}
