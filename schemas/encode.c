/* schemas/encode.c - Avro binary encoding of our records, by walking their
 * bindings. We always write with our own schema, so no resolution is
 * involved; the buffer only grows until it fits the largest record. */
#include "schemas/schemas_int.h"

#include <string.h>

int dc__put_long(dc_buf_t *out, int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    uint8_t *p;

    if (dc_buf_reserve(out, 10))
        return DC_ERR_NOMEM;
    p = out->data + out->len;
    while (u >= 0x80) {
        *p++ = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    *p++ = (uint8_t)u;
    out->len = (size_t)(p - out->data);
    return DC_OK;
}

static int put_double(dc_buf_t *out, double d)
{
    uint64_t u;

    memcpy(&u, &d, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    u = __builtin_bswap64(u);
#endif
    return dc_buf_append(out, &u, 8);
}

/* A char array field: its text ends at the first NUL or at the array end. */
static int put_string(dc_buf_t *out, const char *s, size_t size)
{
    size_t n = strnlen(s, size);
    int err;

    if (n == size || !dc__utf8_valid((const uint8_t *)s, n))
        return DC_ERR_INVAL;
    if ((err = dc__put_long(out, (int64_t)n)))
        return err;
    return dc_buf_append(out, s, n);
}

static int encode_rec(const dc__rrec_t *rrec, const uint8_t *rec, dc_buf_t *out)
{
    int err = DC_OK;

    for (size_t i = 0; i < rrec->n_fields && !err; i++) {
        const dc__rfield_t *rf = &rrec->fields[i];
        const uint8_t *p = rec + rf->off;
        int64_t l;
        int32_t i32;
        int iv;
        double d;
        size_t count;
        const uint8_t *items;

        switch (rf->kind) {
        case DC__F_STRING: err = put_string(out, (const char *)p, rf->size); break;
        case DC__F_NSTRING:
            memcpy(&iv, rec + rf->flag_off, sizeof(iv));
            /* Branch 0 is null, branch 1 the string, as in the .avsc. */
            if ((err = dc__put_long(out, iv ? 1 : 0)) || !iv)
                break;
            err = put_string(out, (const char *)p, rf->size);
            break;
        case DC__F_LONG:
            memcpy(&l, p, sizeof(l));
            err = dc__put_long(out, l);
            break;
        case DC__F_INT:
            memcpy(&i32, p, sizeof(i32));
            err = dc__put_long(out, i32);
            break;
        case DC__F_DOUBLE:
            memcpy(&d, p, sizeof(d));
            err = put_double(out, d);
            break;
        case DC__F_BOOL:
            memcpy(&iv, p, sizeof(iv));
            err = dc_buf_append(out, iv ? "\1" : "\0", 1);
            break;
        case DC__F_ENUM:
            memcpy(&iv, p, sizeof(iv));
            err = iv < 0 || iv >= rf->n_symbols ? DC_ERR_INVAL : dc__put_long(out, iv);
            break;
        case DC__F_ARRAY:
            memcpy(&count, rec + rf->count_off, sizeof(count));
            if (rf->max) {
                items = p;
                if (count > rf->max)
                    return DC_ERR_INVAL;
            } else {
                memcpy(&items, p, sizeof(items));
                if (count && !items)
                    return DC_ERR_INVAL;
            }
            /* One block holding every item, then the empty block that ends
             * the array; an empty array is just the end marker. */
            if (count && (err = dc__put_long(out, (int64_t)count)))
                break;
            for (size_t k = 0; k < count && !err; k++)
                err = encode_rec(rf->items, items + k * rf->items->size, out);
            if (!err)
                err = dc__put_long(out, 0);
            break;
        }
    }
    return err;
}

int dc__encode(const dc__rrec_t *rrec, const void *rec, dc_buf_t *out)
{
    size_t len0 = out->len;
    int err = encode_rec(rrec, rec, out);

    if (err)
        out->len = len0;
    return err;
}
