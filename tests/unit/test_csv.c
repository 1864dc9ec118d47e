/* tests/unit/test_csv.c - the CSV order-line reader: RFC 4180 quoting, column
 * mappings and presets, grouping rows into orders, the demand rules of
 * PROTOCOL.md section 2 as rejections with reasons and line numbers, gzip,
 * and the committed extract of the UCI file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "consumers/consumers.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[] = "/tmp/dc-test-csv.XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd);
}

static const char *write_tmp(const char *name, const char *text, int gzip)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    if (gzip) {
        gzFile gz = gzopen(path, "wb");
        assert_non_null(gz);
        assert_int_equal(gzwrite(gz, text, (unsigned)strlen(text)), (int)strlen(text));
        assert_int_equal(gzclose(gz), Z_OK);
    } else {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
    }
    return path;
}

/* Reads the next item and returns its code; on an order, checks nothing. */
static int next(dc_csv_reader_t *rd, dc_order_t *o, char *err)
{
    return dc_csv_reader_next(rd, o, err, 256);
}

static const char uci_text[] =
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\r\n"
    "536365,85123A,\"WHITE HANGING HEART, T-LIGHT\",6,2010-12-01 08:26:00,2.55,17850.0,United "
    "Kingdom\r\n"
    "536365, 85099b ,\"RECORD FRAME 7\"\" SINGLE\",2,2010-12-01 08:26:00,3.39,17850.0,UK\r\n"
    "536365,POST,POSTAGE,1,2010-12-01 08:26:00,18.0,17850.0,UK\r\n"
    "536365,22752,\"SET 7 BABUSHKA\nNESTING BOXES\",2,2010-12-01 08:26:00,7.65,17850.0,UK\r\n"
    "C536379,22556,PLASTERS,-12,2010-12-01 09:41:00,1.65,14527.0,UK\r\n"
    "536380,22139,,56,2010-12-01 09:45:00,0.0,,UK\r\n"
    "536380,21777,,-10,2010-12-01 09:45:00,1.0,,UK\r\n"
    "536380,21777,,0,2010-12-01 09:45:00,1.0,,UK\r\n"
    "536380,21778,,5,2010-12-01 09:45:00,1.0,,UK\r\n"
    "536380,21779,,1,2010-12-01 09:46:00,nan,,UK\r\n"
    "536380,21779,,1,2010-12-01 09:46:00,2.0,,UK\r\n"
    "536381,21780,,1x,2010-12-01 09:50:00,1.0,,UK\r\n"
    "536381,21780,,1,2010-12-01 09:50:00\r\n"
    "536381,21780,,1,2010-02-30 09:50:00,1.0,,UK\r\n"
    "536381,21780,,1,2010-12-01 9h50,1.0,,UK\r\n"
    "\r\n"
    "536382,21781,\"quoted\"junk,1,2010-12-02 10:00:00,1.0,,UK\r\n"
    "536382,21781,x,1,2010-12-02 10:00:00,1.0,123456.50,UK\r\n"
    "536383,21782,x,3,2010-12-02 11:00:00,1.5,\"\",UK";

static void test_uci_rows(void **state)
{
    char err[256];
    dc_order_t o = {0};
    dc_csv_stats_t st;
    size_t len;
    int64_t line;
    const char *raw;
    (void)state;

    for (int gzip = 0; gzip <= 1; gzip++) {
        const char *path = write_tmp(gzip ? "uci.csv.gz" : "uci.csv", uci_text, gzip);
        dc_csv_reader_t *rd = dc_csv_reader_new(path, "uci-online-retail", err, sizeof(err));
        assert_non_null(rd);

        /* POST is rejected before the order it sits in is complete. */
        assert_int_equal(next(rd, &o, err), DC_ERR_BAD_SKU);
        assert_non_null(strstr(err, ":4: \"POST\" is not a product code"));
        raw = dc_csv_reader_row(rd, &len, &line);
        assert_int_equal(line, 4);
        assert_int_equal(len, strlen("536365,POST,POSTAGE,1,2010-12-01 08:26:00,18.0,17850.0,UK"));
        assert_memory_equal(raw, "536365,POST,", 12);

        /* Three product lines, one spanning two physical lines; quotes,
         * commas and blanks resolved; SKU upper-cased and trimmed. */
        assert_int_equal(next(rd, &o, err), DC_OK);
        assert_string_equal(o.order_id, "536365");
        assert_int_equal(o.status, DC_ORDER_PLACED);
        assert_int_equal(o.ts_ms, 1291191960000LL); /* 2010-12-01T08:26:00Z */
        assert_string_equal(o.user_id, "17850");
        assert_int_equal(o.n_lines, 3);
        assert_string_equal(o.lines[0].sku, "85123A");
        assert_int_equal(o.lines[0].qty, 6);
        assert_true(o.lines[0].unit_price == 2.55);
        assert_string_equal(o.lines[1].sku, "85099B");
        assert_int_equal(o.lines[1].qty, 2);
        assert_string_equal(o.lines[2].sku, "22752");

        /* Rejected rows come out as they are read; the cancellation is
         * complete only when the next accepted row (line 11) starts another
         * order. */
        assert_int_equal(next(rd, &o, err), DC_ERR_BAD_PRICE);
        assert_non_null(strstr(err, ":8: unit price 0 is not positive"));
        assert_int_equal(next(rd, &o, err), DC_ERR_BAD_QUANTITY);
        assert_non_null(strstr(err, ":9: quantity -10 on a placed line"));
        assert_int_equal(next(rd, &o, err), DC_ERR_BAD_QUANTITY);
        assert_non_null(strstr(err, ":10:"));

        /* A C invoice is a cancellation of 12 units, not negative demand. */
        assert_int_equal(next(rd, &o, err), DC_OK);
        assert_string_equal(o.order_id, "C536379");
        assert_int_equal(o.status, DC_ORDER_CANCELLED);
        assert_int_equal(o.n_lines, 1);
        assert_int_equal(o.lines[0].qty, 12);

        /* 21779 at 09:46 starts a new order, after the NaN price is rejected. */
        assert_int_equal(next(rd, &o, err), DC_ERR_BAD_PRICE);
        assert_non_null(strstr(err, ":12:"));
        assert_int_equal(next(rd, &o, err), DC_OK);
        assert_string_equal(o.order_id, "536380");
        assert_int_equal(o.n_lines, 1);
        assert_string_equal(o.lines[0].sku, "21778");
        assert_string_equal(o.user_id, "");

        assert_int_equal(next(rd, &o, err), DC_ERR_MALFORMED);
        assert_non_null(strstr(err, ":14: quantity \"1x\" is not an integer"));
        assert_int_equal(next(rd, &o, err), DC_ERR_MALFORMED);
        assert_non_null(strstr(err, ":15: 5 columns, the header has 8"));
        assert_int_equal(next(rd, &o, err), DC_ERR_BAD_TIMESTAMP);
        assert_non_null(strstr(err, ":16: time \"2010-02-30 09:50:00\""));
        assert_int_equal(next(rd, &o, err), DC_ERR_BAD_TIMESTAMP);
        assert_non_null(strstr(err, ":17:"));
        /* Line 18 is empty and skipped: it is not a row. */
        assert_int_equal(next(rd, &o, err), DC_ERR_MALFORMED);
        assert_non_null(strstr(err, ":19: text after a closing quote"));

        assert_int_equal(next(rd, &o, err), DC_OK);
        assert_string_equal(o.order_id, "536380");
        assert_string_equal(o.lines[0].sku, "21779");
        assert_int_equal(o.ts_ms, 1291196760000LL);

        /* A fraction that is not zero is not an integer written as a float. */
        assert_int_equal(next(rd, &o, err), DC_OK);
        assert_string_equal(o.order_id, "536382");
        assert_string_equal(o.user_id, "123456.50");
        /* The last row has no line end. */
        assert_int_equal(next(rd, &o, err), DC_OK);
        assert_string_equal(o.order_id, "536383");
        assert_true(o.lines[0].unit_price == 1.5);
        assert_int_equal(next(rd, &o, err), DC_ERR_EOF);
        assert_int_equal(next(rd, &o, err), DC_ERR_EOF);

        dc_csv_reader_stats(rd, &st);
        assert_int_equal(st.rows, 18);
        assert_int_equal(st.lines_accepted, 8);
        assert_int_equal(st.orders_placed, 5);
        assert_int_equal(st.orders_cancelled, 1);
        assert_int_equal(st.rejected_sku, 1);
        assert_int_equal(st.rejected_quantity, 2);
        assert_int_equal(st.rejected_price, 2);
        assert_int_equal(st.rejected_timestamp, 2);
        assert_int_equal(st.rejected_malformed, 3);
        dc_csv_reader_destroy(rd);
    }
    dc_order_clear(&o);
}

/* The same invoice number at another time is another order. */
static void test_grouping(void **state)
{
    char err[256];
    dc_order_t o = {0};
    (void)state;
    const char *path = write_tmp("group.csv",
                                 "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice\n"
                                 "1,10001,1,2011-01-01 10:00:00,1\n"
                                 "1,10002,2,2011-01-01 10:00:00,1\n"
                                 "1,10003,3,2011-01-01 10:01:00,1\n"
                                 "2,10001,4,2011-01-01 10:01:00,1\n"
                                 "1,10004,5,2011-01-01 10:01:00,1\n",
                                 0);
    dc_csv_reader_t *rd = dc_csv_reader_new(
        path, "order_id=InvoiceNo;sku=StockCode;qty=Quantity;price=UnitPrice;ts=InvoiceDate", err,
        sizeof(err));
    assert_non_null(rd);
    static const size_t want_lines[] = {2, 1, 1, 1};
    static const char *const want_ids[] = {"1", "1", "2", "1"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(next(rd, &o, err), DC_OK);
        assert_string_equal(o.order_id, want_ids[i]);
        assert_int_equal(o.n_lines, want_lines[i]);
    }
    assert_int_equal(o.lines[0].qty, 5);
    assert_int_equal(next(rd, &o, err), DC_ERR_EOF);
    dc_csv_reader_destroy(rd);
    dc_order_clear(&o);
}

/* Column numbers, no header, another delimiter, time format and prefix. */
static void test_custom_mapping(void **state)
{
    char err[256];
    dc_order_t o = {0};
    (void)state;
    const char *path = write_tmp("custom.csv",
                                 "30/06/2011 23:59;u1;R-9;12345;3;0.5\n"
                                 "01/07/2011 00:00;u2;r-10;12345ab;2;0.5\n",
                                 0);
    dc_csv_reader_t *rd = dc_csv_reader_new(
        path,
        "ts=1; user=2; order_id=3; sku=4; qty=5; price=6; header=false; delimiter=;;"
        "ts_format=%d/%m/%Y %H:%M; cancel_prefix=R",
        err, sizeof(err));
    /* "delimiter=;" cannot be written inside a ';'-separated mapping. */
    assert_null(rd);
    assert_non_null(strstr(err, "delimiter"));
    path = write_tmp("custom.csv",
                     "30/06/2011 23:59|u1|Q-9|12345|3|0.5\n"
                     "01/07/2011 00:00|u2|r-10|12345ab|-2|0.5\n",
                     0);
    rd = dc_csv_reader_new(path,
                           "ts=1; user=2; order_id=3; sku=4; qty=5; price=6; header=false; "
                           "delimiter=|;ts_format=%d/%m/%Y %H:%M; cancel_prefix=R",
                           err, sizeof(err));
    assert_non_null(rd);
    assert_int_equal(next(rd, &o, err), DC_OK);
    assert_string_equal(o.order_id, "Q-9");
    assert_string_equal(o.user_id, "u1");
    assert_int_equal(o.ts_ms, 1309478340000LL); /* 2011-06-30T23:59:00Z */
    assert_int_equal(o.status, DC_ORDER_PLACED);
    assert_int_equal(next(rd, &o, err), DC_OK);
    assert_int_equal(o.status, DC_ORDER_CANCELLED); /* prefix compared ignoring case */
    assert_string_equal(o.lines[0].sku, "12345AB");
    assert_int_equal(o.lines[0].qty, 2);
    assert_int_equal(next(rd, &o, err), DC_ERR_EOF);
    dc_csv_reader_destroy(rd);
    dc_order_clear(&o);
}

static void test_mapping_errors(void **state)
{
    char err[256];
    (void)state;
    const char *path = write_tmp("hdr.csv", "a,b,c,d,e\n", 0);

    assert_null(dc_csv_reader_new(path, "no-such-preset", err, sizeof(err)));
    assert_non_null(strstr(err, "not key=value"));
    assert_null(dc_csv_reader_new(path, "order_id=a;sku=b;qty=c;price=d", err, sizeof(err)));
    assert_non_null(strstr(err, "ts column is required"));
    assert_null(dc_csv_reader_new(path, "order_id=a;sku=b;qty=c;price=d;ts=e;colour=x", err,
                                  sizeof(err)));
    assert_non_null(strstr(err, "unknown key \"colour\""));
    assert_null(dc_csv_reader_new(path, "order_id=a;sku=b;qty=c;price=d;ts=zz", err,
                                  sizeof(err)));
    assert_non_null(strstr(err, "no column \"zz\" for ts in the header"));
    assert_null(dc_csv_reader_new(path, "order_id=a;sku=b;qty=c;price=d;ts=9", err,
                                  sizeof(err)));
    assert_non_null(strstr(err, "column 9 for ts, but the header has 5"));
    assert_null(dc_csv_reader_new(path, "order_id=a;sku=b;qty=c;price=d;ts=e;header=maybe", err,
                                  sizeof(err)));
    assert_null(dc_csv_reader_new("/nonexistent/x.csv", "uci-online-retail", err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/x.csv"));
    path = write_tmp("empty.csv", "", 0);
    assert_null(dc_csv_reader_new(path, "uci-online-retail", err, sizeof(err)));
    assert_non_null(strstr(err, "empty file"));
    assert_non_null(dc_csv_preset("uci-online-retail"));
    assert_null(dc_csv_preset("nope"));
    dc_csv_reader_destroy(NULL);
}

/* An unclosed quote swallows the rest of the file as one bad row, with the
 * line where it began; the reader neither crashes nor loops. */
static void test_unclosed_quote(void **state)
{
    char err[256];
    dc_order_t o = {0};
    (void)state;
    const char *path = write_tmp("unclosed.csv",
                                 "\xEF\xBB\xBFInvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice\n"
                                 "1,10001,1,2011-01-01 10:00:00,1\n"
                                 "2,\"10002,1,2011-01-01 10:00:00,1\n"
                                 "3,10003,1,2011-01-01 10:00:00,1\n",
                                 0);
    dc_csv_reader_t *rd = dc_csv_reader_new(
        path, "order_id=InvoiceNo;sku=StockCode;qty=Quantity;price=UnitPrice;ts=InvoiceDate", err,
        sizeof(err));
    assert_non_null(rd); /* the byte order mark is not part of "InvoiceNo" */
    assert_int_equal(next(rd, &o, err), DC_ERR_MALFORMED);
    assert_non_null(strstr(err, ":3: quoted field not closed at the end of the file"));
    assert_int_equal(next(rd, &o, err), DC_OK);
    assert_string_equal(o.order_id, "1");
    assert_int_equal(next(rd, &o, err), DC_ERR_EOF);
    dc_csv_reader_destroy(rd);
    dc_order_clear(&o);
}

/* An unclosed quote near the top of a big file costs one rejected row of at
 * most 1 MiB, read in linear time; the rows after it are read again. */
static void test_unclosed_quote_long(void **state)
{
    char err[256];
    dc_order_t o = {0};
    dc_csv_stats_t st;
    dc_buf_t text = {0};
    (void)state;

    dc_buf_printf(&text, "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice\n"
                         "2,\"10002,1,2011-01-01 10:00:00,1\n");
    for (int i = 0; i < 40000; i++)
        dc_buf_printf(&text, "3,10003,1,2011-01-01 10:00:00,1\n");
    dc_buf_append(&text, "", 1);
    const char *path = write_tmp("long.csv", (const char *)text.data, 0);
    dc_buf_free(&text);
    dc_csv_reader_t *rd = dc_csv_reader_new(
        path, "order_id=InvoiceNo;sku=StockCode;qty=Quantity;price=UnitPrice;ts=InvoiceDate", err,
        sizeof(err));
    assert_non_null(rd);
    assert_int_equal(next(rd, &o, err), DC_ERR_MALFORMED);
    assert_non_null(strstr(err, ":2: quoted field not closed within 1 MiB"));
    assert_int_equal(next(rd, &o, err), DC_OK);
    assert_string_equal(o.order_id, "3");
    /* 1 MiB of 32-byte lines went into the bad row; the rest is one order. */
    const size_t rest = 40000 - 1024 * 1024 / 32;
    assert_true(o.n_lines > rest - 2 && o.n_lines < rest + 2);
    assert_int_equal(next(rd, &o, err), DC_ERR_EOF);
    dc_csv_reader_stats(rd, &st);
    assert_int_equal(st.rows, 1 + (int64_t)o.n_lines);
    dc_csv_reader_destroy(rd);
    dc_order_clear(&o);
}

static void test_product_code(void **state)
{
    (void)state;
    assert_true(dc_csv_is_product_code("85123A"));
    assert_true(dc_csv_is_product_code("22752"));
    assert_true(dc_csv_is_product_code("15056BL"));
    assert_false(dc_csv_is_product_code("1505"));
    assert_false(dc_csv_is_product_code("85123a"));
    assert_false(dc_csv_is_product_code("85123A1"));
    assert_false(dc_csv_is_product_code("DCGS0004"));
    assert_false(dc_csv_is_product_code("BANK CHARGES"));
    assert_false(dc_csv_is_product_code(""));
}

/* The committed extract of the shared file; the expected counts were
 * computed with Python's csv module from PROTOCOL.md section 2. */
static void test_uci_sample(void **state)
{
    char path[4096], err[256];
    const char *src = getenv("DC_SOURCE_DIR");
    dc_order_t o = {0};
    dc_csv_stats_t st;
    int64_t units = 0, placed_lines = 0;
    int rc;
    (void)state;

    snprintf(path, sizeof(path), "%s/tests/data/online-retail-sample.csv", src ? src : ".");
    dc_csv_reader_t *rd = dc_csv_reader_new(path, "uci-online-retail", err, sizeof(err));
    assert_non_null(rd);
    while ((rc = next(rd, &o, err)) != DC_ERR_EOF) {
        assert_true(rc == DC_OK || rc == DC_ERR_BAD_SKU || rc == DC_ERR_BAD_QUANTITY ||
                    rc == DC_ERR_BAD_PRICE);
        if (rc == DC_OK && o.status == DC_ORDER_PLACED) {
            for (size_t i = 0; i < o.n_lines; i++) {
                assert_true(dc_csv_is_product_code(o.lines[i].sku));
                units += o.lines[i].qty;
                placed_lines++;
            }
        }
    }
    dc_csv_reader_stats(rd, &st);
    assert_int_equal(st.rows, 660);
    assert_int_equal(st.lines_accepted, 651);
    assert_int_equal(st.orders_placed, 45);
    assert_int_equal(st.orders_cancelled, 2);
    assert_int_equal(st.rejected_sku, 6);
    assert_int_equal(st.rejected_quantity, 2);
    assert_int_equal(st.rejected_price, 1);
    assert_int_equal(st.rejected_timestamp + st.rejected_malformed, 0);
    assert_int_equal(units, 8885);
    assert_int_equal(placed_lines, 651 - 8); /* the two cancellations hold 8 lines */
    dc_csv_reader_destroy(rd);
    dc_order_clear(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uci_rows),       cmocka_unit_test(test_grouping),
        cmocka_unit_test(test_custom_mapping), cmocka_unit_test(test_mapping_errors),
        cmocka_unit_test(test_unclosed_quote), cmocka_unit_test(test_unclosed_quote_long),
        cmocka_unit_test(test_product_code),
        cmocka_unit_test(test_uci_sample),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
