/* features/validate.c - the settings of event time and windows, and the
 * checks that send bad input to the DLQ (DESIGN.md section 8). */
#include "features/features.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t ms;
    char name[16];
} window_t;

static int cmp_window(const void *a, const void *b)
{
    int64_t x = ((const window_t *)a)->ms, y = ((const window_t *)b)->ms;
    return (x > y) - (x < y);
}

/* Parses the comma-separated window list into lim, sorted by length. Names
 * keep the user's spelling ("7d"), which is what the key layout and the
 * `features` output show. */
static int parse_windows(dc_limits_t *lim, const char *text, char *errstr, size_t errstr_size)
{
    char copy[256], *save = NULL, *tok;
    window_t win[DC_WINDOWS_MAX];
    size_t n = 0;

    if (!text || strlen(text) >= sizeof(copy))
        return dc_seterr(errstr, errstr_size, DC_ERR_CONFIG, "windows: missing or too long");
    strcpy(copy, text);
    for (tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        int64_t w;
        if (n == DC_WINDOWS_MAX)
            return dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                             "windows: at most %d windows", DC_WINDOWS_MAX);
        if (dc_duration_parse(tok, &w) || w <= 0 || w % DC_WINDOW_SLOTS ||
            strlen(tok) >= sizeof(win[0].name))
            return dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                             "windows: \"%s\" is not a positive duration divisible into %d "
                             "slots of whole milliseconds",
                             tok, DC_WINDOW_SLOTS);
        for (size_t i = 0; i < n; i++)
            if (win[i].ms == w)
                return dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                                 "windows: \"%s\" is given twice", tok);
        win[n].ms = w;
        strcpy(win[n].name, tok);
        n++;
    }
    if (!n)
        return dc_seterr(errstr, errstr_size, DC_ERR_CONFIG, "windows: no window given");
    qsort(win, n, sizeof(win[0]), cmp_window);
    lim->n_windows = n;
    for (size_t i = 0; i < n; i++) {
        lim->window_ms[i] = win[i].ms;
        strcpy(lim->window_name[i], win[i].name);
    }
    return DC_OK;
}

int dc_limits_init(dc_limits_t *lim, const dc_conf_t *conf, char *errstr, size_t errstr_size)
{
    memset(lim, 0, sizeof(*lim));
    lim->bucket_ms = dc_conf_duration_ms(conf, "bucket.width");
    lim->lateness_ms = dc_conf_duration_ms(conf, "lateness");
    lim->idle_ttl_ms = dc_conf_duration_ms(conf, "sku.idle.ttl");
    lim->idle_timeout_ms = dc_conf_duration_ms(conf, "idle.timeout");
    lim->future_ms = dc_conf_duration_ms(conf, "future.tolerance");
    lim->max_quantity = dc_conf_int(conf, "max.quantity");
    lim->max_price = dc_conf_double(conf, "max.price");
    int err = parse_windows(lim, dc_conf_str(conf, "windows"), errstr, errstr_size);
    if (err)
        return err;
    /* An idle SKU's keys are deleted (by a bucket close): by then every window of it
     * must be empty, or a SKU that sells again would lose window contents. */
    if (lim->idle_ttl_ms < dc_limits_longest_window(lim))
        return dc_seterr(errstr, errstr_size, DC_ERR_CONFIG,
                         "sku.idle.ttl (%lld ms) is shorter than the longest window (%s)",
                         (long long)lim->idle_ttl_ms, lim->window_name[lim->n_windows - 1]);
    return DC_OK;
}

int64_t dc_limits_longest_window(const dc_limits_t *lim)
{
    return lim->window_ms[lim->n_windows - 1];
}

static int check_price(const dc_limits_t *lim, double price)
{
    return isfinite(price) && price >= 0 && price <= lim->max_price ? DC_OK : DC_ERR_BAD_PRICE;
}

int dc_validate_click(const dc_limits_t *lim, const dc_click_t *click)
{
    if (!click->sku[0])
        return DC_ERR_BAD_SKU;
    if ((unsigned)click->type >= DC_CLICK__COUNT)
        return DC_ERR_MALFORMED;
    return check_price(lim, click->price);
}

int dc_validate_order(const dc_limits_t *lim, const dc_order_t *order)
{
    if (!order->n_lines || (unsigned)order->status >= DC_ORDER__COUNT)
        return DC_ERR_MALFORMED;
    for (size_t i = 0; i < order->n_lines; i++) {
        const dc_order_line_t *line = &order->lines[i];
        if (!line->sku[0])
            return DC_ERR_BAD_SKU;
        if (line->qty < 1 || line->qty > lim->max_quantity)
            return DC_ERR_BAD_QUANTITY;
        if (check_price(lim, line->unit_price))
            return DC_ERR_BAD_PRICE;
    }
    return DC_OK;
}

int dc_validate_time(const dc_limits_t *lim, int64_t ts_ms, int64_t now_ms,
                     int64_t closed_until)
{
    if (ts_ms < DC_MIN_EVENT_TIME)
        return DC_ERR_BAD_TIMESTAMP;
    if (ts_ms > now_ms + lim->future_ms)
        return DC_ERR_BAD_TIMESTAMP;
    if (closed_until != INT64_MIN && ts_ms < closed_until - dc_limits_longest_window(lim))
        return DC_ERR_TOO_LATE;
    return DC_OK;
}
