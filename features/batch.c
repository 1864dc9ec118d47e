/* features/batch.c - window and bucket deltas of the events since the last
 * flush, coalesced per SKU, so that one flush writes each touched SKU once
 * however many events it had. Once reserved for a flush's events (or grown
 * by the first few batches), adding an event allocates nothing. */
#include "features/features.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define EMPTY UINT32_MAX

struct dc_featbatch_s {
    dc_limits_t lim;
    int64_t slot_ms[DC_WINDOWS_MAX];
    dc_sku_delta_t *skus;
    size_t n_skus, cap_skus;
    uint32_t *index; /* open addressing: SKU hash -> position in skus */
    size_t index_cap;
    dc_slot_delta_t *slots; /* every SKU's window slot deltas, chained per SKU */
    size_t n_slots, cap_slots;
    dc_bucket_delta_t *buckets; /* every SKU's bucket deltas, chained per SKU */
    size_t n_buckets, cap_buckets;
    dc_user_obs_t *obs;
    size_t n_obs, cap_obs;
    uint32_t *last_obs; /* per SKU: its newest observation, to chain and dedupe */
    size_t events;
    /* dc_featbatch_group(): whether the pools are grouped by SKU, per
     * element of a pool where it goes, and per SKU where its next element
     * goes and where its run ends. */
    int grouped;
    uint32_t *dest;
    size_t cap_dest;
    uint32_t *run_at, *run_end;
    size_t cap_runs;
};

dc_featbatch_t *dc_featbatch_new(const dc_limits_t *lim)
{
    dc_featbatch_t *batch = calloc(1, sizeof(*batch));

    if (!batch)
        return NULL;
    batch->lim = *lim;
    for (size_t w = 0; w < lim->n_windows; w++)
        batch->slot_ms[w] = lim->window_ms[w] / DC_WINDOW_SLOTS;
    batch->index_cap = 1024;
    if (!(batch->index = malloc(batch->index_cap * sizeof(*batch->index)))) {
        free(batch);
        return NULL;
    }
    memset(batch->index, 0xff, batch->index_cap * sizeof(*batch->index));
    return batch;
}

void dc_featbatch_destroy(dc_featbatch_t *batch)
{
    if (!batch)
        return;
    free(batch->skus);
    free(batch->index);
    free(batch->slots);
    free(batch->buckets);
    free(batch->obs);
    free(batch->last_obs);
    free(batch->dest);
    free(batch->run_at);
    free(batch->run_end);
    free(batch);
}

void dc_featbatch_reset(dc_featbatch_t *batch)
{
    memset(batch->index, 0xff, batch->index_cap * sizeof(*batch->index));
    batch->n_skus = 0;
    batch->n_slots = 0;
    batch->n_buckets = 0;
    batch->n_obs = 0;
    batch->events = 0;
    batch->grouped = 0;
}

size_t dc_featbatch_events(const dc_featbatch_t *batch) { return batch->events; }
const dc_limits_t *dc_featbatch_limits(const dc_featbatch_t *batch) { return &batch->lim; }
size_t dc_featbatch_skus(const dc_featbatch_t *batch) { return batch->n_skus; }

const dc_sku_delta_t *dc_featbatch_sku(const dc_featbatch_t *batch, size_t i)
{
    return i < batch->n_skus ? &batch->skus[i] : NULL;
}

/* Doubles the index and re-inserts every SKU. */
static int grow_index(dc_featbatch_t *batch)
{
    size_t cap = batch->index_cap * 2;
    uint32_t *index = malloc(cap * sizeof(*index));

    if (!index)
        return DC_ERR_NOMEM;
    memset(index, 0xff, cap * sizeof(*index));
    for (size_t i = 0; i < batch->n_skus; i++) {
        size_t pos = dc_str_hash(batch->skus[i].sku) & (cap - 1);
        while (index[pos] != EMPTY)
            pos = (pos + 1) & (cap - 1);
        index[pos] = (uint32_t)i;
    }
    free(batch->index);
    batch->index = index;
    batch->index_cap = cap;
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

/* Room for n SKUs: their deltas, their newest observations and an index
 * at most half full. */
static int reserve_skus(dc_featbatch_t *batch, size_t n)
{
    size_t cap_skus = batch->cap_skus, cap_last = batch->cap_skus;

    /* One capacity for both, which grow alike: it moves on once both have. */
    if (reserve_pool((void **)&batch->skus, &cap_skus, n, sizeof(*batch->skus)) ||
        reserve_pool((void **)&batch->last_obs, &cap_last, n, sizeof(*batch->last_obs)))
        return DC_ERR_NOMEM;
    batch->cap_skus = cap_skus;
    while (n * 2 > batch->index_cap)
        if (grow_index(batch))
            return DC_ERR_NOMEM;
    return DC_OK;
}

/* Room for dc_featbatch_group()'s work on pools of up to n elements and n_skus SKUs. */
static int reserve_group(dc_featbatch_t *batch, size_t n, size_t n_skus)
{
    size_t cap_runs = batch->cap_runs;

    if (reserve_pool((void **)&batch->dest, &batch->cap_dest, n, sizeof(uint32_t)) ||
        reserve_pool((void **)&batch->run_at, &cap_runs, n_skus, sizeof(uint32_t)) ||
        reserve_pool((void **)&batch->run_end, &batch->cap_runs, n_skus, sizeof(uint32_t)))
        return DC_ERR_NOMEM;
    return DC_OK;
}

int dc_featbatch_reserve(dc_featbatch_t *batch, size_t events)
{
    size_t n_slots = events * batch->lim.n_windows;

    if (reserve_skus(batch, events) ||
        reserve_pool((void **)&batch->slots, &batch->cap_slots, n_slots,
                     sizeof(*batch->slots)) ||
        reserve_pool((void **)&batch->buckets, &batch->cap_buckets, events,
                     sizeof(*batch->buckets)) ||
        reserve_pool((void **)&batch->obs, &batch->cap_obs, events, sizeof(*batch->obs)) ||
        reserve_group(batch, n_slots, events))
        return DC_ERR_NOMEM;
    return DC_OK;
}

/* Finds or creates the delta of sku; NULL on NOMEM. */
static dc_sku_delta_t *sku_delta(dc_featbatch_t *batch, const char *sku, uint32_t *idx)
{
    size_t pos;
    dc_sku_delta_t *d;

    if ((batch->n_skus + 1) * 2 > batch->index_cap && reserve_skus(batch, batch->n_skus + 1))
        return NULL;
    pos = dc_str_hash(sku) & (batch->index_cap - 1);
    for (; batch->index[pos] != EMPTY; pos = (pos + 1) & (batch->index_cap - 1)) {
        d = &batch->skus[batch->index[pos]];
        if (!strcmp(d->sku, sku)) {
            *idx = batch->index[pos];
            return d;
        }
    }
    if (batch->n_skus == batch->cap_skus && reserve_skus(batch, batch->n_skus + 1))
        return NULL;
    *idx = (uint32_t)batch->n_skus;
    d = &batch->skus[batch->n_skus++];
    batch->index[pos] = *idx;
    batch->last_obs[*idx] = EMPTY;
    snprintf(d->sku, sizeof(d->sku), "%s", sku);
    d->newest_ts = INT64_MIN;
    for (size_t w = 0; w < batch->lim.n_windows; w++)
        d->top_slot[w] = INT64_MIN;
    memset(d->ring, 0xff, batch->lim.n_windows * sizeof(d->ring[0]));
    d->first_slot = EMPTY;
    d->first_bucket = d->last_bucket = EMPTY;
    d->first_user = 0;
    d->n_users = 0;
    return d;
}

/* Finds or creates the delta of slot of window w, which is not older than
 * the window's newest slot minus DC_WINDOW_SLOTS; NULL on NOMEM. A ring
 * position holding another slot holds an older one, out of the window now:
 * it stays in the SKU's list, where the store skips it. */
static dc_slot_delta_t *slot_delta(dc_featbatch_t *batch, dc_sku_delta_t *d, uint32_t w,
                                   int64_t slot)
{
    int64_t pos = slot % DC_WINDOW_SLOTS;
    uint32_t *at = &d->ring[w][pos < 0 ? pos + DC_WINDOW_SLOTS : pos];
    dc_slot_delta_t *s;

    if (*at != EMPTY && batch->slots[*at].slot == slot)
        return &batch->slots[*at];
    if (reserve_pool((void **)&batch->slots, &batch->cap_slots, batch->n_slots + 1,
                     sizeof(*batch->slots)))
        return NULL;
    s = &batch->slots[batch->n_slots];
    memset(s, 0, sizeof(*s));
    s->slot = slot;
    s->window = w;
    s->sku = (uint32_t)(d - batch->skus);
    s->next = d->first_slot;
    d->first_slot = *at = (uint32_t)batch->n_slots++;
    if (d->top_slot[w] == INT64_MIN || slot > d->top_slot[w])
        d->top_slot[w] = slot;
    return s;
}

/* Finds or creates the delta of the bucket starting at start; NULL on
 * NOMEM. Events mostly come in time order, so the SKU's last bucket is
 * tried first. */
static dc_bucket_delta_t *bucket_delta(dc_featbatch_t *batch, dc_sku_delta_t *d, int64_t start)
{
    dc_bucket_delta_t *b;

    if (d->last_bucket != EMPTY && batch->buckets[d->last_bucket].start == start)
        return &batch->buckets[d->last_bucket];
    for (uint32_t i = d->first_bucket; i != EMPTY; i = batch->buckets[i].next)
        if (batch->buckets[i].start == start) {
            d->last_bucket = i;
            return &batch->buckets[i];
        }
    if (reserve_pool((void **)&batch->buckets, &batch->cap_buckets, batch->n_buckets + 1,
                     sizeof(*batch->buckets)))
        return NULL;
    b = &batch->buckets[batch->n_buckets];
    memset(b, 0, sizeof(*b));
    b->start = start;
    b->sku = (uint32_t)(d - batch->skus);
    b->next = d->first_bucket;
    d->first_bucket = d->last_bucket = (uint32_t)batch->n_buckets++;
    return b;
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

static int add_user(dc_featbatch_t *batch, uint32_t idx, dc_sku_delta_t *d, const dc_fevent_t *ev)
{
    uint32_t hash = dc_user_hash(ev->user);
    uint32_t last = batch->last_obs[idx];
    int64_t slot0 = dc_time_floor(ev->ts_ms, batch->slot_ms[0]);

    /* A user clicking through one SKU repeatedly is the common case: one
     * observation per user and finest slot is all the sketches need. */
    if (last != EMPTY) {
        const dc_user_obs_t *o = &batch->obs[last];
        if (o->user_hash == hash && dc_time_floor(o->ts_ms, batch->slot_ms[0]) == slot0)
            return DC_OK;
    }
    if (reserve_pool((void **)&batch->obs, &batch->cap_obs, batch->n_obs + 1,
                     sizeof(*batch->obs)))
        return DC_ERR_NOMEM;
    dc_user_obs_t *o = &batch->obs[batch->n_obs];
    o->sku = idx;
    o->next = EMPTY;
    o->ts_ms = ev->ts_ms;
    o->user_hash = hash;
    if (last != EMPTY)
        batch->obs[last].next = (uint32_t)batch->n_obs;
    else
        d->first_user = (uint32_t)batch->n_obs;
    batch->last_obs[idx] = (uint32_t)batch->n_obs++;
    d->n_users++;
    return DC_OK;
}

int dc_featbatch_add(dc_featbatch_t *batch, const dc_fevent_t *ev, int64_t closed_until,
                     int *late)
{
    int64_t bstart = dc_time_floor(ev->ts_ms, batch->lim.bucket_ms);
    int is_late = closed_until != INT64_MIN && bstart < closed_until;
    int64_t rev = 0;
    dc_bucket_delta_t *b = NULL;
    uint32_t idx;
    dc_sku_delta_t *d;

    if (batch->grouped)
        return DC_ERR_INVAL; /* the chains' add-time links are gone */
    if (!(d = sku_delta(batch, ev->sku, &idx)) ||
        (!is_late && !(b = bucket_delta(batch, d, bstart))))
        return DC_ERR_NOMEM;
    if (late)
        *late = is_late;
    if (ev->kind == DC_FEV_PLACED)
        rev = llround((double)ev->qty * ev->price * 1e4);
    if (ev->ts_ms > d->newest_ts)
        d->newest_ts = ev->ts_ms;

    for (uint32_t w = 0; w < batch->lim.n_windows; w++) {
        int64_t slot = dc_time_floor(ev->ts_ms, batch->slot_ms[w]) / batch->slot_ms[w];
        if (d->top_slot[w] != INT64_MIN && slot <= d->top_slot[w] - DC_WINDOW_SLOTS)
            continue; /* already outside this window, whatever comes later */
        dc_slot_delta_t *s = slot_delta(batch, d, w, slot);
        if (!s)
            return DC_ERR_NOMEM;
        s->views += ev->kind == DC_FEV_VIEW;
        s->carts += ev->kind == DC_FEV_CART;
        if (ev->kind == DC_FEV_PLACED) {
            s->units += ev->qty;
            s->orders++;
            s->revenue_e4 += rev;
        }
    }
    if (b) {
        b->events++;
        b->promo_events += ev->promo != 0;
        if (ev->price > 0) {
            b->price_sum_e4 += llround(ev->price * 1e4);
            b->price_n++;
        }
        switch (ev->kind) {
        case DC_FEV_VIEW: b->views++; break;
        case DC_FEV_CART: b->carts++; break;
        case DC_FEV_REMOVE: b->removes++; break;
        case DC_FEV_PLACED:
            b->units += ev->qty;
            b->orders++;
            b->revenue_e4 += rev;
            break;
        case DC_FEV_CANCEL: b->cancelled += ev->qty; break;
        default: break;
        }
    }
    batch->events++;
    if (ev->user && ev->user[0])
        return add_user(batch, idx, d, ev);
    return DC_OK;
}

/* Groups one pool (n elements of elem bytes, each with its SKU's index and
 * its chain link as uint32 at sku_off and next_off) in place: a run per
 * SKU, in SKU order, each linked front to back. A SKU's chain runs through
 * its elements newest first (newest_first) or oldest first, and so does
 * its run. Sets first[SKU] (a uint32 at first_off in each SKU delta) to its
 * run's start, UINT32_MAX when it has none. In place rather than into a
 * second pool: as fast, and no second pool's pages to fault in. Inline, so
 * that each call's constant sizes make its copies plain moves. */
static inline void group_pool(dc_featbatch_t *batch, void *pool, size_t n, size_t elem,
                              size_t sku_off, size_t next_off, int newest_first,
                              size_t first_off)
{
    uint32_t *at = batch->run_at, *end = batch->run_end, *dest = batch->dest;
    union {
        dc_slot_delta_t slot;
        dc_bucket_delta_t bucket;
        dc_user_obs_t obs;
    } tmp;
    char *base = pool;
    uint32_t sku, link;
    size_t pos = 0;

    memset(at, 0, batch->n_skus * sizeof(*at));
    for (size_t i = 0; i < n; i++) {
        memcpy(&sku, base + i * elem + sku_off, sizeof(sku));
        at[sku]++;
    }
    for (size_t k = 0; k < batch->n_skus; k++) {
        uint32_t count = at[k], *first = (uint32_t *)(void *)((char *)&batch->skus[k] + first_off);
        *first = count ? (uint32_t)pos : EMPTY;
        at[k] = (uint32_t)pos;
        pos += count;
        end[k] = (uint32_t)pos;
    }
    for (size_t j = 0; j < n; j++) {
        size_t i = newest_first ? n - 1 - j : j;
        memcpy(&sku, base + i * elem + sku_off, sizeof(sku));
        dest[i] = at[sku]++;
    }
    /* Each swap puts one element where it goes. */
    for (size_t i = 0; i < n; i++)
        while (dest[i] != i) {
            uint32_t d = dest[i];
            memcpy(&tmp, base + d * elem, elem);
            memcpy(base + d * elem, base + i * elem, elem);
            memcpy(base + i * elem, &tmp, elem);
            dest[i] = dest[d];
            dest[d] = d;
        }
    for (size_t p = 0; p < n; p++) {
        memcpy(&sku, base + p * elem + sku_off, sizeof(sku));
        link = p + 1 < end[sku] ? (uint32_t)(p + 1) : EMPTY;
        memcpy(base + p * elem + next_off, &link, sizeof(link));
    }
}

int dc_featbatch_group(dc_featbatch_t *batch)
{
    size_t n = batch->n_slots;

    if (batch->grouped || !batch->n_skus) {
        batch->grouped = 1; /* an empty batch is grouped as it is */
        return DC_OK;
    }
    if (batch->n_buckets > n)
        n = batch->n_buckets;
    if (batch->n_obs > n)
        n = batch->n_obs;
    if (reserve_group(batch, n, batch->n_skus))
        return DC_ERR_NOMEM;
    /* Slots and buckets are chained newest first, observations oldest
     * first (slot_delta, bucket_delta, add_user). */
    group_pool(batch, batch->slots, batch->n_slots, sizeof(dc_slot_delta_t),
               offsetof(dc_slot_delta_t, sku), offsetof(dc_slot_delta_t, next), 1,
               offsetof(dc_sku_delta_t, first_slot));
    group_pool(batch, batch->buckets, batch->n_buckets, sizeof(dc_bucket_delta_t),
               offsetof(dc_bucket_delta_t, sku), offsetof(dc_bucket_delta_t, next), 1,
               offsetof(dc_sku_delta_t, first_bucket));
    group_pool(batch, batch->obs, batch->n_obs, sizeof(dc_user_obs_t),
               offsetof(dc_user_obs_t, sku), offsetof(dc_user_obs_t, next), 0,
               offsetof(dc_sku_delta_t, first_user));
    batch->grouped = 1;
    return DC_OK;
}

const dc_slot_delta_t *dc_featbatch_slot_first(const dc_featbatch_t *batch, size_t i)
{
    if (i >= batch->n_skus || batch->skus[i].first_slot == EMPTY)
        return NULL;
    return &batch->slots[batch->skus[i].first_slot];
}

const dc_slot_delta_t *dc_featbatch_slot_next(const dc_featbatch_t *batch,
                                              const dc_slot_delta_t *slot)
{
    return slot->next == EMPTY ? NULL : &batch->slots[slot->next];
}

const dc_bucket_delta_t *dc_featbatch_bucket_first(const dc_featbatch_t *batch, size_t i)
{
    if (i >= batch->n_skus || batch->skus[i].first_bucket == EMPTY)
        return NULL;
    return &batch->buckets[batch->skus[i].first_bucket];
}

const dc_bucket_delta_t *dc_featbatch_bucket_next(const dc_featbatch_t *batch,
                                                  const dc_bucket_delta_t *bucket)
{
    return bucket->next == EMPTY ? NULL : &batch->buckets[bucket->next];
}

const dc_user_obs_t *dc_featbatch_user_first(const dc_featbatch_t *batch, size_t i)
{
    if (i >= batch->n_skus || !batch->skus[i].n_users)
        return NULL;
    return &batch->obs[batch->skus[i].first_user];
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
