/* inference/lstm.c - the model object, its weights and the batched forward
 * step on CBLAS. */
#include "inference/inference_int.h"

#include <cblas.h>
#include <stdlib.h>

void dc_model_conf_default(dc_model_conf_t *mc)
{
    mc->hidden = 64;
    mc->horizon = 24;
    mc->bptt = 8;
    mc->batch = 256;
    mc->lr = 0.001;
    mc->clip = 5.0;
    mc->diverge = 10.0;
    mc->snapshot_every = 50;
    mc->seed = 42;
}

int dc_model_conf_load(dc_model_conf_t *mc, const dc_conf_t *conf, char *errstr,
                       size_t errstr_size)
{
    dc_model_conf_default(mc);
    mc->hidden = (int)dc_conf_int(conf, "model.hidden");
    mc->horizon = (int)dc_conf_int(conf, "horizon");
    mc->bptt = (int)dc_conf_int(conf, "train.bptt");
    mc->batch = (int)dc_conf_int(conf, "train.batch");
    mc->lr = dc_conf_double(conf, "train.lr");
    mc->seed = (uint64_t)dc_conf_int(conf, "model.seed");
    if (mc->horizon > 512 || mc->bptt > 512)
        return dc_seterr(errstr, errstr_size, DC_ERR_CONFIG, "horizon and train.bptt must be <= 512");
    return 0;
}

void dc__model_free_train(dc_model_t *model)
{
    float **bufs[] = {&model->tr_in,   &model->tr_act, &model->tr_cp,   &model->tr_c,
                      &model->tr_h,    &model->tr_out, &model->tr_dout, &model->tr_dh,
                      &model->tr_dc,   &model->tr_hcur, &model->tr_ccur, &model->tr_dz,
                      &model->tr_din};
    for (size_t i = 0; i < DC_ARRAY_SIZE(bufs); i++) {
        free(*bufs[i]);
        *bufs[i] = NULL;
    }
    free(model->tr_order);
    model->tr_order = NULL;
    model->tr_rows = model->tr_steps = 0;
}

void dc_model_destroy(dc_model_t *model)
{
    if (!model)
        return;
    free(model->params);
    free(model->grad);
    free(model->adam_m);
    free(model->adam_v);
    free(model->snap_params);
    free(model->snap_m);
    free(model->snap_v);
    free(model->ws_in);
    free(model->ws_gates);
    free(model->ws_out);
    free(model->ws_args);
    dc__model_free_train(model);
    free(model->tr_seqs);
    free(model->tr_rowbuf);
    free(model->tr_ybuf);
    free(model->tr_h1);
    free(model);
}

/* PyTorch's LSTM initialisation, uniform in +-1/sqrt(H), with the forget
 * gate biased open (1.0) so early training remembers; the head starts at
 * mu = scale (softplus(0.5413) = 1) and alpha = 1, a sensible lumpy prior. */
static void model_init_weights(dc_model_t *model)
{
    dc_rng_t rng;
    int F = model->F, H = model->H, Hz = model->Hz;
    dc_rng_seed(&rng, model->conf.seed, 0);
    float k = 1.0f / sqrtf((float)H);
    for (size_t i = 0; i < (size_t)(F + H) * 4 * H; i++)
        model->W[i] = (float)((2.0 * dc_rng_uniform(&rng) - 1.0) * k);
    for (int i = 0; i < 4 * H; i++)
        model->b[i] = (i >= H && i < 2 * H) ? 1.0f : 0.0f;
    float kh = 0.1f * k;
    for (size_t i = 0; i < (size_t)H * 2 * Hz; i++)
        model->Wh[i] = (float)((2.0 * dc_rng_uniform(&rng) - 1.0) * kh);
    for (int i = 0; i < 2 * Hz; i++)
        model->bh[i] = 0.5413249f;
}

dc_model_t *dc_model_new(const dc_model_conf_t *mc, char *errstr, size_t errstr_size)
{
    dc_model_t *model = NULL;
    if (mc->hidden < 1 || mc->hidden > 4096 || mc->horizon < 1 || mc->horizon > 512 ||
        mc->bptt < 1 || mc->bptt > 512 || !(mc->lr >= 0) || !(mc->clip > 0) ||
        !(mc->diverge > 1) || mc->snapshot_every < 1) {
        dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                  "model: hidden %d, horizon %d, bptt %d, lr %g, clip %g or diverge %g out of range",
                  mc->hidden, mc->horizon, mc->bptt, mc->lr, mc->clip, mc->diverge);
        return NULL;
    }
    /* Deterministic results and honest per-core figures need one BLAS
     * thread; the pipeline parallelises across partitions instead. */
    openblas_set_num_threads(1);
    model = calloc(1, sizeof(*model));
    if (!model)
        goto fail;
    model->conf = *mc;
    model->F = DC__F;
    model->H = mc->hidden;
    model->Hz = mc->horizon;
    model->K = mc->bptt;
    model->tanh_clamp = DC__TANH_CLAMP;
    int F = model->F, H = model->H, Hz = model->Hz;
    size_t nW = (size_t)(F + H) * 4 * H, nWh = (size_t)H * 2 * Hz;
    model->n_params = nW + 4 * (size_t)H + nWh + 2 * (size_t)Hz;
    size_t np = model->n_params;
    model->params = calloc(np, sizeof(float));
    model->grad = calloc(np, sizeof(float));
    model->adam_m = calloc(np, sizeof(float));
    model->adam_v = calloc(np, sizeof(float));
    model->snap_params = calloc(np, sizeof(float));
    model->snap_m = calloc(np, sizeof(float));
    model->snap_v = calloc(np, sizeof(float));
    model->ws_in = malloc(sizeof(float) * DC__CHUNK * (size_t)(F + H));
    model->ws_gates = malloc(sizeof(float) * DC__CHUNK * 4 * (size_t)H);
    model->ws_out = malloc(sizeof(float) * DC__CHUNK * 2 * (size_t)Hz);
    model->ws_args = malloc(sizeof(float) * DC__CHUNK * DC__LOG_ARGS);
    if (!model->params || !model->grad || !model->adam_m || !model->adam_v ||
        !model->snap_params || !model->snap_m || !model->snap_v || !model->ws_in ||
        !model->ws_gates || !model->ws_out || !model->ws_args)
        goto fail;
    model->W = model->params;
    model->b = model->W + nW;
    model->Wh = model->b + 4 * H;
    model->bh = model->Wh + nWh;
    model_init_weights(model);
    memcpy(model->snap_params, model->params, np * sizeof(float));
    return model;
fail:
    dc_model_destroy(model);
    dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "model: out of memory");
    return NULL;
}

const dc_model_conf_t *dc_model_conf(const dc_model_t *model)
{
    return &model->conf;
}

uint64_t dc_model_version(const dc_model_t *model)
{
    return model->version;
}

float *dc_model_params(dc_model_t *model, size_t *n_params)
{
    if (n_params)
        *n_params = model->n_params;
    return model->params;
}

void dc_model_stats(const dc_model_t *model, dc_model_stats_t *stats)
{
    stats->steps = model->version;
    stats->skipped = model->skipped;
    stats->rollbacks = model->rollbacks;
    stats->loss_mean = model->loss_mean;
}

void dc__head_dist(float scale, float z_mu, float z_alpha, dc_model_dist_t *dist)
{
    dist->mu = scale * dc__softplusf(z_mu);
    dist->alpha = dc__softplusf(z_alpha) + DC__ALPHA_MIN;
}

/* dc__head_dist for the Hz horizons of one row: o holds (z_mu, z_alpha)
 * pairs, and d receives (mu, alpha) pairs. */
DC__CLONES
static void head_row(const float *restrict o, float scale, float *restrict d, int n)
{
    for (int j = 0; j < n; j++) {
        float sp = dc__softplusf(o[j]);
        d[j] = (j & 1) ? sp + DC__ALPHA_MIN : scale * sp;
    }
}

/* Head sgemm and distributions for m rows whose h sits in ws_in at column F. */
static void step_head(dc_model_t *model, dc_model_sku_t *const *skus, size_t m,
                      const float *scales, dc_model_dist_t *dist)
{
    int F = model->F, H = model->H, Hz = model->Hz;
    float *out = model->ws_out;
    for (size_t r = 0; r < m; r++)
        memcpy(out + r * 2 * Hz, model->bh, sizeof(float) * 2 * Hz);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, 2 * Hz, H, 1.0f,
                model->ws_in + F, F + H, model->Wh, 2 * Hz, 1.0f, out, 2 * Hz);
    /* dc_model_dist_t is a pair of floats, so a row of Hz of them is 2 Hz
     * floats in the order the head writes them. */
    for (size_t r = 0; r < m; r++)
        head_row(out + r * 2 * Hz, scales ? scales[r] : dc_model_sku_scale(skus[r]),
                 &dist[r * Hz].mu, 2 * Hz);
}

/* The gate nonlinearities of one row: z holds the pre-activations without
 * bias; c is updated in place and the new h goes to both h and h_out. A
 * plain loop over H that GCC vectorises. With every gate a ratio P/Q of
 * dc__tanh_pq,
 *     c' = f c + i g = [c (Qf+Pf) Qi Qg + (Qi+Pi) Pg Qf] / (2 Qf Qi Qg)
 *     h' = o tanh(c') = (Qo+Po) Pc / (2 Qo Qc)
 * takes two divisions where five gates would take five; the values agree
 * with dc__sigmoid and dc__tanhf to float rounding. */
DC__CLONES
static void gates_row(const float *restrict z, const float *restrict b, float *restrict c,
                      float *restrict h, float *restrict h_out, int H, float clamp)
{
    for (int j = 0; j < H; j++) {
        float pi, qi, pf, qf, pg, qg, po, qo, pc, qc;
        dc__tanh_pq(0.5f * (z[j] + b[j]), clamp, &pi, &qi);
        dc__tanh_pq(0.5f * (z[H + j] + b[H + j]), clamp, &pf, &qf);
        dc__tanh_pq(z[2 * H + j] + b[2 * H + j], clamp, &pg, &qg);
        dc__tanh_pq(0.5f * (z[3 * H + j] + b[3 * H + j]), clamp, &po, &qo);
        float qiqg = qi * qg;
        float cj = (c[j] * (qf + pf) * qiqg + (qi + pi) * pg * qf) / (2.0f * qf * qiqg);
        dc__tanh_pq(cj, clamp, &pc, &qc);
        float hj = (qo + po) * pc / (2.0f * qo * qc);
        c[j] = cj;
        h[j] = hj;
        h_out[j] = hj;
    }
}

static int bucket_advances(const dc_model_sku_t *sku, const dc_model_bucket_t *bucket)
{
    return sku->last_bucket == INT64_MIN || bucket->start_ms > sku->last_bucket;
}

/* Before a step: the anchor (h0, c0) must be the state before the oldest
 * history row, so a ring that is empty or full starts again from the state
 * the SKU is in now. */
static void history_prepare(dc_model_t *model, dc_model_sku_t *sku)
{
    if (sku->hist_len == 0 || sku->hist_len == model->K)
        dc_model_sku_restart(model, sku);
}

static void history_push(dc_model_t *model, dc_model_sku_t *sku, const float *x, float scale,
                         const dc_model_bucket_t *bucket)
{
    int K = model->K;
    float *row = dc__sku_hist(model, sku) + ((sku->hist_head + sku->hist_len) % K) * DC__ROW;
    memcpy(row, x, sizeof(float) * DC__F);
    row[DC__F] = scale;
    row[DC__F + 1] = (float)dc__clean_count(bucket->units);
    sku->hist_len++;
    sku->last_bucket = bucket->start_ms;
    if (sku->n_steps < UINT32_MAX)
        sku->n_steps++;
}

/* Records are 1.5 KB apart (or anywhere, as the caller's pointers say),
 * which the hardware prefetcher does not follow: a step over 100k SKUs
 * waits on memory for every record unless the next ones are asked for. */
#define PREFETCH_AHEAD 6

static void prefetch_record(const dc_model_t *model, dc_model_sku_t *sku)
{
    const char *p = (const char *)sku, *end = (const char *)(sku->data + 2 * model->H);
    for (; p < end; p += 64)
        __builtin_prefetch(p, 1);
}

static void step_chunk(dc_model_t *model, dc_model_sku_t *const *skus,
                       const dc_model_bucket_t *buckets, size_t m, dc_model_dist_t *dist)
{
    int F = model->F, H = model->H;
    size_t ld = (size_t)(F + H);
    float scales[DC__CHUNK];
    unsigned char adv[DC__CHUNK];
    float *args = model->ws_args;
    dc__calendar_t cal = {.start_ms = INT64_MIN};
    for (size_t r = 0; r < m; r++) {
        float *in = model->ws_in + r * ld;
        if (r + PREFETCH_AHEAD < m)
            prefetch_record(model, skus[r + PREFETCH_AHEAD]);
        adv[r] = (unsigned char)bucket_advances(skus[r], &buckets[r]);
        if (adv[r]) {
            history_prepare(model, skus[r]);
            scales[r] = dc__sku_observe_args(skus[r], &buckets[r], &cal, in, args + r * DC__LOG_ARGS);
        } else {
            /* log1p(0) = 0: the row's inputs all come out 0. */
            memset(in, 0, sizeof(float) * F);
            memset(args + r * DC__LOG_ARGS, 0, sizeof(float) * DC__LOG_ARGS);
            scales[r] = dc_model_sku_scale(skus[r]);
        }
        memcpy(in + F, dc_model_sku_h(model, skus[r]), sizeof(float) * H);
    }
    dc__log1p_n(args, m * DC__LOG_ARGS);
    for (size_t r = 0; r < m; r++)
        dc__features_finish(model->ws_in + r * ld, args + r * DC__LOG_ARGS);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, 4 * H, F + H, 1.0f,
                model->ws_in, F + H, model->W, 4 * H, 0.0f, model->ws_gates, 4 * H);
    for (size_t r = 0; r < m; r++) {
        if (r + PREFETCH_AHEAD < m)
            prefetch_record(model, skus[r + PREFETCH_AHEAD]);
        if (!adv[r])
            continue; /* its current h is already in ws_in for the head */
        float *in = model->ws_in + r * ld;
        gates_row(model->ws_gates + r * 4 * H, model->b, dc_model_sku_c(model, skus[r]),
                  dc_model_sku_h(model, skus[r]), in + F, H, model->tanh_clamp);
        history_push(model, skus[r], in, scales[r], &buckets[r]);
    }
    if (dist)
        step_head(model, skus, m, scales, dist);
}

int dc_model_step(dc_model_t *model, dc_model_sku_t *const *skus, const dc_model_bucket_t *buckets,
                  size_t n, dc_model_dist_t *dist)
{
    for (size_t i = 0; i < n; i += DC__CHUNK) {
        size_t m = n - i < DC__CHUNK ? n - i : DC__CHUNK;
        step_chunk(model, skus + i, buckets + i, m, dist ? dist + i * model->Hz : NULL);
    }
    return 0;
}

int dc_model_predict(dc_model_t *model, dc_model_sku_t *const *skus, size_t n,
                     dc_model_dist_t *dist)
{
    int F = model->F, H = model->H;
    for (size_t i = 0; i < n; i += DC__CHUNK) {
        size_t m = n - i < DC__CHUNK ? n - i : DC__CHUNK;
        for (size_t r = 0; r < m; r++)
            memcpy(model->ws_in + r * (size_t)(F + H) + F, dc_model_sku_h(model, skus[i + r]),
                   sizeof(float) * H);
        step_head(model, skus + i, m, NULL, dist + i * model->Hz);
    }
    return 0;
}
