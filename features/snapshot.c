/* features/snapshot.c - writing and reading a bucket close's snapshot (see
 * snapshot.h). */
#include "features/snapshot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Room for n SKUs in out, which it empties. */
static int bucket_reserve(dc_bucket_t *out, size_t n)
{
    if (n > out->cap) {
        /* The active set grows a few SKUs at a time: grow ahead of it. The
         * old rows are done with, so nothing is copied over. */
        size_t cap = n + n / 2;
        dc_bucket_sku_t *skus = malloc(cap * sizeof(*skus));
        if (!skus)
            return DC_ERR_NOMEM;
        free(out->skus);
        out->skus = skus;
        out->cap = cap;
    }
    out->n_skus = 0;
    return DC_OK;
}

/* Appends one SKU's row of a snapshot (f in the order of the format) to
 * out. */
static void bucket_row(dc_bucket_t *out, const char *sku, size_t sku_len, const int64_t f[11],
                       double users)
{
    dc_bucket_sku_t *s = &out->skus[out->n_skus++];
    int64_t events = f[7], promo = f[8], price_n = f[9];

    /* Every field set, the SKU's bytes copied and ended: a close writes ten
     * thousand rows, most of them zeros, so no clearing of the whole row. */
    memcpy(s->sku, sku, sku_len);
    s->sku[sku_len] = '\0';
    s->units = f[0];
    s->cancelled = f[1];
    s->views = f[2];
    s->carts = f[3];
    s->removes = f[4];
    s->orders = f[5];
    s->revenue = (double)f[6] / 1e4;
    s->avg_price = price_n ? (double)f[10] / 1e4 / (double)price_n : 0;
    s->promo_share = events ? (double)promo / (double)events : 0;
    s->promo = promo > 0;
    s->users = users;
}

int dc_snapshot_begin(dc_snapshot_t *sn, msgpack_sbuffer *buf, dc_buf_t *zeros, int64_t start,
                      int64_t width, size_t n, dc_bucket_t *out)
{
    static const char array32[5] = {(char)0xdd};

    sn->buf = buf;
    sn->zeros = zeros;
    sn->out = out;
    sn->from = buf->size;
    sn->n_rows = 0;
    sn->last_zero = NULL;
    sn->last_zero_len = 0;
    zeros->len = 0;
    msgpack_packer_init(&sn->pk, buf, msgpack_sbuffer_write);
    int failed = msgpack_pack_array(&sn->pk, 3) | msgpack_pack_int64(&sn->pk, start);
    /* The rows' count is known at the end, so the rows' header is an
     * array 32, filled in then. */
    sn->count_at = buf->size;
    if (failed || msgpack_sbuffer_write(buf, array32, sizeof(array32)) || bucket_reserve(out, n))
        return DC_ERR_NOMEM;
    out->start = start;
    out->width = width;
    return DC_OK;
}

int dc_snapshot_row(dc_snapshot_t *sn, const char *name, size_t len, const dc_log_row_t *row)
{
    static const int64_t zeros[11];
    int failed = 0;

    if (len >= DC_SKU_MAX)
        return DC_ERR_MALFORMED;
    if (!row) {
        dc_buf_t *z = sn->zeros;
        size_t shared = 0;
        while (shared < sn->last_zero_len && shared < len && sn->last_zero[shared] == name[shared])
            shared++;
        if (dc_buf_reserve(z, 2 + len - shared))
            return DC_ERR_NOMEM;
        z->data[z->len++] = (uint8_t)shared;
        z->data[z->len++] = (uint8_t)(len - shared);
        memcpy(z->data + z->len, name + shared, len - shared);
        z->len += len - shared;
        sn->last_zero = name;
        sn->last_zero_len = len;
        bucket_row(sn->out, name, len, zeros, 0);
        return DC_OK;
    }
    const dc_bucket_delta_t *d = &row->d;
    int64_t f[11] = {d->units,  d->cancelled,    d->views,  d->carts,
                     d->removes, d->orders,      d->revenue_e4, d->events,
                     d->promo_events, d->price_n, d->price_sum_e4};
    failed = msgpack_pack_array(&sn->pk, 13) | msgpack_pack_str(&sn->pk, len) |
             msgpack_pack_str_body(&sn->pk, name, len);
    for (int j = 0; j < 11; j++)
        failed |= msgpack_pack_int64(&sn->pk, f[j]);
    failed |= msgpack_pack_int64(&sn->pk, (int64_t)row->users);
    bucket_row(sn->out, name, len, f, row->users);
    sn->n_rows++;
    return failed ? DC_ERR_NOMEM : DC_OK;
}

int dc_snapshot_end(dc_snapshot_t *sn)
{
    uint32_t n = sn->n_rows;
    uint8_t *at = (uint8_t *)sn->buf->data + sn->count_at + 1;

    at[0] = (uint8_t)(n >> 24), at[1] = (uint8_t)(n >> 16);
    at[2] = (uint8_t)(n >> 8), at[3] = (uint8_t)n;
    if (msgpack_pack_bin(&sn->pk, sn->zeros->len) ||
        msgpack_pack_bin_body(&sn->pk, sn->zeros->data, sn->zeros->len))
        return DC_ERR_NOMEM;
    return DC_OK;
}

/* A snapshot's number as an int64 into *v: an integer that fits, or a
 * finite float within range (rounded; older writers packed some totals as
 * floats). 0 for anything else. */
static int obj_i64(const msgpack_object *o, int64_t *v)
{
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        *v = (int64_t)o->via.u64;
        return o->via.u64 <= INT64_MAX;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        *v = o->via.i64;
        return 1;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        /* -2^63 .. 2^63, exclusive: llround of anything else is unspecified. */
        if (!(fabs(o->via.f64) < 9223372036854775808.0))
            return 0;
        *v = (int64_t)llround(o->via.f64);
        return 1;
    default:
        return 0;
    }
}

/* A snapshot's count of users into *v: a number, finite and not negative. */
static int obj_users(const msgpack_object *o, double *v)
{
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *v = (double)o->via.u64; return 1;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *v = o->via.f64; return isfinite(*v) && *v >= 0;
    default: return 0;
    }
}

/* Whether every array and map of the MessagePack object at p (len bytes)
 * claims no more elements than there are bytes left to hold them, each
 * taking one at least. msgpack_unpack_next reserves room for a container's
 * elements from its header alone: five bytes can claim 2^32 - 1 of them, and
 * with 24 bytes each it asks for 96 GiB (for a map, twice that). A damaged
 * snapshot must fail as malformed, not on an allocation (or a successful one
 * of gigabytes). */
static int counts_fit(const uint8_t *p, size_t len)
{
    size_t at = 0;
    uint64_t pending = 1; /* objects still to walk over */

    while (pending--) {
        uint64_t n = 0, skip = 0, per = 0; /* per: objects per counted element */
        int n_bytes = 0;                  /* big-endian count or length that follows */
        if (at >= len)
            return 0;
        uint8_t b = p[at++];
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
            continue;
        if (b <= 0x8f)
            n = b & 0x0f, per = 2; /* fixmap */
        else if (b <= 0x9f)
            n = b & 0x0f, per = 1; /* fixarray */
        else if (b <= 0xbf)
            skip = b & 0x1f; /* fixstr */
        else
            switch (b) {
            case 0xc4: case 0xd9: n_bytes = 1; break; /* bin 8, str 8 */
            case 0xc5: case 0xda: n_bytes = 2; break;
            case 0xc6: case 0xdb: n_bytes = 4; break;
            case 0xc7: n_bytes = 1, skip = 1; break; /* ext: a type byte too */
            case 0xc8: n_bytes = 2, skip = 1; break;
            case 0xc9: n_bytes = 4, skip = 1; break;
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xca: case 0xce: case 0xd2: skip = 4; break;
            case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break; /* fixext: type byte and 1 .. 16 */
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc: n_bytes = 2, per = 1; break; /* array 16, 32 */
            case 0xdd: n_bytes = 4, per = 1; break;
            case 0xde: n_bytes = 2, per = 2; break; /* map 16, 32 */
            case 0xdf: n_bytes = 4, per = 2; break;
            default: return 0; /* 0xc1, never used */
            }
        if ((size_t)n_bytes > len - at)
            return 0;
        for (int i = 0; i < n_bytes; i++)
            n = n << 8 | p[at++];
        if (per)
            pending += per * n;
        else
            skip += n;
        if (skip > len - at || pending > len - at - skip)
            return 0;
        at += skip;
    }
    return 1;
}

/* The next name of a snapshot's zeros after name (*len bytes, the one
 * before; 0 at the start) from z (z_len bytes) at *off; 0 if z is cut short
 * or the name is not a SKU's. */
static int next_zero(const uint8_t *z, size_t z_len, size_t *off, char *name, size_t *len)
{
    size_t shared, suffix;

    if (z_len - *off < 2)
        return 0;
    shared = z[*off], suffix = z[*off + 1];
    *off += 2;
    if (shared > *len || !(shared + suffix) || shared + suffix >= DC_SKU_MAX ||
        suffix > z_len - *off || memchr(z + *off, '\0', suffix))
        return 0;
    memcpy(name + shared, z + *off, suffix);
    *off += suffix;
    *len = shared + suffix;
    return 1;
}

/* Whether name (len bytes) may follow the bucket's last row: a SKU's name,
 * after the name before in byte order. */
static int name_follows(const dc_bucket_t *out, const char *name, size_t len)
{
    if (!len || memchr(name, '\0', len))
        return 0;
    if (!out->n_skus)
        return 1;
    const char *last = out->skus[out->n_skus - 1].sku;
    dc_name_key_t a = dc_name_key(last, strlen(last), 0), b = dc_name_key(name, len, 0);
    return dc_name_cmp(&a, &b) < 0;
}

int dc_snapshot_decode(const void *data, size_t len, int64_t width, dc_bucket_t *out,
                       char *errstr, size_t errstr_size)
{
    static const int64_t zeros[11];
    msgpack_unpacked up;
    size_t off = 0, z_off = 0, z_len = 0, zero_len = 0, n_zeros = 0, i = 0;
    const uint8_t *z = NULL;
    char zero[DC_SKU_MAX];
    int err = DC_OK, has_zero;
    const msgpack_object *rows;

    msgpack_unpacked_init(&up);
    if (!counts_fit(data, len) ||
        msgpack_unpack_next(&up, data, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        up.data.type != MSGPACK_OBJECT_ARRAY || up.data.via.array.size < 2 ||
        up.data.via.array.size > 3) {
        err = dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED, "close snapshot does not decode");
        goto out;
    }
    rows = &up.data.via.array.ptr[1];
    if (rows->type != MSGPACK_OBJECT_ARRAY ||
        (up.data.via.array.size == 3 && up.data.via.array.ptr[2].type != MSGPACK_OBJECT_BIN)) {
        err = dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED, "close snapshot has no rows");
        goto out;
    }
    if (up.data.via.array.size == 3) {
        z = (const uint8_t *)up.data.via.array.ptr[2].via.bin.ptr;
        z_len = up.data.via.array.ptr[2].via.bin.size;
        for (size_t at = 0; at + 1 < z_len; at += 2 + z[at + 1])
            n_zeros++; /* as next_zero steps; it checks each */
    }
    if (bucket_reserve(out, rows->via.array.size + n_zeros)) {
        err = dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory reading a snapshot");
        goto out;
    }
    if (!obj_i64(&up.data.via.array.ptr[0], &out->start)) {
        err = dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED, "close snapshot has no start");
        goto out;
    }
    out->width = width;
    /* The rows with events and the zeros, merged in name order. */
    has_zero = z && next_zero(z, z_len, &z_off, zero, &zero_len);
    while (i < rows->via.array.size || has_zero) {
        const msgpack_object *row = i < rows->via.array.size ? &rows->via.array.ptr[i] : NULL;
        const msgpack_object *f;
        int64_t v[11] = {0};
        if (row && (row->type != MSGPACK_OBJECT_ARRAY ||
                    (row->via.array.size != 1 && row->via.array.size != 13) ||
                    row->via.array.ptr[0].type != MSGPACK_OBJECT_STR ||
                    row->via.array.ptr[0].via.str.size >= DC_SKU_MAX)) {
            err = dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED,
                            "close snapshot row %zu is malformed", i);
            goto out;
        }
        f = row ? row->via.array.ptr : NULL;
        int zero_first = has_zero;
        if (has_zero && row) {
            dc_name_key_t a = dc_name_key(zero, zero_len, 0);
            dc_name_key_t b = dc_name_key(f[0].via.str.ptr, f[0].via.str.size, 0);
            zero_first = dc_name_cmp(&a, &b) < 0;
        }
        const char *name = zero_first ? zero : f[0].via.str.ptr;
        size_t name_len = zero_first ? zero_len : f[0].via.str.size;
        if (!name_follows(out, name, name_len)) {
            err = dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED,
                            "close snapshot names a SKU out of order, twice or as no name");
            goto out;
        }
        if (zero_first) {
            bucket_row(out, zero, zero_len, zeros, 0);
            has_zero = next_zero(z, z_len, &z_off, zero, &zero_len);
            continue;
        }
        i++;
        if (row->via.array.size == 1) { /* a row of zeros (snapshots before the zeros) */
            bucket_row(out, name, name_len, v, 0);
            continue;
        }
        double users = 0;
        int numbers_ok = obj_users(&f[12], &users);
        for (int j = 0; j < 11; j++)
            numbers_ok &= obj_i64(&f[1 + j], &v[j]);
        if (!numbers_ok) {
            err = dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED,
                            "close snapshot row %zu holds a number out of range", i - 1);
            goto out;
        }
        bucket_row(out, name, name_len, v, users);
    }
    if (z && z_off != z_len)
        err = dc_seterr(errstr, errstr_size, DC_ERR_MALFORMED,
                        "close snapshot's zeros are malformed");
out:
    msgpack_unpacked_destroy(&up);
    return err;
}
