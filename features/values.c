/* features/values.c - the stored values whose format features/values.lua
 * defines (whose reader features.lua runs in Redis): SKU records, written
 * here, and open-bucket logs, written here and read here when a bucket
 * closes. A flush reads the records it touches, merges its deltas into them
 * here and writes them back, so Redis only stores bytes: merging in Lua
 * inside Redis cost several microseconds a value, most of it copying sketch
 * strings, and held up every other client meanwhile. */
#include "features/features.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SK_EXACT 256  /* hashes an exact sketch holds (values.lua SK_EXACT) */
#define SK_REGS 1024  /* HyperLogLog registers (values.lua SK_REGS) */
#define SLOT_FIXED 48  /* SLOT_FMT: six 8-byte integers */
#define LOG_FIXED 88   /* LOG_FMT: eleven 8-byte integers */

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

static int sketch_valid(const uint8_t *sk, size_t len)
{
    return !len || (sk[0] == 'E' && (len - 1) % 4 == 0 && (len - 1) / 4 <= SK_EXACT) ||
           (sk[0] == 'H' && len == 1 + SK_REGS);
}

/* Appends to out the union of sketches a and b (both valid). */
static int sketch_union(dc_buf_t *out, const uint8_t *a, size_t a_len, const uint8_t *b,
                        size_t b_len)
{
    size_t start = out->len;

    if (!b_len || (b[0] == 'E' && b_len == 1))
        return dc_buf_append(out, a, a_len);
    if (b[0] == 'E')
        return sketch_add(out, a, a_len, b + 1, b_len - 1);
    if (!a_len || a[0] == 'E')
        return sketch_add(out, b, b_len, a_len ? a + 1 : NULL, a_len ? a_len - 1 : 0);
    if (dc_buf_append(out, a, a_len))
        return DC_ERR_NOMEM;
    for (size_t i = 1; i < a_len; i++)
        if (b[i] > out->data[start + i])
            out->data[start + i] = b[i];
    return DC_OK;
}

static size_t get_u(const uint8_t *p, int bytes)
{
    size_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_u(uint8_t *p, size_t v, int bytes)
{
    for (int i = 0; i < bytes; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Sets users to the distinct users of SKU i of batch whose events fall in
 * [from, from + span), as big-endian hashes (values.lua). A SKU's
 * observations in one batch are few, so a scan per slot or bucket is
 * cheap. */
static int users_in(dc_buf_t *users, const dc_featbatch_t *batch, size_t i, int64_t from,
                    int64_t span)
{
    size_t n = 0, out = 0;
    uint32_t *h;

    users->len = 0;
    for (const dc_user_obs_t *o = dc_featbatch_user_first(batch, i); o;
         o = dc_featbatch_user_next(batch, o))
        if (o->ts_ms >= from && o->ts_ms - from < span) {
            if (dc_buf_append(users, &o->user_hash, sizeof(o->user_hash)))
                return DC_ERR_NOMEM;
            n++;
        }
    h = (uint32_t *)(void *)users->data;
    if (n > 1)
        qsort(h, n, sizeof(*h), cmp_u32);
    for (size_t k = 0; k < n; k++) {
        uint32_t v = h[k];
        if (k && v == h[k - 1])
            continue;
        /* Written in place: byte `out` never passes h[k], read above. */
        uint8_t *b = users->data + out;
        b[0] = (uint8_t)(v >> 24);
        b[1] = (uint8_t)(v >> 16);
        b[2] = (uint8_t)(v >> 8);
        b[3] = (uint8_t)v;
        out += 4;
    }
    users->len = out;
    return DC_OK;
}

/* ------------------------------------------------------------------------ */
/* SKU records                                                              */
/* ------------------------------------------------------------------------ */

/* A window slot of a record or of the batch: its slot number, the stored
 * bytes after the length prefix (p NULL: only in the batch) and the
 * batch's delta of it (NULL: only stored). */
typedef struct {
    int64_t slot;
    const uint8_t *p;
    size_t len;
    const dc_slot_delta_t *d;
} item_t;

static int cmp_item(const void *a, const void *b)
{
    const item_t *x = a, *y = b;
    return (x->slot > y->slot) - (x->slot < y->slot);
}

/* Splits record v (len bytes; len 0: none) into the slots of each window:
 * slots[w][0 .. n_slots[w]), pointing into v. Windows the record has
 * beyond n_windows are skipped, missing ones are empty. */
static int parse_record(const uint8_t *v, size_t len, size_t n_windows,
                        item_t slots[][DC_WINDOW_SLOTS], size_t *n_slots)
{
    size_t off = 1;

    memset(n_slots, 0, n_windows * sizeof(*n_slots));
    if (!len)
        return DC_OK;
    if (v[0] > DC_WINDOWS_MAX)
        return DC_ERR_MALFORMED;
    for (size_t w = 0; w < v[0]; w++) {
        size_t n;
        if (len - off < 2 || (n = get_u(v + off, 2)) > DC_WINDOW_SLOTS)
            return DC_ERR_MALFORMED;
        off += 2;
        for (size_t i = 0; i < n; i++) {
            size_t ilen;
            if (len - off < 4 || (ilen = get_u(v + off, 4)) < SLOT_FIXED ||
                len - off - 4 < ilen || !sketch_valid(v + off + 4 + SLOT_FIXED, ilen - SLOT_FIXED))
                return DC_ERR_MALFORMED;
            if (w < n_windows)
                slots[w][i] = (item_t){get_i64(v + off + 4), v + off + 4, ilen, NULL};
            off += 4 + ilen;
        }
        if (w < n_windows)
            n_slots[w] = n;
    }
    return off == len ? DC_OK : DC_ERR_MALFORMED;
}

/* Appends one slot with its length prefix: the stored one (cur, may be
 * NULL) plus the batch's delta d (may be NULL) and its users. */
static int put_slot(dc_buf_t *out, const item_t *cur, const dc_slot_delta_t *d,
                    const dc_buf_t *users)
{
    size_t start = out->len;
    int err;

    if (!d) {
        if (dc_buf_reserve(out, 4 + cur->len))
            return DC_ERR_NOMEM;
        put_u(out->data + start, cur->len, 4);
        memcpy(out->data + start + 4, cur->p, cur->len);
        out->len += 4 + cur->len;
        return DC_OK;
    }
    int64_t f[6] = {d->slot, d->views, d->carts, d->units, d->orders, d->revenue_e4};
    if (dc_buf_reserve(out, 4 + SLOT_FIXED))
        return DC_ERR_NOMEM;
    for (int k = 0; k < 6; k++)
        put_i64(out->data + start + 4 + 8 * k, f[k] + (cur && k ? get_i64(cur->p + 8 * k) : 0));
    out->len += 4 + SLOT_FIXED;
    if ((err = sketch_add(out, cur ? cur->p + SLOT_FIXED : NULL, cur ? cur->len - SLOT_FIXED : 0,
                          users->data, users->len))) {
        out->len = start;
        return err;
    }
    put_u(out->data + start, out->len - start - 4, 4);
    return DC_OK;
}

/* Window w of a record: the stored slots and the batch's, merged, those
 * that left the window (DC_WINDOW_SLOTS behind the newest) dropped. */
static int merge_window(dc_buf_t *out, item_t *stored, size_t n, size_t w,
                        const dc_featbatch_t *batch, size_t sku, dc_value_scratch_t *scratch)
{
    const dc_sku_delta_t *d = dc_featbatch_sku(batch, sku);
    int64_t slot_ms = dc_featbatch_limits(batch)->window_ms[w] / DC_WINDOW_SLOTS;
    int64_t top = d->top_slot[w];
    item_t all[2 * DC_WINDOW_SLOTS];
    size_t count_at = out->len, kept = 0;
    int err;

    memcpy(all, stored, n * sizeof(item_t));
    for (size_t k = 0; k < n; k++)
        if (all[k].slot > top)
            top = all[k].slot;
    for (const dc_slot_delta_t *s = dc_featbatch_slot_first(batch, sku); s;
         s = dc_featbatch_slot_next(batch, s))
        if (s->window == w && s->slot > d->top_slot[w] - DC_WINDOW_SLOTS)
            all[n++] = (item_t){s->slot, NULL, 0, s};
    /* Stored slots come first and are distinct, as are the batch's: sorted,
     * a stored slot and the batch's delta of it end up side by side. */
    qsort(all, n, sizeof(item_t), cmp_item);
    if (dc_buf_reserve(out, 2))
        return DC_ERR_NOMEM;
    out->len += 2;
    for (size_t k = 0; k < n; k++) {
        const item_t *cur = all[k].p ? &all[k] : NULL;
        const dc_slot_delta_t *dl = all[k].d;
        if (k + 1 < n && all[k + 1].slot == all[k].slot) {
            k++;
            cur = all[k].p ? &all[k] : cur;
            dl = all[k].d ? all[k].d : dl;
        }
        if (all[k].slot <= top - DC_WINDOW_SLOTS)
            continue; /* left the window */
        err = dl ? users_in(&scratch->users, batch, sku, dl->slot * slot_ms, slot_ms) : DC_OK;
        if (err || (err = put_slot(out, cur, dl, &scratch->users)))
            return err;
        kept++;
    }
    put_u(out->data + count_at, kept, 2);
    return DC_OK;
}

int dc_value_merge_record(dc_buf_t *out, const void *cur, size_t cur_len,
                          const dc_featbatch_t *batch, size_t sku, dc_value_scratch_t *scratch)
{
    size_t n_windows = dc_featbatch_limits(batch)->n_windows, start = out->len;
    item_t slots[DC_WINDOWS_MAX][DC_WINDOW_SLOTS];
    size_t n_slots[DC_WINDOWS_MAX];
    int err;

    if ((err = parse_record(cur, cur_len, n_windows, slots, n_slots)))
        return err;
    if (dc_buf_reserve(out, 1))
        return DC_ERR_NOMEM;
    out->data[out->len++] = (uint8_t)n_windows;
    for (size_t w = 0; !err && w < n_windows; w++)
        err = merge_window(out, slots[w], n_slots[w], w, batch, sku, scratch);
    if (err)
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

/* ------------------------------------------------------------------------ */
/* Open-bucket logs                                                         */
/* ------------------------------------------------------------------------ */

_Static_assert(DC_SKU_MAX <= 256, "a log entry holds its SKU's length in one byte");

int dc_value_log_append(dc_buf_t *out, const dc_featbatch_t *batch, size_t sku,
                        const dc_bucket_delta_t *d, dc_value_scratch_t *scratch)
{
    const char *name = dc_featbatch_sku(batch, sku)->sku;
    size_t start = out->len, name_len = strlen(name);
    int64_t f[11] = {d->units,   d->cancelled,    d->views,   d->carts,
                     d->removes, d->orders,       d->revenue_e4, d->events,
                     d->promo_events, d->price_n, d->price_sum_e4};
    int err;

    if ((err = users_in(&scratch->users, batch, sku, d->start, dc_featbatch_limits(batch)->bucket_ms)))
        return err;
    if (dc_buf_reserve(out, 1 + name_len + LOG_FIXED + 4))
        return DC_ERR_NOMEM;
    out->data[out->len++] = (uint8_t)name_len;
    memcpy(out->data + out->len, name, name_len);
    out->len += name_len;
    for (int k = 0; k < 11; k++)
        put_i64(out->data + out->len + 8 * k, f[k]);
    out->len += LOG_FIXED + 4;
    if ((err = sketch_add(out, NULL, 0, scratch->users.data, scratch->users.len))) {
        out->len = start;
        return err;
    }
    put_u(out->data + start + 1 + name_len + LOG_FIXED, out->len - start - 1 - name_len -
          LOG_FIXED - 4, 4);
    return DC_OK;
}

/* One entry of a log, as parse_log finds it. */
typedef struct {
    const char *sku;
    size_t sku_len;
    const uint8_t *fixed, *sketch;
    size_t sketch_len;
} log_entry_t;

static int cmp_entry(const void *a, const void *b)
{
    const log_entry_t *x = a, *y = b;
    int c = memcmp(x->sku, y->sku, x->sku_len < y->sku_len ? x->sku_len : y->sku_len);
    return c ? c : (x->sku_len > y->sku_len) - (x->sku_len < y->sku_len);
}

int dc_value_read_log(const void *log_v, size_t len, dc_value_scratch_t *scratch,
                      dc_log_row_t **rows, size_t *n_rows)
{
    const uint8_t *log = log_v;
    size_t off = 0, n = 0, out = 0;
    log_entry_t *e;
    dc_log_row_t *r;

    scratch->items.len = 0;
    while (off < len) {
        log_entry_t x;
        x.sku_len = log[off];
        x.sku = (const char *)log + off + 1;
        if (!x.sku_len || x.sku_len >= DC_SKU_MAX || len - off < 1 + x.sku_len + LOG_FIXED + 4)
            return DC_ERR_MALFORMED;
        x.fixed = log + off + 1 + x.sku_len;
        x.sketch_len = get_u(x.fixed + LOG_FIXED, 4);
        x.sketch = x.fixed + LOG_FIXED + 4;
        off += 1 + x.sku_len + LOG_FIXED + 4;
        if (len - off < x.sketch_len || !sketch_valid(x.sketch, x.sketch_len))
            return DC_ERR_MALFORMED;
        off += x.sketch_len;
        if (dc_buf_append(&scratch->items, &x, sizeof(x)))
            return DC_ERR_NOMEM;
        n++;
    }
    e = (log_entry_t *)(void *)scratch->items.data;
    if (n > 1)
        qsort(e, n, sizeof(*e), cmp_entry);
    /* The rows go after the entries, one per SKU. */
    if (dc_buf_reserve(&scratch->items, n * sizeof(*r)))
        return DC_ERR_NOMEM;
    e = (log_entry_t *)(void *)scratch->items.data;
    r = (dc_log_row_t *)(void *)(scratch->items.data + n * sizeof(*e));
    for (size_t i = 0, j; i < n; i = j) {
        dc_log_row_t *row = &r[out++];
        dc_buf_t *acc = &scratch->users, *tmp = &scratch->union_tmp;
        memset(row, 0, sizeof(*row));
        row->sku = e[i].sku;
        row->sku_len = e[i].sku_len;
        int64_t *f[11] = {&row->d.units,   &row->d.cancelled,    &row->d.views,   &row->d.carts,
                          &row->d.removes, &row->d.orders,       &row->d.revenue_e4,
                          &row->d.events,  &row->d.promo_events, &row->d.price_n,
                          &row->d.price_sum_e4};
        acc->len = 0;
        for (j = i; j < n && !cmp_entry(&e[i], &e[j]); j++) {
            for (int k = 0; k < 11; k++)
                *f[k] += get_i64(e[j].fixed + 8 * k);
            tmp->len = 0;
            if (sketch_union(tmp, acc->data, acc->len, e[j].sketch, e[j].sketch_len))
                return DC_ERR_NOMEM;
            dc_buf_t swap = *acc; /* the union becomes the accumulator */
            *acc = *tmp;
            *tmp = swap;
        }
        row->users = sketch_count(acc->data, acc->len);
    }
    *rows = r;
    *n_rows = out;
    return DC_OK;
}

void dc_value_scratch_free(dc_value_scratch_t *scratch)
{
    dc_buf_free(&scratch->items);
    dc_buf_free(&scratch->users);
    dc_buf_free(&scratch->union_tmp);
}
