/*
 * producers/backtest.h - the backtest scorer of `replay`: actual demand and
 * issued forecasts in, the metrics of PROTOCOL.md section 6 against the
 * baselines of section 9 out, as numbers, a forecast CSV (section 8) and a
 * report (Markdown, JSON, self-contained HTML).
 *
 * Time is event time in epoch milliseconds, cut into buckets of
 * conf.bucket_width counted from conf.train_from: any time inside a bucket
 * names that bucket. Bucket t = 0 is the first train bucket.
 *
 *   train      train_from .. train_until (inclusive): series selection and the
 *              MASE scale use these buckets only;
 *   targets    eval_from .. eval_to (inclusive);
 *   origins    eval_from - 1 .. eval_to - 1: the forecast issued when origin
 *              bucket d closes covers d + 1 .. d + horizon; targets after
 *              eval_to are not scored.
 *
 * Series (PROTOCOL.md section 4): SKUs with demand > 0 on at least
 * conf.min_days train buckets; of those the conf.max_series with the largest
 * train demand, ties by SKU ascending (byte order). The selection is made
 * once: by dc_backtest_select(), the first forecast or dc_backtest_finish(),
 * whichever comes first, so every train actual must be added before that.
 *
 * Every sum runs in one fixed order (series in selection order, origins,
 * horizons), so the same input gives the same numbers and the same bytes.
 * An object is not thread-safe.
 */
#ifndef DC_PRODUCERS_BACKTEST_H
#define DC_PRODUCERS_BACKTEST_H

#include "common/common.h"

#include <stddef.h>
#include <stdint.h>

#define DC_BACKTEST_HORIZON_MAX 64
#define DC_BACKTEST_NAME_MAX 48
/* Fewest train buckets accepted: the moving-window baselines look back 28. */
#define DC_BACKTEST_MIN_TRAIN 28

typedef struct {
    int64_t train_from;   /* start of train bucket 0 (epoch ms) */
    int64_t train_until;  /* any time in the last train bucket */
    int64_t eval_from;    /* any time in the first target bucket */
    int64_t eval_to;      /* any time in the last target bucket */
    int64_t bucket_width; /* ms; PROTOCOL.md scores 1 day */
    int horizon;          /* buckets ahead, 1..DC_BACKTEST_HORIZON_MAX */
    int min_days;         /* series rule: train buckets with demand > 0, >= 1 */
    int max_series;       /* series rule: how many series, >= 1 */
} dc_backtest_conf_t;

/* Fills conf with the validation window of PROTOCOL.md section 4: train
 * 2010-12-01 .. 2011-06-30, targets 2011-07-01 .. 2011-09-30, 1-day buckets,
 * horizon 7, at least 60 demand days, 500 series. */
void dc_backtest_conf_init(dc_backtest_conf_t *conf);

typedef struct dc_backtest_s dc_backtest_t;

/* Checks conf (copied) and makes an empty backtest. */
dc_backtest_t *dc_backtest_new(const dc_backtest_conf_t *conf, char *errstr,
                               size_t errstr_size);
/* NULL is a no-op. */
void dc_backtest_destroy(dc_backtest_t *bt);

/*
 * Adds units of demand of sku in the bucket holding ts. Demand means
 * PROTOCOL.md section 2 (placed product lines; cancellations not netted), so
 * units must be finite and >= 0. Times outside train_from .. eval_to are
 * ignored and counted (summary.actuals_ignored). sku is copied; it must be
 * shorter than 64 bytes. Returns DC_ERR_INVAL for bad units or sku,
 * DC_ERR_TOO_LATE for a train bucket once the series are selected (nothing is
 * added), DC_ERR_NOMEM.
 */
int dc_backtest_add_actual(dc_backtest_t *bt, const char *sku, int64_t ts, double units);

/* Freezes the train span and selects the series now, e.g. to read them with
 * dc_backtest_series() before forecasting; the first forecast and
 * dc_backtest_finish() do it otherwise. Idempotent. DC_ERR_NOMEM. */
int dc_backtest_select(dc_backtest_t *bt);

/* Registers a forecaster whose forecasts are scored beside the baselines,
 * e.g. "lstm online median". name and desc (may be NULL) are copied. Returns
 * its id (>= 0) for dc_backtest_add_forecast, or DC_ERR_INVAL for an empty,
 * too long or duplicate name (baseline names included), DC_ERR_NOMEM. */
int dc_backtest_add_model(dc_backtest_t *bt, const char *name, const char *desc);

/*
 * Records the forecast that model issued at origin (any time in the origin
 * bucket) for origin + horizon buckets. The p50 is the scored point forecast
 * (PROTOCOL.md section 7); mean is kept for the forecast file. Values must be
 * finite, >= 0 and p10 <= p50 <= p90 (DC_ERR_INVAL otherwise). Forecasts for
 * SKUs outside the series, origins outside the window or targets after
 * eval_to are ignored and counted; a second forecast for the same (sku,
 * origin, horizon) replaces the first and is counted. The first call selects
 * the series. DC_ERR_INVAL also after dc_backtest_finish().
 */
int dc_backtest_add_forecast(dc_backtest_t *bt, int model, const char *sku, int64_t origin,
                             int horizon, double mean, double p10, double p50, double p90);

/* Selects the series (if no forecast did yet) and computes every method's
 * metrics. Fails if no SKU meets the series rule. A model that lacks a
 * forecast for some target is still listed, with n_missing > 0 and no
 * metrics: PROTOCOL.md section 8 calls such a run unscorable. Adding is
 * refused afterwards. */
int dc_backtest_finish(dc_backtest_t *bt, char *errstr, size_t errstr_size);

/* One method's scores. Metrics a method cannot have (quantiles of a point
 * baseline, anything of an unscorable model) are NaN. */
typedef struct {
    char name[DC_BACKTEST_NAME_MAX];
    const char *desc;  /* owned by the backtest; "" if none */
    int is_baseline;
    int has_quantiles; /* p10/p90 are forecast: QL 0.1/0.9 and coverage apply */
    int64_t n_targets; /* scored (series, origin, horizon) targets */
    int64_t n_missing; /* targets without a forecast (models only) */
    double wape_h1;    /* sum |A - p50| / sum A over h = 1 */
    double wape;       /* the same pooled over all horizons */
    double wape_h[DC_BACKTEST_HORIZON_MAX]; /* index h - 1 */
    double mase;
    double ql10, ql50, ql90; /* 2 * sum pinball_q / sum A */
    double coverage;         /* share of targets with p10 <= A <= p90 */
} dc_backtest_result_t;

/* Results after dc_backtest_finish(), in report order: the baselines zero,
 * naive, snaive7, ma28, "ma28 median", then the models in the order they were
 * added. The pointers live as long as bt. */
size_t dc_backtest_result_count(const dc_backtest_t *bt);
const dc_backtest_result_t *dc_backtest_result(const dc_backtest_t *bt, size_t i);
/* NULL if no method has that name. */
const dc_backtest_result_t *dc_backtest_result_find(const dc_backtest_t *bt, const char *name);

typedef struct {
    int64_t n_skus;          /* SKUs with any actual */
    int64_t n_eligible;      /* SKUs meeting min_days */
    int64_t n_series;        /* selected */
    int64_t n_train_days, n_origins, n_pairs; /* pairs: valid (origin, horizon) */
    int64_t n_targets;       /* n_series * n_pairs */
    double target_units;     /* demand of the series over the target buckets */
    double zero_share;       /* share of (series, target bucket) cells that are 0 */
    double next_train_total; /* train demand of the best eligible SKU not
                                selected; -1 if all eligible were taken */
    int64_t actuals_ignored, forecasts_ignored, forecasts_replaced;
} dc_backtest_summary_t;

/* Valid once the series are selected (after the first forecast or finish). */
int dc_backtest_summary(const dc_backtest_t *bt, dc_backtest_summary_t *summary);

/* Series i (0 .. n_series - 1, selection order): its SKU, train demand and
 * daily actuals daily[0 .. n_buckets - 1] from train_from to eval_to. The
 * pointers live as long as bt. DC_ERR_INVAL if i is out of range or the
 * series are not selected yet. */
int dc_backtest_series(const dc_backtest_t *bt, size_t i, const char **sku, double *train_total,
                       const double **daily, size_t *n_buckets);

/* Writes the forecast file of PROTOCOL.md section 8 for one method (a
 * baseline or model name): header, then one row per (series, origin,
 * horizon) target, SKUs ascending, then origin and horizon. skus, if not
 * NULL, keeps only the series named in it (n_skus entries). Numbers are
 * plain decimals with at most 2 decimals, no exponent, never "-0". Needs
 * dc_backtest_finish(); an unscorable model's file would lack rows, so it is
 * refused (DC_ERR_INVAL). */
int dc_backtest_write_forecasts_csv(const dc_backtest_t *bt, const char *path,
                                    const char *method, const char *const *skus, size_t n_skus,
                                    char *errstr, size_t errstr_size);

/* Writes report.md, report.json and report.html into dir (created if
 * missing) after dc_backtest_finish(): one table row per method with the
 * columns of PROTOCOL.md section 9, WAPE by horizon, and in the HTML inline
 * SVG plots (p10-p90 band and p50 of the one-bucket-ahead forecasts against
 * the actuals for the top series, and WAPE by horizon per method). The page
 * loads nothing from elsewhere. Same input, same bytes. */
int dc_backtest_write_report(const dc_backtest_t *bt, const char *dir, char *errstr,
                             size_t errstr_size);

#endif /* DC_PRODUCERS_BACKTEST_H */
