/* inference/surge.c - seasonal-baseline surge episodes (see surge.h). */
#include "inference/surge.h"

#include <math.h>
#include <string.h>

#define DAY_MS 86400000LL
/* Slow level: about a week of hourly buckets. A promotion of a few hours
 * barely moves it even before the freeze kicks in. */
#define LEVEL_SPAN 168.0
/* Seasonal slots are revisited once a day (hours) or week (days): they may
 * adapt quickly. */
#define SEASON_ALPHA 0.2
/* Below this many views per bucket a SKU's baseline is too thin to scale a
 * ratio by; the floor keeps ratios of near-silent SKUs finite and modest. */
#define BASELINE_FLOOR 0.5

void dc_surge_params_from_conf(dc_surge_params_t *params, const dc_conf_t *conf)
{
    params->bucket_width = dc_conf_duration_ms(conf, "bucket.width");
    params->ratio = dc_conf_double(conf, "surge.ratio");
    params->min_volume = dc_conf_double(conf, "surge.min.volume");
    params->min_z = dc_conf_double(conf, "surge.z");
    params->warmup = (int)dc_conf_int(conf, "surge.warmup");
    params->end_after = (int)dc_conf_int(conf, "surge.end.after");
}

void dc_surge_season_init(dc_surge_season_t *season) { memset(season, 0, sizeof(*season)); }

/* Hour of day and day of week (0 = Monday; 1970-01-01 was a Thursday). */
static void calendar(int64_t t, int *hod, int *dow)
{
    int64_t day = dc_time_floor(t, DAY_MS) / DAY_MS;
    *hod = (int)((t - day * DAY_MS) / 3600000);
    *dow = (int)(((day + 3) % 7 + 7) % 7);
}

/* A running mean for the first `warm` visits, then an EWMA of rate alpha. */
static void slot_learn(double *level, uint32_t *n, double value, uint32_t warm, double alpha)
{
    double a = *n < warm ? 1.0 / (*n + 1) : alpha;
    *level += a * (value - *level);
    if (*n < UINT32_MAX)
        (*n)++;
}

/* level[slot] over the mean of the visited slots; 1 when unknown. */
static double slot_factor(const double *level, const uint32_t *n, int slots, int slot)
{
    double sum = 0;
    int visited = 0;
    for (int i = 0; i < slots; i++) {
        if (n[i]) {
            sum += level[i];
            visited++;
        }
    }
    if (!n[slot] || visited < 2 || sum <= 0)
        return 1.0;
    double f = level[slot] / (sum / visited);
    /* A slot with no traffic at all (a closed day) must not turn every
     * ratio into a division by zero; it still reads as very quiet. */
    return f < 0.05 ? 0.05 : f;
}

void dc_surge_season_observe(dc_surge_season_t *season, const dc_surge_params_t *params,
                             int64_t bucket_start, double total_views)
{
    int hod, dow;
    calendar(bucket_start, &hod, &dow);
    if (params->bucket_width >= DAY_MS) {
        slot_learn(&season->dow_level[dow], &season->dow_n[dow], total_views, 5, SEASON_ALPHA);
        return;
    }
    /* Each profile learns from traffic with the other's effect divided out,
     * so a quiet Sunday does not read as quiet late hours (and the reverse).
     * A day slot is visited every bucket of its day: it learns at the same
     * speed per day as an hour slot does. */
    double buckets_per_day = (double)DAY_MS / (double)params->bucket_width;
    double f_hod = slot_factor(season->hod_level, season->hod_n, 24, hod);
    double f_dow = slot_factor(season->dow_level, season->dow_n, 7, dow);
    slot_learn(&season->hod_level[hod], &season->hod_n[hod], total_views / f_dow, 5,
               SEASON_ALPHA);
    slot_learn(&season->dow_level[dow], &season->dow_n[dow], total_views / f_hod,
               (uint32_t)(5 * buckets_per_day), SEASON_ALPHA / buckets_per_day);
}

double dc_surge_season_factor(const dc_surge_season_t *season, const dc_surge_params_t *params,
                              int64_t bucket_start)
{
    int hod, dow;
    double f;
    calendar(bucket_start, &hod, &dow);
    f = slot_factor(season->dow_level, season->dow_n, 7, dow);
    if (params->bucket_width < DAY_MS)
        f *= slot_factor(season->hod_level, season->hod_n, 24, hod);
    return f;
}

/* Poisson z-score of an observation against its expected count. */
static double poisson_z(double observed, double expected)
{
    return (observed - expected) / sqrt(expected + 1.0);
}

static void add_signal(dc_surge_t *alert, const char *name, double value)
{
    if (alert->n_signals >= DC_SIGNALS_MAX)
        return;
    dc_signal_t *s = &alert->signals[alert->n_signals++];
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->value = isfinite(value) ? value : 0;
}

int dc_surge_observe(const dc_surge_params_t *params, const dc_surge_season_t *season,
                     dc_surge_sku_t *state, const char *sku, const dc_surge_obs_t *obs,
                     dc_surge_t *alert)
{
    double f_now = dc_surge_season_factor(season, params, obs->bucket_start);
    double f_next = dc_surge_season_factor(season, params, obs->bucket_start + params->bucket_width);
    double base_units = fmax(state->level_units * f_now, BASELINE_FLOOR);
    double base_views = fmax(state->level_views * f_now, BASELINE_FLOOR);
    double base_carts = fmax(state->level_carts * f_now, BASELINE_FLOOR);
    double base_next = fmax(state->level_units * f_next, BASELINE_FLOOR);
    double forecast = isfinite(obs->forecast_next) ? obs->forecast_next : 0;
    double units_ratio = obs->units / base_units, views_ratio = obs->views / base_views;
    double carts_ratio = obs->carts / base_carts, forecast_ratio = forecast / base_next;
    double views_z = poisson_z(obs->views, base_views), carts_z = poisson_z(obs->carts, base_carts);
    double expected = fmax(forecast, obs->units);
    int warm = state->seen >= params->warmup, emit = 0;

    /* The starts of DESIGN.md section 5. Traffic leads orders: views far
     * above normal, or add-to-carts far above normal (a promotion raises
     * carts by its whole lift, views only by part of it; carts count only
     * with views clearly up too, as a burst of carts alone is mostly noise),
     * are the early signal; a forecast far above the baseline is the model's,
     * and counts when traffic is clearly up as well (a forecast alone carries
     * the model's bias at quiet hours). One bucket of high units alone starts
     * nothing: orders are lumpy, and a single large order is not a surge.
     * Each needs the minimum volume. */
    int views_jump = views_ratio >= params->ratio && views_z >= params->min_z &&
                     obs->views >= params->min_volume;
    int carts_jump = carts_ratio >= params->ratio && carts_z >= params->min_z &&
                     obs->carts >= params->min_volume && views_ratio >= sqrt(params->ratio);
    int forecast_jump = forecast_ratio >= params->ratio && forecast >= params->min_volume &&
                        views_ratio >= sqrt(params->ratio);
    /* An episode holds while the traffic stays clearly above normal: half way
     * (on a log scale) to the start ratio with half the start z-score. The
     * forecast does not hold it: it lags the end of a promotion by design. */
    double hold = sqrt(params->ratio), hold_z = params->min_z / 2;
    int hot = views_ratio >= hold &&
              (views_z >= hold_z || (carts_ratio >= hold && carts_z >= hold_z));

    memset(alert, 0, sizeof(*alert));
    if (!state->active) {
        if (warm && (views_jump || carts_jump || forecast_jump)) {
            state->active = 1;
            state->calm = 0;
            alert->state = DC_SURGE_START;
            emit = 1;
        }
    } else if (!hot) {
        if (++state->calm >= params->end_after) {
            state->active = 0;
            state->calm = 0;
            alert->state = DC_SURGE_END;
            emit = 1;
        }
    } else {
        state->calm = 0;
        /* An UPDATE only when the expectation moved by half or more: a
         * running promotion yields a few alerts, not one per bucket. */
        if (expected >= 1.5 * state->last_expected || expected <= state->last_expected / 1.5) {
            alert->state = DC_SURGE_UPDATE;
            emit = 1;
        }
    }

    /* The levels learn only from normal buckets. */
    if (!state->active) {
        double n = state->seen + 1.0;
        double alpha = n < LEVEL_SPAN ? 1.0 / n : 1.0 / LEVEL_SPAN;
        state->level_units += (float)(alpha * (obs->units / f_now - state->level_units));
        state->level_views += (float)(alpha * (obs->views / f_now - state->level_views));
        state->level_carts += (float)(alpha * (obs->carts / f_now - state->level_carts));
    }
    if (state->seen < UINT16_MAX)
        state->seen++;
    if (!emit)
        return 0;

    snprintf(alert->sku, sizeof(alert->sku), "%s", sku);
    alert->detected_at = obs->bucket_start + params->bucket_width;
    alert->expected = expected;
    alert->baseline = base_next;
    alert->ratio = expected / base_next;
    add_signal(alert, "views_ratio", views_ratio);
    add_signal(alert, "views_z", views_z);
    add_signal(alert, "carts_ratio", carts_ratio);
    add_signal(alert, "carts_z", carts_z);
    add_signal(alert, "units_ratio", units_ratio);
    add_signal(alert, "forecast_ratio", forecast_ratio);
    add_signal(alert, "cart_rate", obs->views > 0 ? obs->carts / obs->views : 0);
    if (alert->state != DC_SURGE_END)
        state->last_expected = (float)expected;
    return 1;
}
