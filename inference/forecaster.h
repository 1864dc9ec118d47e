/*
 * inference/forecaster.h - what happens when a bucket closes: every active
 * SKU's LSTM state advances one step (one batched sgemm), the model learns
 * online from the actuals it just saw, each SKU's seasonal quantile baseline
 * takes the bucket, and a Forecast per SKU (and a SurgeAlert where an episode
 * starts, moves or ends) goes to the caller's sinks.
 *
 * The published distribution blends two experts, quantile by quantile:
 *
 *     q = w * q_lstm + (1 - w) * q_baseline      (q = mean, p10, p50, p90)
 *
 * with w learned online by following the leader over the grid 0, 0.1, ..., 1:
 * at every close each weight's one-bucket-ahead forecasts are scored
 * (pinball loss at 10/50/90 %, over all SKUs), and the weight with the least
 * slowly-averaged loss publishes; it starts at 0.5. Both experts' quantiles
 * are non-crossing, so their convex blend is too. `forecast.blend` may pin w
 * instead (0 = baseline only, 1 = LSTM only).
 *
 * Determinism: SKUs are processed in byte order of their names whatever
 * order the caller gives, so the same buckets give the same forecasts, bit
 * for bit, and the same online mini-batches.
 *
 * Online training (train.skus.per.close = N, train.bptt = K): each SKU
 * trains once every P = max(K, ceil(n / N)) closes, on a whole window of
 * the K buckets before it (restarted K-1 closes ahead), so every bucket is
 * trained on once while n <= N*K. (N = 0 trains every SKU at every close on
 * its window of the last K buckets, sliding one bucket per close: n*K
 * SKU-steps of BPTT per close, 100k SKUs at hourly settings some 4 s on one
 * core, and on the Online Retail backtests no better forecasts.)
 * SKU number i (in order of first appearance) trains at bucket number b
 * when (b + i) mod P = 0. The work is then at most about N*K SKU-steps per
 * close, spread evenly over the closes. The trade-off: the shared weights
 * see each SKU's recent history once instead of up to K times over, and
 * beyond N*K SKUs the P - K buckets between two windows are never trained on (at 100k SKUs, N = 4096: P = 25, about 4,000 windows
 * and 100k (origin, horizon) targets per close still reach the weights).
 * Every SKU's state still advances at every close, so forecasts are not
 * delayed. The schedule depends only on bucket numbers and the order SKUs
 * first appeared, so a replay trains the same SKUs at the same closes.
 *
 * Ownership: the forecaster owns the model passed to dc_forecaster_new (on
 * success) and every per-SKU record. Not thread-safe.
 */
#ifndef DC_INFERENCE_FORECASTER_H
#define DC_INFERENCE_FORECASTER_H

#include "common/common.h"
#include "inference/baseline.h"
#include "inference/inference.h"
#include "inference/surge.h"
#include "schemas/schemas.h"

typedef struct dc_forecaster_s dc_forecaster_t;

/* One SKU's aggregates in the bucket that closed. */
typedef struct {
    const char *sku;
    dc_model_bucket_t bucket;
} dc_forecaster_input_t;

/* Sinks. A non-zero return stops the close and is returned by it. The
 * records are only valid during the call. */
typedef struct {
    int (*forecast)(void *opaque, const dc_forecast_t *fc);
    int (*surge)(void *opaque, const dc_surge_t *alert); /* may be NULL */
    void *opaque;
} dc_forecaster_sink_t;

/* Creates a forecaster from conf (bucket.width, horizon, train.*, baseline.*,
 * surge.*, forecast.blend). model is taken over on success (and destroyed
 * with the forecaster); on failure the caller keeps it. */
dc_forecaster_t *dc_forecaster_new(const dc_conf_t *conf, dc_model_t *model, char *errstr,
                                   size_t errstr_size);
void dc_forecaster_destroy(dc_forecaster_t *fc);

/* Closes the bucket starting at bucket_start for the n SKUs in `in` (every
 * active SKU, zero-demand ones included; each SKU at most once). Buckets must
 * close in order; closing a bucket at or before the last one closed is
 * DC_ERR_INVAL. Each Forecast carries bucket_start, the configured width,
 * issued_at = bucket_start + width (event time), the model version and the
 * next `horizon` buckets. */
int dc_forecaster_close(dc_forecaster_t *fc, int64_t bucket_start, const dc_forecaster_input_t *in,
                        size_t n, const dc_forecaster_sink_t *sink);

/* Start of the last bucket closed; INT64_MIN before the first close. */
int64_t dc_forecaster_last_closed(const dc_forecaster_t *fc);
/* The model inside (for checkpoints and metrics). */
dc_model_t *dc_forecaster_model(dc_forecaster_t *fc);
/* The LSTM's current blend weight w. */
double dc_forecaster_blend_weight(const dc_forecaster_t *fc);
/* Forecast horizons whose model distribution was unusable (not finite, or a
 * mean beyond 1e12 units) and were published from the baseline alone, since
 * this forecaster was made. */
uint64_t dc_forecaster_model_fallbacks(const dc_forecaster_t *fc);
size_t dc_forecaster_sku_count(const dc_forecaster_t *fc);
/* Bytes of per-SKU state held per SKU (model record, baseline, surge, blend). */
size_t dc_forecaster_bytes_per_sku(const dc_forecaster_t *fc);

/* ------------------------------------------------------------------------ */
/* State: what a restarted or rebalanced instance resumes from              */
/* ------------------------------------------------------------------------ */

/* A forecaster's whole state is three parts, saved after a close and loaded
 * in this order into a forecaster made with the same configuration:
 *
 *   1. the model checkpoint (dc_model_save / dc_model_load);
 *   2. the global record (below): the last bucket closed, the blend losses,
 *      both seasonal profiles, the model's training-guard state that the
 *      checkpoint format does not carry (running-loss count, rollback
 *      snapshot) and the SKU names in the order they were first seen;
 *   3. one record per SKU (below): its model record, baseline ring, surge
 *      detector and the one-ahead forecasts the blend scores next.
 *
 * Loaded so, the forecaster continues exactly as the one that saved it
 * would: the same closes give bit-identical forecasts and alerts. Only the
 * SKUs of a close change at that close, so a caller that keeps the records
 * of earlier closes need save only those SKUs.
 *
 * Global record, version 2, little-endian:
 *   0   "DCFG"   4 bytes, then u32 version (2), u32 horizon, u32 baseline slots
 *   16  i64 bucket width, i64 last closed (INT64_MIN: none)
 *   32  f64 loss[11], the blend's average loss of each grid weight 0, 0.1, ..., 1
 *   120 baseline season: f64 level[168], u32 n[168], f64 open[168], u32 seen[168]
 *       surge season: f64 hod_level[24], f64 dow_level[7], u32 hod_n[24], u32 dow_n[7]
 *       u64 loss count, u64 good steps since snapshot, u64 snapshot Adam t,
 *       u32 P, f32 snapshot params[P], m[P], v[P]
 *       u32 SKU count, per SKU: u8 length + the name's bytes, in first-seen order
 *       u32 CRC-32 (zlib) of every byte before it
 *
 * SKU record, version 2, little-endian:
 *   0   "DCFS"   4 bytes, u8 version (2), u8 0, u16 baseline window W
 *   8   i64 target of the one-ahead forecasts, f32 LSTM p10 p50 p90, f32 baseline p10 p50 p90
 *   40  surge: f32 level_units, level_views, level_carts, last_expected, evidence,
 *       promo_evidence, u16 seen, u8 active, u8 calm
 *   68  baseline: i64 last bucket, u16 len, u16 head, f32 units[W] (the raw ring)
 *       u32 length L, L bytes of dc_model_sku_save()
 *       u32 CRC-32 (zlib) of every byte before it
 *
 * Loading checks magic (DC_ERR_BAD_MAGIC), version and dimensions against
 * the forecaster's (DC_ERR_VERSION), length (DC_ERR_TRUNCATED /
 * DC_ERR_TRAILING), CRC (DC_ERR_CHECKSUM), that bucket times are bucket
 * starts (DC_ERR_MALFORMED) and that levels, losses, forecasts and baseline
 * buckets are numbers a forecaster reaches, not negative, NaN or infinite
 * (DC_ERR_NUMERIC; NaN is a baseline bucket the shop was closed), before it
 * changes anything. */

/* Appends the global record to out. */
int dc_forecaster_save_global(const dc_forecaster_t *fc, dc_buf_t *out);
/* Replaces the forecaster's global state and SKU table with the record's;
 * every listed SKU starts from a new SKU's records until dc_forecaster_load_sku
 * fills them. Call it after dc_model_load of the checkpoint saved with it. */
int dc_forecaster_load_global(dc_forecaster_t *fc, const void *buf, size_t len, char *errstr,
                              size_t errstr_size);
/* Appends the record of sku to out; DC_ERR_INVAL if the forecaster has
 * never seen it. */
int dc_forecaster_save_sku(const dc_forecaster_t *fc, const char *sku, dc_buf_t *out);
/* Loads the record of a SKU the global record listed (else DC_ERR_INVAL). */
int dc_forecaster_load_sku(dc_forecaster_t *fc, const char *sku, const void *buf, size_t len,
                           char *errstr, size_t errstr_size);
/* Name of the SKU of dense index i < dc_forecaster_sku_count() (first-seen
 * order); owned by the forecaster. */
const char *dc_forecaster_sku_name(const dc_forecaster_t *fc, size_t i);

/* ------------------------------------------------------------------------ */
/* Warm start: fit offline on history, then continue online                 */
/* ------------------------------------------------------------------------ */

/* Sits in front of a forecaster during a replay with a training cut-off
 * (`replay --train-until T`, `train`). Closes of buckets that end at or
 * before T are kept, not forecast; at the first close past T (or at
 * dc_warmstart_finish) the model is fitted offline on every SKU's history
 * (dc_model_fit: opts->epochs passes of windows, deterministic in the seed),
 * then the kept closes run through the forecaster in order, so each SKU's
 * state, scaling and baseline are those of a model that served the whole
 * history; the forecasts of those closes reach the sink like any other.
 * From then on closes pass straight through. Fitting sees nothing at or
 * after T. fc is borrowed. */
typedef struct dc_warmstart_s dc_warmstart_t;

dc_warmstart_t *dc_warmstart_new(dc_forecaster_t *fc, int64_t train_until,
                                 const dc_model_fit_opts_t *opts, char *errstr,
                                 size_t errstr_size);
void dc_warmstart_destroy(dc_warmstart_t *ws);
int dc_warmstart_close(dc_warmstart_t *ws, int64_t bucket_start, const dc_forecaster_input_t *in,
                       size_t n, const dc_forecaster_sink_t *sink);
/* Fits and replays the kept closes if that has not happened yet (the input
 * ended before T). */
int dc_warmstart_finish(dc_warmstart_t *ws, const dc_forecaster_sink_t *sink);
/* Whether the offline fit has run. */
int dc_warmstart_fitted(const dc_warmstart_t *ws);

#endif /* DC_INFERENCE_FORECASTER_H */
