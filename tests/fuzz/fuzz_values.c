/* tests/fuzz/fuzz_values.c - libFuzzer target for the readers of the values
 * a flush and a close find in Redis (features/values.lua), which any other
 * client could have overwritten.
 *
 * The first input byte picks the reader; the rest is the value:
 *   even  an open bucket's log, summed per SKU by dc_value_read_log(): on
 *         success its rows come out in strictly ascending SKU order, each
 *         SKU a non-empty name shorter than DC_SKU_MAX, and the log
 *         compacted by dc_value_compact_log() sums to the same rows;
 *   odd   a SKU's record, merged with a small batch by
 *         dc_value_merge_sku(): on success the merged record must be a
 *         record too (merging the batch into it again succeeds), keep the
 *         newest event time and hold at most 12 slots a window; on failure
 *         nothing is appended.
 * Beyond that: no crash, no sanitizer report. */
#include "features/features.h"
#include "tests/value_varint.h"

#include <stdlib.h>
#include <string.h>

static dc_featbatch_t *batch;

/* A batch of one SKU with events in two buckets and several slots. */
static void make_batch(void)
{
    static dc_limits_t lim;
    dc_conf_t *conf = dc_conf_new();
    char errstr[256];

    if (!conf || dc_limits_init(&lim, conf, errstr, sizeof(errstr)) ||
        !(batch = dc_featbatch_new(&lim)))
        abort();
    dc_conf_destroy(conf);
    for (int i = 0; i < 6; i++) {
        dc_fevent_t ev = {.sku = "A", .user = i % 2 ? "u1" : "u2",
                          .ts_ms = 1767571200000LL + i * 1800000LL,
                          .kind = i % 3 ? DC_FEV_VIEW : DC_FEV_PLACED, .qty = 2, .price = 1.5};
        if (dc_featbatch_add(batch, &ev, INT64_MIN, NULL))
            abort();
    }
    if (dc_featbatch_group(batch))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dc_value_scratch_t sc = {0};
    dc_value_logs_t logs = {0};
    dc_buf_t out = {0}, again = {0};
    int64_t late = 0;

    if (size < 1)
        return 0;
    if (!batch)
        make_batch();
    if (!(data[0] & 1)) {
        dc_log_row_t *rows;
        size_t n;
        if (!dc_value_read_log(data + 1, size - 1, &sc, &rows, &n)) {
            for (size_t i = 0; i < n; i++) {
                if (!rows[i].sku_len || rows[i].sku_len >= DC_SKU_MAX)
                    abort();
                if (i) {
                    size_t a = rows[i - 1].sku_len, b = rows[i].sku_len;
                    int c = memcmp(rows[i - 1].sku, rows[i].sku, a < b ? a : b);
                    if (c > 0 || (!c && a >= b))
                        abort();
                }
            }
            /* The rows live in sc: keep them, then compact and read again. */
            dc_log_row_t *want = n ? malloc(n * sizeof(*want)) : NULL;
            size_t n_again;
            if (n && !want)
                abort();
            if (n)
                memcpy(want, rows, n * sizeof(*want));
            if (dc_value_compact_log(data + 1, size - 1, &sc, &out) ||
                dc_value_read_log(out.data, out.len, &sc, &rows, &n_again) || n_again != n)
                abort();
            for (size_t i = 0; i < n; i++)
                if (rows[i].sku_len != want[i].sku_len ||
                    memcmp(rows[i].sku, want[i].sku, want[i].sku_len) ||
                    memcmp(&rows[i].d, &want[i].d, sizeof(want[i].d)) ||
                    rows[i].users != want[i].users)
                    abort();
            free(want);
        }
    } else {
        int err = dc_value_merge_sku(&out, data + 1, size - 1, batch, 0, INT64_MIN, &logs, &late,
                                     &sc);
        if (err && out.len)
            abort();
        if (!err) {
            if (dc_value_merge_sku(&again, out.data, out.len, batch, 0, INT64_MIN, &logs, &late,
                                   &sc))
                abort();
            /* The merged record keeps the newest event time, the batch's at
             * least, and each window at most 12 slots: its count is one
             * varint byte after the time (or after the previous window's
             * slots). */
            size_t off = 1;
            if ((int64_t)test_uvar(out.data, &off) < dc_featbatch_sku(batch, 0)->newest_ts)
                abort();
            for (size_t w = 0; w < out.data[0]; w++) {
                size_t n = out.data[off++];
                if (n > DC_WINDOW_SLOTS)
                    abort();
                for (size_t i = 0; i < n; i++) {
                    size_t len = test_uvar(out.data, &off);
                    off += len;
                }
            }
            if (off != out.len)
                abort();
        }
    }
    dc_buf_free(&out);
    dc_buf_free(&again);
    dc_value_logs_free(&logs);
    dc_value_scratch_free(&sc);
    return 0;
}
