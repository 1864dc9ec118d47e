/*
 * producers/producers.h - the sinks of demandcast, and the synthetic shop.
 *
 * Each section below is one object. Sinks take the records of
 * schemas/schemas.h (or their encoded bytes) and deliver them somewhere; the
 * synthetic shop is a source of records for demos, tests and benchmarks that
 * `demandcast gen` sends into those sinks.
 */
#ifndef DC_PRODUCERS_H
#define DC_PRODUCERS_H

#include "common/common.h"
#include "inference/forecaster.h"
#include "schemas/schemas.h"

#include <stdint.h>

/* ======================================================================== */
/* Kafka producer                                                           */
/* ======================================================================== */

/*
 * A librdkafka producer configured from dc_conf_t, for every topic
 * demandcast writes. It is idempotent by default (enable.idempotence=true:
 * no duplicates and per-partition order across retries), batches for
 * throughput (linger.ms=5, batch.num.messages=10000, a 1 GiB / 1M-message
 * local queue) and partitions keys with murmur2 as the Java client does, so a
 * key lands on the same partition whoever writes it. Every `kafka.*`
 * property is applied after those defaults and so overrides them.
 *
 * Produce never drops a message: when the local queue is full it serves
 * delivery reports until there is room. Delivery failures are asynchronous;
 * they are counted and make dc_kafka_producer_flush() fail.
 *
 * Not thread-safe: one thread produces, polls and flushes.
 */
typedef struct dc_kafka_producer_s dc_kafka_producer_t;

/* One message header; value need not be NUL-terminated. */
typedef struct {
    const char *name;
    const void *value;
    size_t size;
} dc_kafka_header_t;

/* One message to produce. key may be NULL. timestamp_ms is the Kafka message
 * timestamp (give the event time, so offsets-for-times finds history);
 * 0 means the current time. */
typedef struct {
    const char *topic;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    int64_t timestamp_ms;
    const dc_kafka_header_t *headers;
    size_t n_headers;
} dc_kafka_msg_t;

typedef struct {
    uint64_t produced;  /* accepted into the local queue */
    uint64_t delivered; /* acknowledged by the cluster */
    uint64_t failed;    /* permanently failed (delivery report with an error) */
} dc_kafka_producer_stats_t;

/* Creates a producer from the kafka.* properties of conf (which is only read
 * during the call). kafka.bootstrap.servers must be set. A property
 * librdkafka rejects fails with DC_ERR_CONFIG and errstr naming it as
 * "kafka.<name>". Returns NULL on failure. */
dc_kafka_producer_t *dc_kafka_producer_new(const dc_conf_t *conf, char *errstr,
                                           size_t errstr_size);
/* Waits up to flush_timeout_ms for queued messages, then frees everything.
 * Messages still queued after that are lost and counted as failed only in
 * the log. NULL is a no-op. */
void dc_kafka_producer_destroy(dc_kafka_producer_t *kp, int flush_timeout_ms);

/* Queues a copy of the message (key, value and headers are copied; the
 * caller keeps ownership of msg and may reuse its buffers at once) and
 * serves pending delivery reports. Returns DC_OK, or DC_ERR_KAFKA when
 * librdkafka refuses the message outright (e.g. too large) or the producer
 * hit a fatal error; dc_kafka_producer_errstr() then says why. */
int dc_kafka_producer_produce(dc_kafka_producer_t *kp, const dc_kafka_msg_t *msg);

/* Serves delivery reports and client errors, waiting up to timeout_ms for
 * the first. Call it now and then when not producing. */
void dc_kafka_producer_poll(dc_kafka_producer_t *kp, int timeout_ms);

/* Waits until every queued message is delivered or failed, at most
 * timeout_ms. Returns DC_OK if nothing is outstanding and no message ever
 * failed; DC_ERR_AGAIN if messages are still outstanding at the deadline;
 * DC_ERR_KAFKA if any delivery failed (see dc_kafka_producer_errstr()). */
int dc_kafka_producer_flush(dc_kafka_producer_t *kp, int timeout_ms);

void dc_kafka_producer_stats(const dc_kafka_producer_t *kp, dc_kafka_producer_stats_t *stats);

/* The first delivery failure, or the last refusal or fatal error, as text;
 * "" if none. Owned by the producer, valid until the next call on it. */
const char *dc_kafka_producer_errstr(const dc_kafka_producer_t *kp);

/* ======================================================================== */
/* Synthetic shop                                                           */
/* ======================================================================== */

/*
 * A deterministic simulation of an online shop that yields click and order
 * events in event-time order. The same parameters give the same events,
 * bit for bit, on every run and platform with IEEE doubles (its own
 * xoshiro256** generator; never rand() or the clock).
 *
 * The process:
 *  - SKUs are five-digit product codes (PROTOCOL.md section 2) with
 *    Zipf(1) popularity over a seeded permutation, and a log-normal price
 *    each.
 *  - Sessions arrive as a Poisson process whose rate follows a daily curve
 *    (quiet at night, peaks at lunch and in the evening) and a weekly one
 *    (Monday and Sunday busiest, Saturday quietest); each has a user from a
 *    pool of 20 per SKU.
 *  - A session views a few SKUs (some reached by a search click first),
 *    adds some to its cart (now and then removing one or wishlisting), and
 *    may check out 2 to about 60 minutes after its last click: orders follow
 *    carts, which follow views. About 3% of orders are cancelled hours later
 *    (a second OrderEvent, same order_id and lines, status CANCELLED).
 *  - Promotions start about promos_per_day times a day, the first after
 *    12 hours or more, one at a time and at least 4 hours apart, each on a
 *    SKU among the ~2% most popular (busy enough to show at hourly buckets)
 *    for 3 to 12 hours with a lift of 3 to 8: the SKU's traffic and its
 *    view-to-cart rate both rise by sqrt(lift), so its expected orders rise
 *    by lift; its price drops 10-30%, its click events carry the promotion
 *    code in `promo`, and orders of it carted during the promotion carry it
 *    in `promo_code`. Other SKUs are unaffected.
 *
 * The stream ends after exactly n_events events (clicks plus orders).
 * Generating allocates nothing per event once its queues have grown to the
 * number of sessions in flight.
 */
typedef struct dc_shop_s dc_shop_t;

typedef struct {
    uint64_t seed;
    uint32_t n_skus;          /* 1 .. DC_SHOP_MAX_SKUS */
    uint64_t n_events;        /* events to generate; 0 = unbounded */
    int64_t start_ms;         /* event time of the first session */
    double sessions_per_hour; /* mean over a week */
    double promos_per_day;    /* mean; 0 disables promotions */
} dc_shop_params_t;

#define DC_SHOP_MAX_SKUS 2430000 /* 90000 codes x (no suffix + 26 letters) */
/* The densest shop: a session's events span hours (a cancellation comes
 * hours after its order), and the shop holds every pending event of the
 * sessions in flight until its time comes, so its memory grows with the
 * session rate: at this one, about 100 MB once the cancellations of a day
 * of event time wait in it (80 KB for every 1000 sessions an hour). */
#define DC_SHOP_MAX_SESSIONS_PER_HOUR 1e6
#define DC_SHOP_MAX_LINES 8      /* order lines per order */

/* Fills params with the defaults: seed 1, 1000 SKUs, 100000 events, start
 * 2026-01-05T00:00:00Z (a Monday), 1000 sessions per hour, one promotion
 * per day. */
void dc_shop_params_init(dc_shop_params_t *params);

/* The mean number of events one session yields without promotions, so a
 * caller can pick sessions_per_hour for a wanted event-time span:
 * sessions_per_hour = n_events / (hours * dc_shop_events_per_session()). */
double dc_shop_events_per_session(void);

/* Creates a shop; params is copied. Fails with DC_ERR_INVAL for out-of-range
 * parameters. */
dc_shop_t *dc_shop_new(const dc_shop_params_t *params, char *errstr, size_t errstr_size);
void dc_shop_destroy(dc_shop_t *shop);

/* The next event, in event-time order (ties in a fixed order). Fills *click
 * and returns DC_REC_CLICK, or fills *order and returns DC_REC_ORDER; the
 * other record is left alone. order's lines are grown with
 * dc_order_add_line() and reused, as decoders do: zero-initialise it and
 * release it with dc_order_clear(). Returns DC_ERR_EOF after n_events
 * events, DC_ERR_NOMEM if a queue cannot grow (the shop is then of no
 * further use). */
int dc_shop_next(dc_shop_t *shop, dc_click_t *click, dc_order_t *order);

/* Counts of the events returned so far. */
typedef struct {
    uint64_t events;
    uint64_t clicks;
    uint64_t clicks_by_type[DC_CLICK__COUNT];
    uint64_t orders;           /* OrderEvents: placed + cancelled */
    uint64_t orders_placed;
    uint64_t orders_cancelled;
    uint64_t order_lines;      /* lines of placed orders */
    uint64_t units;            /* units of placed orders */
    uint64_t sessions;         /* sessions started (some may not have emitted yet) */
    int64_t first_ts_ms;       /* event time of the first and last event; 0 if none */
    int64_t last_ts_ms;
} dc_shop_stats_t;

void dc_shop_stats(const dc_shop_t *shop, dc_shop_stats_t *stats);

/* Per-SKU counts of the events returned so far. */
typedef struct {
    uint64_t views;
    uint64_t carts;
    uint64_t order_lines; /* lines of placed orders */
    uint64_t units;       /* units of placed orders */
    uint64_t units_cancelled;
    double price;         /* list price */
    uint32_t rank;        /* popularity rank, 0 = most popular */
} dc_shop_sku_stats_t;

uint32_t dc_shop_sku_count(const dc_shop_t *shop);
/* The code of SKU i (0 <= i < count), owned by the shop. */
const char *dc_shop_sku_name(const dc_shop_t *shop, uint32_t i);
void dc_shop_sku_stats(const dc_shop_t *shop, uint32_t i, dc_shop_sku_stats_t *stats);

/* A promotion that has started by the time of the last event returned. */
typedef struct {
    uint32_t sku; /* index, see dc_shop_sku_name() */
    int64_t start_ms, end_ms;
    double lift;
    double discount; /* fraction off the list price */
    char code[DC_TEXT_MAX];
} dc_shop_promo_t;

size_t dc_shop_promo_count(const dc_shop_t *shop);
void dc_shop_promo(const dc_shop_t *shop, size_t i, dc_shop_promo_t *promo);

/* Writes the ground truth of the promotions so far as CSV with the header
 * "sku,start,end,lift" and ISO-8601 UTC times. Returns DC_ERR_IO on a write
 * error. */
int dc_shop_write_truth(const dc_shop_t *shop, FILE *out);

/* ======================================================================== */
/* Forecast and surge sink (Kafka)                                          */
/* ======================================================================== */

/*
 * Publishes what the forecaster emits: each Forecast to topic.forecasts and
 * each SurgeAlert to topic.surges, Avro in the Confluent framing, keyed by
 * SKU (so a compacted forecast topic keeps the latest forecast per SKU), with
 * the Kafka timestamp set to the record's event time (issued_at,
 * detected_at). The bytes depend only on the record, so the same bucket and
 * model version give the same message. Delivery is the producer's: it never
 * drops, and dc_forecast_kafka_sink_flush() fails if anything failed.
 *
 * kp and codec are borrowed and must outlive the sink; topic names are
 * copied. Not thread-safe.
 */
typedef struct dc_forecast_kafka_sink_s dc_forecast_kafka_sink_t;

dc_forecast_kafka_sink_t *dc_forecast_kafka_sink_new(dc_kafka_producer_t *kp, dc_codec_t *codec,
                                                     const char *forecast_topic,
                                                     const char *surge_topic, char *errstr,
                                                     size_t errstr_size);
void dc_forecast_kafka_sink_destroy(dc_forecast_kafka_sink_t *sink);
/* Fills a forecaster sink whose callbacks publish through this one. */
void dc_forecast_kafka_sink_attach(dc_forecast_kafka_sink_t *sink, dc_forecaster_sink_t *out);
int dc_forecast_kafka_sink_forecast(void *opaque, const dc_forecast_t *fc);
int dc_forecast_kafka_sink_surge(void *opaque, const dc_surge_t *alert);
/* Waits for every published record to be acknowledged (at most timeout_ms). */
int dc_forecast_kafka_sink_flush(dc_forecast_kafka_sink_t *sink, int timeout_ms);
/* Records published so far. */
uint64_t dc_forecast_kafka_sink_forecasts(const dc_forecast_kafka_sink_t *sink);
uint64_t dc_forecast_kafka_sink_surges(const dc_forecast_kafka_sink_t *sink);

/* ======================================================================== */
/* Forecast CSV file                                                        */
/* ======================================================================== */

/*
 * Writes forecasts as the CSV of PROTOCOL.md section 8 while they are
 * issued: "sku,origin,target,horizon,mean,p10,p50,p90", one row per horizon,
 * dates as YYYY-MM-DD when buckets are whole days (else ISO-8601 times),
 * numbers as plain decimals (at most 2 decimals, no exponent, never -0).
 * Only origins in [origin_from, origin_to] and targets up to target_to are
 * written, and, if skus is not NULL, only those SKUs (n_skus names, copied).
 * Not thread-safe.
 */
typedef struct dc_forecast_csv_s dc_forecast_csv_t;

dc_forecast_csv_t *dc_forecast_csv_new(const char *path, int64_t origin_from, int64_t origin_to,
                                       int64_t target_to, const char *const *skus,
                                       size_t n_skus, char *errstr, size_t errstr_size);
/* Appends the rows of one forecast. DC_ERR_IO on a write error. */
int dc_forecast_csv_write(dc_forecast_csv_t *csv, const dc_forecast_t *fc);
/* Rows written so far. */
uint64_t dc_forecast_csv_rows(const dc_forecast_csv_t *csv);
/* Flushes and closes; returns DC_ERR_IO if any write failed. NULL is a no-op. */
int dc_forecast_csv_close(dc_forecast_csv_t *csv);

#endif /* DC_PRODUCERS_H */
