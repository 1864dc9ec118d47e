/* tests/integration/0028-record-cache.c - a flush takes the records the
 * same instance's last flush wrote from its cache, without reading them,
 * but only while nobody else has written the store since: another
 * instance's write must never be overwritten by a cached record.
 *
 * Two stores on one key prefix play two instances of a group, each with a
 * partition of its own. A flushes the same SKUs twice (the second flush
 * reads none of their records: INFO commandstats counts no MGET); B then
 * adds views to some of them; A's next flushes, with events or without,
 * must count B's views too.
 * Every SKU's 7-day views must end equal to a recount of every flush.
 * Run by run-c.sh (DC_REDIS_PORT). */
#include "tests/integration/it_store.h"
#include "tests/integration/it_report.h"

#include <hiredis/hiredis.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1767571200000LL /* 2026-01-05T00:00:00Z */
#define MIN 60000LL
#define PREFIX "t0028"
#define N_SKUS 5

typedef struct {
    it_store_t s;
    int32_t partition;
    int64_t offset; /* next offset stored, -1: none yet */
} instance_t;

static redisContext *rc;
static int64_t recount[N_SKUS]; /* views flushed per SKU */

/* MGET commands Redis has run so far. */
static long long mget_calls(void)
{
    long long n = it_redis_calls(rc, "mget");
    if (n < 0)
        die("redis", rc->err ? rc->errstr : "INFO failed");
    return n;
}

/* One flush by inst of `views` views of each SKU in mask (bit i: SKU i),
 * in minute `minute`; returns the flush's conflicts. */
static int64_t flush(instance_t *inst, unsigned mask, int views, int minute)
{
    dc_featbatch_t *batch = dc_featbatch_new(&inst->s.lim);
    dc_parts_t *parts = dc_parts_new();
    dc_part_t *part = dc_parts_add(parts, "views", 0, inst->partition);
    dc_flush_result_t res;
    char sku[16];

    if (!batch || !part)
        die("flush", "out of memory");
    for (int i = 0; i < N_SKUS; i++) {
        if (!(mask & 1u << i))
            continue;
        snprintf(sku, sizeof(sku), "SKU-%d", i);
        for (int v = 0; v < views; v++) {
            dc_fevent_t ev = {.sku = sku, .user = "u1", .ts_ms = T0 + minute * MIN + v,
                              .kind = DC_FEV_VIEW};
            if (dc_featbatch_add(batch, &ev, INT64_MIN, NULL))
                die("batch", "an event did not fit");
        }
        recount[i] += views;
    }
    part->max_ts = T0 + minute * MIN;
    part->stored_offset = inst->offset;
    part->next_offset = inst->offset = inst->offset < 0 ? 10 : inst->offset + 10;
    if (dc_featstore_flush(inst->s.fs, batch, parts, INT64_MIN, dc_monotonic_s(), &res))
        die("flush", dc_featstore_errstr(inst->s.fs));
    dc_featbatch_destroy(batch);
    dc_parts_destroy(parts);
    return res.conflicts;
}

int main(void)
{
    const char *port = getenv("DC_REDIS_PORT");
    instance_t a = {.partition = 0, .offset = -1}, b = {.partition = 1, .offset = -1};
    long long before;

    if (!port)
        die("environment", "DC_REDIS_PORT is not set");
    it_store_open(&a.s, "0028", port, PREFIX, NULL);
    it_store_open(&b.s, "0028", port, PREFIX, NULL);
    if (!(rc = redisConnect("127.0.0.1", atoi(port))) || rc->err)
        die("redis", rc ? rc->errstr : "out of memory");

    /* A alone: its second flush of the same SKUs reads none of them. */
    flush(&a, 0x1f, 3, 1);
    before = mget_calls();
    check(flush(&a, 0x1f, 2, 2) == 0, "A's second flush met a conflict");
    check(mget_calls() == before, "A's second flush read records it had written");

    /* B writes SKU-0 and SKU-1: A's cache is stale. Its next flush must
     * read the records again (a conflict, then a flush that reads), and
     * not write its own older copy of them back. */
    flush(&b, 0x03, 4, 3);
    before = mget_calls();
    check(flush(&a, 0x07, 1, 4) >= 1, "A's flush after B's took no notice of it");
    check(mget_calls() > before, "A's flush after B's read no record");
    /* Once A finds the store as it left it, it takes from its cache again. */
    flush(&a, 0x01, 1, 5);
    before = mget_calls();
    flush(&a, 0x01, 1, 6);
    check(mget_calls() == before, "A read its records again with nobody else writing");

    /* Flushes without events (offsets only) write no record: after B's
     * write they must not vouch for A's cached copy of SKU-0 either. */
    flush(&b, 0x01, 2, 7);
    flush(&a, 0, 0, 8);
    flush(&a, 0, 0, 9);
    flush(&a, 0x01, 1, 10);

    for (int i = 0; i < N_SKUS; i++) {
        char sku[16];
        dc_sku_features_t f;
        snprintf(sku, sizeof(sku), "SKU-%d", i);
        if (dc_featstore_read(a.s.fs, sku, &f))
            die("read", dc_featstore_errstr(a.s.fs));
        if (!f.found || f.win[3].views != recount[i]) {
            fprintf(stderr, "0028: %s has %lld views in 7d, want %lld\n", sku,
                    (long long)f.win[3].views, (long long)recount[i]);
            it_failed = 1;
        }
    }

    redisFree(rc);
    it_store_close(&a.s);
    it_store_close(&b.s);
    if (!it_failed)
        printf("0028: a flush takes its own last records from its cache, and reads them again "
               "after another instance wrote\n");
    return it_failed;
}
