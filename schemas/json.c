/*
 * schemas/json.c - one-line JSON renderings of the records, for
 * `demandcast tail`, the demo and people.
 *
 * Keys are the Avro field names. Every timestamp-millis field F appears
 * twice: "F" as an ISO-8601 UTC string ("2011-06-30T08:26:00Z", null outside
 * years 0000-9999) for people, and "F_ms" as the raw integer for tools.
 * Enums are their symbol names, null unions are null, doubles are written
 * with the fewest digits that read back to the same value, and NaN or
 * infinities (which JSON cannot express) are null. Text is escaped per RFC
 * 8259; bytes that are not UTF-8 become U+FFFD so the line stays valid JSON.
 */
#include "schemas/schemas_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Years 0000..9999, the range ISO-8601 basic dates cover. */
#define ISO_MIN_MS (-62167219200000LL)
#define ISO_MAX_MS 253402300799999LL

/* A writer with a sticky error: each step is a no-op once one failed, and
 * jw_end() leaves the buffer as it was before the record if any did. */
typedef struct {
    dc_buf_t *out;
    size_t len0;
    int err;
} jw_t;

static jw_t jw_begin(dc_buf_t *out)
{
    return (jw_t){out, out->len, DC_OK};
}

static int jw_end(jw_t *w)
{
    if (w->err)
        w->out->len = w->len0;
    return w->err;
}

static void jw_raw(jw_t *w, const void *s, size_t n)
{
    if (!w->err)
        w->err = dc_buf_append(w->out, s, n);
}

static void jw_put(jw_t *w, const char *s)
{
    jw_raw(w, s, strlen(s));
}

static void jw_printf(jw_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void jw_printf(jw_t *w, const char *fmt, ...)
{
    char text[128];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(text))
        w->err = w->err ? w->err : DC_ERR_INVAL;
    else
        jw_raw(w, text, (size_t)n);
}

/* A char array field as a JSON string. */
static void jw_str(jw_t *w, const char *s, size_t size)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t n = strnlen(s, size), i = 0;

    jw_raw(w, "\"", 1);
    while (i < n) {
        size_t run = i;
        /* Copy the longest run that needs no escaping in one append. */
        while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i) {
            jw_raw(w, p + i, run - i);
            i = run;
        } else if (p[i] >= 0x80) {
            size_t len = p[i] >= 0xf0 ? 4 : p[i] >= 0xe0 ? 3 : 2;
            if (len <= n - i && dc__utf8_valid(p + i, len)) {
                jw_raw(w, p + i, len);
                i += len;
            } else {
                jw_put(w, "\\ufffd");
                i++;
            }
        } else if (p[i] == '"' || p[i] == '\\') {
            char esc[2] = {'\\', (char)p[i]};
            jw_raw(w, esc, 2);
            i++;
        } else {
            jw_printf(w, "\\u%04x", p[i]);
            i++;
        }
    }
    jw_raw(w, "\"", 1);
}

/* ,"key":"text" or ,"key":null */
static void jw_key_str(jw_t *w, const char *key, int has, const char *s, size_t size)
{
    jw_printf(w, ",\"%s\":", key);
    if (has)
        jw_str(w, s, size);
    else
        jw_put(w, "null");
}

static void jw_double(jw_t *w, const char *key, double d)
{
    char text[DC_DOUBLE_TEXT];

    jw_printf(w, ",\"%s\":", key);
    jw_put(w, isfinite(d) ? dc_double_format(d, text) : "null");
}

static void jw_time(jw_t *w, const char *key, int64_t ms)
{
    char iso[32];

    if (ms < ISO_MIN_MS || ms > ISO_MAX_MS)
        jw_printf(w, ",\"%s\":null,\"%s_ms\":%lld", key, key, (long long)ms);
    else
        jw_printf(w, ",\"%s\":\"%s\",\"%s_ms\":%lld", key, dc_time_format(ms, iso, sizeof(iso)),
                  key, (long long)ms);
}

int dc_click_to_json(const dc_click_t *c, dc_buf_t *out)
{
    jw_t w = jw_begin(out);

    jw_put(&w, "{\"event_id\":");
    jw_str(&w, c->event_id, sizeof(c->event_id));
    jw_time(&w, "ts", c->ts_ms);
    jw_key_str(&w, "sku", 1, c->sku, sizeof(c->sku));
    jw_key_str(&w, "user_id", 1, c->user_id, sizeof(c->user_id));
    jw_key_str(&w, "session_id", 1, c->session_id, sizeof(c->session_id));
    jw_printf(&w, ",\"type\":\"%s\"", dc_click_type_name(c->type));
    jw_double(&w, "price", c->price);
    jw_key_str(&w, "promo", c->has_promo, c->promo, sizeof(c->promo));
    jw_put(&w, "}");
    return jw_end(&w);
}

int dc_order_to_json(const dc_order_t *o, dc_buf_t *out)
{
    jw_t w = jw_begin(out);

    jw_put(&w, "{\"order_id\":");
    jw_str(&w, o->order_id, sizeof(o->order_id));
    jw_time(&w, "ts", o->ts_ms);
    jw_key_str(&w, "user_id", 1, o->user_id, sizeof(o->user_id));
    jw_printf(&w, ",\"status\":\"%s\",\"lines\":[", dc_order_status_name(o->status));
    for (size_t i = 0; i < o->n_lines; i++) {
        const dc_order_line_t *l = &o->lines[i];
        jw_put(&w, i ? ",{\"sku\":" : "{\"sku\":");
        jw_str(&w, l->sku, sizeof(l->sku));
        jw_printf(&w, ",\"qty\":%d", (int)l->qty);
        jw_double(&w, "unit_price", l->unit_price);
        jw_put(&w, "}");
    }
    jw_put(&w, "]");
    jw_key_str(&w, "promo_code", o->has_promo_code, o->promo_code, sizeof(o->promo_code));
    jw_put(&w, "}");
    return jw_end(&w);
}

int dc_forecast_to_json(const dc_forecast_t *f, dc_buf_t *out)
{
    size_t n = f->n_horizons < DC_HORIZON_MAX ? f->n_horizons : DC_HORIZON_MAX;
    jw_t w = jw_begin(out);

    jw_put(&w, "{\"sku\":");
    jw_str(&w, f->sku, sizeof(f->sku));
    jw_time(&w, "bucket_start", f->bucket_start);
    jw_printf(&w, ",\"bucket_width\":%lld", (long long)f->bucket_width);
    jw_time(&w, "issued_at", f->issued_at);
    jw_printf(&w, ",\"model_version\":%lld,\"horizons\":[", (long long)f->model_version);
    for (size_t i = 0; i < n; i++) {
        const dc_horizon_t *h = &f->horizons[i];
        jw_printf(&w, "%s{\"offset\":%d", i ? "," : "", (int)h->offset);
        jw_double(&w, "mean", h->mean);
        jw_double(&w, "p10", h->p10);
        jw_double(&w, "p50", h->p50);
        jw_double(&w, "p90", h->p90);
        jw_put(&w, "}");
    }
    jw_printf(&w, "],\"cold_start\":%s}", f->cold_start ? "true" : "false");
    return jw_end(&w);
}

int dc_surge_to_json(const dc_surge_t *s, dc_buf_t *out)
{
    size_t n = s->n_signals < DC_SIGNALS_MAX ? s->n_signals : DC_SIGNALS_MAX;
    jw_t w = jw_begin(out);

    jw_put(&w, "{\"sku\":");
    jw_str(&w, s->sku, sizeof(s->sku));
    jw_printf(&w, ",\"state\":\"%s\"", dc_surge_state_name(s->state));
    jw_time(&w, "detected_at", s->detected_at);
    jw_double(&w, "expected", s->expected);
    jw_double(&w, "baseline", s->baseline);
    jw_double(&w, "ratio", s->ratio);
    jw_put(&w, ",\"signals\":[");
    for (size_t i = 0; i < n; i++) {
        jw_put(&w, i ? ",{\"name\":" : "{\"name\":");
        jw_str(&w, s->signals[i].name, sizeof(s->signals[i].name));
        jw_double(&w, "value", s->signals[i].value);
        jw_put(&w, "}");
    }
    jw_put(&w, "]}");
    return jw_end(&w);
}
