/* tests/integration/0019-clock-start-moves-back.c - the bucket clock's start
 * moves back in the very flush that closes the first buckets.
 *
 * Partition 0 is read first, with events from 10:00 to 12:30: its flush
 * starts the clock at 10:00 and closes nothing, since partition 1 has not
 * been heard. Partition 1 then brings events from 05:00 to 12:30 in one
 * flush, which moves the clock's start back to 05:00 and, both partitions
 * heard, closes every bucket up to 12:00 at once. Every bucket from 05:00
 * on must reach the bucket-closed consumer once, in order, with every
 * event counted; none may be left open in the store. The source hands the
 * pipeline decoded clicks in a fixed order, so the flush boundaries are the
 * test's (flush.max.events). Run by run-c.sh (DC_REDIS_PORT). */
#include "features/features.h"
#include "tests/integration/it_report.h"
#include "pipeline/pipeline.h"

#include <hiredis/hiredis.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1767571200000LL /* 2026-01-05T00:00:00Z */
#define HOUR 3600000LL
#define PER_PART 60 /* events per partition, one flush each */
#define MAX_BUCKETS 64

typedef struct {
    int assigned;
    int next; /* events handed out so far, partition 0's first */
    dc_click_t click;
} source_t;

typedef struct {
    int64_t start[MAX_BUCKETS];
    int64_t views[MAX_BUCKETS];
    int n;
} seen_t;

/* Event i of a partition: partition 0 spreads over 10:00 .. 12:30, partition
 * 1 over 05:00 .. 12:30, one SKU each. */
static int64_t event_ts(int part, int i)
{
    int64_t from = T0 + (part ? 5 : 10) * HOUR, to = T0 + 12 * HOUR + HOUR / 2;
    return from + (to - from) * i / (PER_PART - 1);
}

static int src_next(void *src, dc_pipeline_t *pl, dc_srcmsg_t *msg, int timeout_ms)
{
    source_t *s = src;
    int64_t start;
    int err;
    (void)timeout_ms;

    if (!s->assigned) {
        for (int32_t p = 0; p < 2; p++)
            if ((err = dc_pipeline_assign(pl, DC_TOPIC_CLICKS, "shop.clickstream", p, &start)))
                return err;
        s->assigned = 1;
    }
    if (s->next == 2 * PER_PART)
        return DC_ERR_EOF;
    int part = s->next / PER_PART, i = s->next % PER_PART;
    memset(msg, 0, sizeof(*msg));
    memset(&s->click, 0, sizeof(s->click));
    snprintf(s->click.event_id, sizeof(s->click.event_id), "e%d", s->next);
    snprintf(s->click.sku, sizeof(s->click.sku), "%s", part ? "LATE-HEARD" : "FIRST");
    snprintf(s->click.user_id, sizeof(s->click.user_id), "u%d", i);
    s->click.ts_ms = event_ts(part, i);
    s->click.type = DC_CLICK_VIEW;
    msg->topic = DC_TOPIC_CLICKS;
    msg->topic_name = "shop.clickstream";
    msg->partition = part;
    msg->offset = i;
    msg->click = &s->click;
    s->next++;
    return DC_OK;
}

static int on_closed(void *opaque, const dc_bucket_t *b)
{
    seen_t *seen = opaque;
    int64_t views = 0;

    if (seen->n == MAX_BUCKETS)
        return DC_ERR_INVAL;
    for (size_t i = 0; i < b->n_skus; i++)
        views += b->skus[i].views;
    seen->start[seen->n] = b->start;
    seen->views[seen->n++] = views;
    return DC_OK;
}

static int never(void) { return 0; }

int main(void)
{
    const char *port = getenv("DC_REDIS_PORT");
    char errstr[512];
    dc_conf_t *conf = dc_conf_new();
    dc_limits_t lim;
    dc_featstore_t *fs;
    dc_pipeline_t *pl;
    source_t src = {0};
    seen_t seen = {0};
    dc_pipeline_sinks_t sinks = {.bucket_closed = on_closed, .closed_opaque = &seen};
    dc_source_t source = {.next = src_next, .src = &src};
    int failed = 0;

    if (!port)
        die("environment", "DC_REDIS_PORT is not set");
    if (dc_conf_set(conf, "redis.port", port, errstr, sizeof(errstr)) ||
        dc_conf_set(conf, "flush.max.events", "60", errstr, sizeof(errstr)) ||
        dc_conf_set(conf, "flush.interval", "60s", errstr, sizeof(errstr)) ||
        dc_conf_set(conf, "metrics.log.interval", "0", errstr, sizeof(errstr)) ||
        dc_limits_init(&lim, conf, errstr, sizeof(errstr)))
        die("config", errstr);
    if (!(fs = dc_featstore_new(conf, &lim, "t0019", errstr, sizeof(errstr))))
        die("featstore", errstr);
    if (!(pl = dc_pipeline_new(conf, &lim, fs, &sinks, NULL, errstr, sizeof(errstr))))
        die("pipeline", errstr);
    int err = dc_pipeline_run(pl, &source, never, 10000);
    if (err)
        die("run", dc_err2str(err));

    /* 05:00 .. 12:00 closed in order, once each, all 120 views in them. */
    int64_t total = 0;
    for (int i = 0; i < seen.n; i++) {
        total += seen.views[i];
        if (seen.start[i] != T0 + (5 + i) * HOUR) {
            fprintf(stderr, "0019: closed bucket %d starts at %+.1f h, want %+d h\n", i,
                    (double)(seen.start[i] - T0) / HOUR, 5 + i);
            failed = 1;
        }
    }
    if (seen.n != 8 || total != 2 * PER_PART) {
        fprintf(stderr, "0019: %d buckets closed with %lld views, want 8 with %d\n", seen.n,
                (long long)total, 2 * PER_PART);
        failed = 1;
    }

    /* Nothing left open: no open bucket log and no closed snapshot. */
    redisContext *rc = redisConnect("127.0.0.1", atoi(port));
    redisReply *r = rc && !rc->err ? redisCommand(rc, "KEYS dc:{meta}:[oc][pl]*:*") : NULL;
    if (!r || r->type != REDIS_REPLY_ARRAY)
        die("redis", rc && rc->err ? rc->errstr : "KEYS failed");
    for (size_t i = 0; i < r->elements; i++) {
        fprintf(stderr, "0019: left in the store: %s\n", r->element[i]->str);
        failed = 1;
    }
    freeReplyObject(r);
    redisFree(rc);
    dc_pipeline_destroy(pl);
    dc_featstore_destroy(fs);
    dc_conf_destroy(conf);
    if (!failed)
        printf("0019: buckets 05:00 .. 12:00 closed once each, in order, %lld views\n",
               (long long)total);
    return failed;
}
