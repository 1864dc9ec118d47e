/* common/buf.c - growable byte buffers reused across records, and the text
 * of a number that is written into them (dc_double_format). */
#include "common/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dc__buf_grow(dc_buf_t *buf, size_t extra)
{
    size_t need, cap;
    uint8_t *data;

    if (extra > SIZE_MAX - buf->len)
        return DC_ERR_NOMEM;
    need = buf->len + extra;
    if (need <= buf->cap)
        return DC_OK;
    cap = buf->cap ? buf->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    data = realloc(buf->data, cap);
    if (!data)
        return DC_ERR_NOMEM;
    buf->data = data;
    buf->cap = cap;
    return DC_OK;
}

int dc_buf_append(dc_buf_t *buf, const void *data, size_t len)
{
    int err = dc_buf_reserve(buf, len);
    if (err)
        return err;
    if (len)
        memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    return DC_OK;
}

int dc_buf_printf(dc_buf_t *buf, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return DC_ERR_INVAL;
    /* +1 for the terminator vsnprintf writes; it is not counted in len. */
    if (dc_buf_reserve(buf, (size_t)n + 1))
        return DC_ERR_NOMEM;
    va_start(ap, fmt);
    vsnprintf((char *)buf->data + buf->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf->len += (size_t)n;
    return DC_OK;
}

char *dc_double_format(double d, char *text)
{
    if (isnan(d))
        return strcpy(text, "NaN");
    if (isinf(d))
        return strcpy(text, d > 0 ? "+Inf" : "-Inf");
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(text, DC_DOUBLE_TEXT, "%.*g", prec, d);
        if (strtod(text, NULL) == d)
            break;
    }
    return text;
}

void dc_buf_free(dc_buf_t *buf)
{
    if (!buf)
        return;
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}
