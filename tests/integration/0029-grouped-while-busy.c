/* tests/integration/0029-grouped-while-busy.c - a batch that fills while the
 * flush before it is still running is grouped by the pipeline's loop, not
 * the flush thread, and handed to the next flush as it is: its events must
 * count exactly once, in the windows and in the closed buckets.
 *
 * The source delivers views and add-to-carts of a few SKUs, one a minute.
 * Every flush that has more batches after it starts with Redis's writes
 * paused (CLIENT PAUSE WRITE, set when the first batch is full and when a
 * flush is taken in), so it cannot commit before the loop has read the whole
 * next batch; the pipeline's debug line for a grouped batch lifts the pause.
 * So every batch after the first is grouped while a flush runs, whatever the
 * machine's load: no step of the test waits out a time. Every SKU's 7-day
 * window and the closed buckets' totals must equal a recount of the events
 * delivered. The flush thread goes by the name operators see in `top -H`,
 * dc-flush. Run by run-c.sh (DC_REDIS_PORT). */
#include "pipeline/pipeline.h"
#include "tests/integration/it_report.h"
#include "tests/integration/it_source.h"

#include <hiredis/hiredis.h>

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1767571200000LL /* 2026-01-05T00:00:00Z */
#define MIN 60000LL
#define BATCH 50            /* flush.max.events */
#define N_BATCHES 8
#define N_EVENTS (BATCH * N_BATCHES)
#define N_SKUS 5
/* Should the pipeline wait for a flush instead of grouping the next batch,
 * the pause runs out and the checks fail, rather than the test hang. */
#define PAUSE_MS "5000"

typedef struct {
    redisContext *rc;
    int assigned;
    int64_t next;                        /* the next event's offset */
    dc_click_t click;
    int64_t views[N_SKUS], carts[N_SKUS]; /* delivered, per SKU */
    int grouped[N_BATCHES + 1];          /* per batch (from 1): times grouped ahead */
    int jobs, jobs_with_events;          /* the pipeline's debug lines of flushes done */
    long long jobs_events;               /* the events they say they flushed */
} source_t;

typedef struct {
    int64_t views, carts, buckets;
} closed_t;

/* Whether a thread of this process is named name (as `top -H` shows it;
 * /proc ends the name with a newline). */
static int has_thread(const char *name)
{
    DIR *dir = opendir("/proc/self/task");
    struct dirent *d;
    int found = 0;

    while (dir && !found && (d = readdir(dir))) {
        char path[300], comm[32] = "";
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", d->d_name);
        FILE *f = fopen(path, "r");
        if (f) {
            found = fgets(comm, sizeof(comm), f) && !strcmp(comm, name);
            fclose(f);
        }
    }
    if (dir)
        closedir(dir);
    return found;
}

static const char *sku_name(int i)
{
    static const char *names[N_SKUS] = {"SKU-A", "SKU-B", "SKU-C", "SKU-D", "SKU-E"};
    return names[i];
}

static __attribute__((format(printf, 2, 3))) void redis_do(source_t *s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    redisReply *r = redisvCommand(s->rc, fmt, ap);
    va_end(ap);
    if (!r || r->type == REDIS_REPLY_ERROR)
        die(fmt, r ? r->str : s->rc->errstr);
    freeReplyObject(r);
}

/* Holds the next flush's commit until the loop has grouped the batch after
 * it; the last flush has none after it and goes unhindered. */
static void pause_writes(source_t *s)
{
    if (s->next < N_EVENTS)
        redis_do(s, "CLIENT PAUSE %s WRITE", PAUSE_MS);
}

static int next(void *opaque, dc_pipeline_t *pl, dc_srcmsg_t *msg, int timeout_ms)
{
    source_t *s = opaque;
    int64_t start;
    int err;

    (void)timeout_ms;
    if (!s->assigned) {
        if ((err = dc_pipeline_assign(pl, DC_TOPIC_CLICKS, "clicks", 0, &start)))
            return err;
        s->assigned = 1;
        s->next = start < 0 ? 0 : start;
    }
    if (s->next == N_EVENTS)
        return DC_ERR_EOF;
    int i = (int)(s->next % N_SKUS), cart = s->next % 3 == 0;
    char user[16];
    snprintf(user, sizeof(user), "u%d", (int)(s->next % 7));
    it_click(msg, &s->click, 0, s->next, sku_name(i), user, T0 + s->next * MIN,
             cart ? DC_CLICK_ADD_TO_CART : DC_CLICK_VIEW);
    s->views[i] += !cart;
    s->carts[i] += cart;
    if (++s->next == BATCH)
        pause_writes(s); /* the first flush starts once this event is in */
    return DC_OK;
}

/* A flush was taken in (the loop's thread): the next one starts now. */
static int commit(void *opaque, dc_parts_t *parts)
{
    (void)parts;
    pause_writes(opaque);
    return DC_OK;
}

/* The loop grouped a full batch while a flush ran (the loop's thread, so
 * the source's connection is free): the flush may commit now. Other lines
 * go to stderr as they would without this sink, warnings and errors only. */
static void log_sink(dc_log_level_t level, const char *component, const char *msg,
                     void *opaque)
{
    source_t *s = opaque;

    long long events;

    if (!strcmp(component, "pipeline") && !strncmp(msg, "grouped a batch", 15)) {
        s->grouped[s->next / BATCH]++;
        redis_do(s, "CLIENT UNPAUSE");
    } else if (!strcmp(component, "pipeline") && sscanf(msg, "job: flush of %lld events",
                                                        &events) == 1) {
        s->jobs++;
        s->jobs_with_events += events > 0;
        s->jobs_events += events;
    } else if (level <= DC_LOG_WARN) {
        fprintf(stderr, "%s: %s\n", component, msg);
    }
}

static int bucket_closed(void *opaque, const dc_bucket_t *bucket)
{
    closed_t *c = opaque;

    c->buckets++;
    for (size_t i = 0; i < bucket->n_skus; i++) {
        c->views += bucket->skus[i].views;
        c->carts += bucket->skus[i].carts;
    }
    return DC_OK;
}

int main(void)
{
    const char *port = getenv("DC_REDIS_PORT");
    char errstr[512], num[16];
    source_t s = {0};
    closed_t closed = {0};
    dc_limits_t lim;
    dc_conf_t *conf = dc_conf_new();
    dc_featstore_t *fs = NULL;
    dc_pipeline_t *pl = NULL;
    dc_pipeline_stats_t st;

    if (!port)
        die("environment", "DC_REDIS_PORT is not set (run me through run-c.sh)");
    dc_log_set_level(DC_LOG_DEBUG);
    dc_log_set_sink(log_sink, &s);
    if (!(s.rc = redisConnect("127.0.0.1", atoi(port))) || s.rc->err)
        die("redis", s.rc ? s.rc->errstr : "cannot connect");
    snprintf(num, sizeof(num), "%d", BATCH);
    dc_pipeline_sinks_t sinks = {.bucket_closed = bucket_closed, .closed_opaque = &closed};
    if (!conf || dc_conf_set(conf, "redis.port", port, errstr, sizeof(errstr)) ||
        dc_conf_set(conf, "flush.max.events", num, errstr, sizeof(errstr)) ||
        dc_conf_set(conf, "flush.interval", "1m", errstr, sizeof(errstr)) ||
        dc_limits_init(&lim, conf, errstr, sizeof(errstr)) ||
        !(fs = dc_featstore_new(conf, &lim, "0029", errstr, sizeof(errstr))) ||
        !(pl = dc_pipeline_new(conf, &lim, fs, &sinks, NULL, errstr, sizeof(errstr))))
        die("setup", errstr);
    dc_source_t source = {.next = next, .commit = commit, .src = &s};
    int err = dc_pipeline_run(pl, &source, NULL, 10000);
    if (err)
        die("run", dc_err2str(err));
    dc_pipeline_stats(pl, &st);

    int64_t views = 0, carts = 0;
    for (int i = 0; i < N_SKUS; i++) {
        dc_sku_features_t f;
        char what[128];
        if (dc_featstore_read(fs, sku_name(i), &f))
            die("read", dc_featstore_errstr(fs));
        int w = (int)lim.n_windows - 1; /* 7 days: every event is in it */
        snprintf(what, sizeof(what), "%s: %lld views and %lld carts in %s, %lld and %lld sent",
                 sku_name(i), (long long)f.win[w].views, (long long)f.win[w].carts,
                 lim.window_name[w], (long long)s.views[i], (long long)s.carts[i]);
        check(f.found && f.win[w].views == s.views[i] && f.win[w].carts == s.carts[i], what);
        views += s.views[i];
        carts += s.carts[i];
    }
    printf("0029: %lld events, %lld flushes (%lld with events), %lld batches grouped while a "
           "flush ran, %lld buckets closed\n",
           (long long)st.events_out, (long long)st.flushes, (long long)st.flushes_with_events,
           (long long)st.grouped_ahead, (long long)closed.buckets);
    check(st.events_out == N_EVENTS, "not every event went into a batch");
    check(st.flushes_with_events == N_BATCHES, "not one flush with events per full batch");
    int grouped = 0;
    for (int b = 1; b <= N_BATCHES; b++) {
        char what[96];
        snprintf(what, sizeof(what), "batch %d was grouped %d times while a flush ran", b,
                 s.grouped[b]);
        /* The first is grouped only if a heartbeat's flush was running. */
        check(b == 1 ? s.grouped[b] <= 1 : s.grouped[b] == 1, what);
        grouped += s.grouped[b];
    }
    check(st.grouped_ahead == grouped, "the pipeline's count of batches grouped ahead is not "
                                       "the number of its debug lines that say so");
    /* Each job's debug line, the pass's timeline, says what it flushed. */
    check(s.jobs == st.flushes && s.jobs_with_events == N_BATCHES &&
              s.jobs_events == N_EVENTS,
          "the debug lines of the jobs do not add up to the pipeline's flushes and events");
    check(closed.views == views && closed.carts == carts,
          "the closed buckets do not add up to the events sent");
    check(has_thread("dc-flush\n"), "no thread of this process is named dc-flush");
    dc_pipeline_destroy(pl);
    dc_featstore_destroy(fs);
    dc_conf_destroy(conf);
    redisFree(s.rc);
    if (!it_failed)
        puts("0029 ok");
    return it_failed;
}
