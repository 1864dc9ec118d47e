/*
 * inference/inference_int.h - what the files of the inference stage share
 * with each other and with its unit tests; not part of the stage's interface.
 */
#ifndef DC_INFERENCE_INT_H
#define DC_INFERENCE_INT_H

#include "inference/inference.h"

#include <math.h>
#include <string.h>

#define DC__F DC_FEAT__COUNT
/* Floats per history row: x, the units scale of that step, its units. */
#define DC__ROW (DC__F + 2)
/* Rows per sgemm in dc_model_step: bounds the workspace, keeps it in cache. */
#define DC__CHUNK 1024
#define DC__ALPHA_MIN 1e-4f
#define DC__SCALE_MIN 0.05f
/* Losses averaged plainly before the running mean becomes an EWMA, and
 * before the divergence guard trusts it. */
#define DC__LOSS_WARMUP 20

/* One training sequence: rows of DC__ROW floats (x, scale, units), started
 * from (h0, c0) or from zeros when h0 is NULL. Targets are y[0 .. y_len-1],
 * the units of the sequence's own steps and, offline, of the buckets after
 * it: the forecast made at step j for horizon k is scored on y[j + k] when
 * j + k < y_len. Only the last `grad` steps carry the loss. */
typedef struct {
    const float *h0, *c0;
    const float *rows;
    size_t len;
    const float *y;
    size_t y_len;
    /* If not NULL, receive the state after the sequence's first step. */
    float *h1, *c1;
} dc__seq_t;

struct dc_model_s {
    dc_model_conf_t conf;
    int F, H, Hz, K;
    size_t n_params;
    float tanh_clamp; /* DC__TANH_CLAMP, see dc__tanh_pq */
    float *params; /* W b Wh bh, see dc_model_params() */
    float *W, *b, *Wh, *bh;
    float *grad;
    float *adam_m, *adam_v;
    uint64_t adam_t;
    uint64_t version;
    /* The last good weights and optimiser state, for rollback. */
    float *snap_params, *snap_m, *snap_v;
    uint64_t snap_t, snap_version;
    uint64_t good_since_snap;
    double loss_mean;
    uint64_t loss_n;
    uint64_t skipped, rollbacks;
    /* dc_model_step workspace, DC__CHUNK rows each. */
    float *ws_in;    /* [x | h] */
    float *ws_gates; /* gate pre-activations without bias */
    float *ws_out;   /* head outputs */
    float *ws_args;  /* log1p arguments of the inputs, DC__LOG_ARGS per row */
    /* Training workspace for tr_rows sequences and tr_steps gradient
     * steps, grown when a larger batch arrives (rarely: batches repeat). */
    size_t tr_rows, tr_steps;
    float *tr_in;   /* [steps][rows][F+H]: x and the previous h */
    float *tr_act;  /* [steps][rows][4H]: gate activations i f g o */
    float *tr_cp;   /* [steps][rows][H]: the previous c */
    float *tr_c;    /* [steps][rows][H]: the new c */
    float *tr_h;    /* [steps][rows][H]: the new h */
    float *tr_out;  /* [steps][rows][2Hz]: head outputs */
    float *tr_dout; /* [rows][2Hz] */
    float *tr_dh, *tr_dc, *tr_hcur, *tr_ccur; /* [rows][H] */
    float *tr_dz;   /* [rows][4H] */
    float *tr_din;  /* [rows][F+H] */
    size_t *tr_order;
    /* dc_model_train's copies of the SKU histories and anchor moves. */
    size_t tr_seq_cap;
    dc__seq_t *tr_seqs;
    float *tr_rowbuf; /* [seqs][K][DC__ROW] */
    float *tr_ybuf;   /* [seqs][K] */
    float *tr_h1;     /* [seqs][2H] */
};


/* Little-endian fields of the stage's binary formats (the checkpoint, the
 * per-SKU record, the forecaster's state): n-byte unsigned integers and
 * IEEE floats, the same on every host. */
static inline void dc__put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t dc__get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline void dc__put_f32(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    dc__put_le(p, u, 4);
}

static inline float dc__get_f32(const uint8_t *p)
{
    uint32_t u = (uint32_t)dc__get_le(p, 4);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The elementwise loops of the gates are built for AVX-512, AVX2 and
 * baseline x86-64, and the loader picks the best the CPU runs: results stay
 * deterministic on a given machine (OpenBLAS dispatches its kernels the same
 * way). Sanitizer builds keep one version. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define DC__CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DC__CLONES
#endif

/* exp(x) for float with a relative error below 2e-7, written so that GCC
 * vectorises loops calling it (no libm call, no branch): Cody-Waite range
 * reduction to [-ln2/2, ln2/2], a degree-6 polynomial, and the power of two
 * built in the exponent bits. */
static inline float dc__expf(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    /* Round x/ln2 to nearest with the 1.5*2^23 trick (no rint call). */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t e = (int32_t)n + 127;
    uint32_t bits = (uint32_t)e << 23;
    float s;
    memcpy(&s, &bits, sizeof(s));
    return p * s;
}

/* Where tanh is 1 to float precision, and the approximation below ends. */
#define DC__TANH_CLAMP 7.90531110763549805f

/* tanh(x) = P / Q for float x, the rational approximation Eigen uses
 * (odd degree-13 numerator, even degree-6 denominator, x clamped to
 * +-DC__TANH_CLAMP): absolute error below 4e-7, no exp, and Q lies in
 * [0.0049, 1] so products of a few Q never overflow. The gates combine
 * several P/Q into one division: divisions, not multiply-adds, are what
 * limits the vectorised gate loops. A NaN stays NaN, so a poisoned state
 * still reaches the training guards.
 *
 * clamp is DC__TANH_CLAMP, passed in from dc_model_t rather than written
 * here: given the constant, GCC specialises the clamped path (where the
 * polynomial folds to a constant) and the loops either stop vectorising
 * (AVX2) or run at half speed on masks (AVX-512). */
static inline void dc__tanh_pq(float x, float clamp, float *p_out, float *q_out)
{
    x = x > clamp ? clamp : x;
    x = x < -clamp ? -clamp : x;
    float x2 = x * x;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 - 8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    float q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    *p_out = x * p;
    *q_out = q;
}

static inline float dc__tanhf(float z, float clamp)
{
    float p, q;
    dc__tanh_pq(z, clamp, &p, &q);
    return p / q;
}

/* sigmoid(z) = (1 + tanh(z/2)) / 2 = (Q + P) / 2Q. */
static inline float dc__sigmoid(float z, float clamp)
{
    float p, q;
    dc__tanh_pq(0.5f * z, clamp, &p, &q);
    return (q + p) / (2.0f * q);
}

static inline double dc__softplus(double z)
{
    return z > 30.0 ? z : log1p(exp(z));
}

/* log(x) for float x >= 1 (finite), relative error about 1e-7, vectorisable
 * like dc__expf: the exponent from the bits, the mantissa folded into
 * [sqrt(1/2), sqrt(2)) and Cephes' logf polynomial on it. */
static inline float dc__logf(float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof(bits));
    int32_t e = (int32_t)(bits >> 23) - 127;
    bits = (bits & 0x007fffffu) | 0x3f800000u;
    float m;
    memcpy(&m, &bits, sizeof(m));
    int32_t big = m > 1.41421356f;
    m = big ? 0.5f * m : m;
    float fe = (float)(e + big);
    float f = m - 1.0f, z = f * f;
    float y = 7.0376836292e-2f;
    y = y * f - 1.1514610310e-1f;
    y = y * f + 1.1676998740e-1f;
    y = y * f - 1.2420140846e-1f;
    y = y * f + 1.4249322787e-1f;
    y = y * f - 1.6668057665e-1f;
    y = y * f + 2.0000714765e-1f;
    y = y * f - 2.4999993993e-1f;
    y = y * f + 3.3333331174e-1f;
    y = y * f * z;
    y += -2.12194440e-4f * fe;
    y += -0.5f * z;
    return f + y + 0.693359375f * fe;
}

/* log(1 + u) for finite float u >= 0, to the accuracy of dc__logf also for
 * tiny u: with x = 1 + u rounded, log(1 + u) = log(x) + (u - (x - 1)) / x
 * to first order in the rounding error. Branch-free, so loops over it
 * vectorise. */
static inline float dc__log1pf(float u)
{
    float x = 1.0f + u;
    return dc__logf(x) + (u - (x - 1.0f)) / x;
}

/* softplus(z) = log(1 + e^z) = max(z, 0) + log1p(e^-|z|) in float,
 * vectorisable, never negative. */
static inline float dc__softplusf(float z)
{
    float a = fabsf(z);
    return 0.5f * (z + a) + dc__log1pf(dc__expf(-a));
}

/* The head's distribution from its two raw outputs. */
void dc__head_dist(float scale, float z_mu, float z_alpha, dc_model_dist_t *dist);

/* NLL of y under the head outputs (z_mu, z_alpha) and its derivatives with
 * respect to them; y < 0 is not a target. */
double dc__nb_loss_grad(double y, double scale, double z_mu, double z_alpha, double *dz_mu,
                        double *dz_alpha);
double dc__digamma(double x);

/* Runs the sequences forward from their anchors, the last `grad` steps with
 * the loss; leaves the mean loss in *loss, the number of targets in
 * *n_targets and the gradient (of the mean) in model->grad. */
int dc__model_grad(dc_model_t *model, dc__seq_t *seqs, size_t n, size_t grad, double *loss,
                   size_t *n_targets);
/* The gradient of dc_model_train's loss on n SKUs, not applied. */
int dc__model_online_grad(dc_model_t *model, dc_model_sku_t *const *skus, size_t n, double *loss,
                          size_t *n_targets);
/* Frees the training workspace (it is rebuilt on demand). */
void dc__model_free_train(dc_model_t *model);
/* Clips, guards and applies one Adam step with learning rate lr. */
int dc__model_apply(dc_model_t *model, double loss, double lr);

/* The calendar inputs of one bucket start, cached across the SKUs of a
 * step (they all close the same bucket): sin and cos are not free. */
typedef struct {
    int64_t start_ms; /* INT64_MIN: nothing cached yet */
    float v[4];       /* hour sin, hour cos, day-of-week sin, cos */
} dc__calendar_t;

/* Features and the scaling update of one bucket, as dc_model_step does:
 * writes x, then moves the record's EWMAs on. Returns the units scale the
 * forecast made at this bucket uses. cal may be NULL. */
float dc__sku_observe(dc_model_sku_t *sku, const dc_model_bucket_t *bucket, dc__calendar_t *cal,
                      float *x);
/* Counts no shop reaches (beyond 1e12) are capped, so that an absurd value
 * that got this far can neither overflow the float scaling nor poison it. */
#define DC__COUNT_MAX 1e12
/* A count from a bucket as the model uses it: 0 unless finite and
 * positive, and capped at DC__COUNT_MAX. */
double dc__clean_count(double v);
/* dc__sku_observe in three parts, so that a batch of rows takes its
 * logarithms in one vector loop: dc__sku_observe_args leaves the
 * DC__LOG_ARGS inputs that go through log1p as their arguments in args;
 * dc__log1p_n maps them in place; dc__features_finish puts them into x. */
#define DC__LOG_ARGS 5
float dc__sku_observe_args(dc_model_sku_t *sku, const dc_model_bucket_t *bucket,
                           dc__calendar_t *cal, float *x, float *args);
void dc__log1p_n(float *v, size_t n);
void dc__features_finish(float *x, const float *logs);

/* Copies a SKU's history ring, oldest first, into rows (K x DC__ROW) and its
 * units into y; returns the row count. */
size_t dc__sku_history(const dc_model_t *model, const dc_model_sku_t *sku, float *rows, float *y);
float *dc__sku_h0(const dc_model_t *model, dc_model_sku_t *sku);
float *dc__sku_c0(const dc_model_t *model, dc_model_sku_t *sku);
float *dc__sku_hist(const dc_model_t *model, dc_model_sku_t *sku);

#endif /* DC_INFERENCE_INT_H */
