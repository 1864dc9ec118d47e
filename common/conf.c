/* common/conf.c - the one table of configuration properties and the
 * properties-file parser. CONFIGURATION.md is generated from this table
 * (`demandcast config --list`); a test fails when the two drift apart. */
#include "common/common.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NOLIM 1, 0 /* min > max: no range check */

static const dc_conf_prop_t props[] = {
    /* Connections. kafka.* keys are passed through to librdkafka. */
    {"redis.host", DC_CONF_STR, "127.0.0.1", NOLIM, "Redis host of the feature store."},
    {"redis.port", DC_CONF_INT, "6379", 1, 65535, "Redis port."},
    {"redis.user", DC_CONF_STR, NULL, NOLIM, "Redis ACL user name (AUTH user password)."},
    {"redis.password", DC_CONF_STR, NULL, NOLIM, "Redis password (AUTH); unset or empty means no AUTH."},
    {"redis.db", DC_CONF_INT, "0", 0, 1023, "Redis logical database (SELECT)."},
    {"redis.timeout", DC_CONF_DURATION, "5s", 1, 600000, "Redis connect and command timeout."},
    {"redis.key.prefix", DC_CONF_STR, "dc", NOLIM,
     "Prefix of every Redis key demandcast writes (see README, key layout)."},

    /* Topics (DESIGN.md section 2). */
    {"topic.clickstream", DC_CONF_STR, "shop.clickstream", NOLIM, "Input topic of ClickEvent records."},
    {"topic.orders", DC_CONF_STR, "shop.orders", NOLIM, "Input topic of OrderEvent records."},
    {"topic.forecasts", DC_CONF_STR, "demand.forecasts", NOLIM, "Output topic of Forecast records (compacted, keyed by sku)."},
    {"topic.surges", DC_CONF_STR, "demand.surges", NOLIM, "Output topic of SurgeAlert records (keyed by sku)."},
    {"topic.dlq", DC_CONF_STR, "demand.dlq", NOLIM, "Dead-letter topic: bad input, unchanged, with error headers."},

    /* Schema ids of the Confluent framing, used when no registry is present. */
    {"schema.id.click", DC_CONF_INT, "1", 0, 2147483647, "Schema id written for ClickEvent."},
    {"schema.id.order", DC_CONF_INT, "2", 0, 2147483647, "Schema id written for OrderEvent."},
    {"schema.id.forecast", DC_CONF_INT, "3", 0, 2147483647, "Schema id written for Forecast."},
    {"schema.id.surge", DC_CONF_INT, "4", 0, 2147483647, "Schema id written for SurgeAlert."},

    /* Event time and windows (DESIGN.md section 3). */
    {"bucket.width", DC_CONF_DURATION, "1h", 60000, 604800000, "Demand bucket width; a closed bucket triggers a forecast step. Fixed for the life of a feature store (redis.key.prefix)."},
    {"lateness", DC_CONF_DURATION, "5m", 0, 604800000, "Allowed lateness: the watermark trails the newest event time by this much."},
    {"windows", DC_CONF_STR, "5m,1h,24h,7d", NOLIM, "Rolling feature windows, comma-separated durations. Their lengths are fixed for the life of a feature store (redis.key.prefix); their names may change."},
    {"future.tolerance", DC_CONF_DURATION, "1h", 0, 31536000000.0, "Events dated more than this after the wall clock go to the DLQ (bad_timestamp)."},
    {"sku.idle.ttl", DC_CONF_DURATION, "14d", 60000, 31536000000.0, "A SKU without events for this long (event time) leaves the active set; the bucket close that finds it so deletes its Redis keys."},
    {"flush.interval", DC_CONF_DURATION, "200ms", 1, 60000, "Longest time window deltas wait before the atomic flush to Redis."},
    {"flush.max.events", DC_CONF_INT, "100000", 1, 10000000, "Flush window deltas to Redis after this many events."},
    {"max.quantity", DC_CONF_INT, "100000", 1, 2147483647, "Order-line quantities above this are rejected (bad_quantity)."},
    {"max.price", DC_CONF_DOUBLE, "1000000", 0, 1e15, "Prices above this are rejected (bad_price)."},
    {"idle.timeout", DC_CONF_DURATION, "30s", 0, 86400000, "A partition read to its end for this long (wall time) stops holding back the low watermark until its next message."},
    {"close.lease", DC_CONF_DURATION, "10s", 1000, 3600000, "Lease of the one instance of a consumer group that closes buckets; another takes over when it lapses."},
    {"metrics.log.interval", DC_CONF_DURATION, "10s", 0, 86400000, "How often `run` logs its counters; 0 never."},

    /* Model (DESIGN.md section 4). */
    {"horizon", DC_CONF_INT, "24", 1, 512, "Forecast horizon in buckets."},
    {"model.hidden", DC_CONF_INT, "64", 1, 4096, "LSTM hidden size."},
    {"model.seed", DC_CONF_INT, "42", 0, 9007199254740991.0, "Seed of weight initialisation and every random choice."},
    {"model.path", DC_CONF_STR, NULL, NOLIM, "Checkpoint file to load at start (written by `demandcast train`)."},
    {"train.online", DC_CONF_BOOL, "true", NOLIM, "Take an online gradient step when a bucket's actuals are known."},
    {"train.bptt", DC_CONF_INT, "8", 1, 512, "Truncated BPTT length of online learning, in buckets."},
    {"train.lr", DC_CONF_DOUBLE, "0.001", 0, 1, "Adam learning rate."},
    {"train.epochs", DC_CONF_INT, "10", 1, 100000, "Passes over the history when a model is fitted offline (`replay --train-until`, `train`). More passes lower the training loss further, yet on both backtest windows of the Online Retail data 20 and 30 passes gave wider, worse-scoring forecasts than 10."},
    {"train.batch", DC_CONF_INT, "256", 1, 1000000, "SKUs per online mini-batch."},
    {"train.skus.per.close", DC_CONF_INT, "4096", 0, 100000000, "About the most SKUs trained online at one bucket close. Each SKU trains on a whole window of train.bptt buckets once every max(train.bptt, ceil(SKUs / this)) closes, chosen by SKU and bucket number: bounds the close time at scale. 0: every SKU at every close, on a window sliding one bucket (train.bptt times the work)."},

    {"baseline.window", DC_CONF_INT, "84", 1, 4096, "Buckets of each SKU's history the seasonal quantile baseline reads."},
    {"baseline.halflife", DC_CONF_DOUBLE, "28", 0, 100000, "Recency half-life of the baseline's weights, in buckets; 0 weighs all alike."},

    {"forecast.blend", DC_CONF_DOUBLE, "-1", -1, 1, "Weight of the LSTM in the published quantiles (the rest is the seasonal baseline); -1 learns it online from both experts' pinball losses."},

    /* Surges (DESIGN.md section 5). */
    {"surge.ratio", DC_CONF_DOUBLE, "2.0", 1.1, 1000, "The lift a surge is tested for: views and the share of them carted each up by its square root (carts up by the whole ratio). A forecast this many times the baseline is a cause for a surge (see surge.cause.evidence)."},
    {"surge.min.volume", DC_CONF_DOUBLE, "5", 0, 1e12, "Least views in a bucket for a surge to start in it, and least expected units for the forecast to count as a cause."},
    {"surge.evidence", DC_CONF_DOUBLE, "12", 0.1, 1000, "Evidence that starts a surge on traffic alone: the log-likelihood ratio, in nats, of views and carts surging by surge.ratio over normal, summed over recent buckets (never below zero)."},
    {"surge.cause.evidence", DC_CONF_DOUBLE, "2", 0.1, 1000, "Evidence that starts a surge when a cause backs it: a promotion running on the SKU (see surge.promo; the evidence counts from the promotion's first bucket or the SKU's last episode's end, whichever is later), or a forecast surge.ratio times the seasonal baseline forecaster's. Above zero: the traffic must still favour a surge."},
    {"surge.promo", DC_CONF_BOOL, "true", NOLIM, "Count a promotion flagged in the events (see surge.promo.share) as a cause of a surge; false judges promoted SKUs by their traffic alone."},
    {"surge.promo.share", DC_CONF_DOUBLE, "0.5", 0, 1, "Least share of a SKU's events in a bucket carrying a promotion code for a promotion to count as running on it (orders carry one code for all their lines, so other SKUs of a promoted order show a few)."},
    {"surge.warmup", DC_CONF_INT, "24", 0, 100000, "Buckets a SKU must have been seen before it may raise a surge."},
    {"surge.end.after", DC_CONF_INT, "2", 1, 1000, "Consecutive calm buckets (whose traffic favours normal demand over a surge) that end a surge episode."},

    /* Process. */
    {"log.level", DC_CONF_STR, "info", NOLIM, "Log level: error, warn, info or debug."},
    {"http.port", DC_CONF_INT, "0", 0, 65535, "Port of the /metrics and /health endpoint; 0 disables it."},
    {NULL, 0, NULL, 0, 0, NULL},
};

typedef struct {
    char *text;  /* as given; NULL = unset */
    int64_t i;   /* INT, BOOL, DURATION */
    double d;    /* DOUBLE */
    int user_set;
} conf_val_t;

typedef struct passthrough_s {
    char *name;
    char *value;
    struct passthrough_s *next;
} passthrough_t;

struct dc_conf_s {
    conf_val_t vals[DC_ARRAY_SIZE(props) - 1];
    passthrough_t *pass_head, *pass_tail;
};

const dc_conf_prop_t *dc_conf_props(void) { return props; }

static int prop_index(const char *name)
{
    for (int i = 0; props[i].name; i++)
        if (!strcmp(props[i].name, name))
            return i;
    return -1;
}

static int parse_bool(const char *s, int64_t *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < DC_ARRAY_SIZE(yes); i++) {
        if (!strcasecmp(s, yes[i])) {
            *out = 1;
            return 0;
        }
        if (!strcasecmp(s, no[i])) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* Parses value for property p into v, checking its range. */
static int parse_value(const dc_conf_prop_t *p, const char *value, conf_val_t *v, char *errstr,
                       size_t errstr_size)
{
    char *end;
    int has_range = p->min <= p->max;

    switch (p->type) {
    case DC_CONF_STR:
        break;
    case DC_CONF_BOOL:
        if (parse_bool(value, &v->i))
            return dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                             "%s: expected true or false, got \"%s\"", p->name, value);
        break;
    case DC_CONF_INT:
        errno = 0;
        v->i = strtoll(value, &end, 10);
        if (errno || end == value || *end)
            return dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                             "%s: expected an integer, got \"%s\"", p->name, value);
        if (has_range && (v->i < p->min || v->i > p->max))
            return dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                             "%s: %lld is outside [%.0f, %.0f]", p->name, (long long)v->i,
                             p->min, p->max);
        break;
    case DC_CONF_DOUBLE:
        errno = 0;
        v->d = strtod(value, &end);
        if (errno || end == value || *end || !isfinite(v->d))
            return dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                             "%s: expected a finite number, got \"%s\"", p->name, value);
        if (has_range && (v->d < p->min || v->d > p->max))
            return dc_seterr(errstr, errstr_size, DC_ERR_CONFIG, "%s: %g is outside [%g, %g]",
                             p->name, v->d, p->min, p->max);
        break;
    case DC_CONF_DURATION:
        if (dc_duration_parse(value, &v->i))
            return dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                             "%s: expected a duration like 250ms, 5m, 1h or 7d, got \"%s\"",
                             p->name, value);
        if (has_range && (v->i < p->min || v->i > p->max))
            return dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                             "%s: %s is outside [%.0fms, %.0fms]", p->name, value, p->min,
                             p->max);
        break;
    }
    return DC_OK;
}

static int set_value(dc_conf_t *conf, int idx, const char *value, int user_set, char *errstr,
                     size_t errstr_size)
{
    conf_val_t v = {0};
    int err = parse_value(&props[idx], value, &v, errstr, errstr_size);
    if (err)
        return err;
    v.text = strdup(value);
    if (!v.text)
        return dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
    v.user_set = user_set;
    free(conf->vals[idx].text);
    conf->vals[idx] = v;
    return DC_OK;
}

dc_conf_t *dc_conf_new(void)
{
    dc_conf_t *conf = calloc(1, sizeof(*conf));
    char errstr[256];

    if (!conf)
        return NULL;
    for (int i = 0; props[i].name; i++) {
        /* A default that does not parse is a bug in the table: fail loudly. */
        if (props[i].defval && set_value(conf, i, props[i].defval, 0, errstr, sizeof(errstr))) {
            fprintf(stderr, "demandcast: bad default in property table: %s\n", errstr);
            abort();
        }
    }
    return conf;
}

void dc_conf_destroy(dc_conf_t *conf)
{
    if (!conf)
        return;
    for (size_t i = 0; i < DC_ARRAY_SIZE(conf->vals); i++)
        free(conf->vals[i].text);
    for (passthrough_t *p = conf->pass_head, *next; p; p = next) {
        next = p->next;
        free(p->name);
        free(p->value);
        free(p);
    }
    free(conf);
}

static int set_passthrough(dc_conf_t *conf, const char *name, const char *value, char *errstr,
                           size_t errstr_size)
{
    for (passthrough_t *p = conf->pass_head; p; p = p->next) {
        if (!strcmp(p->name, name)) {
            char *copy = strdup(value);
            if (!copy)
                return dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
            free(p->value);
            p->value = copy;
            return DC_OK;
        }
    }
    passthrough_t *p = calloc(1, sizeof(*p));
    if (!p || !(p->name = strdup(name)) || !(p->value = strdup(value))) {
        if (p)
            free(p->name);
        free(p);
        return dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
    }
    if (conf->pass_tail)
        conf->pass_tail->next = p;
    else
        conf->pass_head = p;
    conf->pass_tail = p;
    return DC_OK;
}

int dc_conf_set(dc_conf_t *conf, const char *name, const char *value, char *errstr,
                size_t errstr_size)
{
    int idx;

    if (!strncmp(name, "kafka.", 6)) {
        if (!name[6])
            return dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                             "\"kafka.\" needs a librdkafka property name after it");
        return set_passthrough(conf, name, value, errstr, errstr_size);
    }
    idx = prop_index(name);
    if (idx < 0)
        return dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                         "unknown configuration property \"%s\" (see `demandcast config --list`)",
                         name);
    return set_value(conf, idx, value, 1, errstr, errstr_size);
}

/* Trims blanks at both ends in place and returns the start. */
static char *trim(char *s)
{
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

int dc_conf_set_kv(dc_conf_t *conf, const char *kv, char *errstr, size_t errstr_size)
{
    char *copy = strdup(kv), *eq;
    int err;

    if (!copy)
        return dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
    eq = strchr(copy, '=');
    if (!eq || eq == copy) {
        free(copy);
        return dc_seterr(errstr, errstr_size, DC_ERR_CONFIG, "expected key=value, got \"%s\"",
                         kv);
    }
    *eq = '\0';
    err = dc_conf_set(conf, trim(copy), trim(eq + 1), errstr, errstr_size);
    free(copy);
    return err;
}

int dc_conf_load(dc_conf_t *conf, const char *path, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "r");
    char *line = NULL, *s, msg[512];
    size_t cap = 0;
    int lineno = 0, err = DC_OK;

    if (!f)
        return dc_seterr(errstr, errstr_size, DC_ERR_CONFIG, "%s: %s", path, strerror(errno));
    while (getline(&line, &cap, f) != -1) {
        lineno++;
        s = trim(line);
        if (!*s || *s == '#' || *s == '!')
            continue;
        err = dc_conf_set_kv(conf, s, msg, sizeof(msg));
        if (err) {
            dc_seterr(errstr, errstr_size, err, "%s:%d: %s", path, lineno, msg);
            break;
        }
    }
    free(line);
    fclose(f);
    return err;
}

static const conf_val_t *get(const dc_conf_t *conf, const char *name, dc_conf_type_t type)
{
    int idx = prop_index(name);
    if (idx < 0 || props[idx].type != type) {
        fprintf(stderr, "demandcast: bug: property \"%s\" read as the wrong type\n", name);
        abort();
    }
    return &conf->vals[idx];
}

const char *dc_conf_str(const dc_conf_t *conf, const char *name)
{
    return get(conf, name, DC_CONF_STR)->text;
}
int64_t dc_conf_int(const dc_conf_t *conf, const char *name)
{
    return get(conf, name, DC_CONF_INT)->i;
}
double dc_conf_double(const dc_conf_t *conf, const char *name)
{
    return get(conf, name, DC_CONF_DOUBLE)->d;
}
int dc_conf_bool(const dc_conf_t *conf, const char *name)
{
    return (int)get(conf, name, DC_CONF_BOOL)->i;
}
int64_t dc_conf_duration_ms(const dc_conf_t *conf, const char *name)
{
    return get(conf, name, DC_CONF_DURATION)->i;
}

int dc_conf_is_set(const dc_conf_t *conf, const char *name)
{
    int idx = prop_index(name);
    if (idx < 0)
        return dc_conf_passthrough(conf, name) != NULL;
    return conf->vals[idx].user_set;
}

int dc_conf_foreach_prefixed(const dc_conf_t *conf, const char *prefix,
                             int (*cb)(const char *name, const char *value, void *opaque),
                             void *opaque)
{
    size_t plen = strlen(prefix);
    for (passthrough_t *p = conf->pass_head; p; p = p->next) {
        if (!strncmp(p->name, prefix, plen)) {
            int r = cb(p->name + plen, p->value, opaque);
            if (r)
                return r;
        }
    }
    return 0;
}

const char *dc_conf_passthrough(const dc_conf_t *conf, const char *name)
{
    for (passthrough_t *p = conf->pass_head; p; p = p->next)
        if (!strcmp(p->name, name))
            return p->value;
    return NULL;
}

static const char *type_name(dc_conf_type_t t)
{
    switch (t) {
    case DC_CONF_STR: return "string";
    case DC_CONF_INT: return "integer";
    case DC_CONF_DOUBLE: return "number";
    case DC_CONF_BOOL: return "boolean";
    case DC_CONF_DURATION: return "duration";
    }
    return "?";
}

void dc_conf_write_markdown(FILE *out)
{
    fprintf(out, "# demandcast configuration properties\n\n"
                 "Generated by `demandcast config --list`; do not edit by hand.\n\n"
                 "Set them in a properties file (`-c FILE`, one `key=value` per line, `#` "
                 "comments) or with `-X key=value`. Unknown keys are errors. Keys starting "
                 "with `kafka.` are passed, without that prefix, to librdkafka (see its "
                 "CONFIGURATION.md), e.g. `kafka.bootstrap.servers`, "
                 "`kafka.security.protocol`, `kafka.sasl.mechanisms`.\n\n"
                 "Durations take a unit: `ms`, `s`, `m`, `h`, `d`, `w`.\n\n"
                 "| property | type | default | range | description |\n"
                 "|---|---|---|---|---|\n");
    for (int i = 0; props[i].name; i++) {
        const dc_conf_prop_t *p = &props[i];
        char range[96] = "";
        if (p->min <= p->max) {
            if (p->type == DC_CONF_DURATION) {
                char a[32], b[32];
                snprintf(range, sizeof(range), "%s .. %s",
                         dc_duration_format((int64_t)p->min, a, sizeof(a)),
                         dc_duration_format((int64_t)p->max, b, sizeof(b)));
            } else {
                snprintf(range, sizeof(range), "%.15g .. %.15g", p->min, p->max);
            }
        }
        fprintf(out, "| `%s` | %s | %s%s%s | %s | %s |\n", p->name, type_name(p->type),
                p->defval ? "`" : "", p->defval ? p->defval : "(unset)", p->defval ? "`" : "",
                range, p->desc);
    }
}
