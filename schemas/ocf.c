/*
 * schemas/ocf.c - Avro object container files through avro-c's
 * avro_file_writer / avro_file_reader.
 *
 * Writing: the header (with our .avsc text) is written here, then avro-c
 * opens the file for appending; each record is encoded by our encoder and
 * appended as encoded bytes (avro_file_writer_append_encoded), and avro-c
 * deflates and frames the blocks.
 *
 * Reading: avro-c's file reader trusts the container's own numbers (it
 * mallocs whatever block size a file declares, and cannot open a file that
 * holds no records), so the container structure is first checked here in
 * one sequential pass: magic, header map, and every block's count, size
 * (against the bytes really left in the file) and sync marker. That pass
 * also counts the records, which is how the end of the file is told apart
 * from a corrupt record. avro-c then reads each record into a generic value
 * of the file's writer schema, which is re-encoded and decoded by the same
 * plan the Kafka path uses, so the file's schema is resolved against ours by
 * exactly the same rules. What stays avro-c's is the inside of a
 * decompressed block: a corrupt length there makes it attempt (and fail) one
 * allocation of that length, and fail the read.
 */
#include "schemas/schemas_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Big enough for any Forecast (512 horizons) or an order of ~3000 lines. */
#define OCF_BLOCK_SIZE (256 * 1024)
/* Blocks written by other tools may be larger, but not absurdly so. */
#define OCF_BLOCK_MAX (64 * 1024 * 1024)
#define OCF_HEADER_VALUE_MAX (1024 * 1024)

struct dc_ocf_writer_s {
    avro_file_writer_t fw;
    dc_rec_type_t type;
    dc_buf_t body;
    int err; /* first failure, reported again by close */
};

/* The sync marker only has to be unlikely inside the data. Deriving it from
 * the schema (two FNV-1a hashes with different offsets) instead of drawing it
 * at random keeps files of the same records byte-identical, so `gen` output
 * is reproducible for a seed, files included. */
static void sync_marker(const char *schema, uint8_t sync[16])
{
    uint64_t h[2] = {0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL};
    for (int k = 0; k < 2; k++) {
        for (const char *p = schema; *p; p++)
            h[k] = (h[k] ^ (unsigned char)*p) * 0x100000001b3ULL;
        for (int i = 0; i < 8; i++)
            sync[k * 8 + i] = (uint8_t)(h[k] >> (8 * i));
    }
}

/* Writes the container header with the .avsc text itself as avro.schema:
 * avro-c's own writer would store its re-serialisation of the schema, which
 * drops "doc" and "logicalType", and other readers would then see plain longs
 * where our times are timestamp-millis. avro-c then appends to the file. */
static int write_header(const char *path, dc_rec_type_t type, char *errstr, size_t errstr_size)
{
    const char *schema = dc_schema_json(type);
    uint8_t sync[16];
    dc_buf_t h = {0};
    FILE *f = NULL;
    int err;

    sync_marker(schema, sync);
    if ((err = dc_buf_append(&h, "Obj\1", 4)) || (err = dc__put_long(&h, 2)) ||
        (err = dc__put_long(&h, 10)) || (err = dc_buf_append(&h, "avro.codec", 10)) ||
        (err = dc__put_long(&h, 7)) || (err = dc_buf_append(&h, "deflate", 7)) ||
        (err = dc__put_long(&h, 11)) || (err = dc_buf_append(&h, "avro.schema", 11)) ||
        (err = dc__put_long(&h, (int64_t)strlen(schema))) ||
        (err = dc_buf_append(&h, schema, strlen(schema))) || (err = dc__put_long(&h, 0)) ||
        (err = dc_buf_append(&h, sync, sizeof(sync)))) {
        dc_seterr(errstr, errstr_size, err, "out of memory");
        goto fail;
    }
    if (!(f = fopen(path, "wb")) || fwrite(h.data, 1, h.len, f) != h.len) {
        err = dc_seterr(errstr, errstr_size, DC_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    err = fclose(f) ? dc_seterr(errstr, errstr_size, DC_ERR_IO, "%s: %s", path, strerror(errno))
                    : DC_OK;
    f = NULL;
fail:
    if (f)
        fclose(f);
    dc_buf_free(&h);
    return err;
}

dc_ocf_writer_t *dc_ocf_writer_new(const char *path, dc_rec_type_t type, char *errstr,
                                   size_t errstr_size)
{
    dc_ocf_writer_t *w = calloc(1, sizeof(*w));

    if (!w) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if ((unsigned)type >= DC_REC__COUNT) {
        dc_seterr(errstr, errstr_size, DC_ERR_INVAL, "no record type %d", (int)type);
        goto fail;
    }
    w->type = type;
    if (write_header(path, type, errstr, errstr_size))
        goto fail;
    if (avro_file_writer_open_bs(path, &w->fw, OCF_BLOCK_SIZE)) {
        dc_seterr(errstr, errstr_size, DC_ERR_IO, "%s: %s", path, avro_strerror());
        goto fail;
    }
    return w;
fail:
    free(w);
    return NULL;
}

static int ocf_write(dc_ocf_writer_t *w, dc_rec_type_t type, const void *rec)
{
    int err;

    if (type != w->type)
        return DC_ERR_INVAL;
    w->body.len = 0;
    if ((err = dc__encode(dc__rrec(type), rec, &w->body)))
        return err;
    if (w->body.len > OCF_BLOCK_SIZE) {
        dc_log(DC_LOG_ERROR, "schemas", "%s record of %zu bytes exceeds the %d-byte OCF block",
               dc_schema_name(type), w->body.len, OCF_BLOCK_SIZE);
        return DC_ERR_INVAL;
    }
    if (avro_file_writer_append_encoded(w->fw, w->body.data, (int64_t)w->body.len)) {
        dc_log(DC_LOG_ERROR, "schemas", "OCF write: %s", avro_strerror());
        if (!w->err)
            w->err = DC_ERR_IO;
        return DC_ERR_IO;
    }
    return DC_OK;
}

int dc_ocf_write_click(dc_ocf_writer_t *w, const dc_click_t *click)
{
    return ocf_write(w, DC_REC_CLICK, click);
}

int dc_ocf_write_order(dc_ocf_writer_t *w, const dc_order_t *order)
{
    return ocf_write(w, DC_REC_ORDER, order);
}

int dc_ocf_write_forecast(dc_ocf_writer_t *w, const dc_forecast_t *fc)
{
    return ocf_write(w, DC_REC_FORECAST, fc);
}

int dc_ocf_write_surge(dc_ocf_writer_t *w, const dc_surge_t *surge)
{
    return ocf_write(w, DC_REC_SURGE, surge);
}

int dc_ocf_writer_close(dc_ocf_writer_t *w)
{
    int err;

    if (!w)
        return DC_OK;
    err = w->err;
    if (avro_file_writer_close(w->fw)) {
        dc_log(DC_LOG_ERROR, "schemas", "OCF close: %s", avro_strerror());
        err = err ? err : DC_ERR_IO;
    }
    dc_buf_free(&w->body);
    free(w);
    return err;
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */
/* ------------------------------------------------------------------------ */

struct dc_ocf_reader_s {
    avro_file_reader_t fr; /* NULL when the file holds no records */
    avro_schema_t writer;  /* the file's schema */
    avro_value_iface_t *iface;
    avro_value_t value; /* reused for every record */
    avro_writer_t mw;
    dc_buf_t bytes;
    dc__plan_t *plan;
    dc_rec_type_t type;
    int64_t left; /* records not yet read */
    char error[256];
};

/* The structure pass over the file; fills what the reader needs. */
typedef struct {
    FILE *f;
    off_t size;
    char *schema_json;
    int64_t records;
    char *errstr;
    size_t errstr_size;
} scan_t;

static int scan_fail(scan_t *s, const char *what)
{
    off_t at = ftello(s->f);
    return dc_seterr(s->errstr, s->errstr_size, DC_ERR_MALFORMED,
                     "not a valid Avro container file: %s (at byte %lld)", what, (long long)at);
}

static int scan_long(scan_t *s, int64_t *v)
{
    uint64_t u = 0;

    for (int shift = 0; shift < 64; shift += 7) {
        int b = getc(s->f);
        if (b == EOF)
            return scan_fail(s, "ends inside a number");
        u |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
            return DC_OK;
        }
    }
    return scan_fail(s, "bad varint");
}

/* A length that must also fit in what is left of the file. */
static int scan_len(scan_t *s, int64_t max, int64_t *n)
{
    int err = scan_long(s, n);
    if (err)
        return err;
    if (*n < 0 || *n > max || *n > s->size - ftello(s->f))
        return scan_fail(s, "length out of range");
    return DC_OK;
}

static int scan_header(scan_t *s, char sync[16])
{
    char magic[4];
    int64_t count, n, ignored;
    int err;

    if (fread(magic, 1, 4, s->f) != 4 || memcmp(magic, "Obj\1", 4))
        return scan_fail(s, "bad magic");
    for (;;) {
        if ((err = scan_long(s, &count)))
            return err;
        if (!count)
            break;
        if (count < 0 && ((err = scan_long(s, &ignored))))
            return err;
        for (int64_t i = count < 0 ? count : -count; i < 0; i++) {
            char key[64] = "";
            if ((err = scan_len(s, OCF_HEADER_VALUE_MAX, &n)))
                return err;
            if ((size_t)n < sizeof(key)) {
                if (fread(key, 1, (size_t)n, s->f) != (size_t)n)
                    return scan_fail(s, "truncated header");
            } else if (fseeko(s->f, n, SEEK_CUR)) {
                return scan_fail(s, "truncated header");
            }
            if ((err = scan_len(s, OCF_HEADER_VALUE_MAX, &n)))
                return err;
            if (!strcmp(key, "avro.schema") && !s->schema_json) {
                if (!(s->schema_json = malloc((size_t)n + 1)))
                    return DC_ERR_NOMEM;
                if (fread(s->schema_json, 1, (size_t)n, s->f) != (size_t)n)
                    return scan_fail(s, "truncated header");
                s->schema_json[n] = '\0';
            } else if (fseeko(s->f, n, SEEK_CUR)) {
                return scan_fail(s, "truncated header");
            }
        }
    }
    if (!s->schema_json)
        return scan_fail(s, "no avro.schema in the header");
    if (fread(sync, 1, 16, s->f) != 16)
        return scan_fail(s, "no sync marker");
    return DC_OK;
}

static int scan_file(scan_t *s)
{
    char sync[16], mark[16];
    int64_t count, n;
    int err, c;

    if ((err = scan_header(s, sync)))
        return err;
    while ((c = getc(s->f)) != EOF) {
        ungetc(c, s->f);
        if ((err = scan_long(s, &count)))
            return err;
        if (count < 0)
            return scan_fail(s, "negative block count");
        if ((err = scan_len(s, OCF_BLOCK_MAX, &n)))
            return err;
        if (fseeko(s->f, n, SEEK_CUR) || fread(mark, 1, 16, s->f) != 16 || memcmp(mark, sync, 16))
            return scan_fail(s, "block does not end with the sync marker");
        s->records += count;
    }
    return DC_OK;
}

static int type_of_schema(avro_schema_t schema, dc_rec_type_t *type)
{
    char name[256];

    if (!is_avro_record(schema))
        return DC_ERR_INVAL;
    snprintf(name, sizeof(name), "%s.%s", avro_schema_namespace(schema) ? avro_schema_namespace(schema) : "",
             avro_schema_name(schema));
    for (int t = 0; t < DC_REC__COUNT; t++)
        if (!strcmp(name, dc_schema_name((dc_rec_type_t)t))) {
            *type = (dc_rec_type_t)t;
            return DC_OK;
        }
    return DC_ERR_INVAL;
}

dc_ocf_reader_t *dc_ocf_reader_new(const char *path, dc_rec_type_t *type, char *errstr,
                                   size_t errstr_size)
{
    dc_ocf_reader_t *r = calloc(1, sizeof(*r));
    scan_t scan = {.errstr = errstr, .errstr_size = errstr_size};
    avro_schema_t ours = NULL;
    struct stat st;
    int err;

    if (!r) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (!(scan.f = fopen(path, "rb")) || fstat(fileno(scan.f), &st)) {
        dc_seterr(errstr, errstr_size, DC_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    scan.size = st.st_size;
    if ((err = scan_file(&scan))) {
        if (err == DC_ERR_NOMEM)
            dc_seterr(errstr, errstr_size, err, "out of memory");
        goto fail;
    }
    if (avro_schema_from_json_length(scan.schema_json, strlen(scan.schema_json), &r->writer)) {
        dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED, "%s: bad schema in the header: %s", path,
                  avro_strerror());
        goto fail;
    }
    if (type_of_schema(r->writer, &r->type)) {
        dc_seterr(errstr, errstr_size, DC_ERR_UNKNOWN_SCHEMA,
                  "%s holds %s records, not one of ours", path,
                  avro_schema_name(r->writer) ? avro_schema_name(r->writer) : "non-record");
        goto fail;
    }
    if (dc__schema_parse(r->type, &ours, errstr, errstr_size) ||
        dc__plan_compile(r->writer, ours, dc__rrec(r->type), &r->plan, errstr, errstr_size))
        goto fail;
    if (!(r->iface = avro_generic_class_from_schema(r->writer)) ||
        avro_generic_value_new(r->iface, &r->value) || !(r->mw = avro_writer_memory(NULL, 0))) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "%s", avro_strerror());
        goto fail;
    }
    r->left = scan.records;
    if (r->left > 0 && avro_file_reader(path, &r->fr)) {
        dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED, "%s: %s", path, avro_strerror());
        r->fr = NULL;
        goto fail;
    }
    *type = r->type;
    avro_schema_decref(ours);
    free(scan.schema_json);
    fclose(scan.f);
    return r;
fail:
    if (ours)
        avro_schema_decref(ours);
    free(scan.schema_json);
    if (scan.f)
        fclose(scan.f);
    dc_ocf_reader_destroy(r);
    return NULL;
}

static int ocf_read(dc_ocf_reader_t *r, dc_rec_type_t type, void *out)
{
    size_t size;

    if (type != r->type)
        return dc_seterr(r->error, sizeof(r->error), DC_ERR_INVAL, "file holds %s, not %s",
                         dc_schema_name(r->type), dc_schema_name(type));
    if (r->left <= 0)
        return DC_ERR_EOF;
    r->left--;
    if (avro_file_reader_read_value(r->fr, &r->value) || avro_value_sizeof(&r->value, &size))
        return dc_seterr(r->error, sizeof(r->error), DC_ERR_MALFORMED, "%s", avro_strerror());
    r->bytes.len = 0;
    if (dc_buf_reserve(&r->bytes, size))
        return dc_seterr(r->error, sizeof(r->error), DC_ERR_NOMEM, "out of memory");
    avro_writer_memory_set_dest(r->mw, (const char *)r->bytes.data, (int64_t)size);
    if (avro_value_write(r->mw, &r->value))
        return dc_seterr(r->error, sizeof(r->error), DC_ERR_MALFORMED, "%s", avro_strerror());
    return dc__plan_decode(r->plan, r->bytes.data, size, out, r->error, sizeof(r->error));
}

int dc_ocf_read_click(dc_ocf_reader_t *r, dc_click_t *out)
{
    return ocf_read(r, DC_REC_CLICK, out);
}

int dc_ocf_read_order(dc_ocf_reader_t *r, dc_order_t *out)
{
    return ocf_read(r, DC_REC_ORDER, out);
}

int dc_ocf_read_forecast(dc_ocf_reader_t *r, dc_forecast_t *out)
{
    return ocf_read(r, DC_REC_FORECAST, out);
}

int dc_ocf_read_surge(dc_ocf_reader_t *r, dc_surge_t *out)
{
    return ocf_read(r, DC_REC_SURGE, out);
}

const char *dc_ocf_reader_error(const dc_ocf_reader_t *r)
{
    return r->error;
}

void dc_ocf_reader_destroy(dc_ocf_reader_t *r)
{
    if (!r)
        return;
    if (r->fr)
        avro_file_reader_close(r->fr);
    if (r->iface) {
        if (r->value.self)
            avro_value_decref(&r->value);
        avro_value_iface_decref(r->iface);
    }
    if (r->mw)
        avro_writer_free(r->mw);
    dc__plan_destroy(r->plan);
    if (r->writer)
        avro_schema_decref(r->writer);
    dc_buf_free(&r->bytes);
    free(r);
}
