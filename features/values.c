/* features/values.c - the stored values whose format features/values.lua
 * defines (whose reader features.lua runs in Redis): written here, and read
 * here when a bucket closes. A flush reads the values it touches, merges
 * its deltas into them here and writes them back, so Redis only stores
 * bytes: merging in Lua inside Redis cost several microseconds a value, most
 * of it copying sketch strings, and held up every other client meanwhile. */
#include "features/features.h"

#include <math.h>
#include <string.h>

#define SK_EXACT 256  /* hashes an exact sketch holds (values.lua SK_EXACT) */
#define SK_REGS 1024  /* HyperLogLog registers (values.lua SK_REGS) */
#define SLOT_FIXED 48   /* SLOT_FMT: six 8-byte integers */
#define BUCKET_FIXED 88 /* BUCKET_FMT: eleven 8-byte integers */

static int64_t get_i64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return (int64_t)v;
}

static void put_i64(uint8_t *p, int64_t x)
{
    uint64_t v = (uint64_t)x;
    for (int i = 0; i < 8; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint32_t get_hash(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Register (0-based) and rank of a hash, as values.lua's sk_rank: the top 10
 * bits pick the register, the rank is one more than the leading zeros of
 * the low 22 bits (23 when they are all zero). */
static void hash_rank(uint32_t h, size_t *reg, uint8_t *rank)
{
    uint32_t low = h & 0x3fffff;

    *reg = h >> 22;
    *rank = low ? (uint8_t)(22 - (31 - __builtin_clz(low))) : 23;
}

static int exact_has(const uint8_t *set, size_t n, const uint8_t *h)
{
    for (size_t i = 0; i < n; i++)
        if (!memcmp(set + 4 * i, h, 4))
            return 1;
    return 0;
}

/* Appends to out the sketch sk (sk_len bytes; 0 for none) with the users of
 * hashes (n_bytes / 4 big-endian hashes) added, as values.lua describes:
 * exact while at most SK_EXACT users, registers beyond. */
static int sketch_add(dc_buf_t *out, const uint8_t *sk, size_t sk_len, const uint8_t *hashes,
                      size_t n_bytes)
{
    size_t start = out->len, i = 0, n;
    uint8_t *regs;

    if (sk_len && sk[0] != 'E' && sk[0] != 'H')
        return DC_ERR_MALFORMED;
    if (sk_len && sk[0] == 'H' && sk_len != 1 + SK_REGS)
        return DC_ERR_MALFORMED;
    if (sk_len && sk[0] == 'E' && (sk_len - 1) % 4)
        return DC_ERR_MALFORMED;
    if (!n_bytes)
        return dc_buf_append(out, sk, sk_len);
    if (dc_buf_reserve(out, 1 + SK_REGS + (SK_EXACT + 1) * 4))
        return DC_ERR_NOMEM;
    if (!sk_len || sk[0] == 'E') {
        uint8_t *set = out->data + start + 1;
        out->data[start] = 'E';
        n = sk_len ? (sk_len - 1) / 4 : 0;
        if (n)
            memcpy(set, sk + 1, 4 * n);
        for (; i < n_bytes; i += 4) {
            if (exact_has(set, n, hashes + i))
                continue;
            if (n == SK_EXACT)
                break;
            memcpy(set + 4 * n++, hashes + i, 4);
        }
        if (i == n_bytes) {
            out->len = start + 1 + 4 * n;
            return DC_OK;
        }
        /* Outgrown: the registers of the exact set, then of the rest. */
        uint8_t tmp[SK_REGS] = {0};
        for (size_t k = 0; k < n; k++) {
            size_t reg;
            uint8_t rank;
            hash_rank(get_hash(set + 4 * k), &reg, &rank);
            if (rank > tmp[reg])
                tmp[reg] = rank;
        }
        memcpy(out->data + start + 1, tmp, SK_REGS);
    } else {
        memcpy(out->data + start + 1, sk + 1, SK_REGS);
    }
    out->data[start] = 'H';
    regs = out->data + start + 1;
    for (; i < n_bytes; i += 4) {
        size_t reg;
        uint8_t rank;
        hash_rank(get_hash(hashes + i), &reg, &rank);
        if (rank > regs[reg])
            regs[reg] = rank;
    }
    out->len = start + 1 + SK_REGS;
    return DC_OK;
}

int dc_value_merge_slot(dc_buf_t *out, const void *cur_v, size_t cur_len,
                        const dc_slot_delta_t *d, const void *hashes, size_t n_bytes)
{
    const uint8_t *cur = cur_v;
    int64_t f[6] = {d->slot, d->views, d->carts, d->units, d->orders, d->revenue_e4};
    size_t start = out->len;
    int err;

    if (cur && cur_len < SLOT_FIXED)
        return DC_ERR_MALFORMED;
    if (cur) {
        int64_t slot = get_i64(cur);
        if (slot > d->slot)
            return DC_ERR_AGAIN; /* the delta's slot has left the window already */
        if (slot == d->slot)
            for (int i = 1; i < 6; i++)
                f[i] += get_i64(cur + 8 * i);
        else
            cur = NULL; /* an older slot at this ring position: replaced */
    }
    if (dc_buf_reserve(out, SLOT_FIXED))
        return DC_ERR_NOMEM;
    for (int i = 0; i < 6; i++)
        put_i64(out->data + start + 8 * i, f[i]);
    out->len += SLOT_FIXED;
    if ((err = sketch_add(out, cur ? cur + SLOT_FIXED : NULL, cur ? cur_len - SLOT_FIXED : 0,
                          hashes, n_bytes)))
        out->len = start;
    return err;
}

int dc_value_merge_bucket(dc_buf_t *out, const void *cur_v, size_t cur_len,
                          const dc_bucket_delta_t *d, const void *hashes, size_t n_bytes)
{
    const uint8_t *cur = cur_v;
    int64_t f[11] = {d->units,  d->cancelled,    d->views,   d->carts,
                     d->removes, d->orders,      d->revenue_e4, d->events,
                     d->promo_events, d->price_n, d->price_sum_e4};
    size_t start = out->len;
    int err;

    if (cur && cur_len < BUCKET_FIXED)
        return DC_ERR_MALFORMED;
    if (cur)
        for (int i = 0; i < 11; i++)
            f[i] += get_i64(cur + 8 * i);
    if (dc_buf_reserve(out, BUCKET_FIXED))
        return DC_ERR_NOMEM;
    for (int i = 0; i < 11; i++)
        put_i64(out->data + start + 8 * i, f[i]);
    out->len += BUCKET_FIXED;
    if ((err = sketch_add(out, cur ? cur + BUCKET_FIXED : NULL,
                          cur ? cur_len - BUCKET_FIXED : 0, hashes, n_bytes)))
        out->len = start;
    return err;
}

/* Distinct users of one sketch, as values.lua's sk_count of a list of one:
 * the exact count, or the HyperLogLog estimate with the small-range
 * correction, computed in the same order so both give the same number. */
static double sketch_count(const uint8_t *sk, size_t len)
{
    double z = 0, est;
    int zeros = 0;

    if (!len)
        return 0;
    if (sk[0] == 'E')
        return (double)((len - 1) / 4);
    for (size_t i = 0; i < SK_REGS; i++) {
        z += ldexp(1.0, -sk[1 + i]);
        zeros += !sk[1 + i];
    }
    est = 0.7213 / (1 + 1.079 / SK_REGS) * SK_REGS * SK_REGS / z;
    if (est <= 2.5 * SK_REGS && zeros > 0)
        est = SK_REGS * log((double)SK_REGS / zeros);
    return floor(est + 0.5);
}

int dc_value_read_bucket(const void *v_in, size_t len, dc_bucket_delta_t *d, double *users)
{
    const uint8_t *v = v_in;
    const uint8_t *sk = v + BUCKET_FIXED;
    size_t sk_len = len - BUCKET_FIXED;

    if (len < BUCKET_FIXED ||
        (sk_len && !(sk[0] == 'E' && (sk_len - 1) % 4 == 0) &&
         !(sk[0] == 'H' && sk_len == 1 + SK_REGS)))
        return DC_ERR_MALFORMED;
    int64_t *f[11] = {&d->units,   &d->cancelled,    &d->views,   &d->carts,
                      &d->removes, &d->orders,       &d->revenue_e4, &d->events,
                      &d->promo_events, &d->price_n, &d->price_sum_e4};
    for (int i = 0; i < 11; i++)
        *f[i] = get_i64(v + 8 * i);
    *users = sketch_count(sk, sk_len);
    return DC_OK;
}
