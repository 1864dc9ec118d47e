/* inference/baseline.c - the seasonal quantile baseline (see baseline.h). */
#include "inference/baseline.h"
#include "inference/inference_int.h"

#include <math.h>
#include <string.h>

#define WEEK_MS 604800000LL
/* 1970-01-05, the first Monday of the epoch: slot 0 is Monday's first bucket. */
#define FIRST_MONDAY_MS 345600000LL
/* A slot is revisited once a week, and a single wholesale order can double a
 * day's shop total: the shape of the week is a slow property of the shop,
 * best averaged over about half a year of visits (26), which still follows a
 * new trading pattern within months. Closed buckets do not enter the levels,
 * so a holiday does not drag its weekday down. */
#define SEASON_ALPHA (1.0 / 26)
#define SEASON_WARM 5
#define MAX_WINDOW 4096

void dc_baseline_params_from_conf(dc_baseline_params_t *params, const dc_conf_t *conf)
{
    params->bucket_width = dc_conf_duration_ms(conf, "bucket.width");
    params->window = (int)dc_conf_int(conf, "baseline.window");
    params->halflife = dc_conf_double(conf, "baseline.halflife");
}

static int slot_of(const dc_baseline_season_t *season, const dc_baseline_params_t *params,
                   int64_t t)
{
    if (season->slots <= 1)
        return 0;
    int64_t k = dc_time_floor(t - FIRST_MONDAY_MS, params->bucket_width) / params->bucket_width;
    return (int)(((k % season->slots) + season->slots) % season->slots);
}

void dc_baseline_season_init(dc_baseline_season_t *season, const dc_baseline_params_t *params)
{
    memset(season, 0, sizeof(*season));
    season->slots = 1;
    if (params->bucket_width > 0 && WEEK_MS % params->bucket_width == 0 &&
        WEEK_MS / params->bucket_width <= DC_BASELINE_MAX_SLOTS)
        season->slots = (int)(WEEK_MS / params->bucket_width);
}

/* Moves an average toward x by the weight of the n-th observation: a plain
 * mean for the first SEASON_WARM, an exponential one after. */
static void season_update(double *avg, uint32_t *n, double x)
{
    double a = *n < SEASON_WARM ? 1.0 / (*n + 1) : SEASON_ALPHA;
    *avg += a * (x - *avg);
    if (*n < UINT32_MAX)
        (*n)++;
}

void dc_baseline_season_observe(dc_baseline_season_t *season, const dc_baseline_params_t *params,
                                int64_t bucket_start, double total_units)
{
    int s = slot_of(season, params, bucket_start);
    if (!isfinite(total_units) || total_units < 0)
        return;
    season_update(&season->open[s], &season->seen[s], total_units > 0);
    if (total_units > 0)
        season_update(&season->level[s], &season->n[s], total_units);
}

/* Whether the shop usually does not trade in slot s (a slot not seen yet is
 * taken as open). */
static int slot_closed(const dc_baseline_season_t *season, int s)
{
    return season->seen[s] && season->open[s] < DC_BASELINE_OPEN_MIN;
}

size_t dc_baseline_sku_size(const dc_baseline_params_t *params)
{
    int window = params->window < 1 ? 1 : params->window > MAX_WINDOW ? MAX_WINDOW : params->window;
    return sizeof(dc_baseline_sku_t) + (size_t)window * sizeof(float);
}

void dc_baseline_sku_init(const dc_baseline_params_t *params, dc_baseline_sku_t *sku)
{
    memset(sku->units, 0, dc_baseline_sku_size(params) - sizeof(*sku));
    sku->last_bucket = INT64_MIN;
    sku->len = sku->head = 0;
    sku->reserved = 0;
}

static void ring_put(const dc_baseline_params_t *params, dc_baseline_sku_t *sku, float v)
{
    int window = (int)((dc_baseline_sku_size(params) - sizeof(*sku)) / sizeof(float));
    sku->head = (uint16_t)(sku->len ? (sku->head + 1) % window : 0);
    sku->units[sku->head] = v;
    if (sku->len < window)
        sku->len++;
}

void dc_baseline_sku_push(const dc_baseline_params_t *params, dc_baseline_sku_t *sku,
                          int64_t bucket_start, double units, int shop_closed)
{
    if (sku->last_bucket != INT64_MIN) {
        if (bucket_start <= sku->last_bucket)
            return;
        /* Buckets the SKU was not stepped in had no demand for it. A
         * last bucket from a loaded state can be any number: a span past
         * INT64_MAX is a whole window of them. */
        int64_t span;
        if (__builtin_sub_overflow(bucket_start, sku->last_bucket, &span))
            span = INT64_MAX;
        int64_t gap = span / params->bucket_width - 1;
        for (int64_t i = 0; i < gap && i < params->window; i++)
            ring_put(params, sku, 0.0f);
    }
    /* Capped as the model caps the counts it is shown (DC__COUNT_MAX). */
    ring_put(params, sku, shop_closed ? NAN : (float)dc__clean_count(units));
    sku->last_bucket = bucket_start;
}

typedef struct {
    float value;
    float weight;
} sample_t;

/* Linear interpolation of q over the weighted sample sorted by value, each
 * sample placed at the middle of its weight (numpy.interp on the cumulative
 * midpoints): a weighted form of the usual empirical quantile. */
static double weighted_quantile(const sample_t *s, int n, double total, double q)
{
    double cum = 0, prev_x = 0, prev_v = 0;
    for (int i = 0; i < n; i++) {
        double x = (cum + 0.5 * s[i].weight) / total;
        if (q <= x) {
            if (i == 0)
                return s[0].value;
            return prev_v + (s[i].value - prev_v) * (q - prev_x) / (x - prev_x);
        }
        cum += s[i].weight;
        prev_x = x;
        prev_v = s[i].value;
    }
    return s[n - 1].value;
}

/* The factor of each slot for one season state, with the mean level of the
 * open slots computed once instead of per slot. */
typedef struct {
    const dc_baseline_season_t *season;
    double mean; /* mean level of the open slots that traded; 0 if none */
} factors_t;

static void factors_init(factors_t *fs, const dc_baseline_season_t *season)
{
    double sum = 0;
    int open = 0;
    fs->season = season;
    for (int i = 0; i < season->slots; i++) {
        if (season->n[i] && !slot_closed(season, i)) {
            sum += season->level[i];
            open++;
        }
    }
    fs->mean = open ? sum / open : 0;
}

/* 0 for a closed slot (see baseline.h), else the slot's level over the mean. */
static double factor_of_slot(const factors_t *fs, int s)
{
    if (slot_closed(fs->season, s))
        return 0.0;
    if (!fs->season->n[s] || fs->mean <= 0)
        return 1.0;
    double f = fs->season->level[s] / fs->mean;
    return f < DC_BASELINE_CLOSED ? 0.0 : f;
}

double dc_baseline_season_factor(const dc_baseline_season_t *season,
                                 const dc_baseline_params_t *params, int64_t bucket_start)
{
    factors_t fs;
    factors_init(&fs, season);
    return factor_of_slot(&fs, slot_of(season, params, bucket_start));
}

void dc_baseline_forecast(const dc_baseline_params_t *params, const dc_baseline_season_t *season,
                          const dc_baseline_sku_t *sku, int64_t target_start, dc_baseline_fc_t *out)
{
    dc_baseline_forecast_horizons(params, season, sku, target_start, 1, out);
}

void dc_baseline_forecast_horizons(const dc_baseline_params_t *params,
                                   const dc_baseline_season_t *season,
                                   const dc_baseline_sku_t *sku, int64_t first_target, int n_targets,
                                   dc_baseline_fc_t *out)
{
    sample_t s[MAX_WINDOW], aged[MAX_WINDOW];
    int n = 0, zeros = 0, window = (int)((dc_baseline_sku_size(params) - sizeof(*sku)) / sizeof(float));
    double total = 0, wsum = 0, decay = params->halflife > 0 ? exp2(-1.0 / params->halflife) : 1;
    double w = 1, q10 = 0, q50 = 0, q90 = 0, mean = 0;
    factors_t fs;

    factors_init(&fs, season);
    /* Newest first; age 0 is the bucket just closed. Each age is one bucket
     * further back: one ring slot and one season slot down. */
    int slot = sku->len ? slot_of(season, params, sku->last_bucket) : 0;
    for (int age = 0, at = sku->head; age < sku->len; age++, w *= decay) {
        float v = sku->units[at];
        double f = factor_of_slot(&fs, slot);
        at = at ? at - 1 : window - 1;
        slot = slot ? slot - 1 : season->slots - 1;
        if (isnan(v) || f <= 0)
            continue;
        /* A bucket over its slot's share of the week. Pushes keep buckets
         * within DC__COUNT_MAX, but a loaded ring may hold any finite
         * float, and over a share below 1 the largest pass what a float
         * holds: the mean and the p90 would be infinite. */
        double deseasoned = v / f;
        sample_t x = {(float)(deseasoned < DC__COUNT_MAX ? deseasoned : DC__COUNT_MAX), (float)w};
        aged[n++] = x;
        zeros += x.value == 0.0f;
        total += w;
        wsum += w * x.value;
    }
    /* Sorted by value, ties in age order (a stable sort). Most buckets of a
     * lumpy SKU sold nothing: the zeros lead in age order as they are, and
     * only the rest go through the insertion sort. */
    for (int a = 0, z = 0, p = zeros; a < n; a++) {
        if (aged[a].value == 0.0f) {
            s[z++] = aged[a];
            continue;
        }
        int i = p++;
        while (i > zeros && s[i - 1].value > aged[a].value) {
            s[i] = s[i - 1];
            i--;
        }
        s[i] = aged[a];
    }
    if (n) {
        q10 = weighted_quantile(s, n, total, 0.1);
        q50 = weighted_quantile(s, n, total, 0.5);
        q90 = weighted_quantile(s, n, total, 0.9);
        mean = wsum / total;
    }
    for (int k = 0, ts = slot_of(season, params, first_target); k < n_targets; k++) {
        double target_factor = factor_of_slot(&fs, ts);
        ts = ts + 1 < season->slots ? ts + 1 : 0;
        memset(&out[k], 0, sizeof(out[k]));
        if (target_factor <= 0 || !n)
            continue;
        out[k].p10 = q10 * target_factor;
        out[k].p50 = q50 * target_factor;
        out[k].p90 = q90 * target_factor;
        out[k].mean = mean * target_factor;
    }
}
