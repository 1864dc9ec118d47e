/*
 * inference/inference.h - the demand model of DESIGN.md section 4: one global
 * LSTM on CBLAS shared by every SKU, a multi-horizon negative-binomial head,
 * its quantiles, online and offline training (truncated BPTT, Adam) and
 * versioned checkpoints.
 *
 * The library needs neither Kafka nor Redis. The model (dc_model_t) owns the
 * weights, the optimiser state and all workspaces; the caller owns one
 * per-SKU record (dc_model_sku_t) for every SKU, a flat block of
 * dc_model_sku_size() bytes that holds the recurrent state (h, c), the SKU's
 * scaling and its short input history. Records can live in one caller arena
 * and be stored (dc_model_sku_save) in Redis as they are.
 *
 * A model is not thread-safe: one thread drives it. Results are deterministic:
 * the same seed, configuration, call sequence and batches give bit-identical
 * weights and forecasts. dc_model_new() sets OpenBLAS to one thread for this
 * reason (and so per-core benchmarks are honest).
 *
 * One step, per closed bucket and batch of SKUs:
 *
 *     x    = features(bucket aggregates, the SKU's scaling)        (F inputs)
 *     z    = [x | h] W + b        one cblas_sgemm, (F+H) x 4H      (gates i f g o)
 *     c'   = sigm(f) c + sigm(i) tanh(g),  h' = sigm(o) tanh(c')
 *     out  = h' Wh + bh           one cblas_sgemm, H x 2Hz
 *     mu_k = scale * softplus(out[2k]),  alpha_k = softplus(out[2k+1]) + 1e-4
 *
 * for horizons k = 1..Hz: demand in the k-th bucket after the one just closed
 * is NegBin(mean mu_k, variance mu_k + alpha_k mu_k^2), and the forecast
 * quantiles are read exactly from its CDF, interpolated linearly between
 * whole numbers (dc_nb_summary).
 *
 * Loss: the mean negative log-likelihood of the NB over every (origin, horizon)
 * whose actual is known. The NLL is a proper scoring rule for the whole
 * distribution, so the p10/p50/p90 read from it are calibrated together; a
 * pinball term on the median would have to be differentiated through the
 * walk over the CDF that finds the quantile and is not used.
 */
#ifndef DC_INFERENCE_H
#define DC_INFERENCE_H

#include "common/common.h"

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------ */
/* Inputs                                                                   */
/* ------------------------------------------------------------------------ */

/* Index of each input feature in x. Everything is known when the bucket
 * closes; nothing describes a bucket that has not happened yet. */
typedef enum {
    DC_FEAT_UNITS = 0,   /* log1p(units / units scale) */
    DC_FEAT_VIEWS,       /* log1p(views / views scale) */
    DC_FEAT_CARTS,       /* log1p(add-to-carts / carts scale) */
    DC_FEAT_PRICE_REL,   /* log(price / usual price), clipped to [-3, 3]; 0 without a price */
    DC_FEAT_PROMO,       /* share of the bucket's demand under a promotion, 0..1 */
    DC_FEAT_CANCELLED,   /* log1p(cancelled units / units scale) */
    DC_FEAT_HOUR_SIN,    /* hour of day of the bucket start (UTC) as a point on a circle */
    DC_FEAT_HOUR_COS,
    DC_FEAT_DOW_SIN,     /* day of week of the bucket start (UTC) */
    DC_FEAT_DOW_COS,
    DC_FEAT_LEVEL,       /* log1p(units scale) / 4: how big the SKU is */
    DC_FEAT__COUNT
} dc_feat_t;

/* The raw aggregates of one SKU in one closed bucket. */
typedef struct {
    int64_t start_ms;   /* bucket start, event time */
    int64_t width_ms;   /* bucket width */
    double units;       /* gross units ordered (cancellations not netted) */
    double cancelled;   /* units of cancelled orders */
    double views;       /* product views */
    double carts;       /* add-to-carts */
    double price;       /* mean unit price seen in the bucket; <= 0 or NaN if none */
    double promo_share; /* share of units (or events) under a promotion, 0..1 */
} dc_model_bucket_t;

/* ------------------------------------------------------------------------ */
/* Model                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct dc_model_s dc_model_t;

/* Dimensions and training settings. dc_model_conf_load() fills it from the
 * config table (model.hidden, horizon, train.bptt, train.lr, train.batch,
 * model.seed); the rest keep the defaults of dc_model_conf_default(). */
typedef struct {
    int hidden;          /* H: LSTM hidden size */
    int horizon;         /* Hz: buckets forecast ahead */
    int bptt;            /* K: history rows kept per SKU, BPTT length online */
    int batch;           /* SKUs per online mini-batch (a hint for callers) */
    double lr;           /* Adam learning rate */
    double clip;         /* global gradient norm clip */
    double diverge;      /* a loss above diverge x its running mean rolls back */
    int snapshot_every;  /* good steps between snapshots of the last good weights */
    uint64_t seed;       /* weight initialisation */
} dc_model_conf_t;

void dc_model_conf_default(dc_model_conf_t *mc);
int dc_model_conf_load(dc_model_conf_t *mc, const dc_conf_t *conf, char *errstr,
                       size_t errstr_size);

/* Creates a model with freshly initialised weights (deterministic in
 * mc->seed). mc is copied. Returns NULL and fills errstr on failure. */
dc_model_t *dc_model_new(const dc_model_conf_t *mc, char *errstr, size_t errstr_size);
void dc_model_destroy(dc_model_t *model);

const dc_model_conf_t *dc_model_conf(const dc_model_t *model);
/* Number of optimiser steps applied so far: the Forecast's model_version. */
uint64_t dc_model_version(const dc_model_t *model);
/* The flat parameter vector, in this order (row-major float32):
 *   W  [(F+H) x 4H]  gate weights, rows 0..F-1 for x, F..F+H-1 for h,
 *                    columns i(0..H-1) f(H..2H-1) g(2H..3H-1) o(3H..4H-1)
 *   b  [4H]          gate biases
 *   Wh [H x 2Hz]     head weights, column 2k = mean, 2k+1 = dispersion of horizon k+1
 *   bh [2Hz]         head biases
 * The pointer stays valid until the model is destroyed; writing through it
 * changes the model (tests and tools only). */
float *dc_model_params(dc_model_t *model, size_t *n_params);

/* ------------------------------------------------------------------------ */
/* Per-SKU record                                                           */
/* ------------------------------------------------------------------------ */

/* The header of a per-SKU record; data[] holds, for H hidden and K = bptt,
 *   h[H] c[H]          the current recurrent state
 *   h0[H] c0[H]        the state before the oldest history row (BPTT anchor)
 *   hist[K][F+2]       a ring of the last K steps: x, the units scale used for
 *                      that step's forecast, and the units of that bucket.
 * Allocate dc_model_sku_size() bytes (aligned for int64) per SKU. At H=64,
 * K=8 a record is 1,488 bytes. */
typedef struct {
    int64_t last_bucket; /* start of the last bucket stepped; INT64_MIN if none */
    uint32_t n_steps;    /* buckets stepped, saturating */
    uint16_t hist_len;   /* history rows held, 0..K */
    uint16_t hist_head;  /* ring index of the oldest row */
    float units_m, units_w; /* EWMA of units and its weight (bias correction) */
    float views_m, views_w;
    float carts_m, carts_w;
    float price_m, price_w;
    float data[];
} dc_model_sku_t;

size_t dc_model_sku_size(const dc_model_t *model);
/* Resets a record to a new SKU: zero state, no history, neutral scaling. */
void dc_model_sku_init(const dc_model_t *model, dc_model_sku_t *sku);
/* The current state vectors, H floats each, inside the record. */
float *dc_model_sku_h(const dc_model_t *model, dc_model_sku_t *sku);
float *dc_model_sku_c(const dc_model_t *model, dc_model_sku_t *sku);
/* Empties the SKU's history window and anchors it at the current state, so
 * the next dc_model_step writes the first row of a fresh window. The state,
 * scaling and forecasts are unchanged. A caller that trains only some SKUs
 * at each close calls it K-1 closes before a SKU trains, so the SKU then
 * brings a whole window of K steps (dc_model_step alone restarts a window
 * only once it is full, which leaves a window of any length at an arbitrary
 * close). */
void dc_model_sku_restart(const dc_model_t *model, dc_model_sku_t *sku);
/* A SKU is cold until it has been stepped this many buckets; its forecasts
 * come from the global model at once and carry the cold_start flag. */
#define DC_MODEL_COLD_STEPS 7
int dc_model_sku_is_cold(const dc_model_sku_t *sku);
/* The units scale its next forecast's means are multiplied by. */
float dc_model_sku_scale(const dc_model_sku_t *sku);

/* Builds x (DC_FEAT__COUNT floats) for bucket from the SKU's scaling as it
 * was before the bucket; does not change the record. */
void dc_model_features(const dc_model_sku_t *sku, const dc_model_bucket_t *bucket, float *x);

/* Serialises a record compactly (only the history rows held), appended to
 * out. Format, little-endian:
 *   0  "DS"             2 bytes
 *   2  u8 version (1), u8 F
 *   4  u16 H, u16 K, u16 hist_len
 *   10 u32 n_steps, 14 i64 last_bucket, 22 u16 zero
 *   24 f32 x 8          units_m units_w views_m views_w carts_m carts_w price_m price_w
 *      f32 x 4H         h c h0 c0
 *      f32 x hist_len x (F+2)   history rows, oldest first
 *      u32              CRC-32 (zlib) of every byte before it
 * At H=64 with a full history of 8 rows: 1,500 bytes. */
int dc_model_sku_save(const dc_model_t *model, const dc_model_sku_t *sku, dc_buf_t *out);
/* Parses what dc_model_sku_save wrote into sku (dc_model_sku_size bytes).
 * A different H, K or F is DC_ERR_VERSION, a bad CRC DC_ERR_CHECKSUM, short
 * input DC_ERR_TRUNCATED, extra bytes DC_ERR_TRAILING; sku is then untouched. */
int dc_model_sku_load(const dc_model_t *model, dc_model_sku_t *sku, const void *buf, size_t len,
                      char *errstr, size_t errstr_size);

/* ------------------------------------------------------------------------ */
/* Forward                                                                  */
/* ------------------------------------------------------------------------ */

/* The forecast distribution of one horizon: NegBin with mean mu and
 * dispersion alpha (variance mu + alpha mu^2). */
typedef struct {
    float mu;
    float alpha;
} dc_model_dist_t;

/* Advances n SKUs by one bucket each: skus[i] takes buckets[i]. In one pass
 * it builds the inputs, runs the gate sgemm and the head sgemm over the
 * batch, updates each record (state, scaling, history) and, if dist is not
 * NULL, writes the forecast of the next Hz buckets to dist[i*Hz .. i*Hz+Hz-1].
 * A SKU whose bucket does not start after its last_bucket is not advanced
 * (stepping a bucket twice is a no-op); its dist is read from its current
 * state. Allocates nothing: large batches run in fixed-size chunks. The
 * caller steps every active SKU, zero buckets included, in bucket order. */
int dc_model_step(dc_model_t *model, dc_model_sku_t *const *skus, const dc_model_bucket_t *buckets,
                  size_t n, dc_model_dist_t *dist);

/* Reads the forecast of n SKUs from their current state without stepping. */
int dc_model_predict(dc_model_t *model, dc_model_sku_t *const *skus, size_t n,
                     dc_model_dist_t *dist);

/* ------------------------------------------------------------------------ */
/* The count distribution                                                   */
/* ------------------------------------------------------------------------ */

typedef struct {
    double mean, p10, p50, p90;
} dc_nb_summary_t;

/* Mean and the 10/50/90 % quantiles of NegBin(mu, alpha), read from its
 * CDF F interpolated linearly between whole numbers: for the least count k
 * with F(k) >= q, k - 1 + (q - F(k-1)) / (F(k) - F(k-1)), and 0 when
 * q <= P(0), since counts are never negative. So a quantile lies in
 * [k - 1, k] and need not be a whole number, like the baseline's, which are
 * interpolated linearly in its history; the discrete quantile k would round
 * every p90 up. Exact: the pmf is summed with the stable ratio recursion
 * from 0 or, when P(0) underflows, from below the mode (started in log
 * space). The walk is bounded (200,000 counts, or a standard deviation of
 * 4000 when starting at the mode); past that the NB is smooth and its
 * quantiles come from the gamma it mixes over (bisection on the incomplete
 * gamma) or, for a nearly symmetric one, a normal. The results are finite,
 * >= 0 and never cross, for every input. alpha is clamped to [1e-6, 1e6].
 * mu = 0 gives all zeros; a non-finite or negative mu or alpha gives all
 * zeros and returns DC_ERR_NUMERIC. A mean below -log(q) puts at least q on
 * 0 (P(0) >= e^-mu), so the many SKU-horizons with such small means return
 * zeros without a log or an exp, the same zeros the walk would give. */
int dc_nb_summary(double mu, double alpha, dc_nb_summary_t *out);
/* One quantile, as above, for 0 < q < 1. */
double dc_nb_quantile(double mu, double alpha, double q);
/* Negative log-likelihood of count y (>= 0) under NegBin(mu, alpha). */
double dc_nb_nll(double y, double mu, double alpha);

/* ------------------------------------------------------------------------ */
/* Online learning                                                          */
/* ------------------------------------------------------------------------ */

/* One training step on the recent history of n SKUs (a mini-batch; n may be
 * anything, train.batch is the usual size). For each SKU the window is its
 * history ring, started from its anchor state (h0, c0): truncated BPTT over
 * those <= K steps, loss on every (step, horizon) whose actual lies inside
 * the window. Then one Adam step on the clipped gradient of all weights.
 * Afterwards each SKU with a full ring drops its oldest row and its anchor
 * moves one step on, so calling this after every dc_model_step keeps windows
 * at K steps; a SKU not trained simply restarts its window when the ring is
 * full. Call it when a bucket's actuals are known, i.e. after dc_model_step.
 *
 * Guards: a non-finite loss or gradient skips the step (weights and Adam
 * state unchanged) and returns DC_ERR_NUMERIC; a loss above conf.diverge
 * times its running mean, or non-finite weights after the step, restore the
 * last good snapshot and return DC_ERR_NUMERIC. *loss (may be NULL) gets the
 * mean NLL per target; a batch with no known target is a no-op returning 0. */
int dc_model_train(dc_model_t *model, dc_model_sku_t *const *skus, size_t n, double *loss);

/* Counters of the guards, for metrics. */
typedef struct {
    uint64_t steps;      /* applied optimiser steps */
    uint64_t skipped;    /* steps skipped for NaN/inf */
    uint64_t rollbacks;  /* divergences rolled back */
    double loss_mean;    /* running mean of the training loss */
} dc_model_stats_t;
void dc_model_stats(const dc_model_t *model, dc_model_stats_t *stats);

/* ------------------------------------------------------------------------ */
/* Offline training                                                         */
/* ------------------------------------------------------------------------ */

/* One SKU's history: consecutive buckets, oldest first, none missing. */
typedef struct {
    const dc_model_bucket_t *buckets;
    size_t n;
} dc_model_series_t;

typedef struct {
    int epochs;           /* passes over the windows */
    int windows;          /* windows per epoch per series (sampled) */
    int batch;            /* windows per optimiser step */
    int bptt;             /* steps back-propagated at the end of each window */
    double lr;            /* initial learning rate; decays linearly ... */
    double lr_final;      /* ... to this at the last epoch */
    uint64_t seed;        /* window sampling */
    /* Called after every epoch with its mean training loss (may be NULL). */
    void (*progress)(int epoch, double loss, void *opaque);
    void *opaque;
} dc_model_fit_opts_t;

void dc_model_fit_opts_default(dc_model_fit_opts_t *opts);

/* Fits the model to n series. Every window starts at its series' first
 * bucket from a zero state, as a new SKU does when served, and ends at a
 * random bucket; the last opts->bptt steps carry the loss (targets: the
 * following Hz buckets, where the series has them) and the gradient. The
 * scaling is run through each series exactly as dc_model_step does. The
 * series are only read during the call. Deterministic in opts->seed. */
int dc_model_fit(dc_model_t *model, const dc_model_series_t *series, size_t n,
                 const dc_model_fit_opts_t *opts, char *errstr, size_t errstr_size);

/* ------------------------------------------------------------------------ */
/* Checkpoints                                                              */
/* ------------------------------------------------------------------------ */

/*
 * Checkpoint format, version 1. All integers and floats little-endian.
 *
 *   offset  size  field
 *   0       8     magic "DCMODEL1"
 *   8       4     u32 format version = 1
 *   12      4     u32 F, number of input features (DC_FEAT__COUNT)
 *   16      4     u32 H, hidden size
 *   20      4     u32 Hz, horizon
 *   24      4     u32 K, BPTT length (per-SKU history rows)
 *   28      4     u32 P, number of parameters = (F+H)*4H + 4H + 2H*Hz + 2Hz
 *   32      8     u64 model version (optimiser steps applied)
 *   40      8     u64 Adam step count t
 *   48      8     u64 skipped steps
 *   56      8     u64 rollbacks
 *   64      8     f64 running mean of the training loss
 *   72      4P    f32 parameters, in the dc_model_params() order
 *   72+4P   4P    f32 Adam first moments
 *   72+8P   4P    f32 Adam second moments
 *   72+12P  4     u32 CRC-32 (zlib) of bytes 0 .. 72+12P-1
 *
 * Loading checks, in order: length >= 76 (else DC_ERR_TRUNCATED), magic
 * (DC_ERR_BAD_MAGIC), version (DC_ERR_VERSION), length = 76 + 12P
 * (DC_ERR_TRUNCATED / DC_ERR_TRAILING), CRC (DC_ERR_CHECKSUM), dimensions
 * equal to the model's (DC_ERR_VERSION), every float finite
 * (DC_ERR_NUMERIC). On any failure the model is unchanged.
 */
#define DC_MODEL_MAGIC "DCMODEL1"
#define DC_MODEL_FORMAT_VERSION 1

/* Appends the checkpoint to out. */
int dc_model_save(const dc_model_t *model, dc_buf_t *out);
/* Loads a checkpoint into a model of the same dimensions. */
int dc_model_load(dc_model_t *model, const void *buf, size_t len, char *errstr,
                  size_t errstr_size);
/* The same through a file; saving writes PATH.tmp, fsyncs and renames, so a
 * crash leaves the old or the new checkpoint, never half of one. */
int dc_model_save_file(const dc_model_t *model, const char *path, char *errstr,
                       size_t errstr_size);
int dc_model_load_file(dc_model_t *model, const char *path, char *errstr, size_t errstr_size);
/* Reads the dimensions of a checkpoint without loading it, so a tool can
 * create the matching model: fills hidden, horizon and bptt of mc. */
int dc_model_peek(const void *buf, size_t len, dc_model_conf_t *mc, char *errstr,
                  size_t errstr_size);

#endif /* DC_INFERENCE_H */
