/*
 * inference/surge.h - surge detection (DESIGN.md section 5): START / UPDATE /
 * END episodes per SKU, decided at each bucket close from what the bucket
 * showed (views, carts, units, the share of events under a promotion) and
 * what the model expects next, against a seasonal baseline.
 *
 * The baseline of a SKU is its own slow level (an EWMA of deseasonalised
 * views, carts and units, frozen while a surge runs so a promotion does not
 * teach the baseline that the promotion is normal) times a seasonal factor
 * shared by all SKUs (hour of day x day of week, learned from total traffic).
 * Sharing the seasonal shape lets a SKU with a few events a day still tell an
 * evening peak from a surge, and costs each SKU only a few bytes of state.
 *
 * Whether demand surges is a test between two hypotheses about the bucket's
 * traffic: normal (views Poisson around the baseline, carts the SKU's usual
 * share of those views) or surging by surge.ratio (views and the share that
 * is carted each up by its square root, so carts up by the whole ratio: the
 * two ways a campaign lifts demand, more visitors and more of them buying).
 * Each bucket adds its log-likelihood ratio, in nats, to the SKU's evidence
 * (a one-sided CUSUM: evidence never goes below zero, so a long calm past
 * does not mask a surge). An episode STARTs for one of three reasons:
 *   - traffic: the evidence reaches surge.evidence;
 *   - promotion (unless surge.promo is false): the shop flags a promotion
 *     on the SKU (surge.promo.share of its events in the bucket carry a
 *     promotion code), and the evidence gathered since the promotion began
 *     (or since the SKU's last episode ended) reaches surge.cause.evidence.
 *     A promotion makes a surge likely, so less evidence suffices; but the
 *     traffic must still favour a surge: a promotion that does not move
 *     demand is no surge;
 *   - forecast: the model expects surge.ratio times what the seasonal
 *     baseline forecaster expects of the next bucket, and the evidence
 *     reaches surge.cause.evidence.
 * Each start also needs surge.min.volume views in the bucket. An episode
 * ENDs after surge.end.after consecutive calm buckets, those whose traffic
 * favours normal demand over the surge.
 *
 * Everything here is event time: a replay of the same buckets raises the
 * same alerts at the same detected_at.
 */
#ifndef DC_INFERENCE_SURGE_H
#define DC_INFERENCE_SURGE_H

#include "common/common.h"
#include "schemas/schemas.h"

typedef struct {
    int64_t bucket_width;   /* ms, from bucket.width */
    double ratio;           /* surge.ratio: the lift tested for; the forecast's start ratio */
    double min_volume;      /* surge.min.volume: least views in the bucket (units forecast) */
    double evidence;        /* surge.evidence: nats that start a surge on traffic alone */
    double cause_evidence;  /* surge.cause.evidence: nats that start one with a cause */
    int promo;              /* surge.promo: a flagged promotion is a cause */
    double promo_share;     /* surge.promo.share: share of events with a code: a promotion */
    int warmup;             /* surge.warmup: buckets a SKU must be seen before it may alert */
    int end_after;          /* surge.end.after: consecutive calm buckets that end an episode */
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

/* Per-SKU detector state, 28 bytes, owned by the caller with the SKU's other
 * state. Zero-initialised means "never seen". */
typedef struct {
    float level_units;    /* deseasonalised slow level of units per bucket */
    float level_views;    /* the same for views */
    float level_carts;    /* the same for add-to-carts */
    float last_expected;  /* expected of the last START/UPDATE sent */
    float evidence;       /* nats for a surge over normal demand, CUSUM; 0 in an episode */
    float promo_evidence; /* nats since the running promotion began or the last END; 0 if none */
    uint16_t seen;        /* buckets observed, saturating */
    uint8_t active;       /* 1 while an episode runs */
    uint8_t calm;         /* consecutive calm buckets within an episode */
} dc_surge_sku_t;

/* What one SKU showed in the bucket that just closed, and what comes next.
 * promo_share is the share of the SKU's events in the bucket that carried a
 * promotion code (0 when none did); forecast_next the published forecast of
 * the next bucket's units and normal_next the seasonal baseline
 * forecaster's (each NAN when there is none). */
typedef struct {
    int64_t bucket_start;
    double units, views, carts;
    double promo_share;
    double forecast_next, normal_next;
} dc_surge_obs_t;

/* Advances a SKU's detector by one closed bucket. Returns 1 and fills *alert
 * when an alert is due, 0 otherwise. The alert holds the sku, the state,
 * detected_at = the bucket's end, the units expected next bucket against
 * their baseline (normal_next, or the detector's own level when that is
 * missing), and the signals: a START's first signal names its reason
 * ("evidence" for traffic, "promo_evidence" for a promotion,
 * "forecast_ratio" for the forecast), then the views, carts, cart-rate, units
 * and forecast ratios to normal and the promotion share. */
int dc_surge_observe(const dc_surge_params_t *params, const dc_surge_season_t *season,
                     dc_surge_sku_t *state, const char *sku, const dc_surge_obs_t *obs,
                     dc_surge_t *alert);

#endif /* DC_INFERENCE_SURGE_H */
