/* common/metrics.c - counters and gauges rendered in the Prometheus text
 * format. Values are doubles updated with a compare-and-swap loop so that the
 * pipeline threads and the HTTP thread need no lock on the hot path; the
 * registry lock guards only creation and rendering. */
#include "common/common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct dc_metric_s {
    char *name;
    char *labels; /* "" when none */
    char *help;
    int is_counter;
    _Atomic uint64_t bits; /* the double value, as its bit pattern */
    struct dc_metric_s *next;
};

struct dc_metrics_s {
    pthread_mutex_t lock;
    dc_metric_t *head;
};

dc_metrics_t *dc_metrics_new(void)
{
    dc_metrics_t *metrics = calloc(1, sizeof(*metrics));
    if (metrics)
        pthread_mutex_init(&metrics->lock, NULL);
    return metrics;
}

void dc_metrics_destroy(dc_metrics_t *metrics)
{
    if (!metrics)
        return;
    for (dc_metric_t *m = metrics->head, *next; m; m = next) {
        next = m->next;
        free(m->name);
        free(m->labels);
        free(m->help);
        free(m);
    }
    pthread_mutex_destroy(&metrics->lock);
    free(metrics);
}

static dc_metric_t *metric_get(dc_metrics_t *metrics, const char *name, const char *labels,
                               const char *help, int is_counter)
{
    dc_metric_t *m;

    if (!metrics)
        return NULL;
    if (!labels)
        labels = "";
    pthread_mutex_lock(&metrics->lock);
    for (m = metrics->head; m; m = m->next)
        if (!strcmp(m->name, name) && !strcmp(m->labels, labels))
            goto out;
    m = calloc(1, sizeof(*m));
    if (!m || !(m->name = strdup(name)) || !(m->labels = strdup(labels)) ||
        !(m->help = strdup(help ? help : ""))) {
        if (m) {
            free(m->name);
            free(m->labels);
        }
        free(m);
        m = NULL;
        goto out;
    }
    m->is_counter = is_counter;
    m->next = metrics->head;
    metrics->head = m;
out:
    pthread_mutex_unlock(&metrics->lock);
    return m;
}

dc_metric_t *dc_metrics_counter(dc_metrics_t *metrics, const char *name, const char *labels,
                                const char *help)
{
    return metric_get(metrics, name, labels, help, 1);
}

dc_metric_t *dc_metrics_gauge(dc_metrics_t *metrics, const char *name, const char *labels,
                              const char *help)
{
    return metric_get(metrics, name, labels, help, 0);
}

static uint64_t to_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static double from_bits(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

void dc_metric_add(dc_metric_t *metric, double delta)
{
    if (!metric)
        return;
    uint64_t old = atomic_load_explicit(&metric->bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&metric->bits, &old,
                                                  to_bits(from_bits(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

void dc_metric_set(dc_metric_t *metric, double value)
{
    if (metric)
        atomic_store_explicit(&metric->bits, to_bits(value), memory_order_relaxed);
}

double dc_metric_value(const dc_metric_t *metric)
{
    if (!metric)
        return 0;
    return from_bits(atomic_load_explicit(&((dc_metric_t *)metric)->bits, memory_order_relaxed));
}

static int cmp_metric(const void *a, const void *b)
{
    const dc_metric_t *x = *(const dc_metric_t *const *)a, *y = *(const dc_metric_t *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->labels, y->labels);
}

int dc_metrics_render(dc_metrics_t *metrics, dc_buf_t *buf)
{
    size_t n = 0, i;
    dc_metric_t **sorted;
    char value[DC_DOUBLE_TEXT];
    int err = DC_OK;

    pthread_mutex_lock(&metrics->lock);
    for (dc_metric_t *m = metrics->head; m; m = m->next)
        n++;
    sorted = calloc(n ? n : 1, sizeof(*sorted));
    if (!sorted) {
        pthread_mutex_unlock(&metrics->lock);
        return DC_ERR_NOMEM;
    }
    i = 0;
    for (dc_metric_t *m = metrics->head; m; m = m->next)
        sorted[i++] = m;
    qsort(sorted, n, sizeof(*sorted), cmp_metric);
    for (i = 0; i < n && !err; i++) {
        const dc_metric_t *m = sorted[i];
        if (i == 0 || strcmp(sorted[i - 1]->name, m->name))
            err = dc_buf_printf(buf, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
                                m->is_counter ? "counter" : "gauge");
        if (!err)
            err = dc_buf_printf(buf, "%s%s%s%s %s\n", m->name, *m->labels ? "{" : "",
                                m->labels, *m->labels ? "}" : "",
                                dc_double_format(dc_metric_value(m), value));
    }
    pthread_mutex_unlock(&metrics->lock);
    free(sorted);
    return err;
}
