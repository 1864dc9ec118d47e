/*
 * producers/backtest_int.h - what backtest.c shares with report.c; not part
 * of the stage's interface.
 */
#ifndef DC_PRODUCERS_BACKTEST_INT_H
#define DC_PRODUCERS_BACKTEST_INT_H

#include "producers/backtest.h"

enum { BT_ZERO, BT_NAIVE, BT_SNAIVE7, BT_MA28, BT_MA28_MEDIAN, BT__BASELINES };

typedef struct {
    double mean, p10, p50, p90;
} bt_fc_t;

typedef struct {
    char sku[64];
    double *y;          /* n_buckets actuals from train_from */
    double train_total; /* summed at selection */
    int64_t series;     /* position among the series, -1 if not one */
} bt_sku_t;

typedef struct {
    char name[DC_BACKTEST_NAME_MAX];
    char *desc;
    bt_fc_t *fc;   /* [series][origin][horizon - 1], once selected */
    uint8_t *have; /* same layout: 1 where a forecast arrived */
} bt_model_t;

struct dc_backtest_s {
    dc_backtest_conf_t conf;
    int64_t n_buckets;    /* train_from .. eval_to */
    int64_t n_train;      /* buckets 0 .. n_train - 1 are train */
    int64_t first_origin; /* bucket index of the first origin */
    int64_t n_origins;
    int H;

    bt_sku_t *skus;
    size_t n_skus, skus_cap;
    uint32_t *slots; /* open addressing: sku index + 1, 0 = free */
    size_t n_slots;  /* power of two */

    int selected;
    size_t *series; /* sku index of each series, selection order */
    size_t n_series;
    double *scale;  /* MASE scale of each series */
    int64_t n_eligible;
    double next_train_total;

    bt_model_t *models;
    size_t n_models;

    int finished;
    dc_backtest_result_t *results; /* BT__BASELINES + n_models */
    size_t n_results;

    int64_t actuals_ignored, forecasts_ignored, forecasts_replaced;
};

/* The forecasts of method m (a result index) for series si at origin index
 * oi, for h = 1..H into out[h - 1]; have[h - 1] says which exist (baselines
 * always do). */
void dc__backtest_forecast(const dc_backtest_t *bt, size_t m, size_t si, int64_t oi,
                           bt_fc_t *out, uint8_t *have);

/* Number of scored horizons at origin index oi (H, fewer near the end). */
int dc__backtest_horizons(const dc_backtest_t *bt, int64_t oi);

/* Formats a bucket start as "YYYY-MM-DD" for day buckets, else as an ISO
 * time. buf >= 32 bytes. */
char *dc__backtest_bucket_str(const dc_backtest_t *bt, int64_t idx, char *buf, size_t size);

/* A plain decimal with at most decimals digits after the point, trailing
 * zeros dropped, never an exponent, never "-0". buf >= 32 bytes for values
 * below 1e20; longer values are cut (they are not forecasts). */
char *dc__fmt_plain(double v, int decimals, char *buf, size_t size);

#endif /* DC_PRODUCERS_BACKTEST_INT_H */
