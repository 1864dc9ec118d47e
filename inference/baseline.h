/*
 * inference/baseline.h - the seasonal quantile baseline: for each SKU,
 * recency-weighted empirical quantiles of its recent buckets, each bucket
 * divided by the shop's seasonal factor for it, multiplied back by the factor
 * of the bucket forecast.
 *
 * Why it exists next to the LSTM: demand here is lumpy (about half of all
 * SKU-days are zero, a few huge orders carry much of the volume) and the
 * point forecast users are scored on is the median. Robust order statistics of
 * the SKU's own recent history are hard to beat for that, and the seasonal
 * factor carries what a median of raw history cannot: that the shop never
 * trades on some days (or hours) and trades more on others. The forecaster
 * blends this baseline with the LSTM's distribution, weighting each by its
 * realised pinball loss (see dc_forecaster in inference.h).
 *
 * The seasonal profile is shared by all SKUs and learned from the shop's total
 * units per bucket: one slot per bucket of the week (7 for daily buckets, 168
 * for hourly ones; a single slot for widths that do not divide a week). A
 * bucket in which the whole shop sold nothing (closed: a Saturday, a bank
 * holiday) is not a demand observation: it is left out of every SKU's history
 * and of the profile's levels, which average trading buckets only. What the
 * profile keeps of closed buckets is how often each slot is open. A slot open
 * in fewer than DC_BASELINE_OPEN_MIN of its buckets, or whose factor is below
 * DC_BASELINE_CLOSED (an hour in which the shop barely trades), is a closed
 * slot: it forecasts zero and its odd sale is not read as demand.
 */
#ifndef DC_INFERENCE_BASELINE_H
#define DC_INFERENCE_BASELINE_H

#include "common/common.h"

#define DC_BASELINE_MAX_SLOTS 168
#define DC_BASELINE_OPEN_MIN 0.5
#define DC_BASELINE_CLOSED 0.05

typedef struct {
    int64_t bucket_width; /* ms */
    int window;           /* buckets of history kept per SKU (baseline.window) */
    double halflife;      /* recency half-life in buckets (baseline.halflife) */
} dc_baseline_params_t;

void dc_baseline_params_from_conf(dc_baseline_params_t *params, const dc_conf_t *conf);

/* The shop-wide seasonal profile. Plain data (checkpointable with memcpy). */
typedef struct {
    int slots;
    double level[DC_BASELINE_MAX_SLOTS]; /* average shop units of a trading bucket */
    uint32_t n[DC_BASELINE_MAX_SLOTS];   /* trading buckets seen */
    double open[DC_BASELINE_MAX_SLOTS];  /* share of buckets in which the shop traded */
    uint32_t seen[DC_BASELINE_MAX_SLOTS]; /* buckets seen, trading or closed */
} dc_baseline_season_t;

void dc_baseline_season_init(dc_baseline_season_t *season, const dc_baseline_params_t *params);
/* Learns from one closed bucket's total units over all SKUs; call once per
 * bucket close, before the SKUs of that bucket are pushed. A total of 0 (the
 * shop was closed) counts toward the slot's open share only. */
void dc_baseline_season_observe(dc_baseline_season_t *season, const dc_baseline_params_t *params,
                                int64_t bucket_start, double total_units);
/* Seasonal factor of the bucket starting at t (1 = an average trading
 * bucket; 0 in a closed slot). */
double dc_baseline_season_factor(const dc_baseline_season_t *season,
                                 const dc_baseline_params_t *params, int64_t bucket_start);

/* Per-SKU history: a ring of the last `window` buckets' units (NaN for a
 * bucket in which the shop was closed). The caller allocates
 * dc_baseline_sku_size() bytes per SKU, aligned for int64. */
typedef struct {
    int64_t last_bucket; /* start of the newest bucket held; INT64_MIN if none */
    uint16_t len;        /* buckets held, 0..window */
    uint16_t head;       /* ring index of the newest */
    uint32_t reserved;
    float units[];
} dc_baseline_sku_t;

size_t dc_baseline_sku_size(const dc_baseline_params_t *params);
/* An empty history; every slot of the ring zeroed, so that a saved state
 * holds no bytes that were never written. */
void dc_baseline_sku_init(const dc_baseline_params_t *params, dc_baseline_sku_t *sku);
/* Appends a closed bucket. shop_closed says the whole shop sold nothing in
 * it. Buckets must come in order; a gap (buckets the SKU missed) is filled
 * with zeros; a bucket at or before last_bucket is ignored. */
void dc_baseline_sku_push(const dc_baseline_params_t *params, dc_baseline_sku_t *sku,
                          int64_t bucket_start, double units, int shop_closed);

typedef struct {
    double mean, p10, p50, p90;
} dc_baseline_fc_t;

/* Forecast of the bucket starting at target_start from the SKU's history.
 * Quantiles are interpolated from the recency-weighted empirical
 * distribution of the deseasonalised history, so they never cross; all
 * values are finite and >= 0. An empty history forecasts zeros. */
void dc_baseline_forecast(const dc_baseline_params_t *params, const dc_baseline_season_t *season,
                          const dc_baseline_sku_t *sku, int64_t target_start, dc_baseline_fc_t *out);
/* The forecasts of n_targets consecutive buckets, the first starting at
 * first_target, into out[0 .. n_targets-1]: the same values as that many
 * dc_baseline_forecast() calls, for the cost of one (the SKU's sorted
 * history is shared by every horizon). */
void dc_baseline_forecast_horizons(const dc_baseline_params_t *params,
                                   const dc_baseline_season_t *season,
                                   const dc_baseline_sku_t *sku, int64_t first_target, int n_targets,
                                   dc_baseline_fc_t *out);

#endif /* DC_INFERENCE_BASELINE_H */
