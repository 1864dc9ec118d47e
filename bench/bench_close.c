/* bench/bench_close.c - a whole bucket close at scale: dc_forecaster_close
 * for N SKUs at the hourly settings (H=64, horizon 24, bptt 8, train.batch
 * 256), online training included, every Forecast encoded with the codec into
 * a reused buffer. On one core (OpenBLAS threads 1).
 *
 *   bench_close [skus] [timed-closes]      (defaults 100000 and 7)
 *
 * The shop is synthetic and deterministic: hourly Poisson demand with a
 * daily shape, SKU rates log-uniform between 0.005 and 3 units an hour (most
 * SKU-hours sell nothing, as in a real catalogue), views and carts leading
 * orders. The input arrives in a fixed shuffled order, as partitions deliver
 * it. After warm-up closes (so windows, baselines and scalings are full) the
 * timed closes print their median and spread (thread CPU time); then the phases of a close
 * are timed alone on a replica of the same state, run as the forecaster runs
 * them (LSTM step with head, online training on the SKUs due, the NB
 * summaries of every SKU and horizon, the baselines, Avro encoding); what
 * the close spends beyond their sum is its own work. The reference is the bare gate and head cblas_sgemm of one
 * step over the same rows, measured in the same run: ratio = time / that.
 * Resident bytes per SKU are the forecaster's own count and the growth of
 * the process RSS over the warm-up divided by the SKUs. */
#include "bench/bench.h"
#include "inference/forecaster.h"
#include "inference/inference_int.h"
#include "schemas/schemas.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WIDTH 3600000LL
#define T0 1309132800000LL /* 2011-06-27, a Monday */
#define WARM_CLOSES 10

/* Times are thread CPU time (dc_thread_cpu_s): the machine is shared, and a
 * close that waits for the CPU is not slower code. On a dedicated core it
 * equals the wall time. */

typedef struct {
    size_t n;
    char (*names)[24];
    double *rate;               /* units per hour at an average hour */
    dc_forecaster_input_t *in;  /* shuffled */
    size_t *perm;               /* in[j] is SKU perm[j] */
} shop_t;

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uniform(uint64_t key)
{
    return (double)(mix(key) >> 11) * 0x1.0p-53;
}

/* Poisson by inversion: the means here are small. */
static double poisson(double lambda, uint64_t key)
{
    double u = uniform(key), p = exp(-lambda), cdf = p, k = 0;
    while (u > cdf && k < 1000) {
        k += 1;
        p *= lambda / k;
        cdf += p;
    }
    return k;
}

static int shop_new(shop_t *shop, size_t n)
{
    shop->n = n;
    shop->names = malloc(n * sizeof(*shop->names));
    shop->rate = malloc(n * sizeof(*shop->rate));
    shop->in = calloc(n, sizeof(*shop->in));
    shop->perm = malloc(n * sizeof(*shop->perm));
    if (!shop->names || !shop->rate || !shop->in || !shop->perm)
        return -1;
    for (size_t i = 0; i < n; i++) {
        snprintf(shop->names[i], sizeof(shop->names[i]), "SKU%07zu", i);
        shop->rate[i] = 0.005 * pow(600.0, uniform(i * 3 + 1));
        shop->perm[i] = i;
    }
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(mix(i * 7 + 5) % i), t = shop->perm[i - 1];
        shop->perm[i - 1] = shop->perm[j];
        shop->perm[j] = t;
    }
    return 0;
}

static void shop_free(shop_t *shop)
{
    free(shop->names);
    free(shop->rate);
    free(shop->in);
    free(shop->perm);
}

/* Fills the input of the bucket starting at t. */
static void shop_bucket(shop_t *shop, int64_t t)
{
    uint64_t hour = (uint64_t)(t / WIDTH);
    double shape = 1.0 + 0.8 * sin(2 * M_PI * ((double)(hour % 24) - 9.0) / 24.0);
    for (size_t j = 0; j < shop->n; j++) {
        size_t i = shop->perm[j];
        double lambda = shop->rate[i] * shape;
        uint64_t key = (hour * 0x100000001b3ULL + i) * 4;
        dc_model_bucket_t b = {t, WIDTH, 0, 0, 0, 0, 2.0 + (double)(i % 50) * 0.5, 0};
        b.units = poisson(lambda, key);
        b.views = poisson(lambda * 20 + 0.2, key + 1);
        b.carts = poisson(lambda * 2, key + 2);
        shop->in[j].sku = shop->names[i];
        shop->in[j].bucket = b;
    }
}

static size_t rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* ---- the sink: encode every Forecast into one reused buffer ---- */

typedef struct {
    dc_codec_t *codec;
    dc_buf_t buf;
    uint64_t records, bytes;
} enc_sink_t;

static int on_forecast(void *opaque, const dc_forecast_t *fc)
{
    enc_sink_t *s = opaque;
    s->buf.len = 0;
    int err = dc_codec_encode_forecast(s->codec, fc, &s->buf);
    s->records++;
    s->bytes += s->buf.len;
    return err;
}

static int on_surge(void *opaque, const dc_surge_t *alert)
{
    (void)opaque;
    (void)alert;
    return 0;
}

static dc_forecaster_t *make_forecaster(void)
{
    char errstr[256];
    dc_conf_t *conf = dc_conf_new();
    dc_model_conf_t mc;
    dc_model_t *model = NULL;
    dc_forecaster_t *fc = NULL;
    const char *kv[] = {"bucket.width=1h", "horizon=24", "model.hidden=64", "train.bptt=8",
                        "train.batch=256"};
    for (size_t i = 0; i < DC_ARRAY_SIZE(kv); i++)
        if (dc_conf_set_kv(conf, kv[i], errstr, sizeof(errstr)))
            goto fail;
    if (dc_model_conf_load(&mc, conf, errstr, sizeof(errstr)))
        goto fail;
    if (!(model = dc_model_new(&mc, errstr, sizeof(errstr))))
        goto fail;
    if (!(fc = dc_forecaster_new(conf, model, errstr, sizeof(errstr))))
        goto fail;
    dc_conf_destroy(conf);
    return fc;
fail:
    fprintf(stderr, "bench_close: %s\n", errstr);
    dc_model_destroy(model);
    dc_conf_destroy(conf);
    return NULL;
}

/* Runs closes [first, first + count). */
static int run_closes(dc_forecaster_t *fc, shop_t *shop, enc_sink_t *enc, int first, int count)
{
    dc_forecaster_sink_t sink = {on_forecast, on_surge, enc};
    for (int c = first; c < first + count; c++) {
        int64_t t = T0 + (int64_t)c * WIDTH;
        shop_bucket(shop, t);
        int err = dc_forecaster_close(fc, t, shop->in, shop->n, &sink);
        if (err) {
            fprintf(stderr, "bench_close: close %d: %s\n", c, dc_err2str(err));
            return -1;
        }
    }
    return 0;
}

/* ---- the phases alone, on a replica of the forecaster's per-SKU state ---- */

typedef struct {
    double step, train, nb, base, enc, sgemm;
} phases_t;

static volatile double sink_value;

/* Warms the replica over the warm-up closes the forecaster already ran,
 * then runs each timed close through the forecaster (its time goes to
 * secs) and right after through the replica, phase by phase, so that both
 * see the same inputs and the same machine. */
static int time_phases(shop_t *shop, dc_forecaster_t *fc, enc_sink_t *enc, int closes,
                       phases_t *ph, double *secs)
{
    dc_codec_t *codec = enc->codec;
    dc_forecaster_sink_t sink = {on_forecast, on_surge, enc};
    char errstr[256];
    dc_conf_t *conf = dc_conf_new();
    dc_model_conf_t mc;
    dc_model_t *model = NULL;
    size_t n = shop->n;
    int ret = -1;
    dc_model_conf_default(&mc);
    mc.hidden = 64;
    mc.horizon = 24;
    mc.bptt = 8;
    int H = mc.hidden, Hz = mc.horizon, F = DC__F;
    dc_baseline_params_t bp;
    dc_baseline_season_t season;
    dc_baseline_params_from_conf(&bp, conf); /* defaults: 1h, window 84 */
    dc_baseline_season_init(&season, &bp);
    size_t bsize = (dc_baseline_sku_size(&bp) + 7) & ~(size_t)7;
    model = dc_model_new(&mc, errstr, sizeof(errstr));
    size_t msize = model ? dc_model_sku_size(model) : 0;
    uint8_t *marena = malloc(n * msize), *barena = malloc(n * bsize);
    dc_model_sku_t **recs = malloc(n * sizeof(*recs));
    dc_model_sku_t **train_recs = malloc(n * sizeof(*recs));
    size_t per_close = (size_t)dc_conf_int(conf, "train.skus.per.close");
    per_close = per_close ? per_close : n;
    dc_model_bucket_t *buckets = malloc(n * sizeof(*buckets));
    dc_model_dist_t *dist = malloc(n * (size_t)Hz * sizeof(*dist));
    dc_baseline_fc_t *bf = malloc((size_t)Hz * sizeof(*bf));
    float *a = calloc((size_t)DC__CHUNK * (F + H), sizeof(float));
    float *w = calloc((size_t)(F + H) * 4 * H, sizeof(float));
    float *z = calloc((size_t)DC__CHUNK * 4 * H, sizeof(float));
    float *o = calloc((size_t)DC__CHUNK * 2 * Hz, sizeof(float));
    double *t_step = calloc((size_t)closes, sizeof(double));
    double *t_train = calloc((size_t)closes, sizeof(double));
    double *t_nb = calloc((size_t)closes, sizeof(double));
    double *t_base = calloc((size_t)closes, sizeof(double));
    double *t_enc = calloc((size_t)closes, sizeof(double));
    double *t_ref = calloc((size_t)closes, sizeof(double));
    dc_forecast_t *out = calloc(1, sizeof(*out));
    dc_buf_t buf = {0};
    if (!model || !marena || !barena || !recs || !train_recs || !buckets || !dist || !bf || !a || !w || !z ||
        !o || !t_step || !t_train || !t_nb || !t_base || !t_enc || !t_ref || !out)
        goto done;
    for (size_t i = 0; i < n; i++) {
        recs[i] = (dc_model_sku_t *)(marena + i * msize);
        dc_model_sku_init(model, recs[i]);
        dc_baseline_sku_init(&bp, (dc_baseline_sku_t *)(barena + i * bsize));
    }
    for (int c = 0; c < WARM_CLOSES + closes; c++) {
        int64_t t = T0 + (int64_t)c * WIDTH;
        double total = 0, acc = 0;
        shop_bucket(shop, t);
        if (c >= WARM_CLOSES) {
            double t0 = dc_thread_cpu_s();
            int err = dc_forecaster_close(fc, t, shop->in, shop->n, &sink);
            secs[c - WARM_CLOSES] = dc_thread_cpu_s() - t0;
            if (err) {
                fprintf(stderr, "bench_close: close %d: %s\n", c, dc_err2str(err));
                goto done;
            }
        }
        /* The names are numbered in byte order: SKU i sits at record i. */
        for (size_t j = 0; j < n; j++) {
            buckets[shop->perm[j]] = shop->in[j].bucket;
            total += shop->in[j].bucket.units;
        }
        /* Training as the forecaster schedules it (train.skus.per.close). */
        int64_t b_no = t / WIDTH, K = mc.bptt;
        int64_t period = n <= per_close ? 1 : (int64_t)((n + per_close - 1) / per_close);
        period = period > 1 && period < K ? K : period;
        double t0 = dc_thread_cpu_s();
        for (size_t i = 0; period > 1 && i < n; i++)
            if ((b_no + K - 1 + (int64_t)i) % period == 0)
                dc_model_sku_restart(model, recs[i]);
        dc_model_step(model, recs, buckets, n, dist);
        double t6 = dc_thread_cpu_s();
        size_t n_train = 0;
        for (size_t i = 0; i < n; i++)
            if (period == 1 || (b_no + (int64_t)i) % period == 0)
                train_recs[n_train++] = recs[i];
        for (size_t j = 0; j < n_train; j += (size_t)mc.batch) {
            size_t m = n_train - j < (size_t)mc.batch ? n_train - j : (size_t)mc.batch;
            dc_model_train(model, train_recs + j, m, NULL);
        }
        double t1 = dc_thread_cpu_s();
        for (size_t i = 0; i < n * (size_t)Hz; i++) {
            dc_nb_summary_t s;
            dc_nb_summary(dist[i].mu, dist[i].alpha, &s);
            acc += s.p90;
        }
        double t2 = dc_thread_cpu_s();
        dc_baseline_season_observe(&season, &bp, t, total);
        for (size_t i = 0; i < n; i++) {
            dc_baseline_sku_t *b = (dc_baseline_sku_t *)(barena + i * bsize);
            dc_baseline_sku_push(&bp, b, t, buckets[i].units, total <= 0);
            dc_baseline_forecast_horizons(&bp, &season, b, t + WIDTH, Hz, bf);
            acc += bf[0].p50;
        }
        double t3 = dc_thread_cpu_s();
        out->bucket_start = t;
        out->bucket_width = WIDTH;
        out->issued_at = t + WIDTH;
        out->model_version = 12345;
        out->n_horizons = (size_t)Hz;
        for (size_t i = 0; i < n; i++) {
            snprintf(out->sku, sizeof(out->sku), "%s", shop->names[i]);
            out->cold_start = 0;
            for (int k = 0; k < Hz; k++) {
                const dc_model_dist_t *d = &dist[i * (size_t)Hz + (size_t)k];
                dc_horizon_t *h = &out->horizons[k];
                h->offset = k + 1;
                h->mean = d->mu;
                h->p10 = floor(0.5 * d->mu);
                h->p50 = floor(d->mu);
                h->p90 = floor(2 * d->mu + 1);
            }
            buf.len = 0;
            if (dc_codec_encode_forecast(codec, out, &buf))
                goto done;
        }
        double t4 = dc_thread_cpu_s();
        /* The reference: the gate and head sgemm of one step over n rows. */
        for (size_t i = 0; i < n; i += DC__CHUNK) {
            int m = (int)(n - i < DC__CHUNK ? n - i : DC__CHUNK);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, 4 * H, F + H, 1.0f, a, F + H,
                        w, 4 * H, 0.0f, z, 4 * H);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, 2 * Hz, H, 1.0f, a + F, F + H,
                        w, 2 * Hz, 0.0f, o, 2 * Hz);
        }
        double t5 = dc_thread_cpu_s();
        sink_value = acc;
        if (c >= WARM_CLOSES) {
            int k = c - WARM_CLOSES;
            t_step[k] = t6 - t0;
            t_train[k] = t1 - t6;
            t_nb[k] = t2 - t1;
            t_base[k] = t3 - t2;
            t_enc[k] = t4 - t3;
            t_ref[k] = t5 - t4;
        }
    }
    ph->step = bench_median(t_step, (size_t)closes);
    ph->train = bench_median(t_train, (size_t)closes);
    ph->nb = bench_median(t_nb, (size_t)closes);
    ph->base = bench_median(t_base, (size_t)closes);
    ph->enc = bench_median(t_enc, (size_t)closes);
    ph->sgemm = bench_median(t_ref, (size_t)closes);
    ret = 0;
done:
    if (ret)
        fprintf(stderr, "bench_close: phases: out of memory or encode failed\n");
    dc_model_destroy(model);
    dc_conf_destroy(conf);
    free(marena);
    free(barena);
    free(recs);
    free(train_recs);
    free(buckets);
    free(dist);
    free(bf);
    free(a);
    free(w);
    free(z);
    free(o);
    free(t_step);
    free(t_train);
    free(t_nb);
    free(t_base);
    free(t_enc);
    free(t_ref);
    free(out);
    dc_buf_free(&buf);
    return ret;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 100000;
    int closes = argc > 2 ? atoi(argv[2]) : 7;
    char errstr[256];
    shop_t shop;
    enc_sink_t enc = {0};
    phases_t ph;
    int ret = 1;
    dc_forecaster_t *fc = NULL;
    double *secs = calloc((size_t)(closes > 0 ? closes : 1), sizeof(double));
    if (n < 1 || closes < 1 || !secs || shop_new(&shop, n)) {
        fprintf(stderr, "usage: bench_close [skus] [timed-closes]\n");
        return 2;
    }
    if (!(enc.codec = dc_codec_new(NULL, errstr, sizeof(errstr)))) {
        fprintf(stderr, "bench_close: %s\n", errstr);
        return 1;
    }
    printf("bench_close: one core (OpenBLAS threads 1), %zu SKUs, bucket 1h, H=64, horizon 24, "
           "bptt 8, train.batch 256, train.skus.per.close default; %d warm-up closes, %d timed\n",
           n, WARM_CLOSES, closes);

    size_t rss0 = rss_bytes();
    if (!(fc = make_forecaster()) || run_closes(fc, &shop, &enc, 0, WARM_CLOSES))
        goto done;
    size_t rss1 = rss_bytes();
    if (time_phases(&shop, fc, &enc, closes, &ph, secs))
        goto done;
    double lo = secs[0], hi = secs[0];
    for (int i = 1; i < closes; i++) {
        lo = secs[i] < lo ? secs[i] : lo;
        hi = secs[i] > hi ? secs[i] : hi;
    }
    double close = bench_median(secs, (size_t)closes);
    dc_model_stats_t st;
    dc_model_stats(dc_forecaster_model(fc), &st);
    size_t bytes_per_sku = dc_forecaster_bytes_per_sku(fc);
    double other = close - ph.step - ph.train - ph.nb - ph.base - ph.enc;

    printf("reference: gate+head sgemm %8.3f s for %zu rows (one step, no training)\n", ph.sgemm, n);
    printf("bucket close               %8.3f s median (min %.3f, max %.3f)  ratio %5.1f, "
           "%.0f forecasts/s\n",
           close, lo, hi, close / ph.sgemm, (double)n / close);
    printf("  LSTM step + head         %8.3f s  ratio %5.1f\n", ph.step, ph.step / ph.sgemm);
    printf("  online training          %8.3f s  ratio %5.1f (%.1f Adam steps per close)\n",
           ph.train, ph.train / ph.sgemm, (double)st.steps / (WARM_CLOSES + closes));
    printf("  NB summaries (x24)       %8.3f s  ratio %5.1f, %.0f ns per summary\n", ph.nb,
           ph.nb / ph.sgemm, ph.nb / ((double)n * 24) * 1e9);
    printf("  baselines (x24)          %8.3f s  ratio %5.1f\n", ph.base, ph.base / ph.sgemm);
    printf("  Avro encode              %8.3f s  ratio %5.1f, %.0f ns and %.0f bytes per forecast\n",
           ph.enc, ph.enc / ph.sgemm, ph.enc / (double)n * 1e9,
           (double)enc.bytes / (double)enc.records);
    printf("  the rest                 %8.3f s  ratio %5.1f (sort, index, blend, surges: "
           "the close less the phases above)\n",
           other, other / ph.sgemm);
    printf("resident per SKU           %8zu bytes (dc_forecaster_bytes_per_sku)\n", bytes_per_sku);
    printf("RSS growth per SKU         %8.0f bytes (records, index and per-close workspaces)\n",
           (double)(rss1 - rss0) / (double)n);
    ret = 0;
done:
    dc_forecaster_destroy(fc);
    dc_codec_destroy(enc.codec);
    dc_buf_free(&enc.buf);
    shop_free(&shop);
    free(secs);
    return ret;
}
