/* bench/bench_lstm.c - per-core throughput of the LSTM step and of online
 * training, as a ratio of the rate of the gate cblas_sgemm alone on the
 * same shapes, measured in the same run; and the bytes a SKU's state takes.
 *
 *   bench_lstm [seconds-per-figure]      (default 0.5)
 *
 * The reference is the sgemm the step cannot avoid: [x | h] (DC__CHUNK x
 * (F+H)) times W ((F+H) x 4H), called on the chunks a step uses. A ratio of
 * 1.0 would mean the gates, features, bookkeeping and head cost nothing.
 *
 * The machine is shared, so every figure is timed in thread CPU time and in
 * ROUNDS short rounds that alternate with rounds of the reference; the rate
 * printed is the median round, the ratio the median of the rounds' ratios.
 * Building the bucket inputs is the caller's work and is not timed. */
#include "bench/bench.h"
#include "inference/inference_int.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#define ROUNDS 7

static double budget = 0.5;

typedef struct {
    dc_model_t *model;
    uint8_t *arena;
    dc_model_sku_t **skus;
    dc_model_bucket_t *buckets;
    dc_model_dist_t *dist;
    size_t n;
    int64_t t;
} rig_t;

static void rig_buckets(rig_t *rig)
{
    for (size_t i = 0; i < rig->n; i++) {
        dc_model_bucket_t *b = &rig->buckets[i];
        b->start_ms = rig->t;
        b->width_ms = 3600000;
        b->units = (double)((i * 7 + (size_t)(rig->t / 3600000)) % 5);
        b->views = (double)(i % 40);
        b->carts = (double)(i % 6);
        b->price = 3.0 + (double)(i % 3);
    }
    rig->t += 3600000;
}

static int rig_new(rig_t *rig, int H, size_t n)
{
    char errstr[256];
    dc_model_conf_t mc;
    dc_model_conf_default(&mc);
    mc.hidden = H;
    memset(rig, 0, sizeof(*rig));
    rig->model = dc_model_new(&mc, errstr, sizeof(errstr));
    if (!rig->model) {
        fprintf(stderr, "bench_lstm: %s\n", errstr);
        return -1;
    }
    size_t sz = dc_model_sku_size(rig->model);
    rig->n = n;
    rig->arena = malloc(sz * n);
    rig->skus = malloc(sizeof(*rig->skus) * n);
    rig->buckets = calloc(n, sizeof(*rig->buckets));
    rig->dist = malloc(sizeof(*rig->dist) * n * (size_t)mc.horizon);
    if (!rig->arena || !rig->skus || !rig->buckets || !rig->dist)
        return -1;
    for (size_t i = 0; i < n; i++) {
        rig->skus[i] = (dc_model_sku_t *)(rig->arena + i * sz);
        dc_model_sku_init(rig->model, rig->skus[i]);
    }
    rig->t = 1300000000000LL;
    return 0;
}

static void rig_free(rig_t *rig)
{
    dc_model_destroy(rig->model);
    free(rig->arena);
    free(rig->skus);
    free(rig->buckets);
    free(rig->dist);
}

/* SKU-steps per second of the bare gate sgemm over n rows in chunks, for
 * about `secs` of CPU time. */
static double sgemm_rate(int H, size_t n, double secs)
{
    int F = DC__F, ld = F + H;
    float *a = malloc(sizeof(float) * DC__CHUNK * ld), *w = malloc(sizeof(float) * ld * 4 * H);
    float *c = malloc(sizeof(float) * DC__CHUNK * 4 * H);
    for (size_t i = 0; i < (size_t)DC__CHUNK * ld; i++)
        a[i] = (float)(i % 13) * 0.01f;
    for (size_t i = 0; i < (size_t)ld * 4 * H; i++)
        w[i] = (float)(i % 7) * 0.01f;
    double rows = 0, t0 = dc_thread_cpu_s(), el;
    do {
        for (size_t i = 0; i < n; i += DC__CHUNK) {
            int m = (int)(n - i < DC__CHUNK ? n - i : DC__CHUNK);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, 4 * H, ld, 1.0f, a, ld, w,
                        4 * H, 1.0f, c, 4 * H);
        }
        rows += (double)n;
        el = dc_thread_cpu_s() - t0;
    } while (el < secs);
    free(a);
    free(w);
    free(c);
    return rows / el;
}

/* SKU-steps per second of dc_model_step; with_forecast adds the head and
 * the quantiles of every horizon, as a published forecast needs. */
static double step_rate(rig_t *rig, int with_forecast, double secs)
{
    int Hz = dc_model_conf(rig->model)->horizon;
    double rows = 0, el = 0;
    do {
        rig_buckets(rig);
        double t0 = dc_thread_cpu_s();
        dc_model_step(rig->model, rig->skus, rig->buckets, rig->n, with_forecast ? rig->dist : NULL);
        if (with_forecast) {
            dc_nb_summary_t s;
            for (size_t i = 0; i < rig->n * (size_t)Hz; i++)
                dc_nb_summary(rig->dist[i].mu, rig->dist[i].alpha, &s);
        }
        el += dc_thread_cpu_s() - t0;
        rows += (double)rig->n;
    } while (el < secs);
    return rows / el;
}

/* Fresh SKUs stepped K times hold full windows, as in steady state. */
static void rig_fill_windows(rig_t *rig)
{
    for (size_t i = 0; i < rig->n; i++)
        dc_model_sku_init(rig->model, rig->skus[i]);
    for (int k = 0; k < dc_model_conf(rig->model)->bptt; k++) {
        rig_buckets(rig);
        dc_model_step(rig->model, rig->skus, rig->buckets, rig->n, NULL);
    }
}

/* SKU-steps per second of online training as the pipeline runs it: after
 * each bucket's step (not timed), every SKU is trained once, in mini-batches
 * of train.batch, each SKU contributing its window of K = train.bptt steps
 * forward and back. */
static double train_rate(rig_t *rig, double secs)
{
    const dc_model_conf_t *mc = dc_model_conf(rig->model);
    size_t batch = (size_t)mc->batch;
    double steps = 0, spent = 0;
    rig_fill_windows(rig);
    while (spent < secs) {
        double t0 = dc_thread_cpu_s();
        for (size_t off = 0; off < rig->n; off += batch) {
            size_t m = rig->n - off < batch ? rig->n - off : batch;
            for (size_t i = 0; i < m; i++)
                steps += rig->skus[off + i]->hist_len;
            dc_model_train(rig->model, rig->skus + off, m, NULL);
        }
        spent += dc_thread_cpu_s() - t0;
        rig_buckets(rig);
        dc_model_step(rig->model, rig->skus, rig->buckets, rig->n, NULL);
    }
    return steps / spent;
}

static int bench_one(int H, size_t n, int train)
{
    rig_t rig;
    double ref[ROUNDS], fwd[ROUNDS], fc[ROUNDS], tr[ROUNDS];
    double r_fwd[ROUNDS], r_fc[ROUNDS], r_tr[ROUNDS], secs = budget / ROUNDS;
    if (rig_new(&rig, H, n))
        return -1;
    for (int k = 0; k < ROUNDS; k++) {
        ref[k] = sgemm_rate(H, n, secs);
        fwd[k] = step_rate(&rig, 0, secs);
        fc[k] = step_rate(&rig, 1, secs);
        tr[k] = train ? train_rate(&rig, secs) : 0;
        r_fwd[k] = fwd[k] / ref[k];
        r_fc[k] = fc[k] / ref[k];
        r_tr[k] = tr[k] / ref[k];
    }
    double ref_m = bench_median(ref, ROUNDS);
    printf("H=%-3d skus=%-6zu gate sgemm alone        %12.0f SKU-steps/s (reference, %.2f GFLOP/s)\n",
           H, n, ref_m, ref_m * 2.0 * (DC__F + H) * 4 * H / 1e9);
    printf("H=%-3d skus=%-6zu forward step            %12.0f SKU-steps/s  ratio %.2f\n", H, n,
           bench_median(fwd, ROUNDS), bench_median(r_fwd, ROUNDS));
    printf("H=%-3d skus=%-6zu step + forecast (Hz=%d)  %12.0f SKU-steps/s  ratio %.2f\n", H, n,
           dc_model_conf(rig.model)->horizon, bench_median(fc, ROUNDS), bench_median(r_fc, ROUNDS));
    if (train)
        printf("H=%-3d skus=%-6zu online train (K=%d)      %12.0f SKU-steps/s  ratio %.2f\n", H, n,
               dc_model_conf(rig.model)->bptt, bench_median(tr, ROUNDS), bench_median(r_tr, ROUNDS));
    dc_buf_t buf = {0};
    dc_model_sku_save(rig.model, rig.skus[0], &buf);
    printf("H=%-3d state per SKU: %zu bytes resident, %zu bytes serialised\n", H,
           dc_model_sku_size(rig.model), buf.len);
    dc_buf_free(&buf);
    rig_free(&rig);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        budget = atof(argv[1]) > 0 ? atof(argv[1]) : budget;
    printf("bench_lstm: one core (OpenBLAS threads 1), F=%d, horizon 24, bptt 8, batch 256\n",
           DC__F);
    const int hs[] = {32, 64, 128};
    for (size_t i = 0; i < DC_ARRAY_SIZE(hs); i++)
        if (bench_one(hs[i], 1000, 1))
            return 1;
    if (bench_one(64, 100000, 1))
        return 1;
    return 0;
}
