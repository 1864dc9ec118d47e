/* bench/bench_batch.c - a flush's batch, the input thread's share of the
 * ingest: adding the synthetic shop's events to a dc_featbatch_t (finding
 * each event's SKU, keeping the event) and grouping them into every SKU's
 * window slot, bucket and user deltas, as `run` does with each batch before
 * its flush merges it. On one core, without Kafka or Redis.
 *
 *   bench_batch [--skus N] [--events N] [--batch N] [--sessions-per-hour X]
 *               [--rounds N]            (defaults 10000, 600000, 100000, the
 *                                        shop's 1000, 5)
 *
 * The events are those bench_ingest produces (same shop, same defaults), in
 * event-time order, cut into batches of --batch events. Each round adds and
 * groups every batch into one dc_featbatch_t, reset between batches, as the
 * pipeline reuses its own; the first round only warms the batch's pools.
 * Times are thread CPU time per event, medians over the batches of the other
 * rounds. The reference, in the same run, is copying the batch's input
 * events once (memcpy of its dc_fevent_t array): ratio = time / that.
 * It also prints what grouping made per event, which the flush's merge then
 * reads: window slot deltas, bucket deltas and user observations. */
#include "bench/bench.h"
#include "features/features.h"
#include "producers/producers.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_batch: %s: %s\n", what, why);
    exit(1);
}

/* The shop's events as the pipeline adds them: a click is one event, an
 * order one per line. Names are copied (the shop reuses its records), and
 * the events point at them once all are read: the arrays move as they
 * grow. */
typedef struct {
    dc_fevent_t *ev;
    char (*sku)[DC_SKU_MAX];
    char (*user)[DC_ID_MAX];
    size_t n, cap;
} events_t;

static dc_fevent_t *next_slot(events_t *e)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 1 << 16;
        dc_fevent_t *ev = realloc(e->ev, cap * sizeof(*ev));
        char(*sku)[DC_SKU_MAX] = ev ? realloc(e->sku, cap * sizeof(*sku)) : NULL;
        char(*user)[DC_ID_MAX] = sku ? realloc(e->user, cap * sizeof(*user)) : NULL;
        if (ev)
            e->ev = ev;
        if (sku)
            e->sku = sku;
        if (!user)
            die("events", "out of memory");
        e->user = user;
        e->cap = cap;
    }
    return &e->ev[e->n];
}

static void put(events_t *e, const char *sku, const char *user, dc_fevent_t ev)
{
    dc_fevent_t *slot = next_slot(e);
    snprintf(e->sku[e->n], DC_SKU_MAX, "%s", sku);
    snprintf(e->user[e->n], DC_ID_MAX, "%s", user);
    *slot = ev;
    e->n++;
}

static void shop_events(events_t *e, uint32_t skus, uint64_t n, double sessions)
{
    dc_shop_params_t params;
    dc_shop_t *shop;
    dc_click_t click;
    dc_order_t order = {0};
    char errstr[512];
    int t;

    dc_shop_params_init(&params);
    params.n_skus = skus;
    params.n_events = n;
    if (sessions > 0)
        params.sessions_per_hour = sessions;
    if (!(shop = dc_shop_new(&params, errstr, sizeof(errstr))))
        die("shop", errstr);
    while ((t = dc_shop_next(shop, &click, &order)) >= 0) {
        if (t == DC_REC_CLICK) {
            put(e, click.sku, click.user_id,
                (dc_fevent_t){.ts_ms = click.ts_ms, .kind = dc_fev_kind_of_click(click.type),
                              .price = click.price, .promo = click.has_promo});
            continue;
        }
        for (size_t i = 0; i < order.n_lines; i++)
            put(e, order.lines[i].sku, order.user_id,
                (dc_fevent_t){.ts_ms = order.ts_ms,
                              .kind = order.status == DC_ORDER_PLACED ? DC_FEV_PLACED
                                                                      : DC_FEV_CANCEL,
                              .qty = order.lines[i].qty, .price = order.lines[i].unit_price,
                              .promo = order.has_promo_code});
    }
    if (t != DC_ERR_EOF)
        die("shop", dc_err2str(t));
    for (size_t i = 0; i < e->n; i++) {
        e->ev[i].sku = e->sku[i];
        e->ev[i].user = e->user[i];
    }
    dc_shop_destroy(shop);
    dc_order_clear(&order);
}

/* What grouping made of the batch: slot deltas, bucket deltas and user
 * observations, summed over its SKUs. */
static void count_deltas(const dc_featbatch_t *b, size_t out[3])
{
    for (size_t i = 0; i < dc_featbatch_skus(b); i++) {
        for (const dc_slot_delta_t *s = dc_featbatch_slot_first(b, i); s;
             s = dc_featbatch_slot_next(b, s))
            out[0]++;
        for (const dc_bucket_delta_t *d = dc_featbatch_bucket_first(b, i); d;
             d = dc_featbatch_bucket_next(b, d))
            out[1]++;
        out[2] += dc_featbatch_sku(b, i)->n_users;
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"skus", required_argument, NULL, 's'},
                                         {"events", required_argument, NULL, 'e'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"sessions-per-hour", required_argument, NULL, 'h'},
                                         {"rounds", required_argument, NULL, 'r'},
                                         {NULL, 0, NULL, 0}};
    uint32_t skus = 10000;
    uint64_t n_events = 600000;
    size_t batch_n = 100000, counts[3] = {0}, counted = 0;
    double sessions = 0;
    int rounds = 5, opt;
    events_t e = {0};
    dc_conf_t *conf = dc_conf_new();
    dc_limits_t lim;
    char errstr[512];

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 's': skus = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'e': n_events = strtoull(optarg, NULL, 10); break;
        case 'b': batch_n = strtoul(optarg, NULL, 10); break;
        case 'h': sessions = strtod(optarg, NULL); break;
        case 'r': rounds = (int)strtol(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: bench_batch [--skus N] [--events N] [--batch N] "
                            "[--sessions-per-hour X] [--rounds N]\n");
            return 2;
        }
    }
    if (rounds < 2 || batch_n < 1 || !conf) {
        fprintf(stderr, "bench_batch: --rounds must be at least 2, --batch at least 1\n");
        return 2;
    }
    if (dc_limits_init(&lim, conf, errstr, sizeof(errstr)))
        die("limits", errstr);
    shop_events(&e, skus, n_events, sessions);
    size_t per_round = (e.n + batch_n - 1) / batch_n, n_runs = (size_t)(rounds - 1) * per_round;
    double *t_add = malloc(n_runs * sizeof(double)), *t_group = malloc(n_runs * sizeof(double));
    double *t_copy = malloc(n_runs * sizeof(double));
    dc_fevent_t *copy = malloc(batch_n * sizeof(*copy));
    dc_featbatch_t *b = dc_featbatch_new(&lim);
    if (!t_add || !t_group || !t_copy || !copy || !b || dc_featbatch_reserve(b, batch_n))
        die("bench", "out of memory");

    size_t k = 0;
    for (int round = 0; round < rounds; round++) {
        for (size_t from = 0; from < e.n; from += batch_n) {
            size_t n = e.n - from < batch_n ? e.n - from : batch_n;
            double t0 = dc_thread_cpu_s();
            memcpy(copy, e.ev + from, n * sizeof(*copy));
            double t1 = dc_thread_cpu_s();
            for (size_t i = from; i < from + n; i++)
                if (dc_featbatch_add(b, &e.ev[i], INT64_MIN, NULL))
                    die("add", "out of memory");
            double t2 = dc_thread_cpu_s();
            if (dc_featbatch_group(b))
                die("group", "out of memory");
            double t3 = dc_thread_cpu_s();
            if (round == 0) {
                count_deltas(b, counts);
                counted += n;
            } else {
                t_copy[k] = (t1 - t0) / (double)n;
                t_add[k] = (t2 - t1) / (double)n;
                t_group[k] = (t3 - t2) / (double)n;
                k++;
            }
            dc_featbatch_reset(b);
        }
    }
    double copy_ns = bench_median(t_copy, k) * 1e9, add_ns = bench_median(t_add, k) * 1e9;
    double group_ns = bench_median(t_group, k) * 1e9;
    printf("setup: %zu events (%u SKUs) in batches of %zu, %d rounds after a warm-up\n", e.n,
           skus, batch_n, rounds - 1);
    printf("copying the events:  %6.1f ns per event (reference)\n", copy_ns);
    printf("adding:              %6.1f ns per event  %5.1f x reference\n", add_ns,
           add_ns / copy_ns);
    printf("grouping:            %6.1f ns per event  %5.1f x reference\n", group_ns,
           group_ns / copy_ns);
    printf("grouping makes:      %.2f slot deltas, %.2f bucket deltas, %.2f user observations "
           "per event\n",
           (double)counts[0] / (double)counted, (double)counts[1] / (double)counted,
           (double)counts[2] / (double)counted);
    dc_featbatch_destroy(b);
    free(copy);
    free(t_add);
    free(t_group);
    free(t_copy);
    free(e.ev);
    free(e.sku);
    free(e.user);
    dc_conf_destroy(conf);
    return 0;
}
