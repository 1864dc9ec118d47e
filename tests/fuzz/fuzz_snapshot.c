/* tests/fuzz/fuzz_snapshot.c - libFuzzer target for a bucket close's
 * snapshot (features/snapshot.h): the reader takes whatever Redis holds when
 * a close is repeated after a crash, and hands it to the forecaster, which
 * needs every SKU once and in order.
 *
 * The first input byte picks the mode; the rest is
 *   even  a snapshot, read by dc_snapshot_decode(): on success the rows
 *         name SKUs (1 .. DC_SKU_MAX - 1 bytes, ended) in strictly
 *         ascending byte order, within the bucket's room, each with a
 *         count of users that is finite and not negative;
 *   odd   rows to write: per row a flags byte (bit 0: with totals, else a
 *         row of zeros), a length byte, that many name bytes, and with
 *         totals 11 int64 and a u32 of users (missing bytes are 0). Names
 *         are made SKUs' (NUL bytes replaced), sorted and made unique, then
 *         written with dc_snapshot_row(): reading the snapshot back must give
 *         exactly the rows the writer handed out.
 * Beyond that: no crash, no sanitizer report. */
#include "features/snapshot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH 3600000LL

static void check_decoded(const dc_bucket_t *b)
{
    if (b->n_skus > b->cap || b->width != WIDTH)
        abort();
    for (size_t i = 0; i < b->n_skus; i++) {
        size_t len = strnlen(b->skus[i].sku, DC_SKU_MAX);
        if (!len || len >= DC_SKU_MAX || (i && strcmp(b->skus[i - 1].sku, b->skus[i].sku) >= 0) ||
            !(b->skus[i].users >= 0 && isfinite(b->skus[i].users)))
            abort();
    }
}

static int same_rows(const dc_bucket_sku_t *a, const dc_bucket_sku_t *b)
{
    return !strcmp(a->sku, b->sku) && a->units == b->units && a->cancelled == b->cancelled &&
           a->views == b->views && a->carts == b->carts && a->removes == b->removes &&
           a->orders == b->orders && a->revenue == b->revenue && a->users == b->users &&
           a->avg_price == b->avg_price && a->promo_share == b->promo_share &&
           a->promo == b->promo;
}

static uint64_t take(const uint8_t **p, const uint8_t *end, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n && *p < end; i++, (*p)++)
        v |= (uint64_t)**p << (8 * i);
    return v;
}

typedef struct {
    char name[DC_SKU_MAX];
    size_t len;
    dc_log_row_t row;
    int has_totals;
} input_row_t;

static int cmp_rows(const void *a, const void *b)
{
    const input_row_t *x = a, *y = b;
    dc_name_key_t ka = dc_name_key(x->name, x->len, 0), kb = dc_name_key(y->name, y->len, 0);
    return dc_name_cmp(&ka, &kb);
}

/* Parses the rows of the odd mode into rows (at most max); returns how
 * many, sorted by name, each name once. */
static size_t parse_rows(const uint8_t *p, const uint8_t *end, input_row_t *rows, size_t max)
{
    size_t n = 0, kept = 0;
    while (p < end && n < max) {
        input_row_t *r = &rows[n];
        int flags = (int)take(&p, end, 1);
        size_t len = 1 + take(&p, end, 1) % (DC_SKU_MAX - 1);
        memset(r, 0, sizeof(*r));
        for (r->len = 0; r->len < len && p < end; r->len++, p++)
            r->name[r->len] = *p ? (char)*p : 'x';
        if (!r->len)
            break;
        r->has_totals = flags & 1;
        if (r->has_totals) {
            int64_t *f[11] = {&r->row.d.units,     &r->row.d.cancelled, &r->row.d.views,
                              &r->row.d.carts,     &r->row.d.removes,   &r->row.d.orders,
                              &r->row.d.revenue_e4, &r->row.d.events,   &r->row.d.promo_events,
                              &r->row.d.price_n,   &r->row.d.price_sum_e4};
            for (int j = 0; j < 11; j++)
                *f[j] = (int64_t)take(&p, end, 8);
            r->row.users = (double)take(&p, end, 4);
        }
        n++;
    }
    qsort(rows, n, sizeof(*rows), cmp_rows);
    for (size_t i = 0; i < n; i++)
        if (!kept || cmp_rows(&rows[kept - 1], &rows[i]))
            rows[kept++] = rows[i];
    return kept;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static input_row_t rows[256];
    dc_bucket_t written = {0}, read = {0};
    char errstr[256];

    if (size < 1)
        return 0;
    if (!(data[0] & 1)) {
        int err = dc_snapshot_decode(data + 1, size - 1, WIDTH, &read, errstr, sizeof(errstr));
        if (err && err != DC_ERR_MALFORMED)
            abort();
        if (!err)
            check_decoded(&read);
        dc_bucket_clear(&read);
        return 0;
    }

    size_t n = parse_rows(data + 1, data + size, rows, DC_ARRAY_SIZE(rows));
    msgpack_sbuffer buf;
    dc_buf_t zeros = {0};
    dc_snapshot_t sn;
    msgpack_sbuffer_init(&buf);
    /* Something before the snapshot, as a close packs several in a row. */
    if (msgpack_sbuffer_write(&buf, "\xc0", 1) ||
        dc_snapshot_begin(&sn, &buf, &zeros, 1767571200000LL, WIDTH, n, &written))
        abort();
    for (size_t i = 0; i < n; i++)
        if (dc_snapshot_row(&sn, rows[i].name, rows[i].len,
                            rows[i].has_totals ? &rows[i].row : NULL))
            abort();
    if (dc_snapshot_end(&sn) || written.n_skus != n)
        abort();
    if (dc_snapshot_decode(buf.data + sn.from, buf.size - sn.from, WIDTH, &read, errstr,
                           sizeof(errstr)))
        abort();
    check_decoded(&read);
    if (read.start != written.start || read.n_skus != written.n_skus)
        abort();
    for (size_t i = 0; i < n; i++)
        if (!same_rows(&read.skus[i], &written.skus[i]))
            abort();
    msgpack_sbuffer_destroy(&buf);
    dc_buf_free(&zeros);
    dc_bucket_clear(&written);
    dc_bucket_clear(&read);
    return 0;
}
