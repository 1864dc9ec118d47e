/*
 * pipeline/pipeline.h - the one code path between a source and the sinks:
 *
 *   source -> decode -> validate -> feature batch -> atomic flush to Redis
 *          -> "bucket closed" consumer (the model) ; rejects -> DLQ sink
 *
 * `run` and `replay` both drive dc_pipeline_run(); they differ only in the
 * source (the Kafka consumer group of consumers/, or a file reader) and the
 * sinks they plug in (dc_pipeline_sinks_t). Nothing here knows Kafka.
 *
 * Exactly once: the pipeline owns the partition table (dc_parts_t) and the
 * feature store. Every message carries (topic, partition, offset); messages
 * below the offset the store holds for their partition are skipped, and a
 * flush writes the batch's deltas together with the partitions' next offsets
 * in one atomic step (dc_featstore_flush). Only after that is the source told
 * to commit. When a flush is refused because another instance owns a
 * partition now, or Redis fails while partitions are being revoked, the batch
 * is dropped and the source rewinds every partition to its stored offset: a
 * message is then read again, never counted twice.
 *
 * Backpressure: while Redis is down or failing the pipeline pauses the
 * source, retries the flush with a growing delay (up to 2 s), and resumes
 * once it succeeds; nothing is dropped and memory stays bounded by two
 * batches of flush.max.events (an order's lines go into one batch together).
 *
 * A flush, and the bucket closes it makes possible, run on a thread of their
 * own while the loop decodes the next batch (at most one in flight; a full
 * batch waits for it, grouped by the loop meanwhile), so Redis and decoding
 * overlap. Everything else, the sinks included, runs on the thread of
 * dc_pipeline_run(), and so must every function here.
 */
#ifndef DC_PIPELINE_H
#define DC_PIPELINE_H

#include "common/common.h"
#include "consumers/consumers.h"
#include "features/features.h"
#include "inference/forecaster.h"
#include "producers/producers.h"
#include "schemas/schemas.h"

#include <stdint.h>

typedef struct dc_pipeline_s dc_pipeline_t;

/* The events each of the pipeline's two batches reserves room for
 * (dc_featbatch_reserve) at flush.max.events flush_max: all of them, up to
 * 200000 (under 200 MB of address space each, a SKU delta being under half
 * a kilobyte); beyond that a batch grows as it fills. */
size_t dc_pipeline_batch_reserve(int64_t flush_max);

/* How many buckets one flush job closes at most when the newest closed
 * bucket had rows rows (its active SKUs; the set changes a little from
 * bucket to bucket): DC_CLOSES_MAX while the job's rows stay within 2^19
 * (80 MB), fewer beyond, at least 1. The closed buckets wait in the job
 * until handed over and keep their room for the next catch-up, so this
 * bounds what a catch-up leaves the process holding. The pipeline's first
 * close takes one bucket alone, which tells the rows. */
int dc_pipeline_closes_per_job(size_t rows);

/* The input topics; the index is the `topic` of a message and a partition. */
enum { DC_TOPIC_CLICKS = 0, DC_TOPIC_ORDERS = 1 };

/* One input message. A Kafka source fills the raw bytes (value is framed
 * Avro) and leaves click/order NULL; a file source may hand a decoded record
 * instead (value then holds what the DLQ should get if it is rejected, e.g. a
 * CSV row), or a rejection it detected itself in `reject`. */
typedef struct {
    int topic;              /* DC_TOPIC_* */
    const char *topic_name; /* Kafka topic or file name */
    int32_t partition;      /* Kafka partition; a file source uses 0 */
    int64_t offset;         /* Kafka offset, or record number in a file */
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    const dc_click_t *click;
    const dc_order_t *order;
    int reject;             /* a dc_err_t the source found, or 0 */
    const char *reject_detail;
    void *handle;           /* the source's own, for release() */
} dc_srcmsg_t;

/* What a source implements. All callbacks run on the pipeline's thread. */
typedef struct {
    /* Fills *msg with the next message and returns DC_OK; DC_ERR_AGAIN when
     * none came within timeout_ms; DC_ERR_EOF when a finite source is done;
     * another error to stop the pipeline. The message stays valid until
     * release(). A Kafka source also serves rebalances in here, calling
     * dc_pipeline_assign()/dc_pipeline_revoke(). */
    int (*next)(void *src, dc_pipeline_t *pl, dc_srcmsg_t *msg, int timeout_ms);
    void (*release)(void *src, dc_srcmsg_t *msg);
    /* Everything below each partition's stored_offset is in the store now:
     * record it where the source keeps positions (Kafka commit). May be NULL. */
    int (*commit)(void *src, dc_parts_t *parts);
    /* Stop (pause = 1) or restart fetching. While paused, next() still serves
     * rebalances and returns DC_ERR_AGAIN. May be NULL. */
    void (*pause)(void *src, int pause);
    /* Read every partition on from its stored_offset (an in-memory batch was
     * dropped). May be NULL for sources that cannot rewind. */
    int (*rewind)(void *src, dc_parts_t *parts);
    void *src;
} dc_source_t;

/* Where the pipeline's output goes. Every callback may be NULL. */
typedef struct {
    /* A closed bucket, in bucket order, with every active SKU. The bucket is
     * the pipeline's and valid during the call only. After a crash a bucket
     * may be delivered again, with the same SKUs and totals (closes are
     * acknowledged in the next flush). Non-zero stops the pipeline. */
    int (*bucket_closed)(void *opaque, const dc_bucket_t *bucket);
    void *closed_opaque;
    /* A rejected message, with its reason (dc_err_name() gives the DLQ name)
     * and a detail text. The pipeline calls reject_flush() before a flush
     * stores the message's offset, so a sink that queues must make its queue
     * durable there; non-zero from either stops the pipeline. */
    int (*reject)(void *opaque, const dc_srcmsg_t *msg, int reason, const char *detail);
    int (*reject_flush)(void *opaque);
    void *reject_opaque;
} dc_pipeline_sinks_t;

/* Creates a pipeline over an open feature store, with the settings of conf
 * (flush.interval, flush.max.events, metrics.log.interval, schema ids) and
 * lim. The pipeline does not own fs, sinks' opaque or metrics; they must
 * outlive it. metrics may be NULL. */
dc_pipeline_t *dc_pipeline_new(const dc_conf_t *conf, const dc_limits_t *lim,
                               dc_featstore_t *fs, const dc_pipeline_sinks_t *sinks,
                               dc_metrics_t *metrics, char *errstr, size_t errstr_size);
void dc_pipeline_destroy(dc_pipeline_t *pl);

/* Runs until stop() returns non-zero (stop may be NULL) or a finite source
 * ends. At a source's end every partition is idle, so buckets close up to the
 * last watermark. On the way out the batch is flushed and committed
 * (retrying for up to flush_timeout_ms while Redis is down), which is what
 * SIGTERM needs. Returns DC_OK or the error that stopped it. */
int dc_pipeline_run(dc_pipeline_t *pl, dc_source_t *source, int (*stop)(void),
                    int64_t flush_timeout_ms);
/* Why dc_pipeline_run() failed, where the pipeline or its feature store can
 * tell; "" otherwise (the source and the sinks keep their own). */
const char *dc_pipeline_errstr(const dc_pipeline_t *pl);

/* For sources: partition (topic, partition) is now this instance's. Reads
 * its stored offset and watermark from the store; *start_offset is where to
 * read from (-1: the store has nothing, start where the source would). */
int dc_pipeline_assign(dc_pipeline_t *pl, int topic, const char *topic_name, int32_t partition,
                       int64_t *start_offset);
/* For sources: the partition is being taken away. Flushes first so its
 * progress is stored, unless the store already holds everything read; if
 * that fails the batch is dropped and the remaining partitions rewind. */
int dc_pipeline_revoke(dc_pipeline_t *pl, int topic, int32_t partition);
/* For sources: the partition has no message waiting (Kafka partition EOF). */
void dc_pipeline_at_end(dc_pipeline_t *pl, int topic, int32_t partition);
/* For sources: the newest event time read from the partition (from the
 * store until one is read; INT64_MIN, or the store's 0, if none yet): a
 * source with a choice reads the partition furthest behind first. */
int64_t dc_pipeline_event_time(dc_pipeline_t *pl, int topic, int32_t partition);

/* Counts for tests and the periodic log line. */
typedef struct {
    int64_t events_in;     /* messages received */
    int64_t events_out;    /* feature events applied (order lines count one each) */
    int64_t skipped;       /* below the stored offset: already counted */
    int64_t rejected;      /* sent to the DLQ */
    int64_t late;          /* accepted after their bucket closed */
    int64_t flushes;
    int64_t flushes_with_events; /* the others: heartbeats, acknowledgements, revokes */
    int64_t flush_failures;
    int64_t buckets_closed;
    int64_t redis_commands; /* Redis commands the flushes ran */
    int64_t flush_conflicts; /* flushes started over: another instance wrote first */
    /* CPU seconds of the flush thread: merging and sending the flushes
     * that succeeded, and the closes made after them (Redis's own time
     * not included). */
    double flush_cpu_s, close_cpu_s;
    /* Wall seconds the loop stood still until a flush or closes in flight
     * finished (a full batch, a retry, a rebalance, the drain). */
    double flush_wait_s;
    /* Wall seconds the flush thread ran jobs (flushes and closes, failed
     * ones included), and of them the seconds blocked on Redis. */
    double flush_busy_s, redis_wait_s;
    /* Batches the loop grouped itself while the job before ran, sparing
     * the flush thread that step. */
    int64_t grouped_ahead;
    /* The most event time between two partitions with events and messages
     * still to read, when a flush was cut (dc_partition_skew_seconds: the
     * last flush's). */
    int64_t max_skew_ms;
} dc_pipeline_stats_t;

void dc_pipeline_stats(const dc_pipeline_t *pl, dc_pipeline_stats_t *stats);

/* ------------------------------------------------------------------------ */
/* Kafka plumbing for `run`                                                 */
/* ------------------------------------------------------------------------ */

/* The callbacks a dc_ingest_t needs to route its rebalances and partition
 * ends into pl (give them to dc_ingest_new()). */
void dc_pipeline_ingest_cbs(dc_pipeline_t *pl, dc_ingest_cbs_t *cbs);
/* A source over a Kafka ingest; in must outlive the source. */
void dc_pipeline_ingest_source(dc_source_t *source, dc_ingest_t *in);

/* The DLQ as a reject sink: every rejected message goes, unchanged (key and
 * value), to topic.dlq with the headers dc.error (dc_err_name() of the
 * reason), dc.error.detail, dc.source.topic, dc.source.partition and
 * dc.source.offset (decimal text). reject_flush waits for delivery, so a
 * message is in the DLQ before its offset is stored: at least once. kp is
 * not owned; dlq_topic is copied. */
typedef struct dc_dlq_sink_s dc_dlq_sink_t;
dc_dlq_sink_t *dc_dlq_sink_new(dc_kafka_producer_t *kp, const char *dlq_topic);
void dc_dlq_sink_destroy(dc_dlq_sink_t *dlq);
/* Fills the reject members of sinks (reject_opaque = dlq). */
void dc_dlq_sink_attach(dc_dlq_sink_t *dlq, dc_pipeline_sinks_t *sinks);

/* ------------------------------------------------------------------------ */
/* File sources for `replay`                                                */
/* ------------------------------------------------------------------------ */

/* A finite source over history files, in event-time order:
 *   - Avro object container files of ClickEvent / OrderEvent (as `gen
 *     --out-dir` writes them), each file one partition of the clicks or
 *     orders topic (by the record type in its header), merged by event time
 *     (ties: the file given first);
 *   - or one CSV file of order lines with a column mapping or preset (see
 *     consumers.h), one partition of the orders topic; its rejected rows reach
 *     the pipeline as rejections with their reason and the raw row.
 * Offsets are record numbers in each file, so the exactly-once machinery
 * works as for Kafka. Partition names use the file's base name. A corrupt
 * file stops the source with DC_ERR_MALFORMED and a message. */
typedef struct dc_file_source_s dc_file_source_t;

/* paths: n OCF files, or (csv_mapping != NULL) exactly one CSV file. The
 * paths are copied. */
dc_file_source_t *dc_file_source_new(const char *const *paths, size_t n, const char *csv_mapping,
                                     char *errstr, size_t errstr_size);
void dc_file_source_destroy(dc_file_source_t *fs);
/* Fills source with callbacks reading from fs. */
void dc_file_source_attach(dc_file_source_t *fs, dc_source_t *source);
/* Records read so far (rejected CSV rows included), and the newest event time. */
int64_t dc_file_source_records(const dc_file_source_t *fs);
int64_t dc_file_source_newest(const dc_file_source_t *fs);
/* The error that stopped the source ("" if none). */
const char *dc_file_source_errstr(const dc_file_source_t *fs);
/* CSV statistics (zeros for OCF input). */
void dc_file_source_csv_stats(const dc_file_source_t *fs, dc_csv_stats_t *stats);

/* A finite source over the input topics (topic.clickstream, topic.orders)
 * between two message timestamps, for `replay` from Kafka. Every partition
 * is read from the offset offsets-for-times gives for from_ms, or from the
 * beginning where the broker cannot say (the embedded broker never can;
 * messages before from_ms are then skipped), up to its end or its first
 * message after to_ms. A consumer without a group commit is used: replay
 * moves no consumer group. If the cluster stays silent for 30 s the source
 * fails with DC_ERR_KAFKA. */
typedef struct dc_kafka_range_s dc_kafka_range_t;

dc_kafka_range_t *dc_kafka_range_new(const dc_conf_t *conf, int64_t from_ms, int64_t to_ms,
                                     char *errstr, size_t errstr_size);
void dc_kafka_range_destroy(dc_kafka_range_t *kr);
void dc_kafka_range_attach(dc_kafka_range_t *kr, dc_source_t *source);
/* Messages delivered to the pipeline so far, and the newest timestamp. */
int64_t dc_kafka_range_records(const dc_kafka_range_t *kr);
int64_t dc_kafka_range_newest(const dc_kafka_range_t *kr);

/* ------------------------------------------------------------------------ */
/* The model stage: closed buckets into the forecaster                      */
/* ------------------------------------------------------------------------ */

/* What a closed bucket becomes, for `run` and `replay` alike: the model (new
 * from model.seed, or loaded from model.path), the forecaster around it, and
 * optionally a warm start that fits offline on every bucket before
 * train_until first. Forecasts and surges go to the sink given (copied; its
 * opaque is borrowed). */
typedef struct dc_modelstage_s dc_modelstage_t;

typedef struct {
    int64_t train_until;          /* INT64_MIN: no offline fit */
    dc_model_fit_opts_t fit;      /* used when train_until is set */
} dc_modelstage_opts_t;

dc_modelstage_t *dc_modelstage_new(const dc_conf_t *conf, const dc_modelstage_opts_t *opts,
                                   const dc_forecaster_sink_t *sink, char *errstr,
                                   size_t errstr_size);
void dc_modelstage_destroy(dc_modelstage_t *ms);
/* A dc_pipeline_sinks_t.bucket_closed callback (opaque = the stage). */
int dc_modelstage_bucket_closed(void *opaque, const dc_bucket_t *bucket);
/* Sets sinks->bucket_closed and closed_opaque to this stage. */
void dc_modelstage_attach(dc_modelstage_t *ms, dc_pipeline_sinks_t *sinks);
/* At the end of a finite input: runs a pending offline fit. */
int dc_modelstage_finish(dc_modelstage_t *ms);
dc_forecaster_t *dc_modelstage_forecaster(dc_modelstage_t *ms);

/* Registers the forecaster's metrics in metrics (borrowed; must outlive the
 * stage) and keeps them current after every close: closes, forecasts, cold
 * starts, surge alerts by state, SKUs, model version, blend weight, the
 * training guards (steps, skipped, rollbacks, running loss), the event time
 * of the last close, and the checkpoint counters of dc_modelstage_persist. */
int dc_modelstage_metrics(dc_modelstage_t *ms, dc_metrics_t *metrics);

/*
 * State that survives restarts and rebalances. After dc_modelstage_persist()
 * every close runs as:
 *
 *   1. read the bucket the state in Redis was saved after; if it is not the
 *      last bucket this process closed (a fresh start, another instance
 *      closed buckets meanwhile, or Redis lost writes), load that state;
 *   2. skip the bucket if the state already covers it (a redelivery);
 *   3. close it: forecasts and alerts to the sink;
 *   4. flush(flush_opaque): the sink makes them durable (Kafka delivery);
 *   5. save the state in one MULTI/EXEC, under WATCH, only if the state in
 *      Redis is still the one read in step 1 (else another instance owns it
 *      now: this close's records may be duplicates, never lost).
 *
 * The feature store acknowledges a close only after the callback returns, so
 * a crash anywhere before step 5 completes re-delivers the bucket to a state
 * that predates it, and the close is re-stepped and re-published with the
 * same bytes (at least once); a crash after step 5 finds the bucket covered.
 * A restarted instance therefore continues exactly as an uninterrupted one.
 *
 * Key layout (prefix = redis.key.prefix, SKU as a cluster hash tag):
 *   <prefix>:{meta}:model   hash: bucket (start of the last bucket closed, epoch
 *                           ms: the version of everything below), version (the
 *                           model version), skus (how many), model (the model
 *                           checkpoint, inference.h format; usable as model.path),
 *                           global (dc_forecaster_save_global)
 *   <prefix>:{SKU}:fc       string: dc_forecaster_save_sku; written when the
 *                           SKU is in a close, no TTL (the forecaster keeps
 *                           every SKU it has seen)
 * The state in Redis wins over model.path, which only seeds a first start.
 * Redis failures are retried, reconnecting, for redis.timeout x 6 before
 * the close fails. Not for a stage with a pending warm start (DC_ERR_INVAL).
 */
int dc_modelstage_persist(dc_modelstage_t *ms, const dc_conf_t *conf, int (*flush)(void *opaque),
                          void *flush_opaque, char *errstr, size_t errstr_size);

#endif /* DC_PIPELINE_H */
