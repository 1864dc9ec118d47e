/*
 * schemas/schemas.h - the records of DESIGN.md section 2 as C structs, and the
 * codec between them and Avro binary in the Confluent framing
 * (magic byte 0, 4-byte big-endian schema id, Avro binary body).
 *
 * The .avsc files in schemas/ are the source of truth; they are compiled into
 * the library, and each is parsed once, in dc_codec_new(). A codec is not
 * thread-safe: give each thread its own.
 *
 * Decoding never reads past the given buffer and never trusts a length from
 * the wire: truncated input, a wrong magic byte, an unknown schema id, a bad
 * varint, a negative or too-large length, an out-of-range enum or union
 * branch, or trailing bytes each fail with their own dc_err_t and a message in
 * errstr. A string longer than its field below is DC_ERR_MALFORMED.
 */
#ifndef DC_SCHEMAS_H
#define DC_SCHEMAS_H

#include "common/common.h"

#include <stdint.h>

#define DC_SKU_MAX 64  /* bytes including the terminator */
#define DC_ID_MAX 64   /* event_id, order_id, user_id, session_id */
#define DC_TEXT_MAX 64 /* promo codes, signal names */
#define DC_HORIZON_MAX 512
#define DC_SIGNALS_MAX 8

typedef enum {
    DC_REC_CLICK = 0,
    DC_REC_ORDER,
    DC_REC_FORECAST,
    DC_REC_SURGE,
    DC_REC__COUNT
} dc_rec_type_t;

/* Symbol order matches the Avro enum in ClickEvent.avsc. */
typedef enum {
    DC_CLICK_VIEW = 0,
    DC_CLICK_ADD_TO_CART,
    DC_CLICK_REMOVE_FROM_CART,
    DC_CLICK_WISHLIST,
    DC_CLICK_SEARCH_CLICK,
    DC_CLICK__COUNT
} dc_click_type_t;

typedef struct {
    char event_id[DC_ID_MAX];
    int64_t ts_ms; /* event time, timestamp-millis */
    char sku[DC_SKU_MAX];
    char user_id[DC_ID_MAX];
    char session_id[DC_ID_MAX];
    dc_click_type_t type;
    double price;
    int has_promo; /* promo is null when 0 */
    char promo[DC_TEXT_MAX];
} dc_click_t;

typedef enum { DC_ORDER_PLACED = 0, DC_ORDER_CANCELLED, DC_ORDER__COUNT } dc_order_status_t;

typedef struct {
    char sku[DC_SKU_MAX];
    int32_t qty;
    double unit_price;
} dc_order_line_t;

/* lines is owned by the record: decoding grows it as needed and reuses it
 * for the next record; dc_order_clear() frees it. Zero-initialise before
 * first use. */
typedef struct {
    char order_id[DC_ID_MAX];
    int64_t ts_ms;
    char user_id[DC_ID_MAX];
    dc_order_status_t status;
    dc_order_line_t *lines;
    size_t n_lines;
    size_t lines_cap;
    int has_promo_code;
    char promo_code[DC_TEXT_MAX];
} dc_order_t;

void dc_order_clear(dc_order_t *order);
/* Appends a line, growing lines; for producers building an order. */
int dc_order_add_line(dc_order_t *order, const char *sku, int32_t qty, double unit_price);

typedef struct {
    int32_t offset; /* buckets ahead of bucket_start: 1..H */
    double mean, p10, p50, p90;
} dc_horizon_t;

/* issued_at is event time (the watermark that closed the bucket), never the
 * wall clock, so the same input always gives the same bytes. */
typedef struct {
    char sku[DC_SKU_MAX];
    int64_t bucket_start; /* start of the bucket just closed (the origin) */
    int64_t bucket_width; /* milliseconds */
    int64_t issued_at;
    int64_t model_version;
    dc_horizon_t horizons[DC_HORIZON_MAX];
    size_t n_horizons;
    int cold_start;
} dc_forecast_t;

typedef enum { DC_SURGE_START = 0, DC_SURGE_UPDATE, DC_SURGE_END, DC_SURGE__COUNT } dc_surge_state_t;

typedef struct {
    char name[DC_TEXT_MAX]; /* e.g. "views_5m_z", "cart_rate", "forecast_ratio" */
    double value;
} dc_signal_t;

typedef struct {
    char sku[DC_SKU_MAX];
    dc_surge_state_t state;
    int64_t detected_at; /* event time */
    double expected, baseline, ratio;
    dc_signal_t signals[DC_SIGNALS_MAX];
    size_t n_signals;
} dc_surge_t;

const char *dc_click_type_name(dc_click_type_t type);
const char *dc_order_status_name(dc_order_status_t status);
const char *dc_surge_state_name(dc_surge_state_t state);

/* The embedded .avsc text of each record type (never NULL). */
const char *dc_schema_json(dc_rec_type_t type);
/* Avro full name of each record type, e.g. "demandcast.ClickEvent". */
const char *dc_schema_name(dc_rec_type_t type);

typedef struct dc_codec_s dc_codec_t;

/* Parses the four schemas once and registers each under the id that config
 * gives it (schema.id.click, .order, .forecast, .surge; NULL conf means the
 * defaults 1..4). conf is only read during the call. Returns NULL and fills
 * errstr on failure, e.g. when two types are given the same id. */
dc_codec_t *dc_codec_new(const dc_conf_t *conf, char *errstr, size_t errstr_size);
void dc_codec_destroy(dc_codec_t *codec);

/* Registers another writer schema (e.g. an older or newer version of a
 * record) under schema_id, resolved against our reader schema of type. Records
 * framed with that id then decode into our struct: fields the writer lacks
 * take their defaults, fields we lack are skipped, numbers promote (int to
 * long or double), enum symbols map by name. Fails with DC_ERR_INVAL and a
 * reason if the schema does not parse or cannot be resolved, or if the id is
 * taken. The JSON is only read during the call. Not for use while another
 * thread decodes with the same codec. */
int dc_codec_register(dc_codec_t *codec, dc_rec_type_t type, int32_t schema_id,
                      const char *writer_schema_json, char *errstr, size_t errstr_size);

/* Reads the framing header: schema id of a framed message. DC_ERR_TRUNCATED
 * when len < 5, DC_ERR_BAD_MAGIC when the first byte is not 0. */
int dc_codec_peek_id(const void *buf, size_t len, int32_t *schema_id);
/* Which record type a registered schema id decodes to; DC_ERR_UNKNOWN_SCHEMA
 * if none. */
int dc_codec_id_type(const dc_codec_t *codec, int32_t schema_id, dc_rec_type_t *type);

/* Encoders append one framed record (header + body) to out, with our own
 * schema id for the type. A string field is its text up to the first NUL;
 * DC_ERR_INVAL (out unchanged) when a string fills its whole array or is not
 * UTF-8, an enum is out of range or an array count exceeds its storage. */
int dc_codec_encode_click(dc_codec_t *codec, const dc_click_t *click, dc_buf_t *out);
int dc_codec_encode_order(dc_codec_t *codec, const dc_order_t *order, dc_buf_t *out);
int dc_codec_encode_forecast(dc_codec_t *codec, const dc_forecast_t *fc, dc_buf_t *out);
int dc_codec_encode_surge(dc_codec_t *codec, const dc_surge_t *surge, dc_buf_t *out);

/* Decoders read one framed record of exactly len bytes. On failure *out is
 * unspecified (but still safe to reuse or clear). A message framed with the
 * id of another record type fails with DC_ERR_UNKNOWN_SCHEMA. Strings must
 * be UTF-8 without NUL bytes (else DC_ERR_MALFORMED), so every char array
 * decoded is a terminated, valid UTF-8 string. The only allocation is growth
 * of dc_order_t.lines, bounded by what len can hold. */
int dc_codec_decode_click(dc_codec_t *codec, const void *buf, size_t len, dc_click_t *out,
                          char *errstr, size_t errstr_size);
int dc_codec_decode_order(dc_codec_t *codec, const void *buf, size_t len, dc_order_t *out,
                          char *errstr, size_t errstr_size);
int dc_codec_decode_forecast(dc_codec_t *codec, const void *buf, size_t len, dc_forecast_t *out,
                             char *errstr, size_t errstr_size);
int dc_codec_decode_surge(dc_codec_t *codec, const void *buf, size_t len, dc_surge_t *out,
                          char *errstr, size_t errstr_size);

/* Appends a record as one line of JSON (no newline) for people and tools.
 * Keys are the Avro field names; each timestamp field F appears as "F", an
 * ISO-8601 UTC string (null outside years 0000-9999), and as "F_ms", the raw
 * milliseconds. Enums are their symbols, NaN and infinities null. On failure
 * out is unchanged. */
int dc_click_to_json(const dc_click_t *click, dc_buf_t *out);
int dc_order_to_json(const dc_order_t *order, dc_buf_t *out);
int dc_forecast_to_json(const dc_forecast_t *fc, dc_buf_t *out);
int dc_surge_to_json(const dc_surge_t *surge, dc_buf_t *out);

/* ---- Avro object container files (replay input, gen output) ---- */

typedef struct dc_ocf_writer_s dc_ocf_writer_t;
typedef struct dc_ocf_reader_s dc_ocf_reader_t;

/* Creates (truncates) path as an OCF of records of type, deflate-compressed
 * in blocks of 256 KiB (a larger record fails with DC_ERR_INVAL). The header
 * carries the .avsc text verbatim, so other readers see its logical types
 * and docs. A writer is not thread-safe. */
dc_ocf_writer_t *dc_ocf_writer_new(const char *path, dc_rec_type_t type, char *errstr,
                                   size_t errstr_size);
/* Each appends one record of the writer's type (DC_ERR_INVAL for another
 * type, or as the encoders above). */
int dc_ocf_write_click(dc_ocf_writer_t *w, const dc_click_t *click);
int dc_ocf_write_order(dc_ocf_writer_t *w, const dc_order_t *order);
int dc_ocf_write_forecast(dc_ocf_writer_t *w, const dc_forecast_t *fc);
int dc_ocf_write_surge(dc_ocf_writer_t *w, const dc_surge_t *surge);
/* Flushes and closes; returns the first write error if any. NULL is a no-op. */
int dc_ocf_writer_close(dc_ocf_writer_t *w);

/* Opens an OCF; its writer schema (from the file header) is resolved against
 * our reader schema of the record type named in it (by full name, e.g.
 * demandcast.OrderEvent), with the rules of dc_codec_register(). *type tells
 * which. The container structure is checked in full first, so a truncated
 * or corrupt file fails here (DC_ERR_MALFORMED) rather than midway. Files
 * from any Avro writer are read, with codec null or deflate (or whatever
 * else the installed avro-c supports). */
dc_ocf_reader_t *dc_ocf_reader_new(const char *path, dc_rec_type_t *type, char *errstr,
                                   size_t errstr_size);
/* Each returns DC_OK, DC_ERR_EOF at the end, DC_ERR_INVAL when the file holds
 * another type, or DC_ERR_MALFORMED for a record that is corrupt (avro-c
 * cannot read it: the rest of the file is then lost) or that our struct
 * cannot hold (e.g. a string too long: reading on continues after it). */
int dc_ocf_read_click(dc_ocf_reader_t *r, dc_click_t *out);
int dc_ocf_read_order(dc_ocf_reader_t *r, dc_order_t *out);
int dc_ocf_read_forecast(dc_ocf_reader_t *r, dc_forecast_t *out);
int dc_ocf_read_surge(dc_ocf_reader_t *r, dc_surge_t *out);
/* Text of the last read failure; valid until the next read. */
const char *dc_ocf_reader_error(const dc_ocf_reader_t *r);
void dc_ocf_reader_destroy(dc_ocf_reader_t *r);

#endif /* DC_SCHEMAS_H */
