/* inference/trainer.c - truncated BPTT through the LSTM and the NB head,
 * Adam with clipping and guards, online steps and offline fitting. */
#include "inference/inference_int.h"

#include <cblas.h>
#include <stdlib.h>

#define ADAM_B1 0.9
#define ADAM_B2 0.999
#define ADAM_EPS 1e-8
#define LOSS_EWMA 0.05

static int ensure_train_ws(dc_model_t *model, size_t rows, size_t steps)
{
    if (rows <= model->tr_rows && steps <= model->tr_steps)
        return 0;
    if (rows < model->tr_rows)
        rows = model->tr_rows;
    if (steps < model->tr_steps)
        steps = model->tr_steps;
    dc__model_free_train(model);
    size_t F = (size_t)model->F, H = (size_t)model->H, Hz = (size_t)model->Hz;
    size_t rs = rows * steps;
    model->tr_in = malloc(sizeof(float) * rs * (F + H));
    model->tr_act = malloc(sizeof(float) * rs * 4 * H);
    model->tr_cp = malloc(sizeof(float) * rs * H);
    model->tr_c = malloc(sizeof(float) * rs * H);
    model->tr_h = malloc(sizeof(float) * rs * H);
    model->tr_out = malloc(sizeof(float) * rs * 2 * Hz);
    model->tr_dout = malloc(sizeof(float) * rows * 2 * Hz);
    model->tr_dh = malloc(sizeof(float) * rows * H);
    model->tr_dc = malloc(sizeof(float) * rows * H);
    model->tr_hcur = malloc(sizeof(float) * rows * H);
    model->tr_ccur = malloc(sizeof(float) * rows * H);
    model->tr_dz = malloc(sizeof(float) * rows * 4 * H);
    model->tr_din = malloc(sizeof(float) * rows * (F + H));
    model->tr_order = malloc(sizeof(size_t) * rows);
    if (!model->tr_in || !model->tr_act || !model->tr_cp || !model->tr_c || !model->tr_h ||
        !model->tr_out || !model->tr_dout || !model->tr_dh || !model->tr_dc ||
        !model->tr_hcur || !model->tr_ccur || !model->tr_dz || !model->tr_din ||
        !model->tr_order) {
        dc__model_free_train(model);
        return DC_ERR_NOMEM;
    }
    model->tr_rows = rows;
    model->tr_steps = steps;
    return 0;
}

static int target_ok(const dc__seq_t *seq, size_t idx)
{
    return idx < seq->y_len && isfinite(seq->y[idx]) && seq->y[idx] >= 0;
}

/* Sorts sequence indices by length, longest first, ties by index: with the
 * sequences aligned at their ends, the rows active at any step are then a
 * prefix, and every sgemm runs over a contiguous block. */
static void order_by_length(const dc__seq_t *seqs, size_t n, size_t *order)
{
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j > 0 && seqs[order[j - 1]].len < seqs[i].len) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
}

/* The elementwise parts of a step, forward (z: pre-activations with bias,
 * replaced by the activations i f g o; c and h updated in place) and
 * backward (from dh and the dc flowing back, the gate gradients dz and the
 * dc for the step before). */
DC__CLONES
static void gates_forward(float *restrict z, float *restrict c, float *restrict h, size_t H,
                          float clamp)
{
    for (size_t j = 0; j < H; j++) {
        float i = dc__sigmoid(z[j], clamp);
        float f = dc__sigmoid(z[H + j], clamp);
        float gg = dc__tanhf(z[2 * H + j], clamp);
        float o = dc__sigmoid(z[3 * H + j], clamp);
        z[j] = i;
        z[H + j] = f;
        z[2 * H + j] = gg;
        z[3 * H + j] = o;
        float cj = f * c[j] + i * gg;
        c[j] = cj;
        h[j] = o * dc__tanhf(cj, clamp);
    }
}

DC__CLONES
static void gates_backward(const float *restrict a, const float *restrict c,
                           const float *restrict cp, const float *restrict dh,
                           float *restrict dc, float *restrict dz, size_t H, float clamp)
{
    for (size_t j = 0; j < H; j++) {
        float i = a[j], f = a[H + j], gg = a[2 * H + j], o = a[3 * H + j];
        float tc = dc__tanhf(c[j], clamp);
        float dcj = dc[j] + dh[j] * o * (1.0f - tc * tc);
        dz[j] = dcj * gg * i * (1.0f - i);
        dz[H + j] = dcj * cp[j] * f * (1.0f - f);
        dz[2 * H + j] = dcj * i * (1.0f - gg * gg);
        dz[3 * H + j] = dh[j] * tc * o * (1.0f - o);
        dc[j] = dcj * f;
    }
}

/* The forward pass over all T steps; the last G store what backward needs. */
static void grad_forward(dc_model_t *model, dc__seq_t *seqs, size_t n, size_t T, size_t G)
{
    size_t F = (size_t)model->F, H = (size_t)model->H, Hz = (size_t)model->Hz;
    size_t ld = F + H;
    const size_t *order = model->tr_order;
    size_t active = 0;
    for (size_t s = 0; s < T; s++) {
        size_t first_new = active;
        while (active < n && T - seqs[order[active]].len <= s)
            active++;
        for (size_t r = first_new; r < active; r++) {
            const dc__seq_t *seq = &seqs[order[r]];
            float *hc = model->tr_hcur + r * H, *cc = model->tr_ccur + r * H;
            if (seq->h0) {
                memcpy(hc, seq->h0, sizeof(float) * H);
                memcpy(cc, seq->c0, sizeof(float) * H);
            } else {
                memset(hc, 0, sizeof(float) * H);
                memset(cc, 0, sizeof(float) * H);
            }
        }
        int stored = s >= T - G;
        size_t g = stored ? s - (T - G) : 0;
        float *in = stored ? model->tr_in + g * model->tr_rows * ld : model->tr_din;
        float *z = stored ? model->tr_act + g * model->tr_rows * 4 * H : model->tr_dz;
        for (size_t r = 0; r < active; r++) {
            const dc__seq_t *seq = &seqs[order[r]];
            size_t j = s - (T - seq->len);
            memcpy(in + r * ld, seq->rows + j * DC__ROW, sizeof(float) * F);
            memcpy(in + r * ld + F, model->tr_hcur + r * H, sizeof(float) * H);
            memcpy(z + r * 4 * H, model->b, sizeof(float) * 4 * H);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)active, (int)(4 * H), (int)ld,
                    1.0f, in, (int)ld, model->W, (int)(4 * H), 1.0f, z, (int)(4 * H));
        for (size_t r = 0; r < active; r++) {
            float *zr = z + r * 4 * H;
            float *hc = model->tr_hcur + r * H, *cc = model->tr_ccur + r * H;
            if (stored)
                memcpy(model->tr_cp + (g * model->tr_rows + r) * H, cc, sizeof(float) * H);
            gates_forward(zr, cc, hc, H, model->tanh_clamp);
            if (stored) {
                memcpy(model->tr_c + (g * model->tr_rows + r) * H, cc, sizeof(float) * H);
                memcpy(model->tr_h + (g * model->tr_rows + r) * H, hc, sizeof(float) * H);
            }
            const dc__seq_t *seq = &seqs[order[r]];
            if (seq->h1 && s == T - seq->len) {
                memcpy(seq->h1, hc, sizeof(float) * H);
                memcpy(seq->c1, cc, sizeof(float) * H);
            }
        }
        if (stored) {
            float *out = model->tr_out + g * model->tr_rows * 2 * Hz;
            for (size_t r = 0; r < active; r++)
                memcpy(out + r * 2 * Hz, model->bh, sizeof(float) * 2 * Hz);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)active, (int)(2 * Hz),
                        (int)H, 1.0f, model->tr_h + g * model->tr_rows * H, (int)H, model->Wh,
                        (int)(2 * Hz), 1.0f, out, (int)(2 * Hz));
        }
    }
}

static void colsum_add(const float *m, size_t rows, size_t cols, float *acc)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < cols; j++)
            acc[j] += m[r * cols + j];
}

int dc__model_grad(dc_model_t *model, dc__seq_t *seqs, size_t n, size_t grad, double *loss,
                   size_t *n_targets)
{
    size_t F = (size_t)model->F, H = (size_t)model->H, Hz = (size_t)model->Hz;
    size_t ld = F + H;
    size_t T = 0;
    *loss = 0.0;
    *n_targets = 0;
    memset(model->grad, 0, sizeof(float) * model->n_params);
    for (size_t i = 0; i < n; i++)
        T = seqs[i].len > T ? seqs[i].len : T;
    if (n == 0 || T == 0)
        return 0;
    size_t G = grad < T ? grad : T;
    if (G == 0)
        return 0;
    int err = ensure_train_ws(model, n, G);
    if (err)
        return err;
    size_t *order = model->tr_order;
    order_by_length(seqs, n, order);
    /* Count the targets first: the loss is their mean, so every gradient
     * term carries 1/N from the start. */
    size_t N = 0;
    for (size_t i = 0; i < n; i++) {
        const dc__seq_t *seq = &seqs[i];
        size_t j0 = seq->len > G ? seq->len - G : 0;
        for (size_t j = j0; j < seq->len; j++)
            for (size_t k = 1; k <= Hz; k++)
                N += (size_t)target_ok(seq, j + k);
    }
    if (N == 0)
        return 0;
    grad_forward(model, seqs, n, T, G);

    float *gW = model->grad, *gb = gW + ld * 4 * H, *gWh = gb + 4 * H, *gbh = gWh + H * 2 * Hz;
    float *dh = model->tr_dh, *dc = model->tr_dc, *dz = model->tr_dz, *dout = model->tr_dout;
    memset(dh, 0, sizeof(float) * n * H);
    memset(dc, 0, sizeof(float) * n * H);
    double inv_n = 1.0 / (double)N, total = 0.0;
    size_t active = n;
    for (size_t gi = G; gi-- > 0;) {
        size_t s = T - G + gi;
        while (active > 0 && T - seqs[order[active - 1]].len > s)
            active--;
        const float *out = model->tr_out + gi * model->tr_rows * 2 * Hz;
        for (size_t r = 0; r < active; r++) {
            const dc__seq_t *seq = &seqs[order[r]];
            size_t j = s - (T - seq->len);
            double scale = seq->rows[j * DC__ROW + F];
            for (size_t k = 1; k <= Hz; k++) {
                float *d = dout + r * 2 * Hz + 2 * (k - 1);
                if (!target_ok(seq, j + k)) {
                    d[0] = d[1] = 0.0f;
                    continue;
                }
                double dm, da;
                total += dc__nb_loss_grad(seq->y[j + k], scale, out[r * 2 * Hz + 2 * (k - 1)],
                                          out[r * 2 * Hz + 2 * (k - 1) + 1], &dm, &da);
                d[0] = (float)(dm * inv_n);
                d[1] = (float)(da * inv_n);
            }
        }
        const float *hs = model->tr_h + gi * model->tr_rows * H;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)H, (int)(2 * Hz), (int)active,
                    1.0f, hs, (int)H, dout, (int)(2 * Hz), 1.0f, gWh, (int)(2 * Hz));
        colsum_add(dout, active, 2 * Hz, gbh);
        /* dh (holding what flows back from the next step) += dout Wh^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)active, (int)H, (int)(2 * Hz),
                    1.0f, dout, (int)(2 * Hz), model->Wh, (int)(2 * Hz), 1.0f, dh, (int)H);
        const float *act = model->tr_act + gi * model->tr_rows * 4 * H;
        const float *cs = model->tr_c + gi * model->tr_rows * H;
        const float *cps = model->tr_cp + gi * model->tr_rows * H;
        for (size_t r = 0; r < active; r++)
            gates_backward(act + r * 4 * H, cs + r * H, cps + r * H, dh + r * H, dc + r * H,
                           dz + r * 4 * H, H, model->tanh_clamp);
        const float *in = model->tr_in + gi * model->tr_rows * ld;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)ld, (int)(4 * H), (int)active,
                    1.0f, in, (int)ld, dz, (int)(4 * H), 1.0f, gW, (int)(4 * H));
        colsum_add(dz, active, 4 * H, gb);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)active, (int)ld, (int)(4 * H),
                    1.0f, dz, (int)(4 * H), model->W, (int)(4 * H), 0.0f, model->tr_din, (int)ld);
        for (size_t r = 0; r < active; r++)
            memcpy(dh + r * H, model->tr_din + r * ld + F, sizeof(float) * H);
    }
    *loss = total * inv_n;
    *n_targets = N;
    return 0;
}

static void snapshot_take(dc_model_t *model)
{
    size_t bytes = sizeof(float) * model->n_params;
    memcpy(model->snap_params, model->params, bytes);
    memcpy(model->snap_m, model->adam_m, bytes);
    memcpy(model->snap_v, model->adam_v, bytes);
    model->snap_t = model->adam_t;
    model->good_since_snap = 0;
}

static void snapshot_restore(dc_model_t *model)
{
    size_t bytes = sizeof(float) * model->n_params;
    memcpy(model->params, model->snap_params, bytes);
    memcpy(model->adam_m, model->snap_m, bytes);
    memcpy(model->adam_v, model->snap_v, bytes);
    model->adam_t = model->snap_t;
    model->good_since_snap = 0;
    model->rollbacks++;
    /* The weights changed, so forecasts from now on carry a new version. */
    model->version++;
}

int dc__model_apply(dc_model_t *model, double loss, double lr)
{
    size_t np = model->n_params;
    const float *g = model->grad;
    double norm2 = 0.0;
    for (size_t i = 0; i < np; i++)
        norm2 += (double)g[i] * g[i];
    if (!isfinite(loss) || !isfinite(norm2)) {
        model->skipped++;
        return DC_ERR_NUMERIC;
    }
    if (model->loss_n >= DC__LOSS_WARMUP && loss > model->conf.diverge * model->loss_mean &&
        model->loss_mean > 0) {
        snapshot_restore(model);
        return DC_ERR_NUMERIC;
    }
    double norm = sqrt(norm2);
    float clip = norm > model->conf.clip ? (float)(model->conf.clip / norm) : 1.0f;
    model->adam_t++;
    double t = (double)model->adam_t;
    float step = (float)(lr * sqrt(1.0 - pow(ADAM_B2, t)) / (1.0 - pow(ADAM_B1, t)));
    float b1 = (float)ADAM_B1, b2 = (float)ADAM_B2, eps = (float)ADAM_EPS;
    float *p = model->params, *m = model->adam_m, *v = model->adam_v;
    int finite = 1;
    for (size_t i = 0; i < np; i++) {
        float gi = g[i] * clip;
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        p[i] -= step * m[i] / (sqrtf(v[i]) + eps);
        finite &= isfinite(p[i]);
    }
    if (!finite) {
        snapshot_restore(model);
        return DC_ERR_NUMERIC;
    }
    model->version++;
    model->loss_n++;
    if (model->loss_n <= DC__LOSS_WARMUP)
        model->loss_mean += (loss - model->loss_mean) / (double)model->loss_n;
    else
        model->loss_mean += LOSS_EWMA * (loss - model->loss_mean);
    if (++model->good_since_snap >= (uint64_t)model->conf.snapshot_every)
        snapshot_take(model);
    return 0;
}

static int ensure_seq_bufs(dc_model_t *model, size_t n)
{
    if (n <= model->tr_seq_cap)
        return 0;
    size_t K = (size_t)model->K, H = (size_t)model->H;
    dc__seq_t *seqs = realloc(model->tr_seqs, sizeof(*seqs) * n);
    if (!seqs)
        return DC_ERR_NOMEM;
    model->tr_seqs = seqs;
    float *rows = realloc(model->tr_rowbuf, sizeof(float) * n * K * DC__ROW);
    if (!rows)
        return DC_ERR_NOMEM;
    model->tr_rowbuf = rows;
    float *y = realloc(model->tr_ybuf, sizeof(float) * n * K);
    if (!y)
        return DC_ERR_NOMEM;
    model->tr_ybuf = y;
    float *h1 = realloc(model->tr_h1, sizeof(float) * n * 2 * H);
    if (!h1)
        return DC_ERR_NOMEM;
    model->tr_h1 = h1;
    model->tr_seq_cap = n;
    return 0;
}

/* Builds the online training sequences of n SKUs in the model's buffers. */
static int online_seqs(dc_model_t *model, dc_model_sku_t *const *skus, size_t n)
{
    size_t K = (size_t)model->K, H = (size_t)model->H;
    int err = ensure_seq_bufs(model, n);
    if (err)
        return err;
    for (size_t i = 0; i < n; i++) {
        dc__seq_t *seq = &model->tr_seqs[i];
        float *rows = model->tr_rowbuf + i * K * DC__ROW, *y = model->tr_ybuf + i * K;
        seq->len = dc__sku_history(model, skus[i], rows, y);
        seq->rows = rows;
        seq->y = y;
        seq->y_len = seq->len;
        seq->h0 = dc__sku_h0(model, skus[i]);
        seq->c0 = dc__sku_c0(model, skus[i]);
        seq->h1 = model->tr_h1 + i * 2 * H;
        seq->c1 = seq->h1 + H;
    }
    return 0;
}

int dc__model_online_grad(dc_model_t *model, dc_model_sku_t *const *skus, size_t n, double *loss,
                          size_t *n_targets)
{
    int err = online_seqs(model, skus, n);
    if (err)
        return err;
    return dc__model_grad(model, model->tr_seqs, n, (size_t)model->K, loss, n_targets);
}

int dc_model_train(dc_model_t *model, dc_model_sku_t *const *skus, size_t n, double *loss)
{
    double l = 0.0;
    size_t n_targets = 0;
    size_t H = (size_t)model->H;
    int err = dc__model_online_grad(model, skus, n, &l, &n_targets);
    if (loss)
        *loss = l;
    if (err)
        return err;
    if (n_targets > 0)
        err = dc__model_apply(model, l, model->conf.lr);
    /* The windows slide whatever became of the update: the anchor state
     * was computed with the weights the rows were stepped under. */
    for (size_t i = 0; i < n; i++) {
        dc_model_sku_t *sku = skus[i];
        if (sku->hist_len < model->K)
            continue;
        memcpy(dc__sku_h0(model, sku), model->tr_seqs[i].h1, sizeof(float) * H);
        memcpy(dc__sku_c0(model, sku), model->tr_seqs[i].c1, sizeof(float) * H);
        sku->hist_head = (uint16_t)((sku->hist_head + 1) % model->K);
        sku->hist_len--;
    }
    return err;
}

/* ---- offline ---- */

void dc_model_fit_opts_default(dc_model_fit_opts_t *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->epochs = 30;
    opts->windows = 4;
    opts->batch = 64;
    opts->bptt = 28;
    opts->lr = 0.003;
    opts->lr_final = 0.0003;
    opts->seed = 1;
}

typedef struct {
    uint32_t series;
    uint32_t end;
} fit_window_t;

int dc_model_fit(dc_model_t *model, const dc_model_series_t *series, size_t n,
                 const dc_model_fit_opts_t *opts, char *errstr, size_t errstr_size)
{
    /* Every failure after the option check is a failed allocation. */
    int err = DC_ERR_NOMEM;
    float *rows = NULL, *ys = NULL;
    size_t *offs = NULL;
    fit_window_t *wins = NULL;
    dc__seq_t *seqs = NULL;
    dc_model_sku_t *scratch = NULL;
    if (opts->epochs < 1 || opts->windows < 1 || opts->batch < 1 || opts->bptt < 1 ||
        !(opts->lr >= 0) || !(opts->lr_final >= 0))
        return dc_seterr(errstr, errstr_size, DC_ERR_INVAL, "fit: bad options");
    offs = malloc(sizeof(size_t) * (n + 1));
    scratch = malloc(dc_model_sku_size(model));
    if (!offs || !scratch)
        goto fail;
    offs[0] = 0;
    for (size_t i = 0; i < n; i++)
        offs[i + 1] = offs[i] + series[i].n;
    rows = malloc(sizeof(float) * (offs[n] ? offs[n] : 1) * DC__ROW);
    ys = malloc(sizeof(float) * (offs[n] ? offs[n] : 1));
    if (!rows || !ys)
        goto fail;
    /* The inputs each series gives, with its scaling run exactly as
     * dc_model_step runs it when the SKU is served. */
    size_t n_wins = 0;
    dc__calendar_t cal = {.start_ms = INT64_MIN};
    for (size_t i = 0; i < n; i++) {
        dc_model_sku_init(model, scratch);
        for (size_t t = 0; t < series[i].n; t++) {
            const dc_model_bucket_t *b = &series[i].buckets[t];
            float *row = rows + (offs[i] + t) * DC__ROW;
            row[DC__F] = dc__sku_observe(scratch, b, &cal, row);
            row[DC__F + 1] = (float)dc__clean_count(b->units);
            ys[offs[i] + t] = row[DC__F + 1];
        }
        if (series[i].n >= 2)
            n_wins += (size_t)opts->windows;
    }
    wins = malloc(sizeof(*wins) * (n_wins ? n_wins : 1));
    seqs = malloc(sizeof(*seqs) * (size_t)opts->batch);
    if (!wins || !seqs)
        goto fail;
    dc_rng_t rng;
    dc_rng_seed(&rng, opts->seed, 0);
    for (int epoch = 0; n_wins > 0 && epoch < opts->epochs; epoch++) {
        size_t w = 0;
        for (size_t i = 0; i < n; i++) {
            if (series[i].n < 2)
                continue;
            for (int k = 0; k < opts->windows; k++) {
                wins[w].series = (uint32_t)i;
                wins[w].end = (uint32_t)(1 + dc_rng_below(&rng, series[i].n - 1));
                w++;
            }
        }
        for (size_t i = n_wins; i > 1; i--) {
            size_t j = (size_t)dc_rng_below(&rng, i);
            fit_window_t tmp = wins[i - 1];
            wins[i - 1] = wins[j];
            wins[j] = tmp;
        }
        double frac = opts->epochs > 1 ? (double)epoch / (opts->epochs - 1) : 0.0;
        double lr = opts->lr + (opts->lr_final - opts->lr) * frac;
        double sum = 0.0;
        size_t counted = 0;
        for (size_t b0 = 0; b0 < n_wins; b0 += (size_t)opts->batch) {
            size_t m = n_wins - b0 < (size_t)opts->batch ? n_wins - b0 : (size_t)opts->batch;
            for (size_t r = 0; r < m; r++) {
                const fit_window_t *win = &wins[b0 + r];
                size_t o = offs[win->series];
                seqs[r] = (dc__seq_t){.rows = rows + o * DC__ROW,
                                      .len = win->end,
                                      .y = ys + o,
                                      .y_len = series[win->series].n};
            }
            double loss;
            size_t n_targets;
            if (dc__model_grad(model, seqs, m, (size_t)opts->bptt, &loss, &n_targets))
                goto fail;
            if (n_targets == 0)
                continue;
            /* A skipped or rolled-back step is counted in the model's stats;
             * fitting goes on from the weights the guard left. */
            if (dc__model_apply(model, loss, lr) == 0) {
                sum += loss;
                counted++;
            }
        }
        if (opts->progress)
            opts->progress(epoch, counted ? sum / (double)counted : NAN, opts->opaque);
    }
    err = 0;
fail:
    if (err)
        dc_seterr(errstr, errstr_size, err, "fit: out of memory");
    free(rows);
    free(ys);
    free(offs);
    free(wins);
    free(seqs);
    free(scratch);
    return err;
}
