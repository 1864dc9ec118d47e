/* tests/fuzz/fuzz_csv.c - libFuzzer target for the CSV order-line reader.
 *
 * The first input byte picks the mapping (the uci-online-retail preset, or
 * numbered columns without a header and a ';' delimiter); the rest is the
 * file, plain or gzip. Beyond "no crash, no sanitizer report", every order
 * that comes out must keep the reader's promises: product-code SKUs,
 * positive quantities, positive finite prices, and counts that add up. */
#include "consumers/consumers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

static void remove_file(void)
{
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const mappings[] = {
        "uci-online-retail",
        "order_id=1;sku=2;qty=3;price=4;ts=5;user=6;header=false;delimiter=|;"
        "ts_format=%d/%m/%Y %H:%M",
    };
    char errstr[256];
    dc_order_t order = {0};
    dc_csv_stats_t st;
    int64_t orders = 0, lines = 0, rejected = 0;
    int err;

    if (size < 1)
        return 0;
    if (!path[0]) {
        strcpy(path, "/tmp/dc-fuzz-csv.XXXXXX");
        int fd = mkstemp(path);
        if (fd < 0)
            abort();
        close(fd);
        atexit(remove_file);
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data + 1, 1, size - 1, f) != size - 1 || fclose(f))
        abort();

    dc_csv_reader_t *rd = dc_csv_reader_new(path, mappings[data[0] % 2], errstr, sizeof(errstr));
    if (!rd)
        return 0;
    while ((err = dc_csv_reader_next(rd, &order, errstr, sizeof(errstr))) != DC_ERR_EOF) {
        if (err == DC_ERR_IO || err == DC_ERR_NOMEM)
            break;
        if (err) {
            size_t len;
            int64_t line;
            dc_csv_reader_row(rd, &len, &line);
            if (line < 1 || !strchr(errstr, ':'))
                abort();
            rejected++;
            continue;
        }
        if (order.n_lines == 0)
            abort();
        for (size_t i = 0; i < order.n_lines; i++) {
            const dc_order_line_t *l = &order.lines[i];
            if (!dc_csv_is_product_code(l->sku) || l->qty <= 0 || !isfinite(l->unit_price) ||
                l->unit_price <= 0)
                abort();
        }
        orders++;
        lines += (int64_t)order.n_lines;
    }
    dc_csv_reader_stats(rd, &st);
    if (err == DC_ERR_EOF &&
        (st.orders_placed + st.orders_cancelled != orders || st.lines_accepted != lines ||
         st.rows != st.lines_accepted + rejected ||
         rejected != st.rejected_sku + st.rejected_quantity + st.rejected_price +
                         st.rejected_timestamp + st.rejected_malformed))
        abort();
    dc_order_clear(&order);
    dc_csv_reader_destroy(rd);
    return 0;
}
