/* features/batch.c - window and bucket deltas of the events since the last
 * flush, coalesced per SKU, so that one flush writes each touched SKU once
 * however many events it had.
 *
 * Adding an event (the consumer thread, once per event) only finds its SKU
 * and appends a compact copy of the event. The deltas are worked out by
 * dc_featbatch_group() (the flush thread, or the consumer thread while it
 * waits for the flush before), one SKU's events after another:
 * a SKU's slots, buckets and users are then the few last elements of their
 * pools, in cache. Summing each event into its SKU's deltas as it comes
 * would chase chains through pools of megabytes instead: several cache
 * misses an event, on the thread that reads the input.
 * Once reserved for a flush's events (or grown by the first few batches),
 * neither allocates. */
#include "features/features.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define EMPTY UINT32_MAX
#define EMPTY_ENTRY UINT64_MAX

/* One event as the batch keeps it until it is grouped. */
typedef struct {
    int64_t ts_ms;
    int64_t qty;
    double price;
    uint32_t sku;       /* index of the SKU delta */
    uint32_t user_hash; /* dc_user_hash(), when has_user */
    uint8_t kind;       /* dc_fev_kind_t */
    uint8_t promo;
    uint8_t late;       /* its bucket was closed when it was added: windows only */
    uint8_t has_user;
} event_t;

/* A SKU's name as adding compares it: its first SKU_HEAD bytes (zeros
 * after a shorter name) and its length. Equal keys are equal names when
 * the names are no longer than SKU_HEAD; a longer one compares its tail in
 * its delta. Ten thousand keys stay in cache, where the deltas they stand
 * for would not: a lookup reads no delta, only the key. */
#define SKU_HEAD 15
typedef struct {
    char head[SKU_HEAD];
    uint8_t len;
} sku_key_t;

_Static_assert(sizeof(sku_key_t) == 16, "a key is two words");
_Static_assert(DC_SKU_MAX <= 256, "a key holds its SKU's length in one byte");

/* What adding fills, which dc_featbatch_take() moves as a whole. */
typedef struct {
    dc_sku_delta_t *skus;
    sku_key_t *keys; /* keys[i]: the key of skus[i] */
    size_t n_skus, cap_skus, cap_keys;
    /* Open addressing: each entry is a SKU's position in skus (low 32
     * bits) and its hash's tag (high 32 bits), so a probe past another
     * SKU is settled in the index, without touching that SKU's delta.
     * Sized to the SKUs, not the events: it stays in cache. */
    uint64_t *index;
    size_t index_cap;
    event_t *events; /* as added */
    size_t n_events, cap_events;
} added_t;

struct dc_featbatch_s {
    dc_limits_t lim;
    int64_t slot_ms[DC_WINDOWS_MAX];
    added_t in;
    /* dc_featbatch_group(): the events by SKU (in the order they came
     * within each), and per SKU where its run ends. */
    event_t *by_sku;
    size_t cap_by_sku;
    uint32_t *run_end;
    size_t cap_runs;
    /* What grouping makes of the events: every SKU's window slot deltas,
     * bucket deltas and user observations, side by side per SKU. */
    dc_slot_delta_t *slots;
    size_t n_slots, cap_slots;
    dc_bucket_delta_t *buckets;
    size_t n_buckets, cap_buckets;
    dc_user_obs_t *obs;
    size_t n_obs, cap_obs;
    int grouped;
};

dc_featbatch_t *dc_featbatch_new(const dc_limits_t *lim)
{
    dc_featbatch_t *batch = calloc(1, sizeof(*batch));

    if (!batch)
        return NULL;
    batch->lim = *lim;
    for (size_t w = 0; w < lim->n_windows; w++)
        batch->slot_ms[w] = lim->window_ms[w] / DC_WINDOW_SLOTS;
    batch->in.index_cap = 1024;
    if (!(batch->in.index = malloc(batch->in.index_cap * sizeof(*batch->in.index)))) {
        free(batch);
        return NULL;
    }
    memset(batch->in.index, 0xff, batch->in.index_cap * sizeof(*batch->in.index));
    return batch;
}

void dc_featbatch_destroy(dc_featbatch_t *batch)
{
    if (!batch)
        return;
    free(batch->in.skus);
    free(batch->in.keys);
    free(batch->in.index);
    free(batch->in.events);
    free(batch->by_sku);
    free(batch->run_end);
    free(batch->slots);
    free(batch->buckets);
    free(batch->obs);
    free(batch);
}

void dc_featbatch_reset(dc_featbatch_t *batch)
{
    memset(batch->in.index, 0xff, batch->in.index_cap * sizeof(*batch->in.index));
    batch->in.n_skus = 0;
    batch->in.n_events = 0;
    batch->n_slots = 0;
    batch->n_buckets = 0;
    batch->n_obs = 0;
    batch->grouped = 0;
}

int dc_featbatch_take(dc_featbatch_t *batch, dc_featbatch_t *from)
{
    if (batch->in.n_events || batch->in.n_skus || batch->grouped || from->grouped)
        return DC_ERR_INVAL;
    /* batch's index is all empty (reset or new): from keeps it as its own. */
    added_t empty = batch->in;
    batch->in = from->in;
    from->in = empty;
    return DC_OK;
}

size_t dc_featbatch_events(const dc_featbatch_t *batch) { return batch->in.n_events; }
const dc_limits_t *dc_featbatch_limits(const dc_featbatch_t *batch) { return &batch->lim; }
size_t dc_featbatch_skus(const dc_featbatch_t *batch) { return batch->in.n_skus; }
int dc_featbatch_grouped(const dc_featbatch_t *batch) { return batch->grouped; }

const dc_sku_delta_t *dc_featbatch_sku(const dc_featbatch_t *batch, size_t i)
{
    return i < batch->in.n_skus ? &batch->in.skus[i] : NULL;
}

/* A SKU's hash, mixed so that both halves spread: the low bits pick its
 * index position, the high ones are its tag. */
static inline uint64_t sku_hash(const char *sku)
{
    uint64_t h = dc_str_hash(sku);
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 32);
}

static inline uint64_t index_entry(uint64_t hash, uint32_t pos)
{
    return (hash & 0xffffffff00000000ULL) | pos;
}

/* Doubles the index and re-inserts every SKU. */
static int grow_index(dc_featbatch_t *batch)
{
    size_t cap = batch->in.index_cap * 2;
    uint64_t *index = malloc(cap * sizeof(*index));

    if (!index)
        return DC_ERR_NOMEM;
    memset(index, 0xff, cap * sizeof(*index));
    for (size_t i = 0; i < batch->in.n_skus; i++) {
        uint64_t h = sku_hash(batch->in.skus[i].sku);
        size_t pos = h & (cap - 1);
        while (index[pos] != EMPTY_ENTRY)
            pos = (pos + 1) & (cap - 1);
        index[pos] = index_entry(h, (uint32_t)i);
    }
    free(batch->in.index);
    batch->in.index = index;
    batch->in.index_cap = cap;
    return DC_OK;
}

/* Makes room for n elements of size elem in *pool (of *cap): at least
 * double, so that adding one at a time moves each element a bounded number
 * of times. */
static int reserve_pool(void **pool, size_t *cap, size_t n, size_t elem)
{
    size_t grown = *cap ? *cap * 2 : 1024;
    void *p;

    if (n <= *cap)
        return DC_OK;
    if (grown < n)
        grown = n;
    if (!(p = realloc(*pool, grown * elem)))
        return DC_ERR_NOMEM;
    *pool = p;
    *cap = grown;
    return DC_OK;
}

/* Room for grouping n_events events of n_skus SKUs: at most one slot delta
 * per event and window, one bucket delta and one observation per event. */
static int reserve_group(dc_featbatch_t *batch, size_t n_events, size_t n_skus)
{
    if (reserve_pool((void **)&batch->by_sku, &batch->cap_by_sku, n_events,
                     sizeof(*batch->by_sku)) ||
        reserve_pool((void **)&batch->run_end, &batch->cap_runs, n_skus, sizeof(uint32_t)) ||
        reserve_pool((void **)&batch->slots, &batch->cap_slots, n_events * batch->lim.n_windows,
                     sizeof(*batch->slots)) ||
        reserve_pool((void **)&batch->buckets, &batch->cap_buckets, n_events,
                     sizeof(*batch->buckets)) ||
        reserve_pool((void **)&batch->obs, &batch->cap_obs, n_events, sizeof(*batch->obs)))
        return DC_ERR_NOMEM;
    return DC_OK;
}

/* Room for n SKU deltas and their keys. */
static int reserve_skus(added_t *in, size_t n)
{
    if (reserve_pool((void **)&in->skus, &in->cap_skus, n, sizeof(*in->skus)) ||
        reserve_pool((void **)&in->keys, &in->cap_keys, n, sizeof(*in->keys)))
        return DC_ERR_NOMEM;
    return DC_OK;
}

static inline sku_key_t sku_key(const char *sku, size_t len)
{
    sku_key_t k = {{0}, (uint8_t)len};
    memcpy(k.head, sku, len < SKU_HEAD ? len : SKU_HEAD);
    return k;
}

int dc_featbatch_reserve(dc_featbatch_t *batch, size_t events)
{
    if (reserve_skus(&batch->in, events) ||
        reserve_pool((void **)&batch->in.events, &batch->in.cap_events, events,
                     sizeof(*batch->in.events)) ||
        reserve_group(batch, events, events))
        return DC_ERR_NOMEM;
    return DC_OK;
}

/* Finds or creates the delta of sku (len bytes, shorter than DC_SKU_MAX);
 * NULL on NOMEM. The index grows with the SKUs (at most half full), the
 * deltas as reserved. */
static dc_sku_delta_t *sku_delta(dc_featbatch_t *batch, const char *sku, size_t len,
                                 uint32_t *idx)
{
    uint64_t h = sku_hash(sku), e;
    uint32_t tag = (uint32_t)(h >> 32);
    size_t pos, mask;
    sku_key_t key = sku_key(sku, len);
    dc_sku_delta_t *d;

    if ((batch->in.n_skus + 1) * 2 > batch->in.index_cap && grow_index(batch))
        return NULL;
    mask = batch->in.index_cap - 1;
    for (pos = h & mask; (e = batch->in.index[pos]) != EMPTY_ENTRY; pos = (pos + 1) & mask) {
        if ((uint32_t)(e >> 32) != tag || memcmp(&batch->in.keys[(uint32_t)e], &key, sizeof(key)))
            continue;
        d = &batch->in.skus[(uint32_t)e];
        if (len <= SKU_HEAD || !strcmp(d->sku + SKU_HEAD, sku + SKU_HEAD)) {
            *idx = (uint32_t)e;
            return d;
        }
    }
    if (reserve_skus(&batch->in, batch->in.n_skus + 1))
        return NULL;
    *idx = (uint32_t)batch->in.n_skus;
    batch->in.keys[*idx] = key;
    d = &batch->in.skus[batch->in.n_skus++];
    batch->in.index[pos] = index_entry(h, *idx);
    memcpy(d->sku, sku, len + 1); /* its length is known: no formatting a new SKU */
    return d;
}

dc_fev_kind_t dc_fev_kind_of_click(dc_click_type_t type)
{
    switch (type) {
    case DC_CLICK_VIEW: return DC_FEV_VIEW;
    case DC_CLICK_ADD_TO_CART: return DC_FEV_CART;
    case DC_CLICK_REMOVE_FROM_CART: return DC_FEV_REMOVE;
    case DC_CLICK_WISHLIST: return DC_FEV_WISHLIST;
    default: return DC_FEV_SEARCH;
    }
}

uint32_t dc_user_hash(const char *user)
{
    uint64_t h = dc_str_hash(user);

    /* FNV-1a leaves the high bits weakly mixed: the splitmix64 finisher
     * spreads every input bit over all of them. */
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return (uint32_t)(h >> 32);
}

int dc_featbatch_add(dc_featbatch_t *batch, const dc_fevent_t *ev, int64_t closed_until,
                     int *late)
{
    int is_late = closed_until != INT64_MIN &&
                  dc_time_floor(ev->ts_ms, batch->lim.bucket_ms) < closed_until;
    size_t sku_len = strlen(ev->sku);
    uint32_t idx;

    if (batch->grouped)
        return DC_ERR_INVAL; /* the events are deltas now */
    if (sku_len >= DC_SKU_MAX)
        return DC_ERR_INVAL; /* the decoder keeps such names out; none is cut short */
    if (batch->in.n_events == batch->in.cap_events &&
        reserve_pool((void **)&batch->in.events, &batch->in.cap_events, batch->in.n_events + 1,
                     sizeof(*batch->in.events)))
        return DC_ERR_NOMEM;
    if (!sku_delta(batch, ev->sku, sku_len, &idx))
        return DC_ERR_NOMEM;
    if (late)
        *late = is_late;
    event_t *e = &batch->in.events[batch->in.n_events++];
    e->ts_ms = ev->ts_ms;
    e->qty = ev->qty;
    e->price = ev->price;
    e->sku = idx;
    e->kind = (uint8_t)ev->kind;
    e->promo = ev->promo != 0;
    e->late = (uint8_t)is_late;
    e->has_user = ev->user && ev->user[0];
    e->user_hash = e->has_user ? dc_user_hash(ev->user) : 0;
    return DC_OK;
}

/* A number floor(ts / width) remembered with the range of times it covers,
 * so that the next time in that range needs no division: a SKU's events
 * mostly come in time order, several to a slot. */
typedef struct {
    int64_t from, num;
    int valid;
} floor_cache_t;

static inline int64_t floor_num(floor_cache_t *c, int64_t ts, int64_t width)
{
    /* Unsigned: a time before from wraps far past width. */
    if (c->valid && (uint64_t)ts - (uint64_t)c->from < (uint64_t)width)
        return c->num;
    int64_t q = ts / width;
    if (ts % width < 0)
        q--;
    c->num = q;
    c->from = q * width;
    c->valid = 1;
    return q;
}

/* What grouping keeps while it works out one SKU's deltas. */
typedef struct {
    uint32_t sku;
    /* The SKU's slot delta at each ring position (slot mod DC_WINDOW_SLOTS)
     * of each window, UINT32_MAX: none. */
    uint32_t ring[DC_WINDOWS_MAX][DC_WINDOW_SLOTS];
    floor_cache_t slot[DC_WINDOWS_MAX], bucket;
    /* Per window, the first time of the slots still in it at the SKU's
     * newest event: (top slot - DC_WINDOW_SLOTS + 1) * slot width. */
    int64_t live_from[DC_WINDOWS_MAX];
    size_t first_bucket, first_obs; /* where its deltas start in the pools */
    uint32_t last_bucket;           /* the bucket delta its previous event went to */
    int64_t last_obs_slot;          /* finest slot of its newest observation */
} sku_work_t;

/* The delta of slot of window w, one of the window's DC_WINDOW_SLOTS newest:
 * no two of those share a ring position. Room is reserved. */
static dc_slot_delta_t *slot_delta(dc_featbatch_t *batch, sku_work_t *k, uint32_t w, int64_t slot)
{
    int64_t pos = slot % DC_WINDOW_SLOTS;
    uint32_t *at = &k->ring[w][pos < 0 ? pos + DC_WINDOW_SLOTS : pos];
    dc_slot_delta_t *s;

    if (*at != EMPTY)
        return &batch->slots[*at];
    s = &batch->slots[batch->n_slots];
    memset(s, 0, sizeof(*s));
    s->slot = slot;
    s->window = w;
    s->sku = k->sku;
    *at = (uint32_t)batch->n_slots++;
    return s;
}

/* The delta of the bucket starting at start; the one the previous event
 * went to is tried first, since events mostly come in time order. Room is
 * reserved. */
static dc_bucket_delta_t *bucket_delta(dc_featbatch_t *batch, sku_work_t *k, int64_t start)
{
    dc_bucket_delta_t *b;

    if (k->last_bucket != EMPTY && batch->buckets[k->last_bucket].start == start)
        return &batch->buckets[k->last_bucket];
    for (size_t i = k->first_bucket; i < batch->n_buckets; i++)
        if (batch->buckets[i].start == start) {
            k->last_bucket = (uint32_t)i;
            return &batch->buckets[i];
        }
    b = &batch->buckets[batch->n_buckets];
    memset(b, 0, sizeof(*b));
    b->start = start;
    b->sku = k->sku;
    k->last_bucket = (uint32_t)batch->n_buckets++;
    return b;
}

/* Adds one user observation of an event in finest slot slot. A user
 * clicking through one SKU repeatedly is the common case: one observation
 * per user and finest slot is all the sketches need. Room is reserved. */
static void add_user(dc_featbatch_t *batch, sku_work_t *k, const event_t *e, int64_t slot)
{
    if (batch->n_obs > k->first_obs && batch->obs[batch->n_obs - 1].user_hash == e->user_hash &&
        k->last_obs_slot == slot)
        return;
    dc_user_obs_t *o = &batch->obs[batch->n_obs++];
    o->sku = k->sku;
    o->ts_ms = e->ts_ms;
    o->user_hash = e->user_hash;
    k->last_obs_slot = slot;
}

/* Sums one event into the deltas of the SKU being grouped. */
static void group_event(dc_featbatch_t *batch, sku_work_t *k, const event_t *e)
{
    dc_bucket_delta_t *b = NULL;
    int64_t rev = 0;

    if (!e->late)
        b = bucket_delta(batch, k,
                         floor_num(&k->bucket, e->ts_ms, batch->lim.bucket_ms) *
                             batch->lim.bucket_ms);
    if (e->kind == DC_FEV_PLACED)
        rev = llround((double)e->qty * e->price * 1e4);
    for (uint32_t w = 0; w < batch->lim.n_windows; w++) {
        if (e->ts_ms < k->live_from[w])
            continue; /* its slot left the window by the SKU's newest event */
        dc_slot_delta_t *s =
            slot_delta(batch, k, w, floor_num(&k->slot[w], e->ts_ms, batch->slot_ms[w]));
        s->views += e->kind == DC_FEV_VIEW;
        s->carts += e->kind == DC_FEV_CART;
        if (e->kind == DC_FEV_PLACED) {
            s->units += e->qty;
            s->orders++;
            s->revenue_e4 += rev;
        }
    }
    if (b) {
        b->events++;
        b->promo_events += e->promo;
        if (e->price > 0) {
            b->price_sum_e4 += llround(e->price * 1e4);
            b->price_n++;
        }
        switch (e->kind) {
        case DC_FEV_VIEW: b->views++; break;
        case DC_FEV_CART: b->carts++; break;
        case DC_FEV_REMOVE: b->removes++; break;
        case DC_FEV_PLACED:
            b->units += e->qty;
            b->orders++;
            b->revenue_e4 += rev;
            break;
        case DC_FEV_CANCEL: b->cancelled += e->qty; break;
        default: break;
        }
    }
    if (e->has_user)
        add_user(batch, k, e, floor_num(&k->slot[0], e->ts_ms, batch->slot_ms[0]));
}

/* Reverses n elements of elem bytes at base in place. */
static void reverse_run(void *base, size_t n, size_t elem, void *tmp)
{
    char *lo = base, *hi = lo + (n ? n - 1 : 0) * elem;

    for (; lo < hi; lo += elem, hi -= elem) {
        memcpy(tmp, lo, elem);
        memcpy(lo, hi, elem);
        memcpy(hi, tmp, elem);
    }
}

/* Links a run of pool elements [from, to) front to back through the uint32
 * at next_off of each; returns its first, UINT32_MAX when empty. */
static uint32_t link_run(void *pool, size_t from, size_t to, size_t elem, size_t next_off)
{
    char *base = pool;

    for (size_t p = from; p < to; p++) {
        uint32_t link = p + 1 < to ? (uint32_t)(p + 1) : EMPTY;
        memcpy(base + p * elem + next_off, &link, sizeof(link));
    }
    return from < to ? (uint32_t)from : EMPTY;
}

/* Works out SKU sku's deltas from its n events (in the order they came). */
static void group_sku(dc_featbatch_t *batch, uint32_t sku, const event_t *events, size_t n)
{
    dc_sku_delta_t *d = &batch->in.skus[sku];
    size_t slot0 = batch->n_slots;
    sku_work_t work, *k = &work;
    union {
        dc_slot_delta_t slot;
        dc_bucket_delta_t bucket;
    } tmp;

    k->sku = sku;
    memset(k->ring, 0xff, batch->lim.n_windows * sizeof(k->ring[0]));
    /* The SKU's newest event fixes each window's newest slot: the slots of
     * older events that are DC_WINDOW_SLOTS or more behind it get no
     * delta, which the store would only drop. Spread over a batch's hours,
     * most of a SKU's events are that old for the short windows. */
    d->newest_ts = INT64_MIN;
    for (size_t i = 0; i < n; i++)
        if (events[i].ts_ms > d->newest_ts)
            d->newest_ts = events[i].ts_ms;
    for (size_t w = 0; w < batch->lim.n_windows; w++) {
        k->slot[w].valid = 0;
        d->top_slot[w] = floor_num(&k->slot[w], d->newest_ts, batch->slot_ms[w]);
        k->live_from[w] = (d->top_slot[w] - DC_WINDOW_SLOTS + 1) * batch->slot_ms[w];
    }
    k->bucket.valid = 0;
    k->first_bucket = batch->n_buckets;
    k->first_obs = batch->n_obs;
    k->last_bucket = EMPTY;
    k->last_obs_slot = 0; /* read once it has an observation */
    for (size_t i = 0; i < n; i++)
        group_event(batch, k, &events[i]);
    /* Slots and buckets newest added first, observations oldest first
     * (features.h). */
    reverse_run(batch->slots + slot0, batch->n_slots - slot0, sizeof(dc_slot_delta_t), &tmp);
    reverse_run(batch->buckets + k->first_bucket, batch->n_buckets - k->first_bucket,
                sizeof(dc_bucket_delta_t), &tmp);
    d->first_slot = link_run(batch->slots, slot0, batch->n_slots, sizeof(dc_slot_delta_t),
                             offsetof(dc_slot_delta_t, next));
    d->first_bucket = link_run(batch->buckets, k->first_bucket, batch->n_buckets,
                               sizeof(dc_bucket_delta_t), offsetof(dc_bucket_delta_t, next));
    d->first_user = link_run(batch->obs, k->first_obs, batch->n_obs, sizeof(dc_user_obs_t),
                             offsetof(dc_user_obs_t, next));
    d->n_users = batch->n_obs - k->first_obs;
}

int dc_featbatch_group(dc_featbatch_t *batch)
{
    uint32_t *end;
    size_t pos = 0;

    if (batch->grouped || !batch->in.n_skus) {
        batch->grouped = 1; /* an empty batch is grouped as it is */
        return DC_OK;
    }
    if (reserve_group(batch, batch->in.n_events, batch->in.n_skus))
        return DC_ERR_NOMEM;
    end = batch->run_end;
    /* A counting sort by SKU, stable: each SKU's events keep their order. */
    memset(end, 0, batch->in.n_skus * sizeof(*end));
    for (size_t i = 0; i < batch->in.n_events; i++)
        end[batch->in.events[i].sku]++;
    for (size_t k = 0; k < batch->in.n_skus; k++) {
        uint32_t count = end[k];
        end[k] = (uint32_t)pos;
        pos += count;
    }
    for (size_t i = 0; i < batch->in.n_events; i++)
        batch->by_sku[end[batch->in.events[i].sku]++] = batch->in.events[i];
    batch->n_slots = batch->n_buckets = batch->n_obs = 0;
    for (size_t k = 0, from = 0; k < batch->in.n_skus; from = end[k++])
        group_sku(batch, (uint32_t)k, batch->by_sku + from, end[k] - from);
    batch->grouped = 1;
    return DC_OK;
}

const dc_slot_delta_t *dc_featbatch_slot_first(const dc_featbatch_t *batch, size_t i)
{
    if (!batch->grouped || i >= batch->in.n_skus || batch->in.skus[i].first_slot == EMPTY)
        return NULL;
    return &batch->slots[batch->in.skus[i].first_slot];
}

const dc_slot_delta_t *dc_featbatch_slot_next(const dc_featbatch_t *batch,
                                              const dc_slot_delta_t *slot)
{
    return slot->next == EMPTY ? NULL : &batch->slots[slot->next];
}

const dc_bucket_delta_t *dc_featbatch_bucket_first(const dc_featbatch_t *batch, size_t i)
{
    if (!batch->grouped || i >= batch->in.n_skus || batch->in.skus[i].first_bucket == EMPTY)
        return NULL;
    return &batch->buckets[batch->in.skus[i].first_bucket];
}

const dc_bucket_delta_t *dc_featbatch_bucket_next(const dc_featbatch_t *batch,
                                                  const dc_bucket_delta_t *bucket)
{
    return bucket->next == EMPTY ? NULL : &batch->buckets[bucket->next];
}

const dc_user_obs_t *dc_featbatch_user_first(const dc_featbatch_t *batch, size_t i)
{
    if (!batch->grouped || i >= batch->in.n_skus || !batch->in.skus[i].n_users)
        return NULL;
    return &batch->obs[batch->in.skus[i].first_user];
}

const dc_user_obs_t *dc_featbatch_user_next(const dc_featbatch_t *batch, const dc_user_obs_t *obs)
{
    return obs->next == EMPTY ? NULL : &batch->obs[obs->next];
}

void dc_bucket_clear(dc_bucket_t *bucket)
{
    if (!bucket)
        return;
    free(bucket->skus);
    memset(bucket, 0, sizeof(*bucket));
}
