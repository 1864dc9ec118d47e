/* tests/unit/test_checkpoint.c - model checkpoints: bit-exact round trips
 * through memory and files, and every kind of damage rejected with its own
 * error while the model stays as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "inference/inference_int.h"
#include "tests/state_crc.h"

#include <stdlib.h>
#include <unistd.h>

static dc_model_t *new_model(int H, int Hz, uint64_t seed)
{
    char errstr[128];
    dc_model_conf_t mc;
    dc_model_conf_default(&mc);
    mc.hidden = H;
    mc.horizon = Hz;
    mc.bptt = 4;
    mc.seed = seed;
    dc_model_t *model = dc_model_new(&mc, errstr, sizeof(errstr));
    assert_non_null(model);
    return model;
}

/* Some training, so the Adam moments and counters are not zero. */
static void train_a_little(dc_model_t *model)
{
    size_t sz = dc_model_sku_size(model);
    dc_model_sku_t *sku[2] = {malloc(sz), malloc(sz)};
    dc_model_sku_init(model, sku[0]);
    dc_model_sku_init(model, sku[1]);
    for (int d = 0; d < 12; d++) {
        dc_model_bucket_t b[2] = {{.start_ms = d * 86400000LL, .width_ms = 86400000, .units = d % 3},
                                  {.start_ms = d * 86400000LL, .width_ms = 86400000, .units = 5}};
        assert_int_equal(dc_model_step(model, sku, b, 2, NULL), 0);
        assert_int_equal(dc_model_train(model, sku, 2, NULL), 0);
    }
    free(sku[0]);
    free(sku[1]);
}

static void test_round_trip(void **state)
{
    (void)state;
    char errstr[256];
    dc_model_t *a = new_model(12, 3, 1), *b = new_model(12, 3, 2);
    train_a_little(a);
    dc_buf_t buf = {0}, again = {0};
    assert_int_equal(dc_model_save(a, &buf), 0);
    size_t np;
    float *pa = dc_model_params(a, &np);
    assert_int_equal(buf.len, 72 + 12 * np + 4);
    assert_memory_equal(buf.data, DC_MODEL_MAGIC, 8);
    assert_int_equal(dc_model_load(b, buf.data, buf.len, errstr, sizeof(errstr)), 0);
    assert_memory_equal(pa, dc_model_params(b, NULL), sizeof(float) * np);
    assert_int_equal(dc_model_version(b), dc_model_version(a));
    assert_int_equal(dc_model_save(b, &again), 0);
    assert_int_equal(again.len, buf.len);
    assert_memory_equal(again.data, buf.data, buf.len);
    /* Training on from the checkpoint continues exactly as the original. */
    train_a_little(a);
    train_a_little(b);
    assert_memory_equal(pa, dc_model_params(b, NULL), sizeof(float) * np);

    dc_model_conf_t mc;
    assert_int_equal(dc_model_peek(buf.data, buf.len, &mc, errstr, sizeof(errstr)), 0);
    assert_int_equal(mc.hidden, 12);
    assert_int_equal(mc.horizon, 3);
    assert_int_equal(mc.bptt, 4);
    dc_buf_free(&buf);
    dc_buf_free(&again);
    dc_model_destroy(a);
    dc_model_destroy(b);
}

static void expect_rejected(dc_model_t *model, const dc_buf_t *buf, size_t len, int err)
{
    char errstr[256] = "";
    size_t np;
    float *p = dc_model_params(model, &np);
    float *before = malloc(sizeof(float) * np);
    memcpy(before, p, sizeof(float) * np);
    assert_int_equal(dc_model_load(model, buf->data, len, errstr, sizeof(errstr)), err);
    assert_true(errstr[0] != '\0');
    assert_memory_equal(before, p, sizeof(float) * np);
    free(before);
}

static void test_damage(void **state)
{
    (void)state;
    dc_model_t *a = new_model(8, 2, 1), *b = new_model(8, 2, 2);
    train_a_little(a);
    dc_buf_t buf = {0};
    assert_int_equal(dc_model_save(a, &buf), 0);
    /* Any flipped byte in the payload or the CRC itself. */
    size_t spots[] = {40, 72, buf.len / 2, buf.len - 5, buf.len - 1};
    for (size_t i = 0; i < DC_ARRAY_SIZE(spots); i++) {
        buf.data[spots[i]] ^= 0x10;
        expect_rejected(b, &buf, buf.len, DC_ERR_CHECKSUM);
        buf.data[spots[i]] ^= 0x10;
    }
    expect_rejected(b, &buf, 0, DC_ERR_TRUNCATED);
    expect_rejected(b, &buf, 50, DC_ERR_TRUNCATED);
    expect_rejected(b, &buf, buf.len - 1, DC_ERR_TRUNCATED);
    assert_int_equal(dc_buf_append(&buf, "x", 1), 0);
    expect_rejected(b, &buf, buf.len, DC_ERR_TRAILING);
    buf.len--;
    buf.data[0] = 'X';
    expect_rejected(b, &buf, buf.len, DC_ERR_BAD_MAGIC);
    buf.data[0] = 'D';
    buf.data[8] = 2; /* format version 2 */
    test_put_crc(buf.data, buf.len);
    expect_rejected(b, &buf, buf.len, DC_ERR_VERSION);
    buf.data[8] = 1;
    test_put_crc(buf.data, buf.len);
    /* A model of other dimensions refuses it. */
    dc_model_t *wide = new_model(9, 2, 1);
    expect_rejected(wide, &buf, buf.len, DC_ERR_VERSION);
    /* NaN weights that pass the CRC are still refused. */
    float nan = NAN;
    memcpy(buf.data + 72, &nan, 4);
    test_put_crc(buf.data, buf.len);
    expect_rejected(b, &buf, buf.len, DC_ERR_NUMERIC);
    dc_model_destroy(wide);
    dc_buf_free(&buf);
    dc_model_destroy(a);
    dc_model_destroy(b);
}

static void test_file(void **state)
{
    (void)state;
    char errstr[256], dir[] = "/tmp/dc_ckpt_XXXXXX", path[300], tmp[310];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/model.bin", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    dc_model_t *a = new_model(8, 2, 1), *b = new_model(8, 2, 2);
    train_a_little(a);
    assert_int_equal(dc_model_save_file(a, path, errstr, sizeof(errstr)), 0);
    assert_int_equal(access(tmp, F_OK), -1); /* renamed into place */
    assert_int_equal(dc_model_load_file(b, path, errstr, sizeof(errstr)), 0);
    size_t np;
    float *pa = dc_model_params(a, &np);
    assert_memory_equal(pa, dc_model_params(b, NULL), sizeof(float) * np);
    assert_int_equal(dc_model_load_file(b, "/nonexistent/model.bin", errstr, sizeof(errstr)),
                     DC_ERR_IO);
    assert_int_equal(dc_model_save_file(a, "/nonexistent/dir/model.bin", errstr, sizeof(errstr)),
                     DC_ERR_IO);
    unlink(path);
    rmdir(dir);
    dc_model_destroy(a);
    dc_model_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_damage),
        cmocka_unit_test(test_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
