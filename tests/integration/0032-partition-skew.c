/* tests/integration/0032-partition-skew.c - the pipeline tells how far
 * apart in event time its input partitions are when a flush is cut
 * (stats.max_skew_ms, the gauge dc_partition_skew_seconds): the sources
 * read the partition furthest behind first, and this shows whether the
 * input keeps to it. A partition read to its end no longer counts: it
 * holds nothing back that reading could move.
 *
 * The source delivers views on two partitions in turn, one a minute each,
 * the second 10 hours ahead of the first, for 4 batches (flush.max.events
 * 50); then the first partition reaches its end and the second goes on,
 * 100 hours further ahead, for 2 more batches. A third partition is
 * assigned and never has an event. The most skew at a flush must be the
 * 10 hours exactly, and the gauge the last flush's: 0, with one partition
 * left. The pipeline stops there; then a second pipeline on the same store takes the second and the
 * third partition, whose watermark the store now holds as 0 (no event
 * yet), and reads one more batch of the second: the skew is 0, not the
 * second's event time since 1970. Every event counts in its SKU's 7-day
 * window. Run by run-c.sh (DC_REDIS_PORT). */
#include "pipeline/pipeline.h"
#include "tests/integration/it_report.h"
#include "tests/integration/it_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1767571200000LL /* 2026-01-05T00:00:00Z */
#define MIN 60000LL
#define HOUR 3600000LL
#define BATCH 50 /* flush.max.events */
#define IN_TURN (4 * BATCH)
#define N_EVENTS (IN_TURN + 2 * BATCH)

typedef struct {
    int assigned, again; /* again: the second pipeline's source */
    int64_t next, offset[2];
    int64_t views[2]; /* delivered, per partition (one SKU each) */
    dc_click_t click;
} source_t;

static const char *const skus[2] = {"SKU-BEHIND", "SKU-AHEAD"};

static int next(void *opaque, dc_pipeline_t *pl, dc_srcmsg_t *msg, int timeout_ms)
{
    source_t *s = opaque;
    int64_t start;
    int err;

    (void)timeout_ms;
    if (!s->assigned) {
        for (int32_t p = s->again; p < 3; p++) {
            if ((err = dc_pipeline_assign(pl, DC_TOPIC_CLICKS, "clicks", p, &start)))
                return err;
            if (p < 2 && start >= 0 && start != s->offset[p])
                return DC_ERR_INVAL; /* the store lost or invented events */
        }
        s->assigned = 1;
    }
    if (s->next == N_EVENTS + BATCH)
        return DC_ERR_EOF;
    int p = s->next < IN_TURN ? (int)(s->next % 2) : 1;
    if (s->next == IN_TURN)
        dc_pipeline_at_end(pl, DC_TOPIC_CLICKS, 0);
    int64_t ts = T0 + s->offset[p] * MIN + (p ? 10 * HOUR : 0) +
                 (s->next >= IN_TURN ? 100 * HOUR : 0);
    char user[16];
    snprintf(user, sizeof(user), "u%lld", (long long)(s->next % 5));
    it_click(msg, &s->click, p, s->offset[p]++, skus[p], user, ts, DC_CLICK_VIEW);
    s->views[p]++;
    s->next++;
    return DC_OK;
}

/* The first pipeline stops (as on SIGTERM) after its events rather than
 * at the end of a finite input, which would move every watermark past the
 * newest event: the third partition's stays the store's 0. */
static source_t *g_source;
static int first_done(void) { return !g_source->again && g_source->next == N_EVENTS; }

int main(void)
{
    const char *port = getenv("DC_REDIS_PORT");
    char errstr[512], num[16];
    source_t s = {0};
    dc_limits_t lim;
    dc_conf_t *conf = dc_conf_new();
    dc_metrics_t *metrics = dc_metrics_new();
    dc_featstore_t *fs = NULL;
    dc_pipeline_t *pl = NULL;
    dc_pipeline_stats_t st;

    if (!port)
        die("environment", "DC_REDIS_PORT is not set (run me through run-c.sh)");
    dc_log_set_level(DC_LOG_WARN);
    snprintf(num, sizeof(num), "%d", BATCH);
    dc_pipeline_sinks_t sinks = {0};
    if (!conf || !metrics || dc_conf_set(conf, "redis.port", port, errstr, sizeof(errstr)) ||
        dc_conf_set(conf, "flush.max.events", num, errstr, sizeof(errstr)) ||
        dc_conf_set(conf, "flush.interval", "1m", errstr, sizeof(errstr)) ||
        dc_limits_init(&lim, conf, errstr, sizeof(errstr)) ||
        !(fs = dc_featstore_new(conf, &lim, "0032", errstr, sizeof(errstr))) ||
        !(pl = dc_pipeline_new(conf, &lim, fs, &sinks, metrics, errstr, sizeof(errstr))))
        die("setup", errstr);
    dc_source_t source = {.next = next, .src = &s};
    g_source = &s;
    int err = dc_pipeline_run(pl, &source, first_done, 10000);
    if (err)
        die("run", dc_err2str(err));
    dc_pipeline_stats(pl, &st);

    char what[160];
    printf("0032: %lld events, %lld flushes, most skew at a flush %.2f h\n",
           (long long)st.events_out, (long long)st.flushes, (double)st.max_skew_ms / HOUR);
    check(st.events_out == N_EVENTS, "not every event went into a batch");
    snprintf(what, sizeof(what), "the most skew at a flush is %lld ms, not the 10 h between "
             "the partitions while both had events to read", (long long)st.max_skew_ms);
    check(st.max_skew_ms == 10 * HOUR, what);
    dc_buf_t text = {0};
    const char *gauge = NULL;
    if (!dc_metrics_render(metrics, &text) && !dc_buf_append(&text, "", 1))
        gauge = strstr((const char *)text.data, "\ndc_partition_skew_seconds ");
    snprintf(what, sizeof(what), "dc_partition_skew_seconds is not 0 after a flush with one "
             "partition left: %.40s", gauge ? gauge + 1 : "(missing)");
    check(gauge && atof(gauge + strlen("\ndc_partition_skew_seconds ")) == 0, what);
    dc_buf_free(&text);
    dc_pipeline_destroy(pl);

    /* The second pipeline, on the store the first left. */
    s.assigned = 0;
    s.again = 1;
    if (!(pl = dc_pipeline_new(conf, &lim, fs, &sinks, NULL, errstr, sizeof(errstr))))
        die("setup", errstr);
    if ((err = dc_pipeline_run(pl, &source, NULL, 10000)))
        die("run again", dc_err2str(err));
    dc_pipeline_stats(pl, &st);
    printf("0032: again %lld events, most skew at a flush %.2f h\n", (long long)st.events_out,
           (double)st.max_skew_ms / HOUR);
    check(st.events_out == BATCH, "the second pipeline did not batch its events");
    snprintf(what, sizeof(what), "the second pipeline's most skew is %lld ms, not 0 with one "
             "partition that has events", (long long)st.max_skew_ms);
    check(st.max_skew_ms == 0, what);
    for (int p = 0; p < 2; p++) {
        dc_sku_features_t f;
        if (dc_featstore_read(fs, skus[p], &f))
            die("read", dc_featstore_errstr(fs));
        int w = (int)lim.n_windows - 1;
        snprintf(what, sizeof(what), "%s: %lld views in %s, %lld sent", skus[p],
                 (long long)f.win[w].views, lim.window_name[w], (long long)s.views[p]);
        /* The first partition's events are over 100 h older than the
         * newest: out of the 7-day window only past 168 h. */
        check(f.found && f.win[w].views == s.views[p], what);
    }
    dc_pipeline_destroy(pl);
    dc_featstore_destroy(fs);
    dc_metrics_destroy(metrics);
    dc_conf_destroy(conf);
    if (!it_failed)
        puts("0032 ok");
    return it_failed;
}
