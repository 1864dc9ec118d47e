/* tests/unit/test_snapshot.c - a close's snapshot: what the writer hands
 * out is what the reader gives back from the bytes (rows with totals and
 * rows of zeros, in name order), the older two-element format still reads,
 * and every damaged snapshot that would break a close's input (a SKU out of
 * order or twice, no name, a NUL in one, a number that does not fit, a
 * header claiming more elements than there are bytes) is refused as
 * malformed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "features/snapshot.h"

#include <math.h>
#include <string.h>

#define T0 1767571200000LL
#define WIDTH 3600000LL

typedef struct {
    msgpack_sbuffer buf;
    msgpack_packer pk;
} mp_t;

static void mp_init(mp_t *m)
{
    msgpack_sbuffer_init(&m->buf);
    msgpack_packer_init(&m->pk, &m->buf, msgpack_sbuffer_write);
}

static void mp_str(mp_t *m, const char *s)
{
    msgpack_pack_str(&m->pk, strlen(s));
    msgpack_pack_str_body(&m->pk, s, strlen(s));
}

/* A row with totals: units u, a view, revenue 2.5 a unit, one user. */
static void mp_row(mp_t *m, const char *sku, int64_t u)
{
    const int64_t f[11] = {u, 0, 1, 0, 0, 1, 25000 * u, 2, 0, 1, 25000};
    msgpack_pack_array(&m->pk, 13);
    mp_str(m, sku);
    for (int j = 0; j < 11; j++)
        msgpack_pack_int64(&m->pk, f[j]);
    msgpack_pack_int64(&m->pk, 1);
}

static int decode(const mp_t *m, dc_bucket_t *out)
{
    char errstr[256];
    return dc_snapshot_decode(m->buf.data, m->buf.size, WIDTH, out, errstr, sizeof(errstr));
}

static void test_round_trip(void **state)
{
    static const char *const names[] = {"20724", "20725", "21000", "85099B", "85123A"};
    dc_log_row_t totals = {.d = {.units = 5, .views = 50, .carts = 10, .orders = 5,
                                 .revenue_e4 = 125000, .events = 66, .promo_events = 6,
                                 .price_n = 15, .price_sum_e4 = 375000},
                           .users = 4};
    msgpack_sbuffer buf;
    dc_buf_t zeros = {0};
    dc_bucket_t written = {0}, read = {0};
    dc_snapshot_t sn;
    char errstr[256];
    (void)state;

    msgpack_sbuffer_init(&buf);
    assert_int_equal(msgpack_sbuffer_write(&buf, "\xc0", 1), 0); /* a snapshot before */
    assert_int_equal(dc_snapshot_begin(&sn, &buf, &zeros, T0, WIDTH, 5, &written), 0);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(dc_snapshot_row(&sn, names[i], strlen(names[i]), i == 1 || i == 4
                                                                                ? &totals
                                                                                : NULL),
                         0);
    char long_name[DC_SKU_MAX];
    memset(long_name, 'x', sizeof(long_name));
    assert_int_equal(dc_snapshot_row(&sn, long_name, DC_SKU_MAX, NULL), DC_ERR_MALFORMED);
    assert_int_equal(dc_snapshot_end(&sn), 0);
    assert_int_equal(written.n_skus, 5);

    assert_int_equal(dc_snapshot_decode(buf.data + sn.from, buf.size - sn.from, WIDTH, &read,
                                        errstr, sizeof(errstr)),
                     0);
    assert_int_equal(read.start, T0);
    assert_int_equal(read.width, WIDTH);
    assert_int_equal(read.n_skus, 5);
    for (size_t i = 0; i < 5; i++) {
        const dc_bucket_sku_t *r = &read.skus[i];
        assert_string_equal(r->sku, names[i]);
        if (i == 1 || i == 4) {
            assert_int_equal(r->units, 5);
            assert_int_equal(r->views, 50);
            assert_true(r->revenue == 12.5 && r->users == 4 && r->avg_price == 2.5);
            assert_true(r->promo && r->promo_share == 6.0 / 66);
        } else {
            assert_int_equal(r->units, 0);
            assert_true(r->users == 0 && r->revenue == 0 && !r->promo);
        }
        assert_true(r->units == written.skus[i].units && r->users == written.skus[i].users &&
                    r->avg_price == written.skus[i].avg_price);
    }
    msgpack_sbuffer_destroy(&buf);
    dc_buf_free(&zeros);
    dc_bucket_clear(&written);
    dc_bucket_clear(&read);
}

/* Snapshots before the zeros: [start, rows], a SKU without events as [sku]. */
static void test_two_element_format(void **state)
{
    mp_t m;
    dc_bucket_t read = {0};
    (void)state;
    mp_init(&m);
    msgpack_pack_array(&m.pk, 2);
    msgpack_pack_int64(&m.pk, T0);
    msgpack_pack_array(&m.pk, 3);
    msgpack_pack_array(&m.pk, 1), mp_str(&m, "A");
    mp_row(&m, "B", 3);
    msgpack_pack_array(&m.pk, 1), mp_str(&m, "C");
    assert_int_equal(decode(&m, &read), 0);
    assert_int_equal(read.n_skus, 3);
    assert_string_equal(read.skus[0].sku, "A");
    assert_string_equal(read.skus[1].sku, "B");
    assert_string_equal(read.skus[2].sku, "C");
    assert_int_equal(read.skus[0].units + read.skus[1].units + read.skus[2].units, 3);
    msgpack_sbuffer_destroy(&m.buf);
    dc_bucket_clear(&read);
}

/* [T0, rows, zeros] with rows named a[0 .. n) and zeros the raw bytes z. */
static int decode_case(const char *const *a, size_t n, const char *z, size_t z_len)
{
    mp_t m;
    dc_bucket_t read = {0};
    mp_init(&m);
    msgpack_pack_array(&m.pk, 3);
    msgpack_pack_int64(&m.pk, T0);
    msgpack_pack_array(&m.pk, n);
    for (size_t i = 0; i < n; i++)
        mp_row(&m, a[i], 1);
    msgpack_pack_bin(&m.pk, z_len);
    msgpack_pack_bin_body(&m.pk, z, z_len);
    int err = decode(&m, &read);
    msgpack_sbuffer_destroy(&m.buf);
    dc_bucket_clear(&read);
    return err;
}

static void test_damage_refused(void **state)
{
    static const char *const ok[] = {"A", "C"}, *const reversed[] = {"C", "A"},
                             *const twice[] = {"A", "A"}, *const unnamed[] = {""};
    static const char nul_name[] = {'A', '\0', 'B', '\0'};
    const char *const with_nul[] = {nul_name};
    (void)state;

    /* zeros "B" and "D", between and after the rows: fine. */
    assert_int_equal(decode_case(ok, 2, "\0\1B\0\1D", 6), 0);
    assert_int_equal(decode_case(reversed, 2, "", 0), DC_ERR_MALFORMED);
    assert_int_equal(decode_case(twice, 2, "", 0), DC_ERR_MALFORMED);
    assert_int_equal(decode_case(ok, 2, "\0\1C", 3), DC_ERR_MALFORMED); /* C twice */
    assert_int_equal(decode_case(ok, 2, "\0\1D\0\1B", 6), DC_ERR_MALFORMED);
    assert_int_equal(decode_case(unnamed, 1, "", 0), DC_ERR_MALFORMED);
    assert_int_equal(decode_case(ok, 2, "\0\3B\0D", 5), DC_ERR_MALFORMED); /* NUL in a zero */
    assert_int_equal(decode_case(ok, 2, "\0\1B\0", 4), DC_ERR_MALFORMED);  /* cut short */
    /* mp_str takes strlen: the row's name is "A" then; build it by hand. */
    mp_t m;
    dc_bucket_t read = {0};
    mp_init(&m);
    msgpack_pack_array(&m.pk, 2);
    msgpack_pack_int64(&m.pk, T0);
    msgpack_pack_array(&m.pk, 1);
    msgpack_pack_array(&m.pk, 1);
    msgpack_pack_str(&m.pk, 3);
    msgpack_pack_str_body(&m.pk, with_nul[0], 3);
    assert_int_equal(decode(&m, &read), DC_ERR_MALFORMED);
    msgpack_sbuffer_destroy(&m.buf);

    /* Numbers (k): a total as a NaN (0), past int64 (1) or a string (2), and
     * users negative (4), are refused; a total as the float 2.4 (3) reads
     * as 2, as older writers' floats do. */
    for (int k = 0; k < 5; k++) {
        mp_init(&m);
        msgpack_pack_array(&m.pk, 2);
        msgpack_pack_int64(&m.pk, T0);
        msgpack_pack_array(&m.pk, 1);
        msgpack_pack_array(&m.pk, 13);
        mp_str(&m, "A");
        for (int j = 0; j < 11; j++) {
            if (j != 3 || k == 4)
                msgpack_pack_int64(&m.pk, 1);
            else if (k == 0)
                msgpack_pack_double(&m.pk, NAN);
            else if (k == 1)
                msgpack_pack_uint64(&m.pk, (uint64_t)INT64_MAX + 1);
            else if (k == 2)
                mp_str(&m, "1");
            else
                msgpack_pack_double(&m.pk, 2.4); /* fine: rounds to 2 */
        }
        if (k == 4)
            msgpack_pack_int64(&m.pk, -1);
        else
            msgpack_pack_int64(&m.pk, 1);
        assert_int_equal(decode(&m, &read), k == 3 ? 0 : DC_ERR_MALFORMED);
        if (k == 3)
            assert_int_equal(read.skus[0].carts, 2);
        msgpack_sbuffer_destroy(&m.buf);
    }

    /* Five bytes claiming 2^32 - 1 rows, with none to follow. */
    static const char huge[] = "\x93\x00\xdd\xff\xff\xff\xff";
    assert_int_equal(dc_snapshot_decode(huge, sizeof(huge) - 1, WIDTH, &read, NULL, 0),
                     DC_ERR_MALFORMED);
    dc_bucket_clear(&read);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_two_element_format),
        cmocka_unit_test(test_damage_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
