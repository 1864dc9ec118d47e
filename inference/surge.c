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
    params->evidence = dc_conf_double(conf, "surge.evidence");
    params->cause_evidence = dc_conf_double(conf, "surge.cause.evidence");
    params->promo = dc_conf_bool(conf, "surge.promo");
    params->promo_share = dc_conf_double(conf, "surge.promo.share");
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

/* The signals of an alert, in the order they are published after the
 * reason. */
enum {
    SIG_EVIDENCE,
    SIG_PROMO_EVIDENCE,
    SIG_FORECAST_RATIO,
    SIG_VIEWS_RATIO,
    SIG_CARTS_RATIO,
    SIG_CART_RATE_RATIO,
    SIG_UNITS_RATIO,
    SIG_PROMO_SHARE,
    SIG__COUNT
};

static const char *const signal_names[SIG__COUNT] = {
    "evidence",    "promo_evidence", "forecast_ratio", "views_ratio",
    "carts_ratio", "cart_rate_ratio", "units_ratio",   "promo_share",
};

/* Fills the signals, the one at index `first` (the reason of a START, or
 * -1) leading and the rest in their fixed order. */
static void fill_signals(dc_surge_t *alert, const double values[SIG__COUNT], int first)
{
    alert->n_signals = 0;
    for (int k = -1; k < SIG__COUNT && alert->n_signals < DC_SIGNALS_MAX; k++) {
        int i = k < 0 ? first : k;
        if (i < 0 || (k >= 0 && k == first))
            continue;
        dc_signal_t *s = &alert->signals[alert->n_signals++];
        snprintf(s->name, sizeof(s->name), "%s", signal_names[i]);
        s->value = isfinite(values[i]) ? values[i] : 0;
    }
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
    /* The model's forecast is measured against the baseline forecaster's
     * expectation for the same bucket: both follow the SKU's own week,
     * where the detector's level follows the shop's. */
    double base_next = fmax(isfinite(obs->normal_next) ? obs->normal_next
                                                        : state->level_units * f_next,
                            BASELINE_FLOOR);
    /* The SKU's usual share of views that are carted; 0 before it has one. */
    double cart_rate = state->level_views > 0 ? state->level_carts / state->level_views : 0;
    double forecast = isfinite(obs->forecast_next) ? obs->forecast_next : 0;
    double values[SIG__COUNT];
    int warm = state->seen >= params->warmup, reason = -1;
    /* Orders carry one code for all their lines: a SKU bought along with a
     * promoted one shows a few coded events without a promotion of its own. */
    int promo = params->promo && obs->promo_share > 0 && obs->promo_share >= params->promo_share;

    /* The bucket's log-likelihood ratio of a surge by `ratio` over normal
     * demand: views Poisson around base_views against a times that, carts
     * given the views Poisson around cart_rate of them against a times that,
     * with a = sqrt(ratio). */
    double a = sqrt(params->ratio), log_a = log(a);
    double llr = (obs->views + obs->carts) * log_a - (a - 1) * (base_views + cart_rate * obs->views);

    values[SIG_VIEWS_RATIO] = obs->views / base_views;
    values[SIG_CARTS_RATIO] = obs->carts / base_carts;
    values[SIG_CART_RATE_RATIO] =
        obs->views > 0 && cart_rate > 0 ? obs->carts / obs->views / cart_rate : 0;
    values[SIG_UNITS_RATIO] = obs->units / base_units;
    values[SIG_FORECAST_RATIO] = forecast / base_next;
    values[SIG_PROMO_SHARE] = obs->promo_share;

    /* Evidence gathers only once the baseline it is measured against has
     * been learned; the promotion's from the promotion's first bucket. */
    state->evidence = warm ? (float)fmax(0, state->evidence + llr) : 0;
    state->promo_evidence = warm && promo ? (float)(state->promo_evidence + llr) : 0;
    values[SIG_EVIDENCE] = state->evidence;
    values[SIG_PROMO_EVIDENCE] = state->promo_evidence;

    memset(alert, 0, sizeof(*alert));
    if (!state->active) {
        if (warm && obs->views >= params->min_volume) {
            if (state->evidence >= params->evidence)
                reason = SIG_EVIDENCE;
            else if (promo && state->promo_evidence >= params->cause_evidence)
                reason = SIG_PROMO_EVIDENCE;
            else if (values[SIG_FORECAST_RATIO] >= params->ratio && forecast >= params->min_volume &&
                     state->evidence >= params->cause_evidence)
                reason = SIG_FORECAST_RATIO;
        }
        if (reason >= 0) {
            state->active = 1;
            state->calm = 0;
            alert->state = DC_SURGE_START;
        }
    } else if (llr < 0) {
        if (++state->calm >= params->end_after) {
            state->active = 0;
            state->calm = 0;
            alert->state = DC_SURGE_END;
        }
    } else {
        state->calm = 0;
    }

    /* Units follow carts: the surge's units are the baseline's scaled by
     * the carts' lift, or the forecast when that is higher. */
    double expected = fmax(forecast, base_next * values[SIG_CARTS_RATIO]);
    int emit = reason >= 0 || alert->state == DC_SURGE_END;
    /* An UPDATE only when the expectation moved by the surge ratio or more
     * (carts per bucket are lumpy): a running promotion yields a few alerts,
     * not one per bucket. */
    if (state->active && reason < 0 &&
        (expected >= params->ratio * state->last_expected ||
         expected * params->ratio <= state->last_expected)) {
        alert->state = DC_SURGE_UPDATE;
        emit = 1;
    }

    /* The levels learn only from normal buckets. An episode's end starts
     * the evidence afresh: what built up during it is no news after it. */
    if (!state->active) {
        double n = state->seen + 1.0;
        double alpha = n < LEVEL_SPAN ? 1.0 / n : 1.0 / LEVEL_SPAN;
        state->level_units += (float)(alpha * (obs->units / f_now - state->level_units));
        state->level_views += (float)(alpha * (obs->views / f_now - state->level_views));
        state->level_carts += (float)(alpha * (obs->carts / f_now - state->level_carts));
    }
    if (alert->state == DC_SURGE_END)
        state->evidence = state->promo_evidence = 0;
    if (state->seen < UINT16_MAX)
        state->seen++;
    if (!emit)
        return 0;

    snprintf(alert->sku, sizeof(alert->sku), "%s", sku);
    alert->detected_at = obs->bucket_start + params->bucket_width;
    alert->expected = expected;
    alert->baseline = base_next;
    alert->ratio = expected / base_next;
    fill_signals(alert, values, reason);
    if (alert->state != DC_SURGE_END)
        state->last_expected = (float)expected;
    return 1;
}
