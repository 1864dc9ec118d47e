/* tests/unit/test_pipeline_sizing.c - what bounds the pipeline's memory
 * however large the stream: the room a batch reserves, and how many buckets
 * one flush job closes (and keeps the rows of) as the active SKUs grow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "pipeline/pipeline.h"

#define ROWS_MAX ((size_t)1 << 19) /* the rows a job's closes may hold */

static void test_batch_reserve(void **state)
{
    (void)state;
    assert_int_equal(dc_pipeline_batch_reserve(1), 1);
    assert_int_equal(dc_pipeline_batch_reserve(100000), 100000);
    assert_int_equal(dc_pipeline_batch_reserve(200000), 200000);
    /* Beyond that a batch grows as it fills, rather than reserve it all. */
    assert_int_equal(dc_pipeline_batch_reserve(10000000), 200000);
}

static void test_closes_per_job_few_skus(void **state)
{
    (void)state;
    /* Up to 32,768 active SKUs, a catch-up closes as many buckets a job as
     * one close transaction takes: the limit costs small catalogues
     * nothing. */
    assert_int_equal(dc_pipeline_closes_per_job(0), DC_CLOSES_MAX);
    assert_int_equal(dc_pipeline_closes_per_job(1), DC_CLOSES_MAX);
    assert_int_equal(dc_pipeline_closes_per_job(10000), DC_CLOSES_MAX);
    assert_int_equal(dc_pipeline_closes_per_job(ROWS_MAX / DC_CLOSES_MAX), DC_CLOSES_MAX);
}

static void test_closes_per_job_many_skus(void **state)
{
    (void)state;
    assert_int_equal(dc_pipeline_closes_per_job(ROWS_MAX / DC_CLOSES_MAX + 1),
                     DC_CLOSES_MAX - 1);
    assert_int_equal(dc_pipeline_closes_per_job(100000), 5);
    assert_int_equal(dc_pipeline_closes_per_job(ROWS_MAX / 2), 2);
    /* However many SKUs, a job still closes one bucket: the stream goes on. */
    assert_int_equal(dc_pipeline_closes_per_job(ROWS_MAX / 2 + 1), 1);
    assert_int_equal(dc_pipeline_closes_per_job(ROWS_MAX), 1);
    assert_int_equal(dc_pipeline_closes_per_job(5000000), 1);
    /* Within the bound at every count from one bucket's rows to the next. */
    for (size_t rows = ROWS_MAX / DC_CLOSES_MAX; rows <= ROWS_MAX; rows += 997) {
        int n = dc_pipeline_closes_per_job(rows);
        assert_true(n >= 1 && n <= DC_CLOSES_MAX);
        assert_true((size_t)n * rows <= ROWS_MAX);
        assert_true(n == DC_CLOSES_MAX || (size_t)(n + 1) * rows > ROWS_MAX);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_reserve),
        cmocka_unit_test(test_closes_per_job_few_skus),
        cmocka_unit_test(test_closes_per_job_many_skus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
