/*
 * common/common.h - the bottom of demandcast: errors, logging, the
 * configuration table, metrics, growable byte buffers and event-time helpers.
 *
 * Every other stage includes this header; it includes no other stage.
 * Functions return 0 (DC_OK) on success or a negative dc_err_t on failure,
 * and dc_err2str() names the failure for people. Constructors that can fail
 * for a reason worth reading take (char *errstr, size_t errstr_size) and fill
 * it, as librdkafka's rd_kafka_new() does.
 */
#ifndef DC_COMMON_H
#define DC_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/* Error codes. The snake_case name from dc_err_name() is what the DLQ's
 * "dc.error" header and the dlq_messages_total{reason} metric carry, so
 * names are part of the wire contract: add codes, never rename them. */
typedef enum {
    DC_OK = 0,
    DC_ERR_INVAL = -1,          /* invalid argument */
    DC_ERR_NOMEM = -2,          /* out of memory */
    DC_ERR_IO = -3,             /* file or socket I/O failed */
    DC_ERR_CONFIG = -4,         /* bad configuration */
    DC_ERR_TRUNCATED = -5,      /* input ends before the record does */
    DC_ERR_BAD_MAGIC = -6,      /* framing magic byte is not 0 */
    DC_ERR_UNKNOWN_SCHEMA = -7, /* schema id not registered */
    DC_ERR_MALFORMED = -8,      /* bytes are not a valid record */
    DC_ERR_BAD_QUANTITY = -9,   /* quantity negative, zero or absurd */
    DC_ERR_BAD_PRICE = -10,     /* price NaN, infinite, negative or absurd */
    DC_ERR_BAD_TIMESTAMP = -11, /* event time far in the future or past */
    DC_ERR_TOO_LATE = -12,      /* older than the longest window */
    DC_ERR_BAD_SKU = -13,       /* SKU empty or not a product code */
    DC_ERR_KAFKA = -14,         /* Kafka client error */
    DC_ERR_REDIS = -15,         /* Redis error */
    DC_ERR_CHECKSUM = -16,      /* checksum mismatch (checkpoint) */
    DC_ERR_VERSION = -17,       /* unsupported format version */
    DC_ERR_EOF = -18,           /* end of input (not a failure for readers) */
    DC_ERR_AGAIN = -19,         /* temporarily unavailable; retry */
    DC_ERR_NUMERIC = -20,       /* NaN/inf or divergence in the model */
    DC_ERR_TRAILING = -21,      /* bytes left after a complete record */
    DC_ERR__COUNT = 22          /* number of codes including DC_OK */
} dc_err_t;

/* Human-readable text for an error code; never NULL. */
const char *dc_err2str(int err);
/* Stable snake_case identifier ("truncated", "too_late", ...); never NULL. */
const char *dc_err_name(int err);

/* Writes printf-style text into errstr (if non-NULL) and returns err, so a
 * failure path can be one line: return dc_seterr(errstr, size, DC_ERR_IO, ...). */
int dc_seterr(char *errstr, size_t errstr_size, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ------------------------------------------------------------------------ */
/* Logging                                                                  */
/* ------------------------------------------------------------------------ */

typedef enum { DC_LOG_ERROR = 0, DC_LOG_WARN, DC_LOG_INFO, DC_LOG_DEBUG } dc_log_level_t;

/* Libraries report through dc_log() and never print. By default lines go to
 * stderr as "LEVEL component: message"; the binary sets the level, and a test
 * may install its own sink. The sink is process-wide and must be set before
 * threads start. */
typedef void(dc_log_sink_t)(dc_log_level_t level, const char *component, const char *msg,
                            void *opaque);
void dc_log_set_level(dc_log_level_t level);
dc_log_level_t dc_log_get_level(void);
void dc_log_set_sink(dc_log_sink_t *sink, void *opaque);
int dc_log_level_parse(const char *name, dc_log_level_t *level);
void dc_log(dc_log_level_t level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------------ */
/* Growable byte buffer                                                     */
/* ------------------------------------------------------------------------ */

/* A byte buffer the caller owns and reuses across records, so the hot path
 * allocates only while the buffer is still growing. Zero-initialise it
 * (dc_buf_t b = {0}) and release it with dc_buf_free(). */
typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
} dc_buf_t;

/* Grows buf to room for extra more bytes (dc_buf_reserve's slow path). */
int dc__buf_grow(dc_buf_t *buf, size_t extra);
/* Room for extra more bytes after len. Inline: the merge of a flush asks
 * for room for every field it writes, and the room is nearly always there. */
static inline int dc_buf_reserve(dc_buf_t *buf, size_t extra)
{
    return extra <= buf->cap - buf->len ? DC_OK : dc__buf_grow(buf, extra);
}
int dc_buf_append(dc_buf_t *buf, const void *data, size_t len);
int dc_buf_printf(dc_buf_t *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes d into text (at least DC_DOUBLE_TEXT bytes) as the shortest of
 * %.15g .. %.17g that parses back to d: 0.3 as "0.3", not the
 * "0.29999999999999999" of %.17g, and no value rounded. Not-finite values
 * as Prometheus spells them: "NaN", "+Inf", "-Inf". Returns text. */
#define DC_DOUBLE_TEXT 32
char *dc_double_format(double d, char *text);
void dc_buf_free(dc_buf_t *buf);

/* ------------------------------------------------------------------------ */
/* Sorting names                                                            */
/* ------------------------------------------------------------------------ */

/* A name to sort (a SKU) with a value that travels with it. Its first 8
 * bytes as a big-endian number (zeros past its end), head, order most pairs
 * of names without reading them: a close sorts ten thousand at a time. */
typedef struct {
    uint64_t head;
    const char *s; /* len bytes, not necessarily terminated */
    size_t len;
    int64_t value;
} dc_name_key_t;

dc_name_key_t dc_name_key(const char *s, size_t len, int64_t value);
/* Byte order (memcmp, then the shorter first): strcmp's order for names
 * without NUL bytes. */
int dc_name_cmp(const dc_name_key_t *a, const dc_name_key_t *b);
/* Sorts a[0 .. n) by name, tmp being room for n more: a radix sort of the
 * heads, then the names that share one. Equal names keep their order. */
void dc_name_sort(dc_name_key_t *a, dc_name_key_t *tmp, size_t n);

/* ------------------------------------------------------------------------ */
/* Event time                                                               */
/* ------------------------------------------------------------------------ */

/* All event times are int64 milliseconds since the Unix epoch, UTC. */

/* Parses "2011-06-30", "2011-06-30T08:26", "2011-06-30 08:26:00",
 * "2011-06-30T08:26:00.123Z" or "...+01:00", or a plain integer of epoch
 * milliseconds. A time without a zone is UTC. */
int dc_time_parse(const char *text, int64_t *ms);
/* Formats as "2011-06-30T08:26:00Z" (milliseconds appended only when non-zero).
 * Times outside the years 0000..9999 are written as "<ms>ms". buf must hold
 * at least 32 bytes. Returns buf. */
char *dc_time_format(int64_t ms, char *buf, size_t size);
/* Formats the UTC calendar date "2011-06-30". buf >= 11 bytes. Returns buf. */
char *dc_date_format(int64_t ms, char *buf, size_t size);
/* Parses a duration: "250ms", "90s", "5m", "1h", "1d", "7d", "2w"; a plain
 * number is milliseconds. Zero and negative durations are accepted here and
 * checked by whoever needs a positive one. */
int dc_duration_parse(const char *text, int64_t *ms);
/* Formats a duration in its largest exact unit ("5m", "1h", "7d"). */
char *dc_duration_format(int64_t ms, char *buf, size_t size);
/* Floor of ms to a multiple of width (also correct for negative ms). */
int64_t dc_time_floor(int64_t ms, int64_t width);
/* Wall-clock and monotonic clocks, for logging, pacing and benchmarks only:
 * nothing that reaches a forecast may read them. */
int64_t dc_wallclock_ms(void);
double dc_monotonic_s(void);
/* The same clocks as of the kernel's last tick (a few ms behind), at a
 * fifth of the cost: for the checks made once per message. */
int64_t dc_wallclock_coarse_ms(void);
double dc_monotonic_coarse_s(void);
/* CPU seconds the calling thread has used. */
double dc_thread_cpu_s(void);

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */
/* ------------------------------------------------------------------------ */

/* The one table of properties lives in common/conf.c. Names that start with
 * "kafka." are not in the table: they are kept verbatim and handed, without
 * the prefix, to rd_kafka_conf_set() by whoever creates a Kafka client, so
 * every librdkafka property (SASL, SSL, ...) is reachable. Any other name not
 * in the table is an error. */
typedef struct dc_conf_s dc_conf_t;

typedef enum {
    DC_CONF_STR,
    DC_CONF_INT,      /* int64 within [min, max] */
    DC_CONF_DOUBLE,   /* finite double within [min, max] */
    DC_CONF_BOOL,     /* true/false/1/0/yes/no/on/off */
    DC_CONF_DURATION, /* see dc_duration_parse(); stored as milliseconds */
} dc_conf_type_t;

typedef struct {
    const char *name;
    dc_conf_type_t type;
    const char *defval; /* as text, parsed like a user value; NULL = unset */
    double min, max;    /* for INT, DOUBLE, DURATION (ms); ignored if min > max */
    const char *desc;
} dc_conf_prop_t;

/* The property table, terminated by an entry with name == NULL. */
const dc_conf_prop_t *dc_conf_props(void);

dc_conf_t *dc_conf_new(void);
void dc_conf_destroy(dc_conf_t *conf);
/* Sets one property from text. Unknown names, unparsable or out-of-range
 * values fail with DC_ERR_CONFIG and a message naming key and value. */
int dc_conf_set(dc_conf_t *conf, const char *name, const char *value, char *errstr,
                size_t errstr_size);
/* Sets "key=value" (the -X argument form). */
int dc_conf_set_kv(dc_conf_t *conf, const char *kv, char *errstr, size_t errstr_size);
/* Loads a properties file: "key=value" lines, '#' or '!' comments, blank
 * lines; surrounding blanks trimmed. The first bad line fails the load with
 * "FILE:LINE: message". */
int dc_conf_load(dc_conf_t *conf, const char *path, char *errstr, size_t errstr_size);

/* Typed getters. Names must be in the table; asking for an unknown name or
 * the wrong type is a programming error and aborts. A string property that is
 * unset returns NULL (or "" where the default is ""). */
const char *dc_conf_str(const dc_conf_t *conf, const char *name);
int64_t dc_conf_int(const dc_conf_t *conf, const char *name);
double dc_conf_double(const dc_conf_t *conf, const char *name);
int dc_conf_bool(const dc_conf_t *conf, const char *name);
int64_t dc_conf_duration_ms(const dc_conf_t *conf, const char *name);
/* 1 if the user set the property (file or -X), 0 if it holds its default. */
int dc_conf_is_set(const dc_conf_t *conf, const char *name);

/* Calls cb(name_without_prefix, value) for every set property whose name
 * starts with prefix (e.g. "kafka."), in the order they were set. Stops and
 * returns the first non-zero value cb returns. */
int dc_conf_foreach_prefixed(const dc_conf_t *conf, const char *prefix,
                             int (*cb)(const char *name, const char *value, void *opaque),
                             void *opaque);
/* Looks up a prefixed pass-through value ("kafka.bootstrap.servers"); NULL if unset. */
const char *dc_conf_passthrough(const dc_conf_t *conf, const char *name);

/* Writes the table as the Markdown of CONFIGURATION.md. */
void dc_conf_write_markdown(FILE *out);

/* ------------------------------------------------------------------------ */
/* Metrics                                                                  */
/* ------------------------------------------------------------------------ */

/* Counters and gauges in the Prometheus text format. A metric is created
 * once (at start-up, not per event) and updated with relaxed atomics, so any
 * thread may update it and the HTTP thread may render concurrently. The
 * registry owns the metrics; pointers stay valid until dc_metrics_destroy(). */
typedef struct dc_metrics_s dc_metrics_t;
typedef struct dc_metric_s dc_metric_t;

dc_metrics_t *dc_metrics_new(void);
void dc_metrics_destroy(dc_metrics_t *metrics);
/* Returns the metric named name with the given label set (e.g.
 * "reason=\"too_late\"" or NULL), creating it on first use. help is kept from
 * the first call for that name. Returns NULL only on allocation failure. */
dc_metric_t *dc_metrics_counter(dc_metrics_t *metrics, const char *name, const char *labels,
                                const char *help);
dc_metric_t *dc_metrics_gauge(dc_metrics_t *metrics, const char *name, const char *labels,
                              const char *help);
void dc_metric_add(dc_metric_t *metric, double delta); /* NULL metric is a no-op */
void dc_metric_set(dc_metric_t *metric, double value); /* NULL metric is a no-op */
double dc_metric_value(const dc_metric_t *metric);     /* 0 for NULL */
/* Renders every metric, sorted by name then labels, into buf (appended). */
int dc_metrics_render(dc_metrics_t *metrics, dc_buf_t *buf);

/* ------------------------------------------------------------------------ */
/* HTTP endpoint: /metrics and /health                                      */
/* ------------------------------------------------------------------------ */

/* Serves GET /metrics (the registry in the Prometheus text format) and
 * GET /health on 127.0.0.1 or all interfaces, from libmicrohttpd's own thread.
 * health() is called on that thread for each /health request: it returns 1 if
 * the process is healthy and may write a one-line reason into msg either way
 * (200 "ok"/503 reason). metrics and opaque are borrowed and must outlive the
 * server. port 0 picks a free port; dc_http_port() tells which. */
typedef struct dc_http_s dc_http_t;
typedef int(dc_health_fn_t)(void *opaque, char *msg, size_t msg_size);

dc_http_t *dc_http_new(const char *bind_addr, int port, dc_metrics_t *metrics,
                       dc_health_fn_t *health, void *opaque, char *errstr, size_t errstr_size);
int dc_http_port(const dc_http_t *http);
void dc_http_destroy(dc_http_t *http);

/* ------------------------------------------------------------------------ */
/* String-keyed index                                                       */
/* ------------------------------------------------------------------------ */

/* The one string hash of the project's hash tables, and of the user ids
 * behind the distinct-user sketches (dc_user_hash): FNV-1a's step from this
 * offset, which never changes, since sketches stored in Redis hold it.
 * dc_str_hash(s) == dc_mem_hash(s, strlen(s)). */
#define DC_HASH_OFFSET 1469598103934665603ULL

static inline uint64_t dc_hash_byte(uint64_t h, uint8_t b) { return (h ^ b) * 1099511628211ULL; }

static inline uint64_t dc_str_hash(const char *s)
{
    uint64_t h = DC_HASH_OFFSET;
    for (; *s; s++)
        h = dc_hash_byte(h, (uint8_t)*s);
    return h;
}

static inline uint64_t dc_mem_hash(const void *p, size_t len)
{
    uint64_t h = DC_HASH_OFFSET;
    for (size_t i = 0; i < len; i++)
        h = dc_hash_byte(h, ((const uint8_t *)p)[i]);
    return h;
}

/* Maps short strings (SKUs) to dense indexes 0, 1, 2, ... in order of first
 * insertion, so per-key records can live in flat arrays the caller owns. Keys
 * are copied; lookups allocate nothing. Open addressing with linear probing,
 * dc_str_hash, doubling at 50 % load. Not thread-safe. */
typedef struct dc_strmap_s dc_strmap_t;

dc_strmap_t *dc_strmap_new(void);
void dc_strmap_destroy(dc_strmap_t *map);
/* Index of key, or -1 if absent. */
int64_t dc_strmap_find(const dc_strmap_t *map, const char *key);
/* Index of key, inserting it (as the next index) if absent; *inserted (may be
 * NULL) tells which. Returns -1 only when out of memory. */
int64_t dc_strmap_put(dc_strmap_t *map, const char *key, int *inserted);
size_t dc_strmap_count(const dc_strmap_t *map);
/* The key of an index (valid until the map is destroyed). */
const char *dc_strmap_key(const dc_strmap_t *map, size_t index);

/* ------------------------------------------------------------------------ */
/* Seeded random numbers                                                    */
/* ------------------------------------------------------------------------ */

/* xoshiro256** (Blackman and Vigna) seeded through splitmix64: the one
 * generator of the project, so that everything random (weight
 * initialisation, training windows, the synthetic shop) is reproducible for
 * a seed on every platform. Never rand() or the clock. Independent streams of
 * one seed (e.g. one per purpose) keep a change in how one part draws numbers
 * from reshuffling the others. */
typedef struct {
    uint64_t s[4];
} dc_rng_t;

void dc_rng_seed(dc_rng_t *rng, uint64_t seed, uint64_t stream);

static inline uint64_t dc__rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t dc_rng_next(dc_rng_t *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = dc__rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = dc__rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double dc_rng_uniform(dc_rng_t *rng)
{
    return (double)(dc_rng_next(rng) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n), n > 0, without modulo bias. */
uint64_t dc_rng_below(dc_rng_t *rng, uint64_t n);

#define DC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif /* DC_COMMON_H */
