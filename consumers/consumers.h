/*
 * consumers/consumers.h - the sources of demandcast: where events come from.
 *
 * Each section below is one source. All of them hand out the records of
 * schemas/schemas.h, so the pipeline behind them is the same whichever source
 * feeds it (DESIGN.md section 6: `replay` and `run` differ only in source and
 * sink).
 */
#ifndef DC_CONSUMERS_H
#define DC_CONSUMERS_H

#include "common/common.h"
#include "schemas/schemas.h"

#include <librdkafka/rdkafka.h>

#include <stdint.h>

/* ======================================================================== */
/* CSV order lines (replay from files)                                      */
/* ======================================================================== */

/*
 * A streaming reader of order lines in a CSV file, plain or gzip-compressed
 * (detected from the content, not the name), turned into OrderEvent records.
 *
 * The mapping says which column holds what. It is one line of
 * "key=value" items separated by ';' (so a value may contain commas and
 * blanks), or the name of a preset:
 *
 *   order_id=COL;sku=COL;qty=COL;price=COL;ts=COL[;user=COL]
 *   [;ts_format=STRPTIME][;cancel_prefix=TEXT][;header=true|false][;delimiter=C]
 *
 * COL is a header name (exact match) or a 1-based column number. ts_format is a
 * strptime(3) format read as shop-local time without zone conversion (the time
 * is stored as if it were UTC, which keeps daily buckets on shop-local dates);
 * default "%Y-%m-%d %H:%M:%S". cancel_prefix marks cancellation invoices,
 * compared case-insensitively; default "C". header defaults to true.
 *
 * Preset "uci-online-retail" is the shared UCI Online Retail file
 * (PROTOCOL.md section 1):
 *   order_id=InvoiceNo;sku=StockCode;qty=Quantity;price=UnitPrice;
 *   ts=InvoiceDate;user=CustomerID;ts_format=%Y-%m-%d %H:%M:%S;cancel_prefix=C
 *
 * Fields follow RFC 4180: a field may be quoted, a quoted field may hold the
 * delimiter, line breaks and doubled quotes (""), and lines may end in \r\n.
 *
 * Rows become orders: consecutive accepted rows with the same order id and
 * time form one order with several lines. An order id that starts with the
 * cancel prefix gives a CANCELLED order whose line quantities are the
 * cancelled units (the file's negative quantity, negated); any other gives a
 * PLACED order. SKUs are trimmed and upper-cased. A user id written as a
 * float with a zero fraction ("17850.0", as pandas exports it) is stored as
 * the integer text ("17850"); an empty one stays empty.
 *
 * A row is accepted only if it is an order line of a product as
 * PROTOCOL.md section 2 defines it; every other row is rejected, one at a
 * time, with its own reason, so the caller can count it and route it to the
 * DLQ. Nothing is dropped silently. Reasons (the return code of
 * dc_csv_reader_next):
 *   DC_ERR_BAD_SKU        the code is not a product (not ^[0-9]{5}[A-Z]*$)
 *   DC_ERR_BAD_QUANTITY   quantity zero, or of the wrong sign (a placed line
 *                         must be > 0, a cancellation line < 0), or not an int32
 *   DC_ERR_BAD_PRICE      unit price <= 0, NaN or infinite
 *   DC_ERR_BAD_TIMESTAMP  the time does not match ts_format
 *   DC_ERR_MALFORMED      wrong column count, a number that does not parse,
 *                         an id or SKU longer than the record allows, or
 *                         broken quoting
 * The checks run in the order malformed, timestamp, sku, quantity, price; the
 * first failing one is the reason.
 */
typedef struct dc_csv_reader_s dc_csv_reader_t;

/* The mapping text of a preset, or NULL if name is not a preset. */
const char *dc_csv_preset(const char *name);

/* Opens path and reads its header (if the mapping says there is one).
 * mapping is a mapping line or a preset name; it is only read during the
 * call. Fails with errstr set on an unreadable file, a bad mapping, or a
 * mapped column name the header lacks. */
dc_csv_reader_t *dc_csv_reader_new(const char *path, const char *mapping, char *errstr,
                                   size_t errstr_size);
/* Closes the file and frees the reader. NULL is a no-op. */
void dc_csv_reader_destroy(dc_csv_reader_t *reader);

/*
 * Reads on until the next order or the next rejected row.
 *
 * Returns DC_OK with *order filled (its lines array is grown and reused, as
 * the codec does; zero-initialise it before the first call and release it
 * with dc_order_clear()), DC_ERR_EOF at the end of the file, one of the
 * rejection reasons above for one rejected row (errstr says
 * "FILE:LINE: why"; dc_csv_reader_row() gives the raw row; reading simply
 * continues with the next call), or DC_ERR_IO / DC_ERR_NOMEM when reading
 * cannot go on. Since an order is complete only when the next one starts, a
 * row rejected inside an order is returned before that order.
 */
int dc_csv_reader_next(dc_csv_reader_t *reader, dc_order_t *order, char *errstr,
                       size_t errstr_size);

/* The raw text of the row last rejected (without its line end) and its
 * 1-based line number in the file; valid until the next call. */
const char *dc_csv_reader_row(const dc_csv_reader_t *reader, size_t *len, int64_t *line_no);

typedef struct {
    int64_t rows;            /* data rows read (header excluded) */
    int64_t lines_accepted;  /* rows that became order lines */
    int64_t orders_placed;   /* PLACED orders returned */
    int64_t orders_cancelled;/* CANCELLED orders returned */
    int64_t rejected_sku;
    int64_t rejected_quantity;
    int64_t rejected_price;
    int64_t rejected_timestamp;
    int64_t rejected_malformed;
} dc_csv_stats_t;

/* Counts so far. */
void dc_csv_reader_stats(const dc_csv_reader_t *reader, dc_csv_stats_t *stats);

/* 1 if code (already trimmed and upper-cased) is a product code of
 * PROTOCOL.md section 2: five ASCII digits then zero or more of A-Z. */
int dc_csv_is_product_code(const char *code);

/* ======================================================================== */
/* Kafka consumer client                                                    */
/* ======================================================================== */

/*
 * Creates a librdkafka consumer handle configured from dc_conf_t, for tools
 * and sources that consume demandcast topics. Settings are applied in this
 * order, later ones winning: how every consumer here fetches
 * (fetch.wait.max.ms=100, since an empty fetch waits that long, and the
 * embedded broker answers an empty fetch only then; queued.min.messages=
 * 1000000, since librdkafka 2.0 may idle up to a second once a queue
 * passes that), every kafka.* property of conf, then overrides, a
 * NULL-terminated list of name, value pairs for what the caller decides
 * itself (e.g. {"group.id", "tail-1234", NULL}). A property librdkafka
 * rejects fails with DC_ERR_CONFIG and errstr naming it. kafka.group.id (or
 * an override) is required, as is kafka.bootstrap.servers.
 *
 * conf and overrides are only read during the call. The caller owns the
 * handle: subscribe or assign, poll with rd_kafka_consumer_poll(), and end
 * with rd_kafka_consumer_close() then rd_kafka_destroy(). Client logs go to
 * dc_log() under the component "kafka". Returns NULL on failure.
 */
rd_kafka_t *dc_kafka_consumer_new(const dc_conf_t *conf, const char *const *overrides,
                                  char *errstr, size_t errstr_size);

/* For consumers of this stage that need more than a plain handle (the
 * ingest's rebalance callback): the configuration dc_kafka_consumer_new()
 * would use, with the given defaults (name, value pairs, NULL-terminated)
 * after the fetch settings, then kafka.*, then overrides, logging through
 * dc_log(). The caller
 * owns the result. NULL with errstr set on failure. */
/* A librdkafka log callback that routes client logs (syslog levels) to
 * dc_log() under the component "kafka"; for every client the project makes.
 * librdkafka calls it from its own threads, and dc_log is safe there. */
void dc__kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

rd_kafka_conf_t *dc__kafka_consumer_conf(const dc_conf_t *conf, const char *const *defaults,
                                         const char *const *overrides, char *errstr,
                                         size_t errstr_size);

/* ======================================================================== */
/* Kafka ingest: the consumer group of `run`                                */
/* ======================================================================== */

/*
 * The consumer-group source of `run`: a librdkafka high-level consumer on
 * topic.clickstream and topic.orders with manual offsets. Positions are not
 * Kafka's business here: the feature store holds the offset of every
 * partition, written in the same atomic step as the features. So on
 * assignment the ingest asks its owner (cbs.assigned) where to start and
 * seeks there, and it commits to Kafka only what its owner says is stored
 * (dc_ingest_commit), which keeps consumer-lag tools meaningful.
 *
 * Each assigned partition keeps its fetched messages in a queue of its
 * own, and the ingest reads next from the partition whose newest event
 * time (cbs.event_time) is furthest behind: a backlog is read in event
 * time across partitions, so the watermark, and the bucket closes, move
 * on as it is read rather than wait for its fullest partition. A
 * partition that stays behind and alone keeps the reader busy is read
 * first all along: the others wait, as the watermark does for it. The
 * prefetch limits (queued.min.messages, queued.max.messages.kbytes) hold
 * per partition.
 *
 * Defaults (a kafka.* property overrides them): group.id "demandcast",
 * auto.offset.reset earliest, fetch.wait.max.ms 100, queued.max.messages.kbytes
 * 8192 (a partition). Always set:
 * enable.auto.commit=false, enable.auto.offset.store=false,
 * enable.partition.eof=true (the idle rule needs to know a partition's end).
 * Eager and cooperative rebalancing both work.
 *
 * Not thread-safe; the callbacks run inside dc_ingest_next() and
 * dc_ingest_destroy() on the caller's thread.
 */
typedef struct dc_ingest_s dc_ingest_t;

enum { DC_INGEST_CLICKS = 0, DC_INGEST_ORDERS = 1 }; /* topic index */

/* Messages read from one partition, taken from its queue in one call (a
 * run), before choosing again which partition lags most in event time: few
 * enough to keep the partitions close in event time, many enough that
 * choosing and taking cost next to nothing per message. */
#define DC_INGEST_RUN 100

typedef struct {
    /* Partition assigned: set *start to the offset to read from, or -1 for
     * Kafka's committed offset / auto.offset.reset. Non-zero fails it. */
    int (*assigned)(void *opaque, int topic, const char *topic_name, int32_t partition,
                    int64_t *start);
    /* Partition about to be taken away: store its progress now. */
    int (*revoked)(void *opaque, int topic, int32_t partition);
    /* No message is waiting on the partition. */
    void (*at_end)(void *opaque, int topic, int32_t partition);
    /* The newest event time read from the partition (INT64_MIN: none yet):
     * of the partitions with messages waiting, the ingest reads the one
     * furthest behind first. May be NULL: then each in turn. */
    int64_t (*event_time)(void *opaque, int topic, int32_t partition);
    void *opaque;
} dc_ingest_cbs_t;

typedef struct {
    int topic; /* DC_INGEST_* */
    const char *topic_name;
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    void *handle; /* the rd_kafka_message_t, freed by dc_ingest_release() */
} dc_ingest_msg_t;

/* Creates the consumer and subscribes. cbs is copied; metrics (may be NULL)
 * gets the gauges dc_consumer_lag (messages behind the high watermark over
 * the assigned partitions) and dc_consumer_queued (dc_ingest_queued()),
 * both updated every 5 s. */
dc_ingest_t *dc_ingest_new(const dc_conf_t *conf, const dc_ingest_cbs_t *cbs,
                           dc_metrics_t *metrics, char *errstr, size_t errstr_size);
/* Leaves the group (which revokes, and so calls cbs.revoked, for every
 * partition) and frees everything. NULL is a no-op. */
void dc_ingest_destroy(dc_ingest_t *in);

/* The next message: DC_OK, DC_ERR_AGAIN if none within timeout_ms (or while
 * paused), DC_ERR_KAFKA on a fatal client error. Rebalances and partition
 * ends are served in here. A message that arrives although its partition is
 * paused is not returned: the partition is sought back to it. */
int dc_ingest_next(dc_ingest_t *in, dc_ingest_msg_t *msg, int timeout_ms);
void dc_ingest_release(dc_ingest_t *in, dc_ingest_msg_t *msg);

/* Commits (asynchronously) offset[i] as the next offset to read of
 * (topic[i], partition[i]). */
int dc_ingest_commit(dc_ingest_t *in, const int *topic, const int32_t *partition,
                     const int64_t *offset, size_t n);
/* Messages (and partition ends) fetched and not read yet, over the
 * assigned partitions' queues; the gauge dc_consumer_queued shows it. */
size_t dc_ingest_queued(const dc_ingest_t *in);
/* Pauses (1) or resumes (0) fetching on every assigned partition. */
void dc_ingest_pause(dc_ingest_t *in, int pause);
/* Reads (topic, partition) on from offset. */
int dc_ingest_seek(dc_ingest_t *in, int topic, int32_t partition, int64_t offset);

#endif /* DC_CONSUMERS_H */
