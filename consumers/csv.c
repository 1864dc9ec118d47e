/* consumers/csv.c - order lines from a CSV file (plain or gzip) with a column
 * mapping, turned into OrderEvent records; see consumers.h for the contract. */
#define _GNU_SOURCE /* strptime, timegm */
#include "consumers/consumers.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

/* A record (one row, possibly spanning lines inside quotes) longer than this
 * is rejected as malformed: an unterminated quote must not pull the rest of
 * the file into memory. */
#define CSV_RECORD_MAX (1024 * 1024)
#define CSV_FORMAT_MAX 128
#define CSV_PREFIX_MAX 16
#define CSV_CHUNK (256 * 1024)

enum { COL_ORDER_ID, COL_SKU, COL_QTY, COL_PRICE, COL_TS, COL_USER, COL__COUNT };

static const char *const col_keys[COL__COUNT] = {"order_id", "sku", "qty", "price", "ts", "user"};

static const struct {
    const char *name;
    const char *mapping;
} presets[] = {
    {"uci-online-retail",
     "order_id=InvoiceNo;sku=StockCode;qty=Quantity;price=UnitPrice;ts=InvoiceDate;"
     "user=CustomerID;ts_format=%Y-%m-%d %H:%M:%S;cancel_prefix=C"},
};

/* One accepted row, parsed; the first row of the next order waits here. */
typedef struct {
    char order_id[DC_ID_MAX];
    char user_id[DC_ID_MAX];
    char sku[DC_SKU_MAX];
    int64_t ts_ms;
    int32_t qty;
    double price;
    dc_order_status_t status;
} csv_row_t;

struct dc_csv_reader_s {
    gzFile gz;
    char *path;

    /* Mapping. Column names are resolved against the header at open. */
    char *col_name[COL__COUNT]; /* as the mapping gave them; NULL = unmapped */
    int col[COL__COUNT];        /* 0-based; -1 = unmapped (only user may be) */
    char ts_format[CSV_FORMAT_MAX];
    char cancel_prefix[CSV_PREFIX_MAX];
    char delim;
    int header;
    size_t ncols; /* exact column count from the header; 0 = at least max col + 1 */

    uint8_t *in; /* decompressed input not yet consumed: in[in_pos..in_len) */
    size_t in_pos, in_len;

    /* The current record: raw bytes, then its fields unquoted and
     * NUL-terminated one after another in fbuf, starting at foff[i]. */
    dc_buf_t rec;
    dc_buf_t fbuf;
    size_t *foff;
    size_t nfields, fcap;
    int64_t line_no;  /* physical lines consumed */
    int64_t rec_line; /* first line of the current record */
    int eof;

    /* Consecutive rows mostly share their time text: parse it once. */
    char last_ts_text[64];
    int64_t last_ts_ms;

    dc_order_t pending; /* the order being grouped, owned by the reader */
    csv_row_t next_row; /* first row of the order after pending */
    int have_next_row;

    dc_csv_stats_t stats;
};

const char *dc_csv_preset(const char *name)
{
    for (size_t i = 0; i < DC_ARRAY_SIZE(presets); i++)
        if (!strcmp(presets[i].name, name))
            return presets[i].mapping;
    return NULL;
}

int dc_csv_is_product_code(const char *code)
{
    size_t i;
    for (i = 0; i < 5; i++)
        if (code[i] < '0' || code[i] > '9')
            return 0;
    for (; code[i]; i++)
        if (code[i] < 'A' || code[i] > 'Z')
            return 0;
    return 1;
}

/* Removes leading and trailing blanks in place; returns the new start. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

static int parse_bool(const char *v, int *out)
{
    if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes"))
        *out = 1;
    else if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no"))
        *out = 0;
    else
        return -1;
    return 0;
}

/* Parses the mapping line into the reader (column names stay unresolved). */
static int mapping_parse(dc_csv_reader_t *rd, const char *mapping, char *errstr,
                         size_t errstr_size)
{
    const char *preset = dc_csv_preset(mapping);
    char *copy = strdup(preset ? preset : mapping);
    char *save = NULL;
    int err = DC_OK;

    if (!copy)
        return dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
    for (char *item = strtok_r(copy, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(item, '=');
        if (!eq) {
            err = dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                            "csv mapping: \"%s\" is not key=value", trim(item));
            goto fail;
        }
        *eq = '\0';
        char *key = trim(item);
        /* ts_format keeps its blanks: they are part of the format. */
        char *val = !strcmp(key, "ts_format") ? eq + 1 : trim(eq + 1);
        int c;
        for (c = 0; c < COL__COUNT; c++)
            if (!strcmp(key, col_keys[c]))
                break;
        if (c < COL__COUNT) {
            if (!*val) {
                err = dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                                "csv mapping: %s names no column", key);
                goto fail;
            }
            free(rd->col_name[c]);
            if (!(rd->col_name[c] = strdup(val))) {
                err = dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
                goto fail;
            }
        } else if (!strcmp(key, "ts_format")) {
            if (!*val || strlen(val) >= sizeof(rd->ts_format)) {
                err = dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                                "csv mapping: ts_format is empty or too long");
                goto fail;
            }
            strcpy(rd->ts_format, val);
        } else if (!strcmp(key, "cancel_prefix")) {
            if (strlen(val) >= sizeof(rd->cancel_prefix)) {
                err = dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                                "csv mapping: cancel_prefix too long");
                goto fail;
            }
            strcpy(rd->cancel_prefix, val);
        } else if (!strcmp(key, "header")) {
            if (parse_bool(val, &rd->header)) {
                err = dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                                "csv mapping: header=%s is not a boolean", val);
                goto fail;
            }
        } else if (!strcmp(key, "delimiter")) {
            if (strlen(val) != 1 || *val == '"' || *val == '\n' || *val == '\r') {
                err = dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                                "csv mapping: delimiter must be one character other than "
                                "a quote or line end");
                goto fail;
            }
            rd->delim = *val;
        } else {
            err = dc_seterr(errstr, errstr_size, DC_ERR_CONFIG, "csv mapping: unknown key \"%s\"",
                            key);
            goto fail;
        }
    }
    for (int c = 0; c < COL__COUNT; c++) {
        if (!rd->col_name[c] && c != COL_USER) {
            err = dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                            "csv mapping: %s column is required%s", col_keys[c],
                            preset ? "" : " (or name a preset such as uci-online-retail)");
            goto fail;
        }
    }
fail:
    free(copy);
    return err;
}

/* Where a scan of RFC 4180 quoting stands after some bytes of a record. */
enum { Q_FIELD, Q_UNQUOTED, Q_QUOTED, Q_QUOTE_IN_QUOTED };

/* Advances the quoting state over rec[from..to). Only Q_QUOTED at the end of
 * a line means the record goes on in the next line. Run over each line once,
 * it finds where a record ends in time linear in its length. */
static int scan_quotes(const dc_csv_reader_t *rd, size_t from, size_t to, int st)
{
    const uint8_t delim = (uint8_t)rd->delim;
    for (size_t i = from; i < to; i++) {
        uint8_t c = rd->rec.data[i];
        if (st == Q_QUOTED)
            st = c == '"' ? Q_QUOTE_IN_QUOTED : Q_QUOTED;
        else if (c == delim)
            st = Q_FIELD;
        else if (c == '"' && st != Q_UNQUOTED)
            st = Q_QUOTED; /* an opening quote, or the second of a doubled one */
        else
            st = Q_UNQUOTED; /* text, or text after a closing quote (malformed) */
    }
    return st;
}

/* Splits the first len bytes of rd->rec, a complete record, into fields.
 * Returns 0, DC_ERR_MALFORMED for text after a closing quote, DC_ERR_NOMEM. */
static int split_record(dc_csv_reader_t *rd, size_t len)
{
    const char *p = (const char *)rd->rec.data;
    const char *end = p + len;

    rd->fbuf.len = 0;
    rd->nfields = 0;
    if (dc_buf_reserve(&rd->fbuf, len + 1))
        return DC_ERR_NOMEM;
    for (;;) {
        if (rd->nfields == rd->fcap) {
            size_t ncap = rd->fcap ? rd->fcap * 2 : 16;
            size_t *n = realloc(rd->foff, ncap * sizeof(*n));
            if (!n)
                return DC_ERR_NOMEM;
            rd->foff = n;
            rd->fcap = ncap;
        }
        rd->foff[rd->nfields++] = rd->fbuf.len;
        if (p < end && *p == '"') {
            p++;
            for (;;) {
                if (p == end)
                    return DC_ERR_MALFORMED; /* scan_quotes saw it closed */
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        rd->fbuf.data[rd->fbuf.len++] = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                rd->fbuf.data[rd->fbuf.len++] = (uint8_t)*p++;
            }
            if (p < end && *p != rd->delim)
                return DC_ERR_MALFORMED;
        } else {
            /* A quote inside an unquoted field is taken literally: writers
             * that do not quote such a field do not escape it either. */
            while (p < end && *p != rd->delim)
                rd->fbuf.data[rd->fbuf.len++] = (uint8_t)*p++;
        }
        rd->fbuf.data[rd->fbuf.len++] = '\0';
        if (p == end)
            return 0;
        p++; /* the delimiter */
    }
}

/* Length of rd->rec without its final line end ("\n" or "\r\n"). */
static size_t record_len(const dc_csv_reader_t *rd)
{
    size_t n = rd->rec.len;
    if (n > 0 && rd->rec.data[n - 1] == '\n')
        n--;
    if (n > 0 && rd->rec.data[n - 1] == '\r')
        n--;
    return n;
}

/* Appends one physical line (with its line end) to rd->rec, reading the file
 * through rd->in so that line ends are found with memchr and a NUL byte
 * cannot hide one. Returns 0, DC_ERR_EOF if no byte was left, DC_ERR_IO, or
 * DC_ERR_TRUNCATED when the record outgrew CSV_RECORD_MAX (the rest of the
 * line is then skipped, so reading resumes on the next line). */
static int read_line(dc_csv_reader_t *rd)
{
    size_t start = rd->rec.len;
    int too_long = 0, got = 0;

    for (;;) {
        if (rd->in_pos == rd->in_len) {
            int n = gzread(rd->gz, rd->in, CSV_CHUNK);
            if (n < 0)
                return DC_ERR_IO;
            if (n == 0)
                break;
            rd->in_pos = 0;
            rd->in_len = (size_t)n;
        }
        const uint8_t *p = rd->in + rd->in_pos;
        size_t avail = rd->in_len - rd->in_pos;
        const uint8_t *nl = memchr(p, '\n', avail);
        size_t take = nl ? (size_t)(nl - p) + 1 : avail;
        got = 1;
        rd->in_pos += take;
        if (!too_long && rd->rec.len - start + take > CSV_RECORD_MAX) {
            too_long = 1;
            rd->rec.len = start;
        }
        if (!too_long && dc_buf_append(&rd->rec, p, take))
            return DC_ERR_NOMEM;
        if (nl)
            break;
    }
    if (!got)
        return DC_ERR_EOF;
    rd->line_no++;
    return too_long ? DC_ERR_TRUNCATED : 0;
}

/* Reads the next non-empty record and splits it. Returns 0, DC_ERR_EOF,
 * DC_ERR_MALFORMED (a rejected record, left in rd->rec), DC_ERR_IO or
 * DC_ERR_NOMEM. */
static int read_record(dc_csv_reader_t *rd, char *errstr, size_t errstr_size)
{
    const char *path = rd->path;
    int err;

    do {
        rd->rec.len = 0;
        if ((err = read_line(rd)) == DC_ERR_EOF)
            return err;
        rd->rec_line = rd->line_no;
        if (err == DC_ERR_TRUNCATED)
            return dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED,
                             "%s:%lld: line longer than %d bytes", path,
                             (long long)rd->rec_line, CSV_RECORD_MAX);
        if (err)
            goto io;
        /* A UTF-8 byte order mark is not part of the first field. */
        if (rd->rec_line == 1 && rd->rec.len >= 3 && !memcmp(rd->rec.data, "\xEF\xBB\xBF", 3)) {
            memmove(rd->rec.data, rd->rec.data + 3, rd->rec.len - 3);
            rd->rec.len -= 3;
        }
    } while (record_len(rd) == 0);

    /* A line end inside quotes belongs to the field: read on until the
     * quotes close, scanning each new line once. */
    size_t scanned = 0;
    int st = Q_FIELD;
    while ((st = scan_quotes(rd, scanned, record_len(rd), st)) == Q_QUOTED) {
        scanned = rd->rec.len;
        err = rd->rec.len > CSV_RECORD_MAX ? DC_ERR_TRUNCATED : read_line(rd);
        if (err == DC_ERR_EOF || err == DC_ERR_TRUNCATED)
            return dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED,
                             "%s:%lld: quoted field not closed%s", path,
                             (long long)rd->rec_line,
                             err == DC_ERR_EOF ? " at the end of the file" : " within 1 MiB");
        if (err)
            goto io;
    }
    err = split_record(rd, record_len(rd));
    if (err == DC_ERR_MALFORMED)
        return dc_seterr(errstr, errstr_size, err, "%s:%lld: text after a closing quote", path,
                         (long long)rd->rec_line);
    if (err)
        goto io;
    if (memchr(rd->rec.data, '\0', rd->rec.len))
        return dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED, "%s:%lld: NUL byte in the row",
                         path, (long long)rd->rec_line);
    return 0;
io:
    if (err == DC_ERR_NOMEM)
        return dc_seterr(errstr, errstr_size, err, "out of memory");
    return dc_seterr(errstr, errstr_size, DC_ERR_IO, "%s:%lld: read failed", path,
                     (long long)rd->line_no + 1);
}

static char *field(dc_csv_reader_t *rd, int c)
{
    return (char *)rd->fbuf.data + rd->foff[rd->col[c]];
}

static int resolve_columns(dc_csv_reader_t *rd, char *errstr, size_t errstr_size)
{
    for (int c = 0; c < COL__COUNT; c++) {
        const char *name = rd->col_name[c];
        rd->col[c] = -1;
        if (!name)
            continue;
        if (rd->header) {
            for (size_t i = 0; i < rd->nfields; i++)
                if (!strcmp(trim((char *)rd->fbuf.data + rd->foff[i]), name))
                    rd->col[c] = (int)i;
        }
        if (rd->col[c] < 0 && strspn(name, "0123456789") == strlen(name)) {
            long v = strtol(name, NULL, 10);
            if (v >= 1 && v <= 4096)
                rd->col[c] = (int)v - 1;
        }
        if (rd->col[c] < 0)
            return dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                             "%s: csv mapping: no column \"%s\" for %s%s", rd->path, name,
                             col_keys[c], rd->header ? " in the header" : " (header=false)");
        if (rd->ncols && (size_t)rd->col[c] >= rd->ncols)
            return dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                             "%s: csv mapping: column %d for %s, but the header has %zu",
                             rd->path, rd->col[c] + 1, col_keys[c], rd->ncols);
    }
    return 0;
}

dc_csv_reader_t *dc_csv_reader_new(const char *path, const char *mapping, char *errstr,
                                   size_t errstr_size)
{
    dc_csv_reader_t *rd = calloc(1, sizeof(*rd));
    int err;

    if (!rd || !(rd->path = strdup(path))) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    strcpy(rd->ts_format, "%Y-%m-%d %H:%M:%S");
    strcpy(rd->cancel_prefix, "C");
    rd->delim = ',';
    rd->header = 1;
    if (mapping_parse(rd, mapping, errstr, errstr_size))
        goto fail;
    /* gzopen reads a file that is not gzip as it is. */
    if (!(rd->gz = gzopen(path, "rb"))) {
        dc_seterr(errstr, errstr_size, DC_ERR_IO, "%s: %s", path,
                  errno ? strerror(errno) : "cannot open");
        goto fail;
    }
    if (!(rd->in = malloc(CSV_CHUNK))) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (rd->header) {
        err = read_record(rd, errstr, errstr_size);
        if (err == DC_ERR_EOF) {
            dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED, "%s: empty file, no header", path);
            goto fail;
        }
        if (err)
            goto fail;
        rd->ncols = rd->nfields;
    }
    if (resolve_columns(rd, errstr, errstr_size))
        goto fail;
    return rd;
fail:
    dc_csv_reader_destroy(rd);
    return NULL;
}

void dc_csv_reader_destroy(dc_csv_reader_t *rd)
{
    if (!rd)
        return;
    if (rd->gz)
        gzclose(rd->gz);
    for (int c = 0; c < COL__COUNT; c++)
        free(rd->col_name[c]);
    dc_buf_free(&rd->rec);
    free(rd->in);
    dc_buf_free(&rd->fbuf);
    free(rd->foff);
    dc_order_clear(&rd->pending);
    free(rd->path);
    free(rd);
}

/* Parses a time with the mapping's format as if it were UTC. */
static int parse_ts(dc_csv_reader_t *rd, const char *text, int64_t *ms)
{
    struct tm tm, check;
    size_t n = strlen(text);

    if (n < sizeof(rd->last_ts_text) && !strcmp(text, rd->last_ts_text)) {
        *ms = rd->last_ts_ms;
        return 0;
    }
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(text, rd->ts_format, &tm);
    if (!end)
        return -1;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end)
        return -1;
    int mday = tm.tm_mday, mon = tm.tm_mon, year = tm.tm_year;
    time_t t = timegm(&tm);
    /* timegm normalises 2011-02-30 into March; such a date is wrong, not late. */
    if (!gmtime_r(&t, &check) || check.tm_mday != mday || check.tm_mon != mon ||
        check.tm_year != year)
        return -1;
    *ms = (int64_t)t * 1000;
    if (n < sizeof(rd->last_ts_text)) {
        memcpy(rd->last_ts_text, text, n + 1);
        rd->last_ts_ms = *ms;
    }
    return 0;
}

/* Copies an id field (trimmed) into dst; fails if it does not fit. */
static int copy_id(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

/* Checks one split record against the mapping and the demand rules. */
static int parse_row(dc_csv_reader_t *rd, csv_row_t *row, char *errstr, size_t errstr_size)
{
    const char *path = rd->path;
    long long line = (long long)rd->rec_line;
    char *text, *end;

    if (rd->ncols ? rd->nfields != rd->ncols : rd->nfields < 1) {
        return dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED,
                         "%s:%lld: %zu columns, the header has %zu", path, line, rd->nfields,
                         rd->ncols);
    }
    for (int c = 0; c < COL__COUNT; c++)
        if (rd->col[c] >= 0 && (size_t)rd->col[c] >= rd->nfields)
            return dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED,
                             "%s:%lld: %zu columns, the mapping needs column %d", path, line,
                             rd->nfields, rd->col[c] + 1);

    text = trim(field(rd, COL_ORDER_ID));
    if (!*text || copy_id(row->order_id, sizeof(row->order_id), text))
        return dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED,
                         "%s:%lld: order id empty or longer than %d bytes", path, line,
                         DC_ID_MAX - 1);
    row->status = rd->cancel_prefix[0] &&
                          !strncasecmp(text, rd->cancel_prefix, strlen(rd->cancel_prefix))
                      ? DC_ORDER_CANCELLED
                      : DC_ORDER_PLACED;

    row->user_id[0] = '\0';
    if (rd->col[COL_USER] >= 0) {
        text = trim(field(rd, COL_USER));
        char *dot = strchr(text, '.');
        if (dot && dot > text && strspn(text, "0123456789") == (size_t)(dot - text) &&
            dot[1] && strspn(dot + 1, "0") == strlen(dot + 1))
            *dot = '\0';
        if (copy_id(row->user_id, sizeof(row->user_id), text))
            return dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED,
                             "%s:%lld: user id longer than %d bytes", path, line, DC_ID_MAX - 1);
    }

    text = trim(field(rd, COL_QTY));
    errno = 0;
    long long qty = strtoll(text, &end, 10);
    if (!*text || *end || end == text)
        return dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED,
                         "%s:%lld: quantity \"%s\" is not an integer", path, line, text);
    int qty_range = errno == 0 && qty >= -INT32_MAX && qty <= INT32_MAX;

    text = trim(field(rd, COL_PRICE));
    double price = strtod(text, &end);
    if (!*text || *end)
        return dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED,
                         "%s:%lld: unit price \"%s\" is not a number", path, line, text);

    text = trim(field(rd, COL_TS));
    if (parse_ts(rd, text, &row->ts_ms))
        return dc_seterr(errstr, errstr_size, DC_ERR_BAD_TIMESTAMP,
                         "%s:%lld: time \"%s\" does not match \"%s\"", path, line, text,
                         rd->ts_format);

    text = trim(field(rd, COL_SKU));
    for (char *p = text; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    if (copy_id(row->sku, sizeof(row->sku), text))
        return dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED,
                         "%s:%lld: SKU longer than %d bytes", path, line, DC_SKU_MAX - 1);
    if (!dc_csv_is_product_code(row->sku))
        return dc_seterr(errstr, errstr_size, DC_ERR_BAD_SKU,
                         "%s:%lld: \"%s\" is not a product code", path, line, row->sku);

    if (!qty_range || qty == 0 || (row->status == DC_ORDER_PLACED) != (qty > 0))
        return dc_seterr(errstr, errstr_size, DC_ERR_BAD_QUANTITY,
                         "%s:%lld: quantity %lld on a %s line", path, line, qty,
                         row->status == DC_ORDER_PLACED ? "placed" : "cancellation");
    row->qty = (int32_t)(qty < 0 ? -qty : qty);

    if (!isfinite(price) || price <= 0)
        return dc_seterr(errstr, errstr_size, DC_ERR_BAD_PRICE,
                         "%s:%lld: unit price %g is not positive", path, line, price);
    row->price = price;
    return 0;
}

/* Makes pending a fresh order holding row. */
static int start_order(dc_csv_reader_t *rd, const csv_row_t *row)
{
    dc_order_t *o = &rd->pending;
    memcpy(o->order_id, row->order_id, sizeof(o->order_id));
    memcpy(o->user_id, row->user_id, sizeof(o->user_id));
    o->ts_ms = row->ts_ms;
    o->status = row->status;
    o->n_lines = 0;
    o->has_promo_code = 0;
    o->promo_code[0] = '\0';
    return dc_order_add_line(o, row->sku, row->qty, row->price);
}

/* Hands pending to the caller. The two structs swap, so the caller's old
 * lines array becomes the reader's next buffer and nothing is copied. */
static void emit(dc_csv_reader_t *rd, dc_order_t *order)
{
    dc_order_t tmp = *order;
    *order = rd->pending;
    rd->pending = tmp;
    rd->pending.n_lines = 0;
    if (order->status == DC_ORDER_CANCELLED)
        rd->stats.orders_cancelled++;
    else
        rd->stats.orders_placed++;
}

static void count_reject(dc_csv_reader_t *rd, int err)
{
    switch (err) {
    case DC_ERR_BAD_SKU: rd->stats.rejected_sku++; break;
    case DC_ERR_BAD_QUANTITY: rd->stats.rejected_quantity++; break;
    case DC_ERR_BAD_PRICE: rd->stats.rejected_price++; break;
    case DC_ERR_BAD_TIMESTAMP: rd->stats.rejected_timestamp++; break;
    default: rd->stats.rejected_malformed++; break;
    }
}

int dc_csv_reader_next(dc_csv_reader_t *rd, dc_order_t *order, char *errstr,
                       size_t errstr_size)
{
    csv_row_t row;
    int err;

    if (rd->have_next_row) {
        rd->have_next_row = 0;
        if ((err = start_order(rd, &rd->next_row)))
            return dc_seterr(errstr, errstr_size, err, "out of memory");
    }
    for (;;) {
        if (rd->eof) {
            if (rd->pending.n_lines == 0)
                return DC_ERR_EOF;
            emit(rd, order);
            return DC_OK;
        }
        err = read_record(rd, errstr, errstr_size);
        if (err == DC_ERR_EOF) {
            rd->eof = 1;
            continue;
        }
        if (err == DC_ERR_IO || err == DC_ERR_NOMEM)
            return err;
        rd->stats.rows++;
        if (!err)
            err = parse_row(rd, &row, errstr, errstr_size);
        if (err) {
            count_reject(rd, err);
            return err;
        }
        rd->stats.lines_accepted++;
        if (rd->pending.n_lines > 0 &&
            (row.ts_ms != rd->pending.ts_ms || strcmp(row.order_id, rd->pending.order_id))) {
            rd->next_row = row;
            rd->have_next_row = 1;
            emit(rd, order);
            return DC_OK;
        }
        if (rd->pending.n_lines == 0)
            err = start_order(rd, &row);
        else
            err = dc_order_add_line(&rd->pending, row.sku, row.qty, row.price);
        if (err)
            return dc_seterr(errstr, errstr_size, err, "out of memory");
    }
}

const char *dc_csv_reader_row(const dc_csv_reader_t *rd, size_t *len, int64_t *line_no)
{
    const char *raw = (const char *)rd->rec.data;
    if (len)
        *len = record_len(rd);
    if (line_no)
        *line_no = rd->rec_line;
    return raw ? raw : "";
}

void dc_csv_reader_stats(const dc_csv_reader_t *rd, dc_csv_stats_t *stats)
{
    *stats = rd->stats;
}
