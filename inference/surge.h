/*
 * inference/surge.h - surge detection (DESIGN.md section 5): START / UPDATE /
 * END episodes per SKU, decided at each bucket close from what the bucket
 * showed (units, views, carts) and what the model expects next, against a
 * seasonal baseline.
 *
 * The baseline of a SKU is its own slow level (an EWMA of deseasonalised
 * demand, frozen while a surge runs so a promotion does not teach the baseline
 * that the promotion is normal) times a seasonal factor shared by all SKUs
 * (hour of day x day of week, learned from total traffic). Sharing the
 * seasonal shape lets a SKU with a few events a day still tell an evening
 * peak from a surge, and costs each SKU only a few bytes of state.
 *
 * Everything here is event time: a replay of the same buckets raises the
 * same alerts at the same detected_at.
 */
#ifndef DC_INFERENCE_SURGE_H
#define DC_INFERENCE_SURGE_H

#include "common/common.h"
#include "schemas/schemas.h"

typedef struct {
    int64_t bucket_width; /* ms, from bucket.width */
    double ratio;         /* surge.ratio: observed or expected over baseline to start */
    double min_volume;    /* surge.min.volume: least units (or views) per bucket */
    double min_z;         /* surge.z: least Poisson z-score of the jump */
    int warmup;           /* surge.warmup: buckets a SKU must be seen before it may alert */
    int end_after;        /* surge.end.after: consecutive calm buckets that end an episode */
} dc_surge_params_t;

/* Fills params from conf (bucket.width and the surge.* properties). */
void dc_surge_params_from_conf(dc_surge_params_t *params, const dc_conf_t *conf);

/* The seasonal profile shared by all SKUs. Plain data, no pointers: it can be
 * checkpointed with memcpy. Zero-initialise, or dc_surge_season_init(). */
typedef struct {
    double hod_level[24]; /* per hour of day: EWMA of total views per bucket */
    double dow_level[7];  /* per day of week (0 = Monday) */
    uint32_t hod_n[24], dow_n[7];
} dc_surge_season_t;

void dc_surge_season_init(dc_surge_season_t *season);
/* Learns from one closed bucket's totals over all SKUs. Call once per bucket
 * close, after every SKU of that bucket went through dc_surge_observe(), so a
 * bucket is judged against the profile that preceded it. */
void dc_surge_season_observe(dc_surge_season_t *season, const dc_surge_params_t *params,
                             int64_t bucket_start, double total_views);
/* The seasonal factor (1 = an average bucket) of the bucket starting at t. */
double dc_surge_season_factor(const dc_surge_season_t *season, const dc_surge_params_t *params,
                              int64_t bucket_start);

/* Per-SKU detector state, 20 bytes, owned by the caller with the SKU's other
 * state. Zero-initialised means "never seen". */
typedef struct {
    float level_units;    /* deseasonalised slow level of units per bucket */
    float level_views;    /* the same for views */
    float level_carts;    /* the same for add-to-carts */
    float last_expected;  /* expected of the last START/UPDATE sent */
    uint16_t seen;        /* buckets observed, saturating */
    uint8_t active;       /* 1 while an episode runs */
    uint8_t calm;         /* consecutive calm buckets within an episode */
} dc_surge_sku_t;

/* What one SKU showed in the bucket that just closed. forecast_next is the
 * model's expected units for the next bucket (NAN when there is none). */
typedef struct {
    int64_t bucket_start;
    double units, views, carts;
    double forecast_next;
} dc_surge_obs_t;

/* Advances a SKU's detector by one closed bucket. Returns 1 and fills *alert
 * (sku, state, detected_at = the bucket's end, expected, baseline, ratio and
 * the signals that decided it) when an alert is due, 0 otherwise. */
int dc_surge_observe(const dc_surge_params_t *params, const dc_surge_season_t *season,
                     dc_surge_sku_t *state, const char *sku, const dc_surge_obs_t *obs,
                     dc_surge_t *alert);

#endif /* DC_INFERENCE_SURGE_H */
