/* pipeline/pipeline.c - source -> decode -> validate -> feature batch ->
 * atomic flush -> bucket closes, the loop `run` and `replay` share.
 *
 * A flush, and the bucket closes it makes possible, run on a thread of their
 * own while the loop decodes into the next batch, so Redis and this process
 * work at the same time. At most one such job is in flight; the loop takes
 * its result in (the commit, the closed buckets for the sink) before it
 * starts the next one or uses the store itself, and waits for it only when
 * its own batch is full. Closes due while the batch is not (event time ahead
 * of the closes, as in a catch-up) get a job of their own: flushing a part
 * batch just to close would rewrite its SKUs' records once more. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "pipeline/pipeline.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Closes a flush thread makes after its flush: as many as one close
 * transaction takes, so a long tail of closes (a replay's end) needs few. */
#define CLOSES_PER_FLUSH DC_CLOSES_MAX
/* Rows (one per active SKU and closed bucket, sizeof(dc_bucket_sku_t) = 152
 * bytes) a job's closed buckets may hold: they wait in the job until handed
 * over, and keep their room for the next catch-up. With fewer closes a job
 * when the SKUs are many, the catch-up of bench_ingest --skus 100000 (57,000
 * SKUs active at its end) ended holding room for 547,000 rows (83 MB)
 * rather than 1,017,000 (155 MB). */
#define CLOSE_ROWS_MAX ((size_t)1 << 19)
#define HEARTBEAT_S 1.0     /* flush at least this often: lease, idle partitions */
#define BATCH_RESERVE_MAX 200000 /* events; see dc_pipeline_batch_reserve() */

/* The DLQ reasons, each with its counter made at start-up. */
static const int dlq_reasons[] = {
    DC_ERR_TRUNCATED,    DC_ERR_BAD_MAGIC, DC_ERR_UNKNOWN_SCHEMA, DC_ERR_MALFORMED,
    DC_ERR_TRAILING,     DC_ERR_BAD_QUANTITY, DC_ERR_BAD_PRICE,   DC_ERR_BAD_TIMESTAMP,
    DC_ERR_TOO_LATE,     DC_ERR_BAD_SKU,
};

struct dc_pipeline_s {
    dc_limits_t lim;
    dc_featstore_t *fs;
    dc_pipeline_sinks_t sinks;
    dc_codec_t *codec;
    dc_featbatch_t *batch;
    dc_parts_t *parts;
    dc_click_t click;
    dc_order_t order;
    int64_t flush_interval_ms, flush_max, log_interval_ms;

    int64_t closed_until;    /* from the last flush; INT64_MIN before any */
    int64_t delivered_until; /* closed buckets delivered to bucket_closed */
    int64_t acked_until;     /* closed buckets the store knows were delivered */
    int closer;
    int rejects_pending;
    double last_flush, last_log, retry_at, backoff; /* last_flush: when the last one started */

    /* The job in flight: a flush and the closes due before it, or closes only.
     * Between job_start() and flush_join() the worker thread owns
     * job.batch, job.parts, job.closed and the store (fs). One worker runs
     * every job of the pipeline's life: its malloc arena, the store's
     * buffers and the close rows stay warm from job to job, where a thread
     * a job would take whichever arena came free and fault pages in again.
     * lock and cond guard pending, finished and quit. */
    struct {
        pthread_t thread;
        int has_thread;        /* the worker runs (else jobs run on the loop) */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        int pending;           /* started, the worker has not taken it up yet */
        int quit;              /* the worker is to end */
        int closes_only;       /* no flush: closes by the clock of the last one */
        int running;           /* started, not joined */
        atomic_int finished;   /* the job is done: joining will not wait */
        int done;              /* joined, result not taken in */
        int failed;            /* failed: sent again before anything newer */
        dc_featbatch_t *batch; /* the batch it applies */
        dc_parts_t *parts;     /* the partitions' progress when it started */
        int64_t delivered;     /* delivered_until when it started */
        int64_t closed_until;  /* closed_until when it started */
        int closer;            /* closer when it started */
        double t0, t1;
        double flush_cpu_s, close_cpu_s; /* the thread's CPU in the flush, the closes */
        double busy_s, redis_wait_s;      /* its wall time, and the part blocked on Redis */
        double began, ended;              /* when the worker took it up and put it down */
        int err;
        dc_flush_result_t res;
        dc_bucket_t closed[CLOSES_PER_FLUSH]; /* closed after the flush, in order */
        int n_closed;
        /* Rows of the newest bucket closed; SIZE_MAX until one has, so
         * that the first close takes one bucket alone and tells. */
        size_t rows_per_close;
        int close_err; /* why it closed no more (0: none were due) */
    } job;

    dc_source_t *source;
    int paused;

    dc_pipeline_stats_t stats;
    /* The counts of stats the metrics hold, as publish_counts() last
     * added them. A metric is an atomic add, which another thread may
     * read: three of them a click cost the input thread more than a tenth
     * of what it adds to consuming and decoding. */
    struct {
        int64_t in, out, late;
    } published;
    dc_metric_t *m_in, *m_out, *m_late, *m_skipped, *m_flushes, *m_flush_fail, *m_flush_s,
        *m_flush_last, *m_flush_wait, *m_flush_busy, *m_redis_wait, *m_closed, *m_cmds,
        *m_conflicts, *m_skew,
        *m_dlq[DC_ERR__COUNT];
    int64_t dlq[DC_ERR__COUNT]; /* rejects by reason, for the log (metrics may be NULL) */
    char errstr[512];           /* why the loop failed (dc_pipeline_errstr) */
    char detail[512];           /* why the message in hand is rejected, for the DLQ */
};

dc_pipeline_t *dc_pipeline_new(const dc_conf_t *conf, const dc_limits_t *lim,
                               dc_featstore_t *fs, const dc_pipeline_sinks_t *sinks,
                               dc_metrics_t *metrics, char *errstr, size_t errstr_size)
{
    dc_pipeline_t *pl = calloc(1, sizeof(*pl));

    if (!pl) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    pl->lim = *lim;
    pl->fs = fs;
    if (sinks)
        pl->sinks = *sinks;
    pl->flush_interval_ms = dc_conf_duration_ms(conf, "flush.interval");
    pl->flush_max = dc_conf_int(conf, "flush.max.events");
    pl->log_interval_ms = dc_conf_duration_ms(conf, "metrics.log.interval");
    pl->closed_until = INT64_MIN;
    pl->delivered_until = INT64_MIN;
    pl->acked_until = INT64_MIN;
    pl->job.rows_per_close = SIZE_MAX;
    pl->last_flush = pl->last_log = dc_monotonic_s();
    pthread_mutex_init(&pl->job.lock, NULL);
    pthread_cond_init(&pl->job.cond, NULL);
    if (!(pl->codec = dc_codec_new(conf, errstr, errstr_size)))
        goto fail;
    /* Both batches take a flush's events without moving their arrays. */
    size_t reserve = dc_pipeline_batch_reserve(pl->flush_max);
    if (!(pl->batch = dc_featbatch_new(lim)) || !(pl->parts = dc_parts_new()) ||
        !(pl->job.batch = dc_featbatch_new(lim)) || !(pl->job.parts = dc_parts_new()) ||
        dc_featbatch_reserve(pl->batch, reserve) || dc_featbatch_reserve(pl->job.batch, reserve)) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    pl->m_in = dc_metrics_counter(metrics, "dc_events_in_total", NULL,
                                  "Input messages received.");
    pl->m_out = dc_metrics_counter(metrics, "dc_events_out_total", NULL,
                                   "Feature events applied (one per click or order line).");
    pl->m_late = dc_metrics_counter(metrics, "dc_late_events_total", NULL,
                                    "Events accepted after their bucket had closed.");
    pl->m_skipped = dc_metrics_counter(metrics, "dc_events_skipped_total", NULL,
                                       "Messages below the stored offset (already counted).");
    pl->m_flushes = dc_metrics_counter(metrics, "dc_flushes_total", NULL,
                                       "Atomic flushes to the feature store.");
    pl->m_flush_fail = dc_metrics_counter(metrics, "dc_flush_failures_total", NULL,
                                          "Flushes that failed (Redis down, fenced).");
    pl->m_flush_s = dc_metrics_counter(metrics, "dc_flush_seconds_total", NULL,
                                       "Time spent in flushes.");
    pl->m_flush_last = dc_metrics_gauge(metrics, "dc_flush_last_seconds", NULL,
                                        "Latency of the last flush.");
    pl->m_skew = dc_metrics_gauge(metrics, "dc_partition_skew_seconds", NULL,
                                  "Event time between the partitions furthest apart (those with "
                                  "events, not read to their end) when the last flush was cut.");
    pl->m_flush_wait = dc_metrics_counter(metrics, "dc_flush_wait_seconds_total", NULL,
                                          "Time the input stood still until a flush or closes "
                                          "in flight finished (a full batch, a retry, a "
                                          "rebalance, the drain): the store set the pace, not "
                                          "the input.");
    pl->m_flush_busy = dc_metrics_counter(metrics, "dc_flush_busy_seconds_total", NULL,
                                          "Time the flush thread spent on flushes and closes, "
                                          "failed ones included: near the wall time, the store's "
                                          "side sets the pace.");
    pl->m_redis_wait = dc_metrics_counter(metrics, "dc_flush_redis_wait_seconds_total", NULL,
                                          "Of dc_flush_busy_seconds_total, the time blocked on "
                                          "Redis (its replies, room to send); the rest is this "
                                          "process's CPU or waiting for a core.");
    pl->m_closed = dc_metrics_counter(metrics, "dc_buckets_closed_total", NULL,
                                      "Closed buckets delivered.");
    pl->m_cmds = dc_metrics_counter(metrics, "dc_redis_commands_total", NULL,
                                    "Redis commands run by the flushes.");
    pl->m_conflicts = dc_metrics_counter(metrics, "dc_flush_conflicts_total", NULL,
                                         "Flushes started over because another instance "
                                         "wrote to the store first.");
    for (size_t i = 0; i < DC_ARRAY_SIZE(dlq_reasons); i++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "reason=\"%s\"", dc_err_name(dlq_reasons[i]));
        pl->m_dlq[-dlq_reasons[i]] = dc_metrics_counter(
            metrics, "dc_dlq_messages_total", labels, "Messages sent to the DLQ, by reason.");
    }
    return pl;
fail:
    dc_pipeline_destroy(pl);
    return NULL;
}

static void flush_join(dc_pipeline_t *pl);

void dc_pipeline_destroy(dc_pipeline_t *pl)
{
    if (!pl)
        return;
    flush_join(pl);
    if (pl->job.has_thread) {
        pthread_mutex_lock(&pl->job.lock);
        pl->job.quit = 1;
        pthread_cond_broadcast(&pl->job.cond);
        pthread_mutex_unlock(&pl->job.lock);
        pthread_join(pl->job.thread, NULL);
    }
    pthread_cond_destroy(&pl->job.cond);
    pthread_mutex_destroy(&pl->job.lock);
    dc_codec_destroy(pl->codec);
    dc_featbatch_destroy(pl->batch);
    dc_parts_destroy(pl->parts);
    dc_featbatch_destroy(pl->job.batch);
    dc_parts_destroy(pl->job.parts);
    for (int i = 0; i < CLOSES_PER_FLUSH; i++)
        dc_bucket_clear(&pl->job.closed[i]);
    dc_order_clear(&pl->order);
    free(pl);
}

void dc_pipeline_stats(const dc_pipeline_t *pl, dc_pipeline_stats_t *stats) { *stats = pl->stats; }

const char *dc_pipeline_errstr(const dc_pipeline_t *pl) { return pl->errstr; }

size_t dc_pipeline_batch_reserve(int64_t flush_max)
{
    return flush_max < BATCH_RESERVE_MAX ? (size_t)flush_max : BATCH_RESERVE_MAX;
}

/* The batch is lost: every partition goes back to what the store holds, and
 * the source reads on from there. */
static int drop_batch(dc_pipeline_t *pl)
{
    int err;

    dc_featbatch_reset(pl->batch);
    for (size_t i = 0; i < dc_parts_count(pl->parts); i++) {
        dc_part_t *p = dc_parts_at(pl->parts, i);
        p->next_offset = -1;
    }
    if ((err = dc_featstore_load_parts(pl->fs, pl->parts)))
        return err;
    for (size_t i = 0; i < dc_parts_count(pl->parts); i++) {
        dc_part_t *p = dc_parts_at(pl->parts, i);
        p->next_offset = p->stored_offset;
    }
    if (pl->source && pl->source->rewind)
        return pl->source->rewind(pl->source->src, pl->parts);
    return DC_OK;
}

/* Whether the bucket starting at delivered is due to close, by the clock a
 * flush returned (closer, closed_until). */
static int close_due(int closer, int64_t delivered, int64_t closed_until)
{
    return closer && delivered != INT64_MIN && closed_until != INT64_MIN &&
           delivered < closed_until;
}

/* Hands a closed bucket to the next stage. */
static int hand_over(dc_pipeline_t *pl, dc_bucket_t *bucket)
{
    int err;

    if (pl->sinks.bucket_closed &&
        (err = pl->sinks.bucket_closed(pl->sinks.closed_opaque, bucket)))
        return dc_seterr(pl->errstr, sizeof(pl->errstr), err,
                         "the bucket-closed consumer failed");
    pl->delivered_until += pl->lim.bucket_ms;
    pl->stats.buckets_closed++;
    dc_metric_add(pl->m_closed, 1);
    return DC_OK;
}

/* The start of the next bucket to deliver after a flush that returned res,
 * delivered and closed_until being the pipeline's before it. Until the
 * first bucket closes, the store may still move the clock's start back
 * (older data from a partition heard late), in the very flush that closes
 * the first buckets too: while nothing had closed before the flush, nothing
 * was delivered, so the store's acked time is where delivery starts. A
 * non-closer follows the lease holder. */
static int64_t delivered_after(int64_t delivered, int64_t closed_until,
                               const dc_flush_result_t *res)
{
    if (!res->closer || closed_until == INT64_MIN || res->closed_until == INT64_MIN ||
        delivered < res->acked_until)
        return res->acked_until;
    return delivered;
}

/* What a flush acknowledges as delivered: nothing before anything has
 * closed, since the pipeline's delivered_until is then only the clock's
 * provisional start, which that very flush may move back. */
static int64_t ack_until(int64_t delivered, int64_t closed_until)
{
    return closed_until == INT64_MIN ? INT64_MIN : delivered;
}

int dc_pipeline_closes_per_job(size_t rows)
{
    if (rows <= CLOSE_ROWS_MAX / CLOSES_PER_FLUSH)
        return CLOSES_PER_FLUSH;
    return rows >= CLOSE_ROWS_MAX ? 1 : (int)(CLOSE_ROWS_MAX / rows);
}

/* Runs the job started last. A flush closes the buckets due before it
 * while Redis runs its transaction (dc_featstore_flush_closing); those it
 * makes due wait for the next job, which in a catch-up is the next flush,
 * and otherwise closes alone as soon as the loop takes this one in. Closes
 * the flush could not make, and a job of closes alone, close one step
 * after another. */
static void run_job(dc_pipeline_t *pl)
{
    dc_flush_result_t *res = &pl->job.res;
    double cpu0 = dc_thread_cpu_s(), wall0 = dc_monotonic_s();
    double wait0 = dc_featstore_redis_wait_s(pl->fs);
    int64_t width = pl->lim.bucket_ms;
    int ahead = 0, most;

    pl->job.n_closed = 0;
    pl->job.close_err = DC_OK;
    pl->job.flush_cpu_s = 0;
    if (!pl->job.closes_only) {
        if (close_due(pl->job.closer, pl->job.delivered, pl->job.closed_until)) {
            int64_t due = (pl->job.closed_until - pl->job.delivered + width - 1) / width;
            most = dc_pipeline_closes_per_job(pl->job.rows_per_close);
            ahead = due < most ? (int)due : most;
        }
        pl->job.err = dc_featstore_flush_closing(
            pl->fs, pl->job.batch, pl->job.parts,
            ack_until(pl->job.delivered, pl->job.closed_until), pl->job.t0, pl->job.delivered,
            ahead, pl->job.closed, &pl->job.n_closed, res);
        pl->job.t1 = dc_monotonic_s();
        pl->job.flush_cpu_s = dc_thread_cpu_s() - cpu0 - res->close_cpu_s;
        cpu0 += pl->job.flush_cpu_s;
        if (pl->job.n_closed)
            pl->job.rows_per_close = pl->job.closed[pl->job.n_closed - 1].n_skus;
    }
    if (!pl->job.err && (pl->job.closes_only || pl->job.n_closed < ahead)) {
        int64_t start = delivered_after(pl->job.delivered, pl->job.closed_until, res) +
                        pl->job.n_closed * width;
        while (pl->job.n_closed < (most = dc_pipeline_closes_per_job(pl->job.rows_per_close)) &&
               close_due(res->closer, start, res->closed_until)) {
            int64_t due = (res->closed_until - start + width - 1) / width;
            int n = most - pl->job.n_closed, got;
            if (due < n)
                n = (int)due;
            if ((pl->job.close_err = dc_featstore_close_buckets(
                     pl->fs, start, n, &pl->job.closed[pl->job.n_closed], &got)))
                break;
            pl->job.n_closed += got;
            start += got * width;
            if (got)
                pl->job.rows_per_close = pl->job.closed[pl->job.n_closed - 1].n_skus;
        }
    }
    /* Room for more closes than the active SKUs now allow a job is given
     * back (a catch-up grew it while they were fewer). */
    int keep = dc_pipeline_closes_per_job(pl->job.rows_per_close);
    for (int i = keep > pl->job.n_closed ? keep : pl->job.n_closed; i < CLOSES_PER_FLUSH; i++)
        dc_bucket_clear(&pl->job.closed[i]);
    pl->job.close_cpu_s = dc_thread_cpu_s() - cpu0;
    pl->job.began = wall0;
    pl->job.busy_s = dc_monotonic_s() - wall0;
    pl->job.redis_wait_s = dc_featstore_redis_wait_s(pl->fs) - wait0;
}

/* The worker: each job as it is started, until told to quit. */
static void *flush_thread(void *arg)
{
    dc_pipeline_t *pl = arg;

    /* Named so that `top -H` and profilers tell it from the input loop. */
    pthread_setname_np(pthread_self(), "dc-flush");
    pthread_mutex_lock(&pl->job.lock);
    for (;;) {
        while (!pl->job.pending && !pl->job.quit)
            pthread_cond_wait(&pl->job.cond, &pl->job.lock);
        if (!pl->job.pending)
            break;
        pl->job.pending = 0;
        pthread_mutex_unlock(&pl->job.lock);
        run_job(pl);
        pthread_mutex_lock(&pl->job.lock);
        atomic_store(&pl->job.finished, 1);
        pthread_cond_broadcast(&pl->job.cond);
    }
    pthread_mutex_unlock(&pl->job.lock);
    return NULL;
}

/* Whether a job (a flush, closes) is in flight and not finished yet. */
static int flush_busy(dc_pipeline_t *pl)
{
    return pl->job.running && !atomic_load(&pl->job.finished);
}

/* Waits for the job in flight, if any: the store is the loop's again.
 * Its result waits for flush_finish(). */
static void flush_join(dc_pipeline_t *pl)
{
    if (!pl->job.running)
        return;
    double t0 = dc_monotonic_s();
    pthread_mutex_lock(&pl->job.lock);
    while (!atomic_load(&pl->job.finished))
        pthread_cond_wait(&pl->job.cond, &pl->job.lock);
    pthread_mutex_unlock(&pl->job.lock);
    double waited = dc_monotonic_s() - t0;
    pl->stats.flush_wait_s += waited;
    dc_metric_add(pl->m_flush_wait, waited);
    pl->job.running = 0;
    pl->job.done = 1;
}

/* Event time between the partitions furthest apart, of those with events
 * and messages still to read: the sources read the one behind first, so a
 * catch-up keeps this small, and the watermark near the newest events. */
static int64_t partition_skew(dc_pipeline_t *pl)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN;

    for (size_t i = 0; i < dc_parts_count(pl->parts); i++) {
        const dc_part_t *p = dc_parts_at(pl->parts, i);
        /* 0 is the store's mark of a partition without events yet. */
        if (p->max_ts <= 0 || p->at_end)
            continue;
        lo = p->max_ts < lo ? p->max_ts : lo;
        hi = p->max_ts > hi ? p->max_ts : hi;
    }
    return lo == INT64_MAX ? 0 : hi - lo;
}

/* Starts the job (nothing may be in flight). */
static void job_start(dc_pipeline_t *pl)
{
    pl->job.delivered = pl->delivered_until;
    pl->job.closed_until = pl->closed_until;
    pl->job.closer = pl->closer;
    atomic_store(&pl->job.finished, 0);
    if (!pl->job.has_thread)
        pl->job.has_thread = !pthread_create(&pl->job.thread, NULL, flush_thread, pl);
    if (!pl->job.has_thread) {
        run_job(pl); /* no thread to be had: the loop waits for it instead */
        pl->job.done = 1;
        return;
    }
    pthread_mutex_lock(&pl->job.lock);
    pl->job.pending = 1;
    pthread_cond_broadcast(&pl->job.cond);
    pthread_mutex_unlock(&pl->job.lock);
    pl->job.running = 1;
}

/* Adds to the metrics what stats counted of the events since the last
 * time: at every flush, whenever the input has nothing to read, and at the
 * end of the run, so that they lag the input by a batch at most. */
static void publish_counts(dc_pipeline_t *pl)
{
    dc_metric_add(pl->m_in, (double)(pl->stats.events_in - pl->published.in));
    dc_metric_add(pl->m_out, (double)(pl->stats.events_out - pl->published.out));
    dc_metric_add(pl->m_late, (double)(pl->stats.late - pl->published.late));
    pl->published.in = pl->stats.events_in;
    pl->published.out = pl->stats.events_out;
    pl->published.late = pl->stats.late;
}

/* Starts the atomic step for the batch so far and the partitions' progress
 * (nothing may be in flight); again: send the failed one again instead. */
static int flush_start(dc_pipeline_t *pl, int again)
{
    int err;

    publish_counts(pl);
    pl->job.closes_only = 0;
    if (!again) {
        /* The DLQ must hold the rejects before their offsets are stored. */
        if (pl->rejects_pending && pl->sinks.reject_flush &&
            (err = pl->sinks.reject_flush(pl->sinks.reject_opaque)))
            return err;
        pl->rejects_pending = 0;
        if ((err = dc_parts_copy(pl->job.parts, pl->parts)))
            return dc_seterr(pl->errstr, sizeof(pl->errstr), err, "out of memory");
        int64_t skew = partition_skew(pl);
        if (skew > pl->stats.max_skew_ms)
            pl->stats.max_skew_ms = skew;
        dc_metric_set(pl->m_skew, (double)skew / 1000.0);
        /* The job's batch is empty (taken in or dropped). A batch the loop
         * grouped while the last job ran (see flush()) becomes the job's as
         * it is; any other moves its events into the job's batch, whose
         * grouping space stays warm from job to job. */
        if (!dc_featbatch_grouped(pl->batch)) {
            err = dc_featbatch_take(pl->job.batch, pl->batch);
        } else if (dc_featbatch_events(pl->job.batch) || dc_featbatch_grouped(pl->job.batch)) {
            err = DC_ERR_INVAL;
        } else {
            dc_featbatch_t *empty = pl->job.batch;
            pl->job.batch = pl->batch;
            pl->batch = empty;
        }
        if (err)
            return dc_seterr(pl->errstr, sizeof(pl->errstr), err, "the job's batch is not empty");
    }
    pl->job.t0 = pl->last_flush = dc_monotonic_s();
    job_start(pl);
    return DC_OK;
}

/* Starts closes by the clock the last flush returned, without a flush
 * (nothing may be in flight, nor a failed flush waiting to go again). */
static void closes_start(dc_pipeline_t *pl)
{
    pl->job.closes_only = 1;
    pl->job.err = DC_OK;
    pl->job.res = (dc_flush_result_t){.closed_until = pl->closed_until,
                                      .acked_until = pl->acked_until,
                                      .closer = pl->closer};
    job_start(pl);
}

/* Takes in the result of a flush that succeeded: the partitions' progress
 * it stored, its counters, and the clock it returned. */
static void take_flush(dc_pipeline_t *pl)
{
    const dc_flush_result_t *res = &pl->job.res;
    int err;

    pl->stats.flushes_with_events += dc_featbatch_events(pl->job.batch) > 0;
    dc_featbatch_reset(pl->job.batch);
    for (size_t i = 0; i < dc_parts_count(pl->job.parts); i++) {
        const dc_part_t *done = dc_parts_at(pl->job.parts, i);
        dc_part_t *p = dc_parts_find(pl->parts, done->topic, done->partition);
        if (p)
            p->stored_offset = done->stored_offset;
    }
    pl->stats.flushes++;
    pl->stats.redis_commands += res->commands;
    pl->stats.flush_cpu_s += pl->job.flush_cpu_s;
    /* Another instance closed these buckets first, or a close of this one
     * ran while their events were batched: the flush kept the events in
     * the windows only, as for any late event. */
    pl->stats.late += res->late_dropped;
    dc_metric_add(pl->m_flushes, 1);
    dc_metric_add(pl->m_cmds, (double)res->commands);
    dc_metric_add(pl->m_conflicts, (double)res->conflicts);
    pl->stats.flush_conflicts += res->conflicts;
    dc_metric_add(pl->m_flush_s, pl->job.t1 - pl->job.t0);
    dc_metric_set(pl->m_flush_last, pl->job.t1 - pl->job.t0);
    pl->delivered_until = delivered_after(pl->delivered_until, pl->closed_until, res);
    pl->closed_until = res->closed_until;
    pl->acked_until = res->acked_until;
    pl->closer = res->closer;
    if (pl->source && pl->source->commit &&
        (err = pl->source->commit(pl->source->src, pl->job.parts)))
        dc_log(DC_LOG_WARN, "pipeline", "commit to the source failed (%s); the store holds "
               "the offsets, so nothing is lost", dc_err2str(err));
}

/* The job just done, as a debug line: with the previous job's, its start
 * tells whether the worker set the pace (jobs back to back) or waited for
 * the input. */
static void log_job(dc_pipeline_t *pl)
{
    char flush[96] = "no flush", gap[64] = "";
    double ended_before = pl->job.ended;

    pl->job.ended = pl->job.began + pl->job.busy_s;
    if (dc_log_get_level() < DC_LOG_DEBUG)
        return;
    if (!pl->job.closes_only)
        snprintf(flush, sizeof(flush), "flush of %zu events in %.1f ms, %.1f ms of CPU",
                 dc_featbatch_events(pl->job.batch), (pl->job.t1 - pl->job.t0) * 1e3,
                 pl->job.flush_cpu_s * 1e3);
    if (ended_before > 0)
        snprintf(gap, sizeof(gap), ", begun %.1f ms after the job before",
                 (pl->job.began - ended_before) * 1e3);
    dc_log(DC_LOG_DEBUG, "pipeline",
           "job%s: %s; %d buckets closed with %.1f ms of CPU; %.1f ms in all, %.1f ms of it "
           "blocked on Redis%s",
           pl->job.err ? " (failed)" : "", flush, pl->job.n_closed, pl->job.close_cpu_s * 1e3,
           pl->job.busy_s * 1e3, pl->job.redis_wait_s * 1e3, gap);
}

/* Takes in the result of the job in flight, waiting for it: the flush's
 * commit, then the buckets it closed go to the sink. */
static int flush_finish(dc_pipeline_t *pl)
{
    int err;

    flush_join(pl);
    if (!pl->job.done)
        return DC_OK;
    pl->job.done = 0;
    log_job(pl);
    pl->stats.flush_busy_s += pl->job.busy_s;
    pl->stats.redis_wait_s += pl->job.redis_wait_s;
    dc_metric_add(pl->m_flush_busy, pl->job.busy_s);
    dc_metric_add(pl->m_redis_wait, pl->job.redis_wait_s);
    if ((err = pl->job.err)) {
        pl->stats.flush_failures++;
        dc_metric_add(pl->m_flush_fail, 1);
        dc_seterr(pl->errstr, sizeof(pl->errstr), err, "%s", dc_featstore_errstr(pl->fs));
    } else {
        pl->errstr[0] = '\0'; /* a failure retried before is over */
    }
    if (err == DC_ERR_VERSION) {
        dc_log(DC_LOG_WARN, "pipeline", "%s: dropping the batch and rewinding",
               dc_featstore_errstr(pl->fs));
        pl->job.failed = 0;
        dc_featbatch_reset(pl->job.batch);
        return drop_batch(pl);
    }
    if ((pl->job.failed = err != DC_OK))
        return err;
    if (!pl->job.closes_only)
        take_flush(pl);
    pl->stats.close_cpu_s += pl->job.close_cpu_s;
    for (int i = 0; i < pl->job.n_closed; i++)
        if ((err = hand_over(pl, &pl->job.closed[i])))
            return err;
    if (pl->job.close_err)
        return dc_seterr(pl->errstr, sizeof(pl->errstr), pl->job.close_err, "%s",
                         dc_featstore_errstr(pl->fs));
    return DC_OK;
}

/* One atomic step for everything read so far, after the one in flight (and
 * a failed one, sent again). wait: return once it is applied, rather than
 * read on while it runs. */
static int flush(dc_pipeline_t *pl, int wait)
{
    int err;

    /* While a job runs, this thread groups the batch (its job's first
     * step) rather than wait idle: the worker sets the pace of a busy
     * pipeline. A grouped batch takes no more events; it is the next job's
     * (or dropped with a failed flush's batch). */
    if (flush_busy(pl) && dc_featbatch_events(pl->batch) && !dc_featbatch_grouped(pl->batch)) {
        if (dc_featbatch_group(pl->batch))
            return dc_seterr(pl->errstr, sizeof(pl->errstr), DC_ERR_NOMEM,
                             "out of memory grouping a batch");
        pl->stats.grouped_ahead++;
        dc_log(DC_LOG_DEBUG, "pipeline", "grouped a batch of %zu events while the flush "
               "before it runs", dc_featbatch_events(pl->batch));
    }
    if ((err = flush_finish(pl)))
        return err;
    if (pl->job.failed && ((err = flush_start(pl, 1)) || (err = flush_finish(pl))))
        return err;
    if ((err = flush_start(pl, 0)))
        return err;
    return wait ? flush_finish(pl) : DC_OK;
}

static int reject(dc_pipeline_t *pl, const dc_srcmsg_t *msg, int reason, const char *detail)
{
    int err = DC_OK;

    pl->stats.rejected++;
    if (-reason > 0 && -reason < DC_ERR__COUNT) {
        pl->dlq[-reason]++;
        dc_metric_add(pl->m_dlq[-reason], 1);
    }
    if (pl->sinks.reject)
        err = pl->sinks.reject(pl->sinks.reject_opaque, msg, reason, detail ? detail : "");
    pl->rejects_pending = 1;
    return err;
}

/* Decodes and checks msg; on success *click or *order points at the record.
 * Returns 0 or the reason to reject it, with detail in pl->detail. */
static int decode(dc_pipeline_t *pl, const dc_srcmsg_t *msg, const dc_click_t **click,
                  const dc_order_t **order)
{
    int32_t id;
    dc_rec_type_t type;
    int err;

    *click = NULL;
    *order = NULL;
    pl->detail[0] = '\0';
    if (msg->reject)
        return msg->reject;
    if (msg->click || msg->order) {
        *click = msg->click;
        *order = msg->order;
        return DC_OK;
    }
    if ((err = dc_codec_peek_id(msg->value, msg->value_len, &id))) {
        snprintf(pl->detail, sizeof(pl->detail), "%zu bytes%s: %s", msg->value_len,
                 err == DC_ERR_BAD_MAGIC ? ", first byte not 0" : "", dc_err2str(err));
        return err;
    }
    if ((err = dc_codec_id_type(pl->codec, id, &type))) {
        snprintf(pl->detail, sizeof(pl->detail), "schema id %d: %s", (int)id, dc_err2str(err));
        return err;
    }
    if (type == DC_REC_CLICK) {
        err = dc_codec_decode_click(pl->codec, msg->value, msg->value_len, &pl->click,
                                    pl->detail, sizeof(pl->detail));
        *click = &pl->click;
    } else if (type == DC_REC_ORDER) {
        err = dc_codec_decode_order(pl->codec, msg->value, msg->value_len, &pl->order,
                                    pl->detail, sizeof(pl->detail));
        *order = &pl->order;
    } else {
        snprintf(pl->detail, sizeof(pl->detail), "schema id %d is not a click or an order",
                 (int)id);
        err = DC_ERR_UNKNOWN_SCHEMA;
    }
    return err;
}

/* Fills pl->detail with what a valid record breaks, for the DLQ's
 * dc.error.detail: the validators return only the reason. */
static void explain_invalid(dc_pipeline_t *pl, const dc_click_t *click, const dc_order_t *order,
                            int reason)
{
    int64_t ts = click ? click->ts_ms : order->ts_ms;
    char when[32];

    if (reason == DC_ERR_BAD_TIMESTAMP || reason == DC_ERR_TOO_LATE) {
        snprintf(pl->detail, sizeof(pl->detail), "event time %s: %s",
                 dc_time_format(ts, when, sizeof(when)), dc_err2str(reason));
        return;
    }
    if (click) {
        snprintf(pl->detail, sizeof(pl->detail), "click of SKU \"%s\", price %g: %s",
                 click->sku, click->price, dc_err2str(reason));
        return;
    }
    for (size_t i = 0; i < order->n_lines; i++) {
        const dc_order_line_t *l = &order->lines[i];
        if (!l->sku[0] || l->qty < 1 || l->qty > pl->lim.max_quantity ||
            !(l->unit_price >= 0 && l->unit_price <= pl->lim.max_price)) {
            snprintf(pl->detail, sizeof(pl->detail),
                     "order %s line %zu: SKU \"%s\", quantity %d, unit price %g: %s",
                     order->order_id, i + 1, l->sku, (int)l->qty, l->unit_price,
                     dc_err2str(reason));
            return;
        }
    }
    snprintf(pl->detail, sizeof(pl->detail), "order %s with %zu lines: %s", order->order_id,
             order->n_lines, dc_err2str(reason));
}

/* Processes one message into the batch (or the DLQ). */
static int process(dc_pipeline_t *pl, const dc_srcmsg_t *msg)
{
    dc_part_t *part = dc_parts_find(pl->parts, msg->topic, msg->partition);
    const dc_click_t *click;
    const dc_order_t *order;
    int64_t ts = INT64_MIN; /* set once the message is valid */
    int err, late;

    if (!part)
        return DC_OK; /* a partition revoked while its message was in flight */
    if ((part->stored_offset >= 0 && msg->offset < part->stored_offset) ||
        (part->next_offset >= 0 && msg->offset < part->next_offset)) {
        pl->stats.skipped++;
        dc_metric_add(pl->m_skipped, 1);
        return DC_OK;
    }
    part->at_end = 0;
    err = decode(pl, msg, &click, &order);
    if (!err)
        err = click ? dc_validate_click(&pl->lim, click) : dc_validate_order(&pl->lim, order);
    if (!err) {
        ts = click ? click->ts_ms : order->ts_ms;
        /* The coarse clock lags by up to a tick: what it finds too far in
         * the future is checked against the precise one. */
        err = dc_validate_time(&pl->lim, ts, dc_wallclock_coarse_ms(), pl->closed_until);
        if (err == DC_ERR_BAD_TIMESTAMP)
            err = dc_validate_time(&pl->lim, ts, dc_wallclock_ms(), pl->closed_until);
    }
    if (err && !pl->detail[0] && (click || order))
        explain_invalid(pl, click, order, err);
    if (err) {
        if ((err = reject(pl, msg, err, msg->reject_detail ? msg->reject_detail : pl->detail)))
            return err;
        goto done;
    }
    if (click) {
        dc_fevent_t ev = {.sku = click->sku, .user = click->user_id, .ts_ms = ts,
                          .kind = dc_fev_kind_of_click(click->type), .price = click->price,
                          .promo = click->has_promo};
        if ((err = dc_featbatch_add(pl->batch, &ev, pl->closed_until, &late)))
            return err;
        pl->stats.late += late;
        pl->stats.events_out++;
    } else {
        for (size_t i = 0; i < order->n_lines; i++) {
            dc_fevent_t ev = {.sku = order->lines[i].sku, .user = order->user_id, .ts_ms = ts,
                              .kind = order->status == DC_ORDER_PLACED ? DC_FEV_PLACED
                                                                       : DC_FEV_CANCEL,
                              .qty = order->lines[i].qty, .price = order->lines[i].unit_price,
                              .promo = order->has_promo_code};
            if ((err = dc_featbatch_add(pl->batch, &ev, pl->closed_until, &late)))
                return err;
            pl->stats.late += late;
        }
        pl->stats.events_out += (int64_t)order->n_lines;
    }
    if (ts > part->max_ts)
        part->max_ts = ts;
done:
    pl->stats.events_in++;
    part->next_offset = msg->offset + 1;
    return DC_OK;
}

int dc_pipeline_assign(dc_pipeline_t *pl, int topic, const char *topic_name, int32_t partition,
                       int64_t *start_offset)
{
    dc_parts_t *one = dc_parts_new();
    dc_part_t *p, *q;
    int err = DC_ERR_NOMEM;

    *start_offset = -1;
    flush_join(pl); /* the store's connection is needed here */
    if (!one || !(q = dc_parts_add(one, topic_name, topic, partition)))
        goto out;
    /* Only the new partition is read back: the others may hold progress
     * newer than the store's. */
    if ((err = dc_featstore_load_parts(pl->fs, one)))
        goto out;
    err = DC_ERR_NOMEM;
    if (!(p = dc_parts_add(pl->parts, topic_name, topic, partition)))
        goto out;
    p->stored_offset = q->stored_offset;
    p->next_offset = q->stored_offset;
    p->max_ts = q->max_ts;
    p->at_end = 0;
    p->end_since = dc_monotonic_s();
    *start_offset = q->stored_offset;
    err = DC_OK;
out:
    dc_parts_destroy(one);
    return err;
}

/* Whether a flush would store anything: a job in flight, taken in or to
 * send again, events or rejects batched, or a partition read past what the
 * store holds. */
static int has_unstored(dc_pipeline_t *pl)
{
    if (pl->job.running || pl->job.done || pl->job.failed || pl->rejects_pending ||
        dc_featbatch_events(pl->batch))
        return 1;
    for (size_t i = 0; i < dc_parts_count(pl->parts); i++) {
        const dc_part_t *p = dc_parts_at(pl->parts, i);
        if (p->next_offset != p->stored_offset)
            return 1;
    }
    return 0;
}

int dc_pipeline_revoke(dc_pipeline_t *pl, int topic, int32_t partition)
{
    /* A rebalance or a shutdown revokes many partitions in a row: the first
     * revoke's flush stores everything, and the others would only write
     * the same offsets again, a transaction each. */
    int err = has_unstored(pl) ? flush(pl, 1) : DC_OK;

    if (err) {
        dc_log(DC_LOG_WARN, "pipeline", "cannot store progress before giving up %d/%d (%s); "
               "dropping the batch, the next owner reads it again", topic, (int)partition,
               dc_err2str(err));
        dc_parts_remove(pl->parts, topic, partition);
        dc_featbatch_reset(pl->batch);
        dc_featbatch_reset(pl->job.batch);
        pl->job.failed = 0;
        for (size_t i = 0; i < dc_parts_count(pl->parts); i++)
            dc_parts_at(pl->parts, i)->next_offset = dc_parts_at(pl->parts, i)->stored_offset;
        if (pl->source && pl->source->rewind)
            pl->source->rewind(pl->source->src, pl->parts);
        return DC_OK;
    }
    dc_parts_remove(pl->parts, topic, partition);
    return DC_OK;
}

int64_t dc_pipeline_event_time(dc_pipeline_t *pl, int topic, int32_t partition)
{
    const dc_part_t *p = dc_parts_find(pl->parts, topic, partition);
    return p ? p->max_ts : INT64_MIN;
}

void dc_pipeline_at_end(dc_pipeline_t *pl, int topic, int32_t partition)
{
    dc_part_t *p = dc_parts_find(pl->parts, topic, partition);
    if (p && !p->at_end) {
        p->at_end = 1;
        p->end_since = dc_monotonic_s();
    }
}

static void set_paused(dc_pipeline_t *pl, int paused)
{
    if (pl->paused == paused)
        return;
    if (paused)
        flush_join(pl); /* its error text is the store's */
    pl->paused = paused;
    if (pl->source->pause)
        pl->source->pause(pl->source->src, paused);
    dc_log(paused ? DC_LOG_WARN : DC_LOG_INFO, "pipeline", "%s consumption%s%s",
           paused ? "pausing" : "resuming", paused ? ": " : "",
           paused ? dc_featstore_errstr(pl->fs) : "");
}

static void log_stats(dc_pipeline_t *pl)
{
    dc_pipeline_stats_t *s = &pl->stats;
    dc_log(DC_LOG_INFO, "pipeline",
           "in=%lld out=%lld skipped=%lld dlq=%lld late=%lld flushes=%lld failed=%lld "
           "closed=%lld redis_cmds=%lld conflicts=%lld last_flush=%.3fs flush_wait=%.3fs "
           "flush_busy=%.3fs redis_wait=%.3fs",
           (long long)s->events_in, (long long)s->events_out, (long long)s->skipped,
           (long long)s->rejected, (long long)s->late, (long long)s->flushes,
           (long long)s->flush_failures, (long long)s->buckets_closed,
           (long long)s->redis_commands, (long long)s->flush_conflicts,
           dc_metric_value(pl->m_flush_last), s->flush_wait_s, s->flush_busy_s,
           s->redis_wait_s);
    if (s->rejected) {
        char line[512];
        size_t len = 0;
        for (size_t i = 0; i < DC_ARRAY_SIZE(dlq_reasons) && len < sizeof(line); i++) {
            int64_t n = pl->dlq[-dlq_reasons[i]];
            if (n > 0)
                len += (size_t)snprintf(line + len, sizeof(line) - len, " %s=%lld",
                                        dc_err_name(dlq_reasons[i]), (long long)n);
        }
        dc_log(DC_LOG_INFO, "pipeline", "dlq by reason:%s", line);
    }
}

/* Takes in the job in flight, then starts closes if they are still due
 * (and no failed flush waits to go again, which closes too). */
static int closes(dc_pipeline_t *pl)
{
    int err;

    if ((err = flush_finish(pl)))
        return err;
    if (pl->job.failed)
        return flush(pl, 0);
    if (close_due(pl->closer, pl->delivered_until, pl->closed_until))
        closes_start(pl);
    return DC_OK;
}

/* What the loop starts once the job in flight is taken in. */
enum { START_NOTHING, START_FLUSH, START_CLOSES };

/* Takes in the job in flight and starts the next (start), and on failure
 * pauses the source and schedules a retry. */
static int try_flush(dc_pipeline_t *pl, int start)
{
    int err = start == START_FLUSH    ? flush(pl, 0)
              : start == START_CLOSES ? closes(pl)
                                      : flush_finish(pl);

    if (err == DC_ERR_REDIS || err == DC_ERR_AGAIN || err == DC_ERR_KAFKA) {
        set_paused(pl, 1);
        pl->backoff = pl->backoff ? fmin(pl->backoff * 2, 2.0) : 0.05;
        pl->retry_at = dc_monotonic_s() + pl->backoff;
        return DC_ERR_AGAIN;
    }
    if (err)
        return err;
    pl->backoff = 0;
    if (pl->paused)
        set_paused(pl, 0);
    return DC_OK;
}

static void sleep_until(double t)
{
    double d = t - dc_monotonic_s();
    if (d > 0) {
        struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* Final flushes at the end: retried while Redis is down. Done once the
 * store has acknowledged every closed bucket: a flush's job closes the
 * buckets due before it (run_job), so those the last flush with events
 * makes due close with the flush after it, and one more acknowledges
 * them. The deadline bounds a failing store, not a long
 * tail of closes or a slow next stage: every flush that succeeds starts it
 * over. */
static int drain(dc_pipeline_t *pl, int64_t timeout_ms)
{
    double deadline = dc_monotonic_s() + (double)timeout_ms / 1000.0;
    int err;

    dc_log(DC_LOG_DEBUG, "pipeline", "draining: %zu events to flush%s",
           dc_featbatch_events(pl->batch), pl->job.running ? ", after the job in flight" : "");
    for (;;) {
        if (!(err = flush(pl, 1))) {
            if (!pl->closer || pl->acked_until >= pl->closed_until)
                return DC_OK;
            deadline = dc_monotonic_s() + (double)timeout_ms / 1000.0;
            continue;
        }
        if (err != DC_ERR_REDIS && err != DC_ERR_KAFKA && err != DC_ERR_AGAIN)
            return err;
        if (dc_monotonic_s() >= deadline) {
            dc_log(DC_LOG_ERROR, "pipeline", "giving up the final flush: %s",
                   dc_featstore_errstr(pl->fs));
            return err;
        }
        sleep_until(dc_monotonic_s() + 0.1);
    }
}

int dc_pipeline_run(dc_pipeline_t *pl, dc_source_t *source, int (*stop)(void),
                    int64_t flush_timeout_ms)
{
    dc_srcmsg_t msg;
    int err = DC_OK, at_eof = 0;

    pl->source = source;
    while (!(stop && stop())) {
        /* Read once a message: its tick's precision does for pacing. */
        double now = dc_monotonic_coarse_s();

        if (pl->log_interval_ms && (now - pl->last_log) * 1000.0 >= (double)pl->log_interval_ms) {
            log_stats(pl);
            pl->last_log = now;
        }
        if (pl->paused) {
            /* Backpressure: keep serving rebalances, retry the store. */
            if (now >= pl->retry_at) {
                err = try_flush(pl, START_FLUSH);
                if (err && err != DC_ERR_AGAIN)
                    break;
                err = DC_OK;
            }
            if (pl->paused && !source->pause) {
                /* A file source cannot pause: simply stop reading it. */
                sleep_until(pl->retry_at);
                continue;
            }
            if (pl->paused) {
                int rc = source->next(source->src, pl, &msg, 50);
                if (rc == DC_OK) {
                    /* The contract says a paused source delivers nothing. */
                    if (source->release)
                        source->release(source->src, &msg);
                    err = dc_seterr(pl->errstr, sizeof(pl->errstr), DC_ERR_INVAL,
                                    "the source delivered a message while paused");
                    break;
                }
                if (rc != DC_ERR_AGAIN) {
                    err = rc;
                    break;
                }
                continue;
            }
        }
        /* A full batch waits for the job in flight; anything else that
         * makes a flush or closes due waits for it to finish. */
        int busy = flush_busy(pl), start = START_NOTHING;
        if ((int64_t)dc_featbatch_events(pl->batch) >= pl->flush_max ||
            (!busy && ((dc_featbatch_events(pl->batch) &&
                        (now - pl->last_flush) * 1000.0 >= (double)pl->flush_interval_ms) ||
                       now - pl->last_flush >= HEARTBEAT_S)))
            start = START_FLUSH;
        else if (!busy && close_due(pl->closer, pl->delivered_until, pl->closed_until))
            start = START_CLOSES;
        if (start || (pl->job.running && !busy)) {
            if ((err = try_flush(pl, start)) == DC_ERR_AGAIN) {
                err = DC_OK;
                continue;
            }
            if (err)
                break;
        }
        /* While a flush is in flight, look back soon: its result (the
         * buckets it closed, the next closes due) should not wait out an
         * idle source's full poll. */
        int rc = source->next(source->src, pl, &msg, pl->job.running ? 10 : 100);
        if (rc == DC_ERR_AGAIN) {
            publish_counts(pl);
            continue;
        }
        if (rc == DC_ERR_EOF) {
            at_eof = 1;
            break;
        }
        if (rc) {
            err = rc;
            break;
        }
        err = process(pl, &msg);
        if (source->release)
            source->release(source->src, &msg);
        if (err)
            break;
    }
    if (at_eof) {
        /* A finite source is over: nothing holds the watermark back, and no
         * event can still come for its last bucket, so the watermark moves
         * past it (as a bounded stream's final watermark does) and every
         * bucket that holds events closes. */
        int64_t newest = INT64_MIN;
        for (size_t i = 0; i < dc_parts_count(pl->parts); i++)
            if (dc_parts_at(pl->parts, i)->max_ts > newest)
                newest = dc_parts_at(pl->parts, i)->max_ts;
        for (size_t i = 0; i < dc_parts_count(pl->parts); i++) {
            dc_part_t *p = dc_parts_at(pl->parts, i);
            p->at_end = 1;
            p->end_since = -1e18;
            if (newest != INT64_MIN)
                p->max_ts = dc_time_floor(newest, pl->lim.bucket_ms) + pl->lim.bucket_ms +
                            pl->lim.lateness_ms;
        }
    }
    if (!err || err == DC_ERR_EOF)
        err = drain(pl, flush_timeout_ms);
    flush_join(pl); /* after an error: nothing may outlive the loop */
    publish_counts(pl);
    log_stats(pl);
    return err;
}
