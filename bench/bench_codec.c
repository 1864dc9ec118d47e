/* bench/bench_codec.c - encode and decode rates of the codec for ClickEvent
 * and OrderEvent (3 lines), on one core, against references measured in the
 * same run on the same bytes:
 *   - avro-c: avro_value_read()/avro_value_write() with a generic value that
 *     is created once and reused (the fastest way avro-c offers, and still
 *     not a C struct the pipeline could use);
 *   - memcpy of the same bytes (the ceiling).
 * Prints one line per figure: records/s, MB/s of framed bytes, ratios.
 *
 *   bench_codec [SECONDS_PER_FIGURE]   (default 0.5)
 */
#include "schemas/schemas.h"

#include <avro.h>
#include <stdlib.h>
#include <string.h>

#define N_RECORDS 1024 /* distinct records cycled through, so caches see variety */

static double budget_s = 0.5;
static volatile uint64_t sink;

typedef struct {
    dc_buf_t frames;           /* all records, back to back */
    size_t off[N_RECORDS + 1]; /* frame i is frames.data[off[i]..off[i+1]) */
} corpus_t;

typedef int (*step_fn)(void *ctx, const uint8_t *frame, size_t len, size_t i);

/* Runs fn over the corpus round-robin for about budget_s; returns records/s. */
static double rate(step_fn fn, void *ctx, const corpus_t *c, double *mb_s)
{
    size_t n = 0, bytes = 0;
    double t0 = dc_monotonic_s(), t;

    do {
        for (size_t i = 0; i < N_RECORDS; i++, n++) {
            size_t len = c->off[i + 1] - c->off[i];
            if (fn(ctx, c->frames.data + c->off[i], len, i)) {
                fprintf(stderr, "bench_codec: step failed on record %zu\n", i);
                exit(1);
            }
            bytes += len;
        }
        t = dc_monotonic_s() - t0;
    } while (t < budget_s);
    *mb_s = (double)bytes / t / 1e6;
    return (double)n / t;
}

/* ---- the steps ---- */

typedef struct {
    dc_codec_t *codec;
    dc_click_t click;
    dc_order_t order;
    dc_click_t *clicks; /* encode inputs */
    dc_order_t *orders;
    dc_buf_t out;
    avro_reader_t reader;
    avro_writer_t writer;
    avro_value_t value;
    avro_value_t *values; /* avro-c encode inputs, one per record */
    uint8_t copy[4096];
} ctx_t;

static int decode_click(void *p, const uint8_t *f, size_t len, size_t i)
{
    ctx_t *x = p;
    (void)i;
    return dc_codec_decode_click(x->codec, f, len, &x->click, NULL, 0);
}

static int decode_order(void *p, const uint8_t *f, size_t len, size_t i)
{
    ctx_t *x = p;
    (void)i;
    return dc_codec_decode_order(x->codec, f, len, &x->order, NULL, 0);
}

static int encode_click(void *p, const uint8_t *f, size_t len, size_t i)
{
    ctx_t *x = p;
    (void)f, (void)len;
    x->out.len = 0;
    return dc_codec_encode_click(x->codec, &x->clicks[i], &x->out);
}

static int encode_order(void *p, const uint8_t *f, size_t len, size_t i)
{
    ctx_t *x = p;
    (void)f, (void)len;
    x->out.len = 0;
    return dc_codec_encode_order(x->codec, &x->orders[i], &x->out);
}

static int avro_decode(void *p, const uint8_t *f, size_t len, size_t i)
{
    ctx_t *x = p;
    (void)i;
    avro_reader_memory_set_source(x->reader, (const char *)f + 5, (int64_t)len - 5);
    return avro_value_read(x->reader, &x->value);
}

static int avro_encode(void *p, const uint8_t *f, size_t len, size_t i)
{
    ctx_t *x = p;
    (void)f, (void)len;
    avro_writer_memory_set_dest(x->writer, (const char *)x->copy, sizeof(x->copy));
    return avro_value_write(x->writer, &x->values[i]);
}

static int copy_bytes(void *p, const uint8_t *f, size_t len, size_t i)
{
    ctx_t *x = p;
    (void)i;
    memcpy(x->copy, f, len);
    sink += x->copy[len - 1];
    return 0;
}

/* ---- setup ---- */

static void make_click(dc_click_t *c, size_t i)
{
    static const char *const promos[] = {"SUMMER-10", "BLACK-FRIDAY"};
    memset(c, 0, sizeof(*c));
    snprintf(c->event_id, sizeof(c->event_id), "evt-%08zu", i);
    c->ts_ms = 1309422360000LL + (int64_t)i * 137;
    snprintf(c->sku, sizeof(c->sku), "%05zu%c", 20000 + i * 7 % 5000, "ABC"[i % 3]);
    snprintf(c->user_id, sizeof(c->user_id), "%zu", 12000 + i * 13 % 4000);
    snprintf(c->session_id, sizeof(c->session_id), "sess-%zu", i / 8);
    c->type = (dc_click_type_t)(i % DC_CLICK__COUNT);
    c->price = 0.85 + (double)(i % 300) * 0.05;
    c->has_promo = i % 4 == 0;
    if (c->has_promo)
        strcpy(c->promo, promos[i % 2]);
}

static void make_order(dc_order_t *o, size_t i)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->order_id, sizeof(o->order_id), "%zu", 536365 + i);
    o->ts_ms = 1291191960000LL + (int64_t)i * 60000;
    snprintf(o->user_id, sizeof(o->user_id), "%zu", 12000 + i * 13 % 4000);
    o->status = i % 20 ? DC_ORDER_PLACED : DC_ORDER_CANCELLED;
    for (size_t k = 0; k < 3; k++) {
        char sku[16];
        snprintf(sku, sizeof(sku), "%05zu", 20000 + (i * 3 + k) * 7 % 5000);
        if (dc_order_add_line(o, sku, (int32_t)(1 + (i + k) % 12), 1.25 + (double)k))
            exit(1);
    }
}

static void report(const char *what, double r, double mb, double ref_avro, double ref_copy)
{
    printf("%-13s %8.3f M records/s %8.1f MB/s   x%.2f vs avro-c generic, x%.3f vs memcpy\n",
           what, r / 1e6, mb, r / ref_avro, r / ref_copy);
}

static void bench_type(ctx_t *x, dc_rec_type_t type, const char *name)
{
    corpus_t c = {0};
    avro_schema_t schema;
    avro_value_iface_t *iface;
    const char *json = dc_schema_json(type);
    double r_dec, r_enc, r_adec, r_aenc, r_copy, mb_dec, mb_enc, mb_adec, mb_aenc, mb_copy;
    char label[32];

    for (size_t i = 0; i < N_RECORDS; i++) {
        c.off[i] = c.frames.len;
        if (type == DC_REC_CLICK ? dc_codec_encode_click(x->codec, &x->clicks[i], &c.frames)
                                 : dc_codec_encode_order(x->codec, &x->orders[i], &c.frames))
            exit(1);
    }
    c.off[N_RECORDS] = c.frames.len;

    if (avro_schema_from_json_length(json, strlen(json), &schema) ||
        !(iface = avro_generic_class_from_schema(schema)) ||
        avro_generic_value_new(iface, &x->value)) {
        fprintf(stderr, "bench_codec: %s\n", avro_strerror());
        exit(1);
    }
    /* avro-c's encode input: each record decoded once into its own value. */
    x->values = calloc(N_RECORDS, sizeof(*x->values));
    for (size_t i = 0; i < N_RECORDS; i++) {
        if (avro_generic_value_new(iface, &x->values[i]) ||
            (avro_reader_memory_set_source(x->reader, (const char *)c.frames.data + c.off[i] + 5,
                                           (int64_t)(c.off[i + 1] - c.off[i] - 5)),
             avro_value_read(x->reader, &x->values[i])))
            exit(1);
    }

    r_copy = rate(copy_bytes, x, &c, &mb_copy);
    r_adec = rate(avro_decode, x, &c, &mb_adec);
    r_dec = rate(type == DC_REC_CLICK ? decode_click : decode_order, x, &c, &mb_dec);
    r_aenc = rate(avro_encode, x, &c, &mb_aenc);
    r_enc = rate(type == DC_REC_CLICK ? encode_click : encode_order, x, &c, &mb_enc);

    printf("%s: %zu distinct records, %.1f bytes each framed\n", name, (size_t)N_RECORDS,
           (double)c.frames.len / N_RECORDS);
    snprintf(label, sizeof(label), "%s decode", type == DC_REC_CLICK ? "click" : "order");
    report(label, r_dec, mb_dec, r_adec, r_copy);
    snprintf(label, sizeof(label), "%s encode", type == DC_REC_CLICK ? "click" : "order");
    report(label, r_enc, mb_enc, r_aenc, r_copy);
    printf("%-13s %8.3f M records/s %8.1f MB/s   (reference)\n", "avro-c read", r_adec / 1e6, mb_adec);
    printf("%-13s %8.3f M records/s %8.1f MB/s   (reference)\n", "avro-c write", r_aenc / 1e6, mb_aenc);
    printf("%-13s %8.3f M records/s %8.1f MB/s   (reference)\n", "memcpy", r_copy / 1e6, mb_copy);

    for (size_t i = 0; i < N_RECORDS; i++)
        avro_value_decref(&x->values[i]);
    free(x->values);
    avro_value_decref(&x->value);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    dc_buf_free(&c.frames);
}

int main(int argc, char **argv)
{
    static ctx_t x;
    char errstr[256];

    if (argc > 1)
        budget_s = atof(argv[1]);
    if (!(x.codec = dc_codec_new(NULL, errstr, sizeof(errstr)))) {
        fprintf(stderr, "bench_codec: %s\n", errstr);
        return 1;
    }
    x.clicks = calloc(N_RECORDS, sizeof(*x.clicks));
    x.orders = calloc(N_RECORDS, sizeof(*x.orders));
    for (size_t i = 0; i < N_RECORDS; i++) {
        make_click(&x.clicks[i], i);
        make_order(&x.orders[i], i);
    }
    x.reader = avro_reader_memory(NULL, 0);
    x.writer = avro_writer_memory((const char *)x.copy, sizeof(x.copy));

    bench_type(&x, DC_REC_CLICK, "ClickEvent");
    bench_type(&x, DC_REC_ORDER, "OrderEvent (3 lines)");

    avro_reader_free(x.reader);
    avro_writer_free(x.writer);
    for (size_t i = 0; i < N_RECORDS; i++)
        dc_order_clear(&x.orders[i]);
    free(x.orders);
    free(x.clicks);
    dc_order_clear(&x.order);
    dc_buf_free(&x.out);
    dc_codec_destroy(x.codec);
    return 0;
}
