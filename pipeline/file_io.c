/* pipeline/file_io.c - history files as a pipeline source (see pipeline.h). */
#include "pipeline/pipeline.h"

#include <stdlib.h>
#include <string.h>

#define MAX_FILES 64

/* One OCF input and its lookahead record. */
typedef struct {
    char *path;
    char name[128];
    dc_ocf_reader_t *reader;
    dc_rec_type_t type;
    dc_click_t click;
    dc_order_t order;
    int has_next;   /* the lookahead record is valid */
    int64_t next_ts;
    int64_t offset; /* record number of the lookahead */
    int assigned;
} ocf_input_t;

struct dc_file_source_s {
    ocf_input_t ocf[MAX_FILES];
    size_t n_ocf;
    dc_csv_reader_t *csv;
    char csv_name[128];
    int csv_assigned;
    dc_order_t csv_order;
    int64_t csv_offset;
    int64_t records, newest;
    int failed; /* a file turned out corrupt: the source is over */
    char errstr[512];
    char detail[512];
};

static void base_name(const char *path, char *out, size_t size)
{
    const char *slash = strrchr(path, '/');
    snprintf(out, size, "%s", slash ? slash + 1 : path);
}

/* Reads the next record of input i into its lookahead. */
static int ocf_advance(dc_file_source_t *fs, ocf_input_t *in)
{
    int err = in->type == DC_REC_CLICK ? dc_ocf_read_click(in->reader, &in->click)
                                       : dc_ocf_read_order(in->reader, &in->order);
    if (err == DC_ERR_EOF) {
        in->has_next = 0;
        return DC_OK;
    }
    if (err) {
        snprintf(fs->errstr, sizeof(fs->errstr), "%s: %s", in->path,
                 dc_ocf_reader_error(in->reader));
        in->has_next = 0;
        fs->failed = 1;
        return DC_ERR_MALFORMED;
    }
    in->has_next = 1;
    in->next_ts = in->type == DC_REC_CLICK ? in->click.ts_ms : in->order.ts_ms;
    in->offset++;
    return DC_OK;
}

dc_file_source_t *dc_file_source_new(const char *const *paths, size_t n, const char *csv_mapping,
                                     char *errstr, size_t errstr_size)
{
    dc_file_source_t *fs = calloc(1, sizeof(*fs));
    if (!fs) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    fs->newest = INT64_MIN;
    if (csv_mapping) {
        if (n != 1) {
            dc_seterr(errstr, errstr_size, DC_ERR_INVAL, "a CSV replay reads exactly one file");
            goto fail;
        }
        if (!(fs->csv = dc_csv_reader_new(paths[0], csv_mapping, errstr, errstr_size)))
            goto fail;
        base_name(paths[0], fs->csv_name, sizeof(fs->csv_name));
        return fs;
    }
    if (n == 0 || n > MAX_FILES) {
        dc_seterr(errstr, errstr_size, DC_ERR_INVAL, "give 1 to %d input files", MAX_FILES);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        ocf_input_t *in = &fs->ocf[fs->n_ocf++];
        char msg[400];
        in->offset = -1;
        if (!(in->path = strdup(paths[i]))) {
            dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
            goto fail;
        }
        base_name(paths[i], in->name, sizeof(in->name));
        if (!(in->reader = dc_ocf_reader_new(paths[i], &in->type, msg, sizeof(msg)))) {
            dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED, "%s: %s", paths[i], msg);
            goto fail;
        }
        if (in->type != DC_REC_CLICK && in->type != DC_REC_ORDER) {
            dc_seterr(errstr, errstr_size, DC_ERR_INVAL,
                      "%s holds %s records; replay reads clicks and orders", paths[i],
                      dc_schema_name(in->type));
            goto fail;
        }
        if (ocf_advance(fs, in)) {
            dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED, "%s", fs->errstr);
            goto fail;
        }
    }
    return fs;
fail:
    dc_file_source_destroy(fs);
    return NULL;
}

void dc_file_source_destroy(dc_file_source_t *fs)
{
    if (!fs)
        return;
    for (size_t i = 0; i < fs->n_ocf; i++) {
        dc_ocf_reader_destroy(fs->ocf[i].reader);
        dc_order_clear(&fs->ocf[i].order);
        free(fs->ocf[i].path);
    }
    dc_csv_reader_destroy(fs->csv);
    dc_order_clear(&fs->csv_order);
    free(fs);
}

static int topic_of(dc_rec_type_t type)
{
    return type == DC_REC_CLICK ? DC_TOPIC_CLICKS : DC_TOPIC_ORDERS;
}

static void seen(dc_file_source_t *fs, int64_t ts)
{
    fs->records++;
    if (ts > fs->newest)
        fs->newest = ts;
}

static int csv_next(dc_file_source_t *fs, dc_pipeline_t *pl, dc_srcmsg_t *msg)
{
    int64_t start;
    int err;

    if (!fs->csv_assigned) {
        if ((err = dc_pipeline_assign(pl, DC_TOPIC_ORDERS, fs->csv_name, 0, &start)))
            return err;
        fs->csv_assigned = 1;
    }
    memset(msg, 0, sizeof(*msg));
    msg->topic = DC_TOPIC_ORDERS;
    msg->topic_name = fs->csv_name;
    msg->offset = fs->csv_offset++;
    err = dc_csv_reader_next(fs->csv, &fs->csv_order, fs->detail, sizeof(fs->detail));
    if (err == DC_ERR_EOF)
        return DC_ERR_EOF;
    if (err == DC_ERR_IO || err == DC_ERR_NOMEM) {
        snprintf(fs->errstr, sizeof(fs->errstr), "%s", fs->detail);
        return err;
    }
    if (err) {
        /* A rejected row goes on as a rejection carrying the row itself. */
        size_t len;
        int64_t line;
        msg->value = dc_csv_reader_row(fs->csv, &len, &line);
        msg->value_len = len;
        msg->reject = err;
        msg->reject_detail = fs->detail;
        fs->records++;
        return DC_OK;
    }
    msg->order = &fs->csv_order;
    msg->key = fs->csv_order.order_id;
    msg->key_len = strlen(fs->csv_order.order_id);
    seen(fs, fs->csv_order.ts_ms);
    return DC_OK;
}

static int src_next(void *src, dc_pipeline_t *pl, dc_srcmsg_t *msg, int timeout_ms)
{
    dc_file_source_t *fs = src;
    ocf_input_t *best = NULL;
    int64_t start;
    int err;
    (void)timeout_ms;

    if (fs->failed)
        return DC_ERR_MALFORMED;
    if (fs->csv)
        return csv_next(fs, pl, msg);
    /* Every file is a partition of its own, assigned before the first read
     * so that the low watermark waits for all of them. */
    for (size_t i = 0; i < fs->n_ocf; i++) {
        ocf_input_t *in = &fs->ocf[i];
        if (!in->assigned) {
            if ((err = dc_pipeline_assign(pl, topic_of(in->type), in->name, 0, &start)))
                return err;
            in->assigned = 1;
        }
        if (in->has_next && (!best || in->next_ts < best->next_ts))
            best = in;
    }
    for (size_t i = 0; i < fs->n_ocf; i++)
        if (!fs->ocf[i].has_next)
            dc_pipeline_at_end(pl, topic_of(fs->ocf[i].type), 0);
    if (!best)
        return DC_ERR_EOF;
    memset(msg, 0, sizeof(*msg));
    msg->topic = topic_of(best->type);
    msg->topic_name = best->name;
    msg->offset = best->offset;
    msg->handle = best;
    if (best->type == DC_REC_CLICK) {
        msg->click = &best->click;
        msg->key = best->click.sku;
        msg->key_len = strlen(best->click.sku);
    } else {
        msg->order = &best->order;
        msg->key = best->order.order_id;
        msg->key_len = strlen(best->order.order_id);
    }
    seen(fs, best->next_ts);
    return DC_OK;
}

/* The record stays in the lookahead until the pipeline is done with it. */
static void src_release(void *src, dc_srcmsg_t *msg)
{
    dc_file_source_t *fs = src;
    ocf_input_t *in = msg->handle;
    /* A failure is remembered in fs->failed and ends the source at the
     * next call. */
    if (in)
        ocf_advance(fs, in);
}

void dc_file_source_attach(dc_file_source_t *fs, dc_source_t *source)
{
    memset(source, 0, sizeof(*source));
    source->next = src_next;
    source->release = src_release;
    source->src = fs;
}

int64_t dc_file_source_records(const dc_file_source_t *fs) { return fs->records; }
int64_t dc_file_source_newest(const dc_file_source_t *fs) { return fs->newest; }
const char *dc_file_source_errstr(const dc_file_source_t *fs) { return fs->errstr; }

void dc_file_source_csv_stats(const dc_file_source_t *fs, dc_csv_stats_t *stats)
{
    if (fs->csv)
        dc_csv_reader_stats(fs->csv, stats);
    else
        memset(stats, 0, sizeof(*stats));
}
