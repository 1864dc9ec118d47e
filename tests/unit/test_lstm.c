/* tests/unit/test_lstm.c - the batched LSTM step against a naive double-
 * precision reference, and the gradient of the full truncated BPTT + NB
 * loss against central finite differences of that reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "inference/inference_int.h"
#include "tests/state_crc.h"

#include <stdlib.h>

/* ---- a plain reference: naive loops in double, no BLAS ---- */

typedef struct {
    int F, H, Hz;
    const double *W, *b, *Wh, *bh;
} ref_net_t;

static void ref_bind(ref_net_t *net, const double *p, int H, int Hz)
{
    net->F = DC__F;
    net->H = H;
    net->Hz = Hz;
    net->W = p;
    net->b = net->W + (size_t)(DC__F + H) * 4 * H;
    net->Wh = net->b + 4 * H;
    net->bh = net->Wh + (size_t)H * 2 * Hz;
}

static double sigm(double z)
{
    return 1.0 / (1.0 + exp(-z));
}

static double softplus(double z)
{
    return z > 30 ? z : log1p(exp(z));
}

/* One LSTM step in place on h, c (H doubles each) for input x (F floats). */
static void ref_step(const ref_net_t *net, const float *x, double *h, double *c)
{
    int F = net->F, H = net->H;
    double z[4 * 4096];
    for (int col = 0; col < 4 * H; col++) {
        double s = net->b[col];
        for (int i = 0; i < F; i++)
            s += x[i] * net->W[(size_t)i * 4 * H + col];
        for (int i = 0; i < H; i++)
            s += h[i] * net->W[(size_t)(F + i) * 4 * H + col];
        z[col] = s;
    }
    for (int j = 0; j < H; j++) {
        double ig = sigm(z[j]), fg = sigm(z[H + j]), gg = tanh(z[2 * H + j]),
               og = sigm(z[3 * H + j]);
        c[j] = fg * c[j] + ig * gg;
        h[j] = og * tanh(c[j]);
    }
}

static void ref_head(const ref_net_t *net, const double *h, double *out)
{
    for (int col = 0; col < 2 * net->Hz; col++) {
        double s = net->bh[col];
        for (int i = 0; i < net->H; i++)
            s += h[i] * net->Wh[(size_t)i * 2 * net->Hz + col];
        out[col] = s;
    }
}

static double ref_nll(double y, double scale, double zm, double za)
{
    double mu = scale * softplus(zm), alpha = softplus(za) + DC__ALPHA_MIN;
    if (mu < 1e-12)
        mu = 1e-12;
    double r = 1.0 / alpha;
    double l = lgamma(r) - lgamma(y + r) + lgamma(y + 1) + (r + y) * log1p(alpha * mu);
    return y > 0 ? l - y * log(alpha * mu) : l;
}

/* dc_model_train's loss on the histories of n SKUs, in double. */
static double ref_online_loss(dc_model_t *model, dc_model_sku_t **skus, size_t n,
                              const double *params)
{
    const dc_model_conf_t *mc = dc_model_conf(model);
    int H = mc->hidden, Hz = mc->horizon, K = mc->bptt;
    ref_net_t net;
    ref_bind(&net, params, H, Hz);
    double total = 0;
    size_t count = 0;
    float *rows = malloc(sizeof(float) * K * DC__ROW), *y = malloc(sizeof(float) * K);
    double *h = malloc(sizeof(double) * H), *c = malloc(sizeof(double) * H);
    double *out = malloc(sizeof(double) * 2 * Hz);
    for (size_t s = 0; s < n; s++) {
        size_t len = dc__sku_history(model, skus[s], rows, y);
        const float *h0 = dc__sku_h0(model, skus[s]), *c0 = dc__sku_c0(model, skus[s]);
        for (int j = 0; j < H; j++) {
            h[j] = h0[j];
            c[j] = c0[j];
        }
        for (size_t t = 0; t < len; t++) {
            ref_step(&net, rows + t * DC__ROW, h, c);
            ref_head(&net, h, out);
            for (int k = 1; k <= Hz; k++) {
                if (t + k >= len)
                    break;
                total += ref_nll(y[t + k], rows[t * DC__ROW + DC__F], out[2 * (k - 1)],
                                 out[2 * (k - 1) + 1]);
                count++;
            }
        }
    }
    free(rows);
    free(y);
    free(h);
    free(c);
    free(out);
    return total / (double)count;
}

/* ---- fixtures ---- */

static uint64_t rng_state = 12345;

static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) * 0x1.0p-53;
}

static dc_model_t *make_model(int H, int Hz, int K)
{
    char errstr[256];
    dc_model_conf_t mc;
    dc_model_conf_default(&mc);
    mc.hidden = H;
    mc.horizon = Hz;
    mc.bptt = K;
    mc.seed = 7;
    dc_model_t *model = dc_model_new(&mc, errstr, sizeof(errstr));
    assert_non_null(model);
    /* Spread the weights beyond their initial range so every gate works
     * away from its linear region and the check means something. */
    size_t np;
    float *p = dc_model_params(model, &np);
    for (size_t i = 0; i < np; i++)
        p[i] += (float)(0.4 * (urand() - 0.5));
    return model;
}

static dc_model_sku_t **make_skus(dc_model_t *model, size_t n)
{
    dc_model_sku_t **skus = calloc(n, sizeof(*skus));
    for (size_t i = 0; i < n; i++) {
        skus[i] = malloc(dc_model_sku_size(model));
        dc_model_sku_init(model, skus[i]);
    }
    return skus;
}

static void free_skus(dc_model_sku_t **skus, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(skus[i]);
    free(skus);
}

static void random_bucket(dc_model_bucket_t *b, int64_t start)
{
    b->start_ms = start;
    b->width_ms = 3600000;
    b->units = urand() < 0.4 ? 0 : floor(urand() * 30);
    b->cancelled = urand() < 0.8 ? 0 : floor(urand() * 3);
    b->views = floor(urand() * 200);
    b->carts = floor(urand() * 20);
    b->price = urand() < 0.2 ? NAN : 5 + urand();
    b->promo_share = urand() < 0.7 ? 0 : urand();
}

/* ---- tests ---- */

static void test_forward_matches_reference(void **state)
{
    (void)state;
    const int H = 24, Hz = 5, K = 4, B = 37, STEPS = 6;
    dc_model_t *model = make_model(H, Hz, K);
    dc_model_sku_t **skus = make_skus(model, B);
    size_t np;
    float *p = dc_model_params(model, &np);
    double *pd = malloc(sizeof(double) * np);
    for (size_t i = 0; i < np; i++)
        pd[i] = p[i];
    ref_net_t net;
    ref_bind(&net, pd, H, Hz);
    double *h = calloc((size_t)B * H, sizeof(double)), *c = calloc((size_t)B * H, sizeof(double));
    dc_model_bucket_t *bk = malloc(sizeof(*bk) * B);
    dc_model_dist_t *dist = malloc(sizeof(*dist) * B * Hz);
    double out[64];
    for (int t = 0; t < STEPS; t++) {
        float x[DC__F];
        for (int i = 0; i < B; i++)
            random_bucket(&bk[i], 1300000000000LL + t * 3600000LL);
        /* The reference sees the inputs the model will build. */
        for (int i = 0; i < B; i++) {
            dc_model_features(skus[i], &bk[i], x);
            ref_step(&net, x, h + (size_t)i * H, c + (size_t)i * H);
        }
        assert_int_equal(dc_model_step(model, skus, bk, B, dist), 0);
        for (int i = 0; i < B; i++) {
            const float *mh = dc_model_sku_h(model, skus[i]), *mc = dc_model_sku_c(model, skus[i]);
            for (int j = 0; j < H; j++) {
                assert_true(fabs(mh[j] - h[(size_t)i * H + j]) < 1e-5);
                assert_true(fabs(mc[j] - c[(size_t)i * H + j]) < 1e-5);
            }
            ref_head(&net, h + (size_t)i * H, out);
            double scale = dc_model_sku_scale(skus[i]);
            for (int k = 0; k < Hz; k++) {
                double mu = scale * softplus(out[2 * k]);
                double alpha = softplus(out[2 * k + 1]) + DC__ALPHA_MIN;
                assert_true(fabs(dist[i * Hz + k].mu - mu) <= 1e-5 * (1 + mu));
                assert_true(fabs(dist[i * Hz + k].alpha - alpha) <= 1e-5 * (1 + alpha));
            }
            assert_int_equal(skus[i]->n_steps, t + 1);
            assert_int_equal(skus[i]->last_bucket, bk[i].start_ms);
        }
    }
    /* dc_model_predict reads the same forecast from the stored state. */
    dc_model_dist_t *again = malloc(sizeof(*again) * B * Hz);
    assert_int_equal(dc_model_predict(model, skus, B, again), 0);
    assert_memory_equal(again, dist, sizeof(*dist) * B * Hz);
    free(again);
    free(pd);
    free(h);
    free(c);
    free(bk);
    free(dist);
    free_skus(skus, B);
    dc_model_destroy(model);
}

/* Batches larger than the internal chunk give the same per-SKU results as
 * stepping the SKUs alone, and a repeated bucket does not advance a SKU. */
static void test_step_chunks_and_repeats(void **state)
{
    (void)state;
    const int H = 16, Hz = 3, K = 4;
    const size_t B = DC__CHUNK + 300;
    dc_model_t *model = make_model(H, Hz, K);
    dc_model_sku_t **skus = make_skus(model, B);
    dc_model_sku_t **solo = make_skus(model, 3);
    dc_model_bucket_t *bk = malloc(sizeof(*bk) * B);
    dc_model_dist_t *dist = malloc(sizeof(*dist) * B * Hz), one[16];
    size_t probe[3] = {0, DC__CHUNK - 1, B - 1};
    for (int t = 0; t < 3; t++) {
        for (size_t i = 0; i < B; i++)
            random_bucket(&bk[i], 1300000000000LL + t * 3600000LL);
        assert_int_equal(dc_model_step(model, skus, bk, B, dist), 0);
        for (int k = 0; k < 3; k++) {
            assert_int_equal(dc_model_step(model, &solo[k], &bk[probe[k]], 1, one), 0);
            float diff = 0;
            for (int j = 0; j < H; j++)
                diff = fmaxf(diff, fabsf(dc_model_sku_h(model, solo[k])[j] -
                                         dc_model_sku_h(model, skus[probe[k]])[j]));
            assert_true(diff < 1e-6);
        }
    }
    size_t sz = dc_model_sku_size(model);
    dc_model_sku_t *before = malloc(sz);
    memcpy(before, skus[5], sz);
    dc_model_dist_t d1[16], d2[16];
    assert_int_equal(dc_model_predict(model, &skus[5], 1, d1), 0);
    assert_int_equal(dc_model_step(model, &skus[5], &bk[5], 1, d2), 0);
    assert_memory_equal(before, skus[5], sz);
    assert_memory_equal(d1, d2, sizeof(d1[0]) * Hz);
    free(before);
    free(bk);
    free(dist);
    free_skus(skus, B);
    free_skus(solo, 3);
    dc_model_destroy(model);
}

static void test_features(void **state)
{
    (void)state;
    dc_model_t *model = make_model(8, 2, 3);
    dc_model_sku_t **skus = make_skus(model, 1);
    float x[DC__F];
    /* 2011-06-30 (a Thursday) 06:00 UTC */
    dc_model_bucket_t b = {.start_ms = 1309413600000LL, .width_ms = 3600000, .units = 4,
                           .price = 2.0, .promo_share = 3};
    dc_model_features(skus[0], &b, x);
    assert_true(fabsf(x[DC_FEAT_UNITS] - (float)log(2.0)) < 1e-6); /* own value as scale */
    assert_true(fabsf(x[DC_FEAT_HOUR_SIN] - 1.0f) < 1e-6);         /* 06:00 is a quarter turn */
    assert_true(fabsf(x[DC_FEAT_HOUR_COS]) < 1e-6);
    assert_true(fabsf(x[DC_FEAT_DOW_SIN] - (float)sin(2 * M_PI * 3 / 7)) < 1e-6);
    assert_true(fabsf(x[DC_FEAT_PROMO] - 1.0f) < 1e-6); /* clipped */
    assert_true(x[DC_FEAT_PRICE_REL] == 0.0f);          /* no usual price yet */
    dc_model_dist_t d[2];
    assert_int_equal(dc_model_step(model, skus, &b, 1, d), 0);
    b.start_ms += 3600000;
    b.price = 4.0;
    b.units = NAN; /* never poisons the inputs */
    b.views = INFINITY;
    dc_model_features(skus[0], &b, x);
    assert_true(fabsf(x[DC_FEAT_PRICE_REL] - (float)log(2.0)) < 1e-6);
    for (int i = 0; i < DC__F; i++)
        assert_true(isfinite(x[i]));
    assert_true(x[DC_FEAT_UNITS] == 0.0f);
    free_skus(skus, 1);
    dc_model_destroy(model);
}

static void test_gradient_check(void **state)
{
    (void)state;
    const int H = 6, Hz = 3, K = 5, B = 4;
    dc_model_t *model = make_model(H, Hz, K);
    dc_model_sku_t **skus = make_skus(model, B);
    dc_model_bucket_t bk[B];
    dc_model_dist_t dist[B * Hz];
    /* Steps beyond K restart the window from a non-zero anchor state, and
     * one SKU joins late so the windows have different lengths. */
    for (int t = 0; t < K + 3; t++) {
        size_t first = t < 4 ? 1 : 0;
        for (int i = 0; i < B; i++)
            random_bucket(&bk[i], 1300000000000LL + t * 3600000LL);
        assert_int_equal(dc_model_step(model, skus + first, bk + first, B - first, dist), 0);
    }
    assert_true(skus[0]->hist_len != skus[1]->hist_len);
    size_t np;
    float *p = dc_model_params(model, &np);
    double loss;
    size_t n_targets;
    assert_int_equal(dc__model_online_grad(model, skus, B, &loss, &n_targets), 0);
    assert_true(n_targets > 0);
    float *grad = malloc(sizeof(float) * np);
    memcpy(grad, model->grad, sizeof(float) * np);
    double *pd = malloc(sizeof(double) * np);
    for (size_t i = 0; i < np; i++)
        pd[i] = p[i];
    double ref = ref_online_loss(model, skus, B, pd);
    assert_true(fabs(ref - loss) < 1e-4 * (1 + fabs(ref)));

    /* Every parameter group: x rows and h rows of W, b, Wh, bh. */
    size_t nWx = (size_t)DC__F * 4 * H, nWh_ = (size_t)H * 4 * H, nb = 4 * (size_t)H;
    size_t nHead = (size_t)H * 2 * Hz;
    size_t groups[5][2] = {{0, nWx},
                           {nWx, nWh_},
                           {nWx + nWh_, nb},
                           {nWx + nWh_ + nb, nHead},
                           {nWx + nWh_ + nb + nHead, 2 * (size_t)Hz}};
    int checked = 0;
    for (int gi = 0; gi < 5; gi++) {
        size_t step = groups[gi][1] / 12 + 1;
        for (size_t i = groups[gi][0]; i < groups[gi][0] + groups[gi][1]; i += step) {
            double eps = 1e-5, save = pd[i];
            pd[i] = save + eps;
            double lp = ref_online_loss(model, skus, B, pd);
            pd[i] = save - eps;
            double lm = ref_online_loss(model, skus, B, pd);
            pd[i] = save;
            double fd = (lp - lm) / (2 * eps);
            if (fabs(grad[i] - fd) > 2e-3 * fabs(fd) + 2e-5)
                fail_msg("group %d param %zu: analytic %.8g, finite difference %.8g", gi, i,
                         grad[i], fd);
            checked++;
        }
    }
    assert_true(checked >= 40);
    free(grad);
    free(pd);
    free_skus(skus, B);
    dc_model_destroy(model);
}

/* With a zero learning rate the anchor and the history ring always replay
 * to the current state: the windows dc_model_train uses are consistent. */
static void test_history_anchor_consistent(void **state)
{
    (void)state;
    const int H = 8, Hz = 2, K = 4, B = 3;
    char errstr[128];
    dc_model_conf_t mc;
    dc_model_conf_default(&mc);
    mc.hidden = H;
    mc.horizon = Hz;
    mc.bptt = K;
    mc.lr = 0;
    dc_model_t *model = dc_model_new(&mc, errstr, sizeof(errstr));
    assert_non_null(model);
    dc_model_sku_t **skus = make_skus(model, B);
    size_t np;
    float *p = dc_model_params(model, &np);
    double *pd = malloc(sizeof(double) * np);
    for (size_t i = 0; i < np; i++)
        pd[i] = p[i];
    ref_net_t net;
    ref_bind(&net, pd, H, Hz);
    dc_model_bucket_t bk[B];
    for (int t = 0; t < 3 * K + 1; t++) {
        for (int i = 0; i < B; i++)
            random_bucket(&bk[i], 1300000000000LL + t * 3600000LL);
        assert_int_equal(dc_model_step(model, skus, bk, B, NULL), 0);
        /* SKU 2 is never trained: its window restarts when the ring fills. */
        assert_true(dc_model_train(model, skus, 2, NULL) == 0);
        assert_int_equal(skus[0]->hist_len, t < K - 1 ? t + 1 : K - 1);
        for (int i = 0; i < B; i++) {
            float rows[16 * DC__ROW], y[16];
            size_t len = dc__sku_history(model, skus[i], rows, y);
            double h[16], c[16];
            for (int j = 0; j < H; j++) {
                h[j] = dc__sku_h0(model, skus[i])[j];
                c[j] = dc__sku_c0(model, skus[i])[j];
            }
            for (size_t r = 0; r < len; r++)
                ref_step(&net, rows + r * DC__ROW, h, c);
            for (int j = 0; j < H; j++)
                assert_true(fabs(h[j] - dc_model_sku_h(model, skus[i])[j]) < 1e-5);
        }
    }
    free(pd);
    free_skus(skus, B);
    dc_model_destroy(model);
}

/* A batched step builds exactly the inputs dc_model_features builds for one
 * SKU (the step takes the logarithms of a whole chunk in one vector loop),
 * and dc_model_sku_restart starts a fresh window at the current state
 * without changing the state or the forecast. */
static void test_batched_inputs_and_restart(void **state)
{
    (void)state;
    const int H = 16, Hz = 3, K = 4, B = 1500; /* more than one chunk */
    dc_model_t *model = make_model(H, Hz, K);
    dc_model_sku_t **skus = make_skus(model, B);
    dc_model_bucket_t *bk = malloc(sizeof(*bk) * B);
    float *want = malloc(sizeof(float) * B * DC__F);
    dc_model_dist_t *d1 = malloc(sizeof(*d1) * B * Hz), *d2 = malloc(sizeof(*d2) * B * Hz);
    for (int t = 0; t < 3; t++) {
        for (int i = 0; i < B; i++) {
            random_bucket(&bk[i], 1300000000000LL + t * 3600000LL);
            if (i % 97 == 5)
                bk[i].units = 1e300; /* absurd but finite: inputs stay finite */
            dc_model_features(skus[i], &bk[i], want + (size_t)i * DC__F);
        }
        assert_int_equal(dc_model_step(model, skus, bk, B, d1), 0);
        for (int i = 0; i < B; i++) {
            float rows[8 * DC__ROW], y[8];
            size_t len = dc__sku_history(model, skus[i], rows, y);
            assert_int_equal(len, t + 1);
            assert_memory_equal(rows + t * DC__ROW, want + (size_t)i * DC__F, sizeof(float) * DC__F);
            for (int f = 0; f < DC__F; f++)
                assert_true(isfinite(rows[t * DC__ROW + f]));
        }
    }
    dc_model_sku_t *sku = skus[0];
    float h[64], c[64];
    memcpy(h, dc_model_sku_h(model, sku), sizeof(float) * H);
    memcpy(c, dc_model_sku_c(model, sku), sizeof(float) * H);
    assert_int_equal(dc_model_predict(model, &sku, 1, d1), 0);
    dc_model_sku_restart(model, sku);
    assert_int_equal(sku->hist_len, 0);
    assert_int_equal(sku->n_steps, 3);
    assert_memory_equal(dc__sku_h0(model, sku), h, sizeof(float) * H);
    assert_memory_equal(dc__sku_c0(model, sku), c, sizeof(float) * H);
    assert_memory_equal(dc_model_sku_h(model, sku), h, sizeof(float) * H);
    assert_int_equal(dc_model_predict(model, &sku, 1, d2), 0);
    assert_memory_equal(d1, d2, sizeof(*d1) * Hz);
    free(bk);
    free(want);
    free(d1);
    free(d2);
    free_skus(skus, B);
    dc_model_destroy(model);
}

static void test_sku_save_load(void **state)
{
    (void)state;
    char errstr[128];
    dc_model_t *model = make_model(16, 4, 6);
    dc_model_sku_t **skus = make_skus(model, 2);
    dc_model_bucket_t b;
    for (int t = 0; t < 9; t++) {
        random_bucket(&b, 1300000000000LL + t * 3600000LL);
        assert_int_equal(dc_model_step(model, skus, &b, 1, NULL), 0);
    }
    dc_buf_t buf = {0};
    assert_int_equal(dc_model_sku_save(model, skus[0], &buf), 0);
    /* h, c, anchor, 3 history rows and the header: compact. */
    assert_int_equal(buf.len, 24 + 4 * (8 + 4 * 16 + 3 * DC__ROW) + 4);
    assert_int_equal(dc_model_sku_load(model, skus[1], buf.data, buf.len, errstr, sizeof(errstr)), 0);
    dc_buf_t again = {0};
    assert_int_equal(dc_model_sku_save(model, skus[1], &again), 0);
    assert_int_equal(again.len, buf.len);
    assert_memory_equal(again.data, buf.data, buf.len);
    /* The reloaded SKU forecasts and steps exactly like the original. */
    dc_model_dist_t d0[4], d1[4];
    random_bucket(&b, 1300000000000LL + 9 * 3600000LL);
    assert_int_equal(dc_model_step(model, &skus[0], &b, 1, d0), 0);
    assert_int_equal(dc_model_step(model, &skus[1], &b, 1, d1), 0);
    assert_memory_equal(d0, d1, sizeof(d0));

    size_t sz = dc_model_sku_size(model);
    dc_model_sku_t *keep = malloc(sz);
    memcpy(keep, skus[1], sz);
    buf.data[30] ^= 0x40;
    assert_int_equal(dc_model_sku_load(model, skus[1], buf.data, buf.len, errstr, sizeof(errstr)),
                     DC_ERR_CHECKSUM);
    buf.data[30] ^= 0x40;
    assert_int_equal(dc_model_sku_load(model, skus[1], buf.data, buf.len - 1, errstr, sizeof(errstr)),
                     DC_ERR_TRUNCATED);
    assert_int_equal(dc_model_sku_load(model, skus[1], buf.data, 10, errstr, sizeof(errstr)),
                     DC_ERR_TRUNCATED);
    buf.data[2] = 9;
    assert_int_equal(dc_model_sku_load(model, skus[1], buf.data, buf.len, errstr, sizeof(errstr)),
                     DC_ERR_VERSION);
    buf.data[2] = 1;
    buf.data[23] = 1; /* the header's last two bytes are 0 in this version */
    assert_int_equal(dc_model_sku_load(model, skus[1], buf.data, buf.len, errstr, sizeof(errstr)),
                     DC_ERR_VERSION);
    buf.data[23] = 0;
    /* h[0] (after the 24-byte header and 8 scalers) at 2, past what
     * o * tanh(c) reaches, with the CRC made right: refused. */
    uint8_t h0[4];
    memcpy(h0, buf.data + 56, 4);
    dc__put_f32(buf.data + 56, 2.0f);
    test_put_crc(buf.data, buf.len);
    assert_int_equal(dc_model_sku_load(model, skus[1], buf.data, buf.len, errstr, sizeof(errstr)),
                     DC_ERR_NUMERIC);
    memcpy(buf.data + 56, h0, 4);
    /* So is a usual price (the 7th scaler, at 48) below 0. */
    uint8_t price[4];
    memcpy(price, buf.data + 48, 4);
    dc__put_f32(buf.data + 48, -1.0f);
    test_put_crc(buf.data, buf.len);
    assert_int_equal(dc_model_sku_load(model, skus[1], buf.data, buf.len, errstr, sizeof(errstr)),
                     DC_ERR_NUMERIC);
    memcpy(buf.data + 48, price, 4);
    test_put_crc(buf.data, buf.len);
    assert_memory_equal(keep, skus[1], sz);
    dc_model_t *other = make_model(8, 4, 6);
    buf.data[2] = 1;
    assert_int_equal(dc_model_sku_load(other, skus[1], buf.data, buf.len, errstr, sizeof(errstr)),
                     DC_ERR_VERSION);
    dc_model_destroy(other);
    free(keep);
    dc_buf_free(&buf);
    dc_buf_free(&again);
    free_skus(skus, 2);
    dc_model_destroy(model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_reference),
        cmocka_unit_test(test_step_chunks_and_repeats),
        cmocka_unit_test(test_features),
        cmocka_unit_test(test_gradient_check),
        cmocka_unit_test(test_history_anchor_consistent),
        cmocka_unit_test(test_batched_inputs_and_restart),
        cmocka_unit_test(test_sku_save_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
