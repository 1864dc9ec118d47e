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
    uint32_t want, have;

    /* Compared as words (the fixed-size copies are plain loads): a set
     * holds up to SK_EXACT of them and every added user scans it. */
    memcpy(&want, h, 4);
    for (size_t i = 0; i < n; i++) {
        memcpy(&have, set + 4 * i, 4);
        if (have == want)
            return 1;
    }
    return 0;
}

/* Whether sk (len bytes) is a sketch as values.lua describes: empty, an
 * exact set of at most SK_EXACT hashes, or SK_REGS registers. */
static int sketch_valid(const uint8_t *sk, size_t len)
{
    return !len || (sk[0] == 'E' && (len - 1) % 4 == 0 && (len - 1) / 4 <= SK_EXACT) ||
           (sk[0] == 'H' && len == 1 + SK_REGS);
}

/* The hashes of an exact set being added to, for membership in constant
 * time once the set is past a handful: open addressing, at most half full
 * (the set holds up to SK_EXACT). An empty place holds 0, so the hash 0 is
 * kept apart. */
typedef struct {
    uint32_t place[2 * SK_EXACT];
    int has_zero;
} hash_set_t;

/* Adds h to set; 1 if it was not there. */
static int hash_set_add(hash_set_t *set, uint32_t h)
{
    size_t at = h & (2 * SK_EXACT - 1); /* the hashes are mixed in every bit */

    if (!h) {
        int added = !set->has_zero;
        set->has_zero = 1;
        return added;
    }
    for (; set->place[at]; at = (at + 1) & (2 * SK_EXACT - 1))
        if (set->place[at] == h)
            return 0;
    set->place[at] = h;
    return 1;
}

/* Appends to out the sketch sk (sk_len bytes; 0 for none) with the users of
 * hashes (n_bytes / 4 big-endian hashes, repeats allowed) added, as
 * values.lua describes: exact while at most SK_EXACT users, registers
 * beyond. */
static int sketch_add(dc_buf_t *out, const uint8_t *sk, size_t sk_len, const uint8_t *hashes,
                      size_t n_bytes)
{
    size_t start = out->len, i = 0, n;
    uint8_t *regs;

    if (!sketch_valid(sk, sk_len))
        return DC_ERR_MALFORMED; /* an exact set beyond SK_EXACT would overrun out, too */
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
        /* A handful is scanned; more are looked up (a popular SKU's slot
         * meets hundreds of users, each checked against up to SK_EXACT). */
        hash_set_t seen;
        int small = n + n_bytes / 4 <= 16;
        if (!small) {
            memset(&seen, 0, sizeof(seen));
            for (size_t k = 0; k < n; k++)
                hash_set_add(&seen, get_hash(set + 4 * k));
        }
        for (; i < n_bytes; i += 4) {
            if (small ? exact_has(set, n, hashes + i)
                      : !hash_set_add(&seen, get_hash(hashes + i)))
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

/* Unsigned LEB128 (values.lua): 7 bits a byte, low first, the top bit set
 * on every byte but the last. Every number stored is >= 0. */
static int put_uvar(dc_buf_t *out, uint64_t v)
{
    if (dc_buf_reserve(out, 10))
        return DC_ERR_NOMEM;
    while (v >= 0x80) {
        out->data[out->len++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out->data[out->len++] = (uint8_t)v;
    return DC_OK;
}

/* Reads one at *off of p (len bytes) into *v; 0 if it runs past the end or
 * past 10 bytes. */
static int get_uvar(const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; *off < len && shift < 70; shift += 7) {
        uint8_t b = p[(*off)++];
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 1;
    }
    return 0;
}

/* An item (a record's window slot or a log entry): n numbers, then a
 * sketch, after a length prefix. f gets the numbers, *sk the sketch. */
static int parse_item(const uint8_t *p, size_t len, uint64_t *f, int n, const uint8_t **sk,
                      size_t *sk_len)
{
    size_t off = 0;

    for (int k = 0; k < n; k++)
        if (!get_uvar(p, len, &off, &f[k]))
            return DC_ERR_MALFORMED;
    *sk = p + off;
    *sk_len = len - off;
    return sketch_valid(*sk, *sk_len) ? DC_OK : DC_ERR_MALFORMED;
}

/* Appends an item: its length, numbers f (n of them) and the sketch sk (may
 * be empty) with the users of hashes added. tmp is working memory. */
static int put_item(dc_buf_t *out, dc_buf_t *tmp, const uint64_t *f, int n, const uint8_t *sk,
                    size_t sk_len, const dc_buf_t *hashes)
{
    int err = DC_OK;

    tmp->len = 0;
    for (int k = 0; !err && k < n; k++)
        err = put_uvar(tmp, f[k]);
    if (err || (err = sketch_add(tmp, sk, sk_len, hashes->data, hashes->len)) ||
        (err = put_uvar(out, tmp->len)))
        return err;
    return dc_buf_append(out, tmp->data, tmp->len);
}

/* Sorts a[0 .. n) of type T ascending by member key (written .name),
 * stably, by insertion: for the few elements of one slot or one SKU, mostly
 * in order already, with no call per comparison. */
#define INSERTION_SORT(T, a, n, key)                                                    \
    for (size_t is_i = 1; is_i < (n); is_i++) {                                         \
        T is_x = (a)[is_i];                                                             \
        size_t is_j = is_i;                                                             \
        for (; is_j > 0 && (a)[is_j - 1] key > is_x key; is_j--)                        \
            (a)[is_j] = (a)[is_j - 1];                                                  \
        (a)[is_j] = is_x;                                                               \
    }

/* Sorts obs[0 .. n) by time, stably, through tmp (room for n): it merges
 * neighbouring runs already in time order, pass after pass, until one is
 * left. A SKU's observations are a few such runs (one per partition that
 * carried its events), so this takes a pass or two where a general sort
 * takes log2(n) and a call per comparison. */
static void merge_runs(dc_user_obs_t *obs, dc_user_obs_t *tmp, size_t n)
{
    dc_user_obs_t *src = obs, *dst = tmp;

    for (;;) {
        size_t runs = 0;
        for (size_t i = 0; i < n; runs++) {
            size_t mid = i + 1, end, a = i, b, o = i;
            while (mid < n && src[mid - 1].ts_ms <= src[mid].ts_ms)
                mid++;
            for (end = mid + (mid < n); end < n && src[end - 1].ts_ms <= src[end].ts_ms;)
                end++;
            for (b = mid; a < mid && b < end;)
                dst[o++] = src[b].ts_ms < src[a].ts_ms ? src[b++] : src[a++];
            memcpy(dst + o, src + a, (mid - a) * sizeof(*src));
            o += mid - a;
            memcpy(dst + o, src + b, (end - b) * sizeof(*src));
            i = end;
        }
        dc_user_obs_t *swap = src;
        src = dst;
        dst = swap;
        if (runs <= 1)
            break;
    }
    if (src != obs)
        memcpy(obs, src, n * sizeof(*obs));
}

/* Takes SKU sku's user observations of batch into scratch->obs, by time, so
 * that the users of each slot and bucket are a range of them. */
static int sort_users(dc_value_scratch_t *sc, const dc_featbatch_t *batch, size_t sku)
{
    size_t n = 0;

    sc->obs.len = 0;
    /* Twice the room: merge_runs() sorts through the second half. */
    if (dc_buf_reserve(&sc->obs, 2 * dc_featbatch_sku(batch, sku)->n_users * sizeof(dc_user_obs_t)))
        return DC_ERR_NOMEM;
    dc_user_obs_t *obs = (dc_user_obs_t *)(void *)sc->obs.data;
    for (const dc_user_obs_t *o = dc_featbatch_user_first(batch, sku);
         o && n < dc_featbatch_sku(batch, sku)->n_users; o = dc_featbatch_user_next(batch, o))
        obs[n++] = *o;
    sc->obs.len = n * sizeof(*obs);
    /* They come in the order the SKU's events came: in time order, unless
     * its partitions (clicks by SKU, orders by order) interleave. */
    size_t sorted = 1;
    while (sorted < n && obs[sorted - 1].ts_ms <= obs[sorted].ts_ms)
        sorted++;
    if (sorted >= n)
        return DC_OK;
    if (n > 16) {
        merge_runs(obs, obs + n, n);
        return DC_OK;
    }
    /* Most SKUs have a few observations a flush, mostly in time order. */
    INSERTION_SORT(dc_user_obs_t, obs, n, .ts_ms);
    return DC_OK;
}

/* Sets sc->users to the users (sort_users) whose events fall in [from,
 * from + span), as big-endian hashes (values.lua), repeats left in: the
 * sketch they go into counts each once. */
static int users_in(dc_value_scratch_t *sc, int64_t from, int64_t span)
{
    const dc_user_obs_t *obs = (const dc_user_obs_t *)(const void *)sc->obs.data;
    size_t n_obs = sc->obs.len / sizeof(*obs), lo = 0, hi = n_obs, out = 0;

    while (lo < hi) { /* the first observation at or after from */
        size_t mid = lo + (hi - lo) / 2;
        if (obs[mid].ts_ms < from)
            lo = mid + 1;
        else
            hi = mid;
    }
    sc->users.len = 0;
    if (dc_buf_reserve(&sc->users, (n_obs - lo) * 4))
        return DC_ERR_NOMEM;
    for (size_t i = lo; i < n_obs && obs[i].ts_ms - from < span; i++) {
        uint32_t v = obs[i].user_hash;
        uint8_t *b = sc->users.data + out;
        b[0] = (uint8_t)(v >> 24);
        b[1] = (uint8_t)(v >> 16);
        b[2] = (uint8_t)(v >> 8);
        b[3] = (uint8_t)v;
        out += 4;
    }
    sc->users.len = out;
    return DC_OK;
}

/* ------------------------------------------------------------------------ */
/* SKU records                                                              */
/* ------------------------------------------------------------------------ */

/* A window slot of a record or of the batch: its slot number, the stored
 * item after its length prefix (p NULL: only in the batch) and the batch's
 * delta of it (NULL: only stored). */
typedef struct {
    uint64_t slot;
    const uint8_t *p;
    size_t len;
    const dc_slot_delta_t *d;
} item_t;

/* Splits record v (len bytes; len 0: none) into the slots of each window:
 * slots[w][0 .. n_slots[w]), pointing into v, and *seen (0 for none).
 * Windows the record has beyond n_windows are skipped, missing ones are
 * empty. A window's slots must ascend (the merge pairs each with the
 * batch's delta of it) and be slot numbers an int64_t holds. */
static int parse_record(const uint8_t *v, size_t len, size_t n_windows,
                        item_t slots[][DC_WINDOW_SLOTS], size_t *n_slots, uint64_t *seen)
{
    size_t off = 1;

    memset(n_slots, 0, n_windows * sizeof(*n_slots));
    *seen = 0;
    if (!len)
        return DC_OK;
    if (v[0] > DC_WINDOWS_MAX || !get_uvar(v, len, &off, seen) || *seen > INT64_MAX)
        return DC_ERR_MALFORMED;
    for (size_t w = 0; w < v[0]; w++) {
        uint64_t n, ilen, slot, prev = 0;
        if (!get_uvar(v, len, &off, &n) || n > DC_WINDOW_SLOTS)
            return DC_ERR_MALFORMED;
        for (size_t i = 0; i < n; i++) {
            size_t at;
            if (!get_uvar(v, len, &off, &ilen) || ilen > len - off)
                return DC_ERR_MALFORMED;
            at = off;
            if (!get_uvar(v, off + ilen, &at, &slot) || slot > INT64_MAX ||
                (i && slot <= prev))
                return DC_ERR_MALFORMED;
            prev = slot;
            if (w < n_windows)
                slots[w][i] = (item_t){slot, v + off, ilen, NULL};
            off += ilen;
        }
        if (w < n_windows)
            n_slots[w] = n;
    }
    return off == len ? DC_OK : DC_ERR_MALFORMED;
}

/* Appends one slot: the stored one (cur, may be NULL) plus the batch's
 * delta d (may be NULL) and its users (sc->users). */
static int put_slot(dc_buf_t *out, const item_t *cur, const dc_slot_delta_t *d,
                    dc_value_scratch_t *sc)
{
    uint64_t f[6] = {0};
    const uint8_t *sk = NULL;
    size_t sk_len = 0;
    int err;

    if (!d) {
        if ((err = put_uvar(out, cur->len)))
            return err;
        return dc_buf_append(out, cur->p, cur->len);
    }
    if (cur && (err = parse_item(cur->p, cur->len, f, 6, &sk, &sk_len)))
        return err;
    f[0] = (uint64_t)d->slot;
    f[1] += (uint64_t)d->views;
    f[2] += (uint64_t)d->carts;
    f[3] += (uint64_t)d->units;
    f[4] += (uint64_t)d->orders;
    f[5] += (uint64_t)d->revenue_e4;
    return put_item(out, &sc->item, f, 6, sk, sk_len, &sc->users);
}

/* Window w of a record: the stored slots and the batch's (fresh, n_fresh
 * of them), merged, those that left the window (DC_WINDOW_SLOTS behind
 * the newest) dropped. */
static int merge_window(dc_buf_t *out, item_t *stored, size_t n, const item_t *fresh,
                        size_t n_fresh, size_t w, const dc_featbatch_t *batch, size_t sku,
                        dc_value_scratch_t *sc)
{
    const dc_sku_delta_t *d = dc_featbatch_sku(batch, sku);
    int64_t slot_ms = dc_featbatch_limits(batch)->window_ms[w] / DC_WINDOW_SLOTS;
    uint64_t top = d->top_slot[w] == INT64_MIN ? 0 : (uint64_t)d->top_slot[w];
    item_t all[2 * DC_WINDOW_SLOTS];
    size_t kept = 0;
    int err;

    memcpy(all, stored, n * sizeof(item_t));
    for (size_t k = 0; k < n; k++)
        if (all[k].slot > top)
            top = all[k].slot;
    memcpy(all + n, fresh, n_fresh * sizeof(item_t));
    n += n_fresh;
    /* Stored slots come first, ascending and distinct, as are the batch's:
     * sorted (a few batch slots go in among at most DC_WINDOW_SLOTS stored
     * ones), a stored slot and the batch's delta of it end up side by side,
     * the stored one first. */
    INSERTION_SORT(item_t, all, n, .slot);
    for (size_t k = 0; k < n; k++)
        kept += all[k].slot + DC_WINDOW_SLOTS > top &&
                !(k + 1 < n && all[k + 1].slot == all[k].slot);
    if ((err = put_uvar(out, kept)))
        return err;
    for (size_t k = 0; k < n; k++) {
        const item_t *cur = all[k].p ? &all[k] : NULL;
        const dc_slot_delta_t *dl = all[k].d;
        if (k + 1 < n && all[k + 1].slot == all[k].slot) {
            k++;
            cur = all[k].p ? &all[k] : cur;
            dl = all[k].d ? all[k].d : dl;
        }
        if (all[k].slot + DC_WINDOW_SLOTS <= top)
            continue; /* left the window */
        if (dl && (err = users_in(sc, dl->slot * slot_ms, slot_ms)))
            return err;
        if ((err = put_slot(out, cur, dl, sc)))
            return err;
    }
    return DC_OK;
}

/* Appends SKU sku's log entry of bucket delta b to the log of its bucket in
 * logs, which it creates if need be. */
static int log_append(dc_value_logs_t *logs, const dc_featbatch_t *batch, size_t sku,
                      const dc_bucket_delta_t *b, dc_value_scratch_t *sc)
{
    const char *name = dc_featbatch_sku(batch, sku)->sku;
    size_t name_len = strlen(name);
    uint64_t f[11] = {(uint64_t)b->units,        (uint64_t)b->cancelled,
                      (uint64_t)b->views,        (uint64_t)b->carts,
                      (uint64_t)b->removes,      (uint64_t)b->orders,
                      (uint64_t)b->revenue_e4,   (uint64_t)b->events,
                      (uint64_t)b->promo_events, (uint64_t)b->price_n,
                      (uint64_t)b->price_sum_e4};
    dc_value_log_t *entry = dc_value_logs_get(logs, b->start);
    dc_buf_t *log;
    int err;

    if (!entry)
        return DC_ERR_NOMEM;
    log = &entry->log;
    if ((err = users_in(sc, b->start, dc_featbatch_limits(batch)->bucket_ms)) ||
        (err = dc_buf_reserve(log, 1 + name_len)))
        return err;
    log->data[log->len++] = (uint8_t)name_len;
    memcpy(log->data + log->len, name, name_len);
    log->len += name_len;
    return put_item(log, &sc->item, f, 11, NULL, 0, &sc->users);
}

_Static_assert(DC_SKU_MAX <= 256, "a log entry holds its SKU's length in one byte");

int dc_value_merge_sku(dc_buf_t *out, const void *cur, size_t cur_len,
                       const dc_featbatch_t *batch, size_t sku, int64_t late_before,
                       dc_value_logs_t *logs, int64_t *late_events, dc_value_scratch_t *sc)
{
    size_t n_windows = dc_featbatch_limits(batch)->n_windows, start = out->len;
    const dc_sku_delta_t *d = dc_featbatch_sku(batch, sku);
    int64_t newest = d->newest_ts;
    item_t slots[DC_WINDOWS_MAX][DC_WINDOW_SLOTS], fresh[DC_WINDOWS_MAX][DC_WINDOW_SLOTS];
    size_t n_slots[DC_WINDOWS_MAX], n_fresh[DC_WINDOWS_MAX] = {0};
    uint64_t seen;
    int err;

    if (!dc_featbatch_grouped(batch))
        return DC_ERR_INVAL; /* its deltas are not worked out yet */
    /* The batch's slots of each window, in one walk over the SKU's deltas
     * (windows mixed), which are out of cache by now: a walk per window
     * would read them again for each. Grouping keeps only the slots still
     * in their window, one delta each, so at most DC_WINDOW_SLOTS a window. */
    for (const dc_slot_delta_t *s = dc_featbatch_slot_first(batch, sku); s;
         s = dc_featbatch_slot_next(batch, s)) {
        uint32_t w = s->window;
        if (w >= n_windows || s->slot <= d->top_slot[w] - DC_WINDOW_SLOTS ||
            n_fresh[w] == DC_WINDOW_SLOTS)
            return DC_ERR_INVAL;
        fresh[w][n_fresh[w]++] = (item_t){(uint64_t)s->slot, NULL, 0, s};
    }
    if ((err = parse_record(cur, cur_len, n_windows, slots, n_slots, &seen)))
        return err;
    if (newest > 0 && (uint64_t)newest > seen)
        seen = (uint64_t)newest; /* stored unsigned: validated times are after 2000 */
    if ((err = sort_users(sc, batch, sku)) || (err = dc_buf_reserve(out, 1)))
        return err;
    out->data[out->len++] = (uint8_t)n_windows;
    if ((err = put_uvar(out, seen))) {
        out->len = start;
        return err;
    }
    for (size_t w = 0; !err && w < n_windows; w++)
        err = merge_window(out, slots[w], n_slots[w], fresh[w], n_fresh[w], w, batch, sku, sc);
    for (const dc_bucket_delta_t *b = dc_featbatch_bucket_first(batch, sku); !err && b;
         b = dc_featbatch_bucket_next(batch, b)) {
        if (b->start < late_before)
            *late_events += b->events;
        else
            err = log_append(logs, batch, sku, b, sc);
    }
    if (err)
        out->len = start;
    return err;
}

dc_value_log_t *dc_value_logs_get(dc_value_logs_t *logs, int64_t start)
{
    size_t i = 0;

    while (i < logs->n && logs->logs[i].start != start)
        i++;
    if (i < logs->n)
        return &logs->logs[i];
    if (logs->n == logs->cap) {
        size_t cap = logs->cap ? 2 * logs->cap : 8;
        dc_value_log_t *grown = realloc(logs->logs, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        memset(grown + logs->cap, 0, (cap - logs->cap) * sizeof(*grown));
        logs->logs = grown;
        logs->cap = cap;
    }
    dc_value_log_t *log = &logs->logs[logs->n++];
    log->start = start;
    log->log.len = 0;
    log->whole = 0;
    return log;
}

void dc_value_logs_clear(dc_value_logs_t *logs)
{
    logs->n = 0;
}

void dc_value_logs_free(dc_value_logs_t *logs)
{
    for (size_t i = 0; i < logs->cap; i++)
        dc_buf_free(&logs->logs[i].log);
    free(logs->logs);
    memset(logs, 0, sizeof(*logs));
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

/* One entry of a log, as dc_value_read_log finds it. */
typedef struct {
    const char *sku;
    size_t sku_len;
    uint64_t f[11];
    const uint8_t *sketch;
    size_t sketch_len;
} log_entry_t;

/* Sums a bucket log per SKU (see dc_value_read_log); with compacted, also
 * appends to it the log of one entry per SKU, in SKU order, that sums to
 * the same rows. */
static int sum_log(const void *log_v, size_t len, dc_value_scratch_t *sc, dc_log_row_t **rows,
                   size_t *n_rows, dc_buf_t *compacted)
{
    const uint8_t *log = log_v;
    size_t off = 0, n = 0, out = 0;
    log_entry_t *e;
    dc_log_row_t *r;

    sc->items.len = 0;
    while (off < len) {
        log_entry_t x;
        uint64_t ilen;
        x.sku_len = log[off];
        x.sku = (const char *)log + off + 1;
        if (!x.sku_len || x.sku_len >= DC_SKU_MAX || len - off - 1 < x.sku_len)
            return DC_ERR_MALFORMED;
        off += 1 + x.sku_len;
        if (!get_uvar(log, len, &off, &ilen) || ilen > len - off ||
            parse_item(log + off, ilen, x.f, 11, &x.sketch, &x.sketch_len))
            return DC_ERR_MALFORMED;
        off += ilen;
        if (dc_buf_append(&sc->items, &x, sizeof(x)))
            return DC_ERR_NOMEM;
        n++;
    }
    *rows = NULL;
    *n_rows = 0;
    if (!n)
        return DC_OK;
    /* The entries in SKU order, through keys: an entry is big, and the
     * first 8 bytes of a SKU mostly tell it from the others. */
    if (dc_buf_reserve(&sc->keys, 2 * n * sizeof(dc_name_key_t)))
        return DC_ERR_NOMEM;
    dc_name_key_t *key = (dc_name_key_t *)(void *)sc->keys.data;
    e = (log_entry_t *)(void *)sc->items.data;
    for (size_t i = 0; i < n; i++)
        key[i] = dc_name_key(e[i].sku, e[i].sku_len, (int64_t)i);
    dc_name_sort(key, key + n, n);
    /* The rows go after the entries, one per SKU. */
    if (dc_buf_reserve(&sc->items, n * sizeof(*r)))
        return DC_ERR_NOMEM;
    e = (log_entry_t *)(void *)sc->items.data;
    r = (dc_log_row_t *)(void *)(sc->items.data + n * sizeof(*e));
    for (size_t i = 0, j; i < n; i = j) {
        dc_log_row_t *row = &r[out++];
        dc_buf_t *acc = &sc->users, *tmp = &sc->item;
        memset(row, 0, sizeof(*row));
        row->sku = key[i].s;
        row->sku_len = key[i].len;
        int64_t *f[11] = {&row->d.units,   &row->d.cancelled,    &row->d.views,   &row->d.carts,
                          &row->d.removes, &row->d.orders,       &row->d.revenue_e4,
                          &row->d.events,  &row->d.promo_events, &row->d.price_n,
                          &row->d.price_sum_e4};
        acc->len = 0;
        for (j = i; j < n && !dc_name_cmp(&key[i], &key[j]); j++) {
            const log_entry_t *x = &e[key[j].value];
            /* Sums past INT64_MAX come from no count of events: another
             * client wrote this log. */
            for (int k = 0; k < 11; k++)
                if (x->f[k] > INT64_MAX || __builtin_add_overflow(*f[k], (int64_t)x->f[k], f[k]))
                    return DC_ERR_MALFORMED;
            tmp->len = 0;
            if (sketch_union(tmp, acc->data, acc->len, x->sketch, x->sketch_len))
                return DC_ERR_NOMEM;
            dc_buf_t swap = *acc; /* the union becomes the accumulator */
            *acc = *tmp;
            *tmp = swap;
        }
        row->users = sketch_count(acc->data, acc->len);
        if (compacted) {
            uint64_t sum[11];
            for (int k = 0; k < 11; k++)
                sum[k] = (uint64_t)*f[k];
            if (dc_buf_reserve(compacted, 1 + row->sku_len))
                return DC_ERR_NOMEM;
            compacted->data[compacted->len++] = (uint8_t)row->sku_len;
            memcpy(compacted->data + compacted->len, row->sku, row->sku_len);
            compacted->len += row->sku_len;
            /* The union goes in as it is: no users to add (obs is free
             * here, the merge's working memory). */
            dc_buf_t none = {0};
            if (put_item(compacted, &sc->obs, sum, 11, acc->data, acc->len, &none))
                return DC_ERR_NOMEM;
        }
    }
    *rows = r;
    *n_rows = out;
    return DC_OK;
}

int dc_value_read_log(const void *log, size_t len, dc_value_scratch_t *sc, dc_log_row_t **rows,
                      size_t *n_rows)
{
    return sum_log(log, len, sc, rows, n_rows, NULL);
}

int dc_value_compact_log(const void *log, size_t len, dc_value_scratch_t *sc, dc_buf_t *out)
{
    dc_log_row_t *rows;
    size_t n_rows;

    return sum_log(log, len, sc, &rows, &n_rows, out);
}

int dc_value_record_seen(const void *v, size_t len, int64_t *seen)
{
    size_t off = 1;
    uint64_t s;

    if (len < 2 || !get_uvar(v, len, &off, &s) || s > INT64_MAX)
        return DC_ERR_MALFORMED;
    *seen = (int64_t)s;
    return DC_OK;
}

int dc_value_put_listed(dc_buf_t *out, const char *sku, size_t len, int64_t end)
{
    if (!len || len >= DC_SKU_MAX)
        return DC_ERR_INVAL;
    if (dc_buf_reserve(out, 1 + len))
        return DC_ERR_NOMEM;
    out->data[out->len++] = (uint8_t)len;
    memcpy(out->data + out->len, sku, len);
    out->len += len;
    return put_uvar(out, end == INT64_MIN ? 0 : (uint64_t)end);
}

int dc_value_read_listed(const void *v, size_t len, dc_buf_t *keys, size_t *n)
{
    const uint8_t *p = v;
    size_t off = 0;

    *n = 0;
    while (off < len) {
        size_t sku_len = p[off++];
        const char *sku = (const char *)p + off;
        uint64_t end;
        if (!sku_len || sku_len >= DC_SKU_MAX || sku_len > len - off)
            return DC_ERR_MALFORMED;
        off += sku_len;
        if (!get_uvar(p, len, &off, &end) || end > INT64_MAX)
            return DC_ERR_MALFORMED;
        if (dc_buf_reserve(keys, sizeof(dc_name_key_t)))
            return DC_ERR_NOMEM;
        *(dc_name_key_t *)(void *)(keys->data + keys->len) =
            dc_name_key(sku, sku_len, end ? (int64_t)end : INT64_MIN);
        keys->len += sizeof(dc_name_key_t);
        ++*n;
    }
    return DC_OK;
}

void dc_value_scratch_free(dc_value_scratch_t *sc)
{
    dc_buf_free(&sc->items);
    dc_buf_free(&sc->users);
    dc_buf_free(&sc->item);
    dc_buf_free(&sc->obs);
    dc_buf_free(&sc->keys);
}
