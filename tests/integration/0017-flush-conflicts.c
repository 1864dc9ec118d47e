/* tests/integration/0017-flush-conflicts.c - two writers flushing into one
 * feature store at once, over the same SKUs, as two `run` instances of one
 * group do when an order's lines reach both. Each flush reads the values it
 * touches, merges in the process and commits with MULTI/EXEC under WATCH
 * of the store's version key; a flush the other writer overtook must start
 * over, not lose or double the other's events. Each thread flushes its own
 * partition's batches until both have started over a good number of times
 * (bounded by a deadline); then every SKU's 7-day window must hold exactly
 * the views and units the two threads sent, and every stored offset must be
 * where its writer left it. Run by run-c.sh (DC_REDIS_PORT). */
#include "features/features.h"
#include "tests/integration/it_report.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1767571200000LL /* 2026-01-05T00:00:00Z */
#define N_SKUS 40
#define EVENTS_PER_FLUSH 3000
#define MIN_FLUSHES 40
#define MIN_CONFLICTS 10
#define DEADLINE_S 60.0

typedef struct {
    int id;
    dc_conf_t *conf;
    dc_limits_t lim;
    int64_t views[N_SKUS], units[N_SKUS]; /* what this writer committed */
    int64_t flushes, conflicts, offset;
    const char *error;
} writer_t;

static atomic_int stop_all; /* set once both writers have done enough */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t total_conflicts, writers_done_min;

static void sku_name(char *buf, size_t size, int i) { snprintf(buf, size, "C%03d", i); }

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    char errstr[512], instance[32], sku[16], user[16];
    dc_featstore_t *fs;
    dc_featbatch_t *batch = dc_featbatch_new(&w->lim);
    dc_parts_t *parts = dc_parts_new();
    dc_part_t *part;
    uint64_t rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(w->id + 1);
    int counted_done = 0;

    snprintf(instance, sizeof(instance), "writer-%d", w->id);
    if (!(fs = dc_featstore_new(w->conf, &w->lim, instance, errstr, sizeof(errstr)))) {
        w->error = strdup(errstr);
        return NULL;
    }
    part = dc_parts_add(parts, "conflicts", 0, w->id);
    double deadline = dc_monotonic_s() + DEADLINE_S;
    while (!stop_all && dc_monotonic_s() < deadline) {
        int64_t views[N_SKUS] = {0}, units[N_SKUS] = {0};
        dc_flush_result_t res;
        dc_featbatch_reset(batch);
        for (int e = 0; e < EVENTS_PER_FLUSH; e++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            int s = (int)((rng >> 33) % N_SKUS);
            int placed = (rng >> 20) % 5 == 0;
            sku_name(sku, sizeof(sku), s);
            snprintf(user, sizeof(user), "u%d", (int)((rng >> 40) % 500));
            dc_fevent_t ev = {.sku = sku, .user = user,
                              .ts_ms = T0 + (int64_t)((rng >> 8) % 600000),
                              .kind = placed ? DC_FEV_PLACED : DC_FEV_VIEW,
                              .qty = placed ? 2 : 0, .price = 1.5};
            if (dc_featbatch_add(batch, &ev, INT64_MIN, NULL)) {
                w->error = "an event did not fit the batch";
                goto out;
            }
            views[s] += !placed;
            units[s] += placed ? 2 : 0;
            if (ev.ts_ms > part->max_ts)
                part->max_ts = ev.ts_ms;
        }
        part->next_offset = w->offset + EVENTS_PER_FLUSH;
        int err = dc_featstore_flush(fs, batch, parts, INT64_MIN, dc_monotonic_s(), &res);
        if (err) {
            w->error = strdup(dc_featstore_errstr(fs));
            goto out;
        }
        w->offset = part->next_offset;
        w->flushes++;
        w->conflicts += res.conflicts;
        for (int s = 0; s < N_SKUS; s++) {
            w->views[s] += views[s];
            w->units[s] += units[s];
        }
        pthread_mutex_lock(&lock);
        total_conflicts += res.conflicts;
        if (!counted_done && w->flushes >= MIN_FLUSHES) {
            counted_done = 1;
            writers_done_min++;
        }
        if (writers_done_min == 2 && total_conflicts >= MIN_CONFLICTS)
            stop_all = 1;
        pthread_mutex_unlock(&lock);
    }
out:
    dc_featstore_destroy(fs);
    dc_featbatch_destroy(batch);
    dc_parts_destroy(parts);
    return NULL;
}

int main(void)
{
    const char *port = getenv("DC_REDIS_PORT");
    char errstr[512], sku[16];
    writer_t w[2];
    pthread_t th[2];
    int failed = 0;

    if (!port)
        die("environment", "DC_REDIS_PORT is not set (run me through run-c.sh)");
    dc_log_set_level(DC_LOG_WARN);
    for (int i = 0; i < 2; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].id = i;
        if (!(w[i].conf = dc_conf_new()) ||
            dc_conf_set(w[i].conf, "redis.port", port, errstr, sizeof(errstr)) ||
            dc_limits_init(&w[i].lim, w[i].conf, errstr, sizeof(errstr)))
            die("config", errstr);
    }
    for (int i = 0; i < 2; i++)
        if (pthread_create(&th[i], NULL, writer_main, &w[i]))
            die("pthread_create", "failed");
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        if (w[i].error)
            die("writer", w[i].error);
        printf("writer %d: %lld flushes, started over %lld times\n", i,
               (long long)w[i].flushes, (long long)w[i].conflicts);
    }
    /* Read back through the function other services call. */
    dc_featstore_t *fs = dc_featstore_new(w[0].conf, &w[0].lim, "reader", errstr, sizeof(errstr));
    if (!fs)
        die("featstore", errstr);
    size_t week = w[0].lim.n_windows - 1;
    for (int s = 0; s < N_SKUS; s++) {
        dc_sku_features_t f;
        int64_t views = w[0].views[s] + w[1].views[s], units = w[0].units[s] + w[1].units[s];
        sku_name(sku, sizeof(sku), s);
        if (dc_featstore_read(fs, sku, &f))
            die("read", dc_featstore_errstr(fs));
        if (!f.found || f.win[week].views != views || f.win[week].units != units) {
            fprintf(stderr, "0017: %s: %s views %lld units %lld, sent %lld and %lld\n", sku,
                    w[0].lim.window_name[week], (long long)f.win[week].views,
                    (long long)f.win[week].units, (long long)views, (long long)units);
            failed = 1;
        }
    }
    dc_parts_t *parts = dc_parts_new();
    for (int i = 0; i < 2; i++)
        dc_parts_add(parts, "conflicts", 0, i);
    if (dc_featstore_load_parts(fs, parts))
        die("load offsets", dc_featstore_errstr(fs));
    for (int i = 0; i < 2; i++)
        if (dc_parts_at(parts, (size_t)i)->stored_offset != w[i].offset) {
            fprintf(stderr, "0017: partition %d stored at %lld, its writer left it at %lld\n",
                    i, (long long)dc_parts_at(parts, (size_t)i)->stored_offset,
                    (long long)w[i].offset);
            failed = 1;
        }
    dc_parts_destroy(parts);
    dc_featstore_destroy(fs);
    if (w[0].conflicts + w[1].conflicts < MIN_CONFLICTS) {
        fprintf(stderr, "0017: the writers hardly ever met: the retry was not exercised\n");
        failed = 1;
    }
    for (int i = 0; i < 2; i++)
        dc_conf_destroy(w[i].conf);
    if (failed)
        return 1;
    printf("0017 ok: %d SKUs exact after two concurrent writers\n", N_SKUS);
    return 0;
}
