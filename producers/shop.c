/* producers/shop.c - the synthetic shop: a seeded simulation of sessions,
 * views, carts, orders, cancellations and promotions, yielded as records in
 * event-time order.
 *
 * Sessions are generated whole, when their start time comes up, and their
 * events wait in a min-heap until they are the earliest: a session's events
 * never precede its start, and starts only grow, so popping the heap is safe
 * once no unstarted session could come first. */
#include "producers/producers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MINUTE_MS 60000LL
#define HOUR_MS (60 * MINUTE_MS)
#define DAY_MS (24 * HOUR_MS)

/* The session model; dc_shop_events_per_session() derives from these. */
#define ZIPF_S 1.0
#define MEAN_EXTRA_VIEWS 3.0 /* views per session = 1 + geometric(mean 3) */
#define MAX_VIEWS 64
#define P_SEARCH 0.25   /* a view is reached by a search click first */
#define P_WISHLIST 0.02 /* per view */
#define P_CART 0.10     /* per view, before a promotion's lift */
#define P_CART_MAX 0.9
#define P_REMOVE 0.10   /* a cart add is taken back later in the session */
#define P_ORDER 0.50    /* a session with a non-empty cart checks out */
#define P_CANCEL 0.03   /* a placed order is cancelled later */
#define USERS_PER_SKU 20
#define MIN_USERS 1000

/* Promotions: SKUs among the most popular, so the lift shows at hourly
 * buckets; durations and lifts as DESIGN.md's surge tests need them. */
#define PROMO_MIN_DUR_MIN 180
#define PROMO_MAX_DUR_MIN 720
#define PROMO_MIN_LIFT 3.0
#define PROMO_MAX_LIFT 8.0
#define PROMO_REST_MS (4 * HOUR_MS) /* quiet time after one ends before the next */
#define PROMO_RECENT 8              /* a SKU is not promoted again within this many promos */

/* Hourly traffic, quiet at night, peaks at lunch and in the evening; linear
 * between the hours and normalised to mean 1 in dc_shop_new(). */
static const double daily_curve[24] = {0.45, 0.30, 0.20, 0.15, 0.13, 0.15, 0.25, 0.45,
                                       0.70, 0.90, 1.00, 1.10, 1.25, 1.20, 1.05, 1.00,
                                       1.00, 1.05, 1.20, 1.45, 1.60, 1.50, 1.15, 0.75};
/* Monday first; the mean is 1. */
static const double weekly_curve[7] = {1.10, 1.02, 1.00, 1.00, 0.92, 0.80, 1.16};

/* Uniform in [0, n). The slight modulo bias is irrelevant at these sizes. */
static inline uint32_t rng_below(dc_rng_t *r, uint32_t n) { return (uint32_t)(dc_rng_next(r) % n); }

/* Exponential with the given mean, in (0, inf). */
static inline double rng_exp(dc_rng_t *r, double mean) { return -mean * log(1.0 - dc_rng_uniform(r)); }

/* Geometric on {0, 1, ...} with the given mean. */
static uint32_t rng_geom(dc_rng_t *r, double mean, uint32_t cap)
{
    double q = mean / (1.0 + mean); /* probability of one more */
    uint32_t k = 0;
    while (k < cap && dc_rng_uniform(r) < q)
        k++;
    return k;
}

static inline double rng_normal(dc_rng_t *r)
{
    double u = 1.0 - dc_rng_uniform(r), v = dc_rng_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

enum { PEND_CLICK, PEND_ORDER, PEND_CANCEL };

typedef struct {
    uint32_t sku;
    uint16_t qty;
    uint16_t promo; /* promotion index + 1 it was carted under, 0 if none */
} pend_line_t;

/* An event waiting in the heap. Orders carry their lines inline so the
 * queue needs no allocation per event. */
typedef struct {
    uint8_t kind;
    uint8_t click_type;
    uint8_t n_lines;
    uint32_t user;
    uint32_t sku;   /* clicks */
    uint32_t promo; /* clicks: promotion index + 1, 0 if none */
    uint64_t session;
    uint64_t order_no;
    pend_line_t lines[DC_SHOP_MAX_LINES];
} pend_t;

typedef struct {
    int64_t ts;
    uint64_t seq; /* push order breaks ties, keeping the stream deterministic */
    uint32_t slot;
} heap_ent_t;

typedef struct {
    uint32_t sku;
    int64_t start_ms, end_ms;
    double lift, sqrt_lift, discount;
    double weight; /* p(sku) * (sqrt(lift) - 1): its share of extra traffic */
    char code[DC_TEXT_MAX];
} promo_t;

typedef struct {
    uint64_t views, carts, order_lines, units, units_cancelled;
} sku_count_t;

struct dc_shop_s {
    dc_shop_params_t params;
    dc_rng_t rng_session, rng_promo;

    uint32_t n_skus, n_users;
    char (*names)[8];
    double *price;
    double *pop;      /* view probability of each SKU */
    double *cdf;      /* cumulative pop by rank */
    uint32_t *by_rank;
    uint32_t *rank;
    sku_count_t *counts;

    double daily[24];
    double rate_per_ms; /* mean session rate */
    double rate_bound;  /* thinning bound: max seasonality times max promo boost */
    int64_t next_session_ms;

    promo_t *promos;
    size_t n_promos, promos_cap;
    size_t promo_lo; /* promotions before it ended before the current session */
    uint32_t promo_rank0, promo_ranks; /* promotions pick among these popularity ranks */

    pend_t *slots;
    uint32_t *free_slots;
    size_t n_free, slots_cap;
    heap_ent_t *heap;
    size_t heap_n, heap_cap;
    uint64_t push_seq;

    uint64_t n_orders_made;
    char prefix[24]; /* "<seed>-", the start of every generated id */
    size_t prefix_len;
    dc_shop_stats_t stats;
};

/* ---- parameters ---- */

void dc_shop_params_init(dc_shop_params_t *params)
{
    memset(params, 0, sizeof(*params));
    params->seed = 1;
    params->n_skus = 1000;
    params->n_events = 100000;
    params->start_ms = 1767571200000LL; /* 2026-01-05T00:00:00Z, a Monday */
    params->sessions_per_hour = 1000;
    params->promos_per_day = 1;
}

double dc_shop_events_per_session(void)
{
    /* Per view: the view, maybe a search click before it and a wishlist,
     * maybe a cart add that may be taken back. A cart survives a view with
     * probability c = P_CART (1 - P_REMOVE); with V = 1 + K views,
     * K ~ geometric with stop probability p, P(empty cart) = E[(1-c)^V]
     * = (1-c) p / (1 - (1-p)(1-c)). The 8-line cap is ignored (it binds
     * almost never). */
    double views = 1.0 + MEAN_EXTRA_VIEWS;
    double per_view = 1.0 + P_SEARCH + P_WISHLIST + P_CART * (1.0 + P_REMOVE);
    double p = 1.0 / (1.0 + MEAN_EXTRA_VIEWS), x = 1.0 - P_CART * (1.0 - P_REMOVE);
    double p_empty = x * p / (1.0 - (1.0 - p) * x);
    return views * per_view + P_ORDER * (1.0 - p_empty) * (1.0 + P_CANCEL);
}

/* ---- calendar ---- */

/* Traffic factor at t (>= 0), mean 1 over a week. */
static double seasonality(const dc_shop_t *shop, int64_t t)
{
    int64_t day = t / DAY_MS, in_day = t % DAY_MS;
    int dow = (int)((day + 3) % 7); /* 1970-01-01 was a Thursday */
    int h = (int)(in_day / HOUR_MS);
    double f = (double)(in_day - h * HOUR_MS) / HOUR_MS;
    double d = shop->daily[h] * (1.0 - f) + shop->daily[(h + 1) % 24] * f;
    return d * weekly_curve[dow];
}

/* ---- promotions ---- */

static int promo_append(dc_shop_t *shop)
{
    const promo_t *prev;
    double gap_mean = DAY_MS / shop->params.promos_per_day;
    dc_rng_t *r = &shop->rng_promo;
    promo_t *p;
    uint32_t sku = 0;

    if (shop->n_promos == shop->promos_cap) {
        size_t cap = shop->promos_cap ? shop->promos_cap * 2 : 16;
        promo_t *grown = realloc(shop->promos, cap * sizeof(*grown));
        if (!grown)
            return DC_ERR_NOMEM;
        shop->promos = grown;
        shop->promos_cap = cap;
    }
    prev = shop->n_promos ? &shop->promos[shop->n_promos - 1] : NULL;
    p = &shop->promos[shop->n_promos];
    memset(p, 0, sizeof(*p));

    /* Whole minutes, and lifts of two decimals, so the truth file states
     * exactly what was injected. */
    int64_t dur = (PROMO_MIN_DUR_MIN + rng_below(r, PROMO_MAX_DUR_MIN - PROMO_MIN_DUR_MIN + 1)) *
                  MINUTE_MS;
    if (!prev) {
        /* Half a day of history at least, so there is a baseline to lift from. */
        p->start_ms = shop->params.start_ms + 12 * HOUR_MS +
                      (int64_t)(dc_rng_uniform(r) * gap_mean / MINUTE_MS) * MINUTE_MS;
    } else {
        int64_t gap = (int64_t)(gap_mean * (0.6 + 0.8 * dc_rng_uniform(r)) / MINUTE_MS) * MINUTE_MS;
        int64_t earliest = prev->end_ms + PROMO_REST_MS;
        p->start_ms = prev->start_ms + gap;
        if (p->start_ms < earliest)
            p->start_ms = earliest;
    }
    p->end_ms = p->start_ms + dur;
    p->lift = round((PROMO_MIN_LIFT + (PROMO_MAX_LIFT - PROMO_MIN_LIFT) * dc_rng_uniform(r)) * 100) / 100;
    p->sqrt_lift = sqrt(p->lift);
    p->discount = round((0.10 + 0.20 * dc_rng_uniform(r)) * 100) / 100;

    /* A SKU not among the last few promoted, when there are enough. */
    for (int tries = 0; tries < 32; tries++) {
        int recent = 0;
        sku = shop->by_rank[shop->promo_rank0 + rng_below(r, shop->promo_ranks)];
        for (size_t i = shop->n_promos > PROMO_RECENT ? shop->n_promos - PROMO_RECENT : 0;
             i < shop->n_promos; i++)
            recent |= shop->promos[i].sku == sku;
        if (!recent)
            break;
    }
    p->sku = sku;
    p->weight = shop->pop[sku] * (p->sqrt_lift - 1.0);
    snprintf(p->code, sizeof(p->code), "PROMO%zu-%s", shop->n_promos + 1, shop->names[sku]);
    shop->n_promos++;
    return DC_OK;
}

/* Makes sure every promotion that starts at or before t is scheduled. */
static int promos_until(dc_shop_t *shop, int64_t t)
{
    if (shop->params.promos_per_day <= 0)
        return DC_OK;
    while (!shop->n_promos || shop->promos[shop->n_promos - 1].start_ms <= t) {
        int err = promo_append(shop);
        if (err)
            return err;
    }
    return DC_OK;
}

/* Index + 1 of the promotion of sku running at t, 0 if none. */
static uint32_t promo_of(const dc_shop_t *shop, uint32_t sku, int64_t t)
{
    for (size_t i = shop->promo_lo; i < shop->n_promos && shop->promos[i].start_ms <= t; i++)
        if (shop->promos[i].sku == sku && t < shop->promos[i].end_ms)
            return (uint32_t)i + 1;
    return 0;
}

/* Sum of the extra-traffic weights of the promotions running at t. */
static double promo_boost(const dc_shop_t *shop, int64_t t)
{
    double s = 0;
    for (size_t i = shop->promo_lo; i < shop->n_promos && shop->promos[i].start_ms <= t; i++)
        if (t < shop->promos[i].end_ms)
            s += shop->promos[i].weight;
    return s;
}

/* ---- the event queue ---- */

static int slot_alloc(dc_shop_t *shop, uint32_t *slot)
{
    if (!shop->n_free) {
        size_t cap = shop->slots_cap ? shop->slots_cap * 2 : 1024;
        pend_t *slots = realloc(shop->slots, cap * sizeof(*slots));
        if (!slots)
            return DC_ERR_NOMEM;
        shop->slots = slots;
        uint32_t *free_slots = realloc(shop->free_slots, cap * sizeof(*free_slots));
        if (!free_slots)
            return DC_ERR_NOMEM;
        shop->free_slots = free_slots;
        /* Hand out low slots first: fewer pages touched. */
        for (size_t i = cap; i > shop->slots_cap; i--)
            shop->free_slots[shop->n_free++] = (uint32_t)(i - 1);
        shop->slots_cap = cap;
    }
    *slot = shop->free_slots[--shop->n_free];
    return DC_OK;
}

static inline int heap_less(const heap_ent_t *a, const heap_ent_t *b)
{
    return a->ts < b->ts || (a->ts == b->ts && a->seq < b->seq);
}

/* Queues *ev at time ts. */
static int push(dc_shop_t *shop, int64_t ts, const pend_t *ev)
{
    uint32_t slot;
    size_t i;
    int err;

    if (shop->heap_n == shop->heap_cap) {
        size_t cap = shop->heap_cap ? shop->heap_cap * 2 : 1024;
        heap_ent_t *heap = realloc(shop->heap, cap * sizeof(*heap));
        if (!heap)
            return DC_ERR_NOMEM;
        shop->heap = heap;
        shop->heap_cap = cap;
    }
    if ((err = slot_alloc(shop, &slot)))
        return err;
    shop->slots[slot] = *ev;

    heap_ent_t e = {ts, shop->push_seq++, slot};
    for (i = shop->heap_n++; i > 0; i = (i - 1) / 2) {
        heap_ent_t *parent = &shop->heap[(i - 1) / 2];
        if (!heap_less(&e, parent))
            break;
        shop->heap[i] = *parent;
    }
    shop->heap[i] = e;
    return DC_OK;
}

/* Removes the earliest entry; its slot stays taken until the caller has
 * read it and released it. */
static heap_ent_t pop(dc_shop_t *shop)
{
    heap_ent_t top = shop->heap[0], last = shop->heap[--shop->heap_n];
    size_t i = 0, n = shop->heap_n;

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap_less(&shop->heap[c + 1], &shop->heap[c]))
            c++;
        if (!heap_less(&shop->heap[c], &last))
            break;
        shop->heap[i] = shop->heap[c];
        i = c;
    }
    if (n)
        shop->heap[i] = last;
    return top;
}

/* ---- sessions ---- */

/* A SKU for a view at t. Promotions add traffic on top of the Zipf share:
 * a view goes to a running promotion with probability boost / (1 + boost),
 * split by weight, which lifts that SKU's views by sqrt(lift) exactly while
 * the session rate rises by (1 + boost) (see next_arrival()). */
static uint32_t pick_sku(dc_shop_t *shop, int64_t t)
{
    dc_rng_t *r = &shop->rng_session;
    double boost = promo_boost(shop, t), u;

    if (boost > 0 && (u = dc_rng_uniform(r) * (1.0 + boost)) < boost) {
        const promo_t *chosen = NULL;
        for (size_t i = shop->promo_lo; i < shop->n_promos && shop->promos[i].start_ms <= t;
             i++) {
            if (t >= shop->promos[i].end_ms)
                continue;
            /* The last running one absorbs rounding. */
            chosen = &shop->promos[i];
            if ((u -= chosen->weight) < 0)
                break;
        }
        return chosen->sku;
    }
    u = dc_rng_uniform(r);
    size_t lo = 0, hi = shop->n_skus - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (shop->cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return shop->by_rank[lo];
}

static int push_click(dc_shop_t *shop, int64_t ts, const pend_t *base, dc_click_type_t type,
                      uint32_t sku)
{
    pend_t ev = *base;
    int err = promos_until(shop, ts);
    if (err)
        return err;
    ev.kind = PEND_CLICK;
    ev.click_type = (uint8_t)type;
    ev.sku = sku;
    ev.promo = promo_of(shop, sku, ts);
    return push(shop, ts, &ev);
}

/* Generates one whole session starting at t0 and queues its events. */
static int session(dc_shop_t *shop, int64_t t0)
{
    dc_rng_t *r = &shop->rng_session;
    pend_t base = {0}, order = {0};
    uint32_t n_views = 1 + rng_geom(r, MEAN_EXTRA_VIEWS, MAX_VIEWS - 1);
    int64_t t = t0;
    int err;

    base.user = rng_below(r, shop->n_users);
    base.session = shop->stats.sessions++;

    for (uint32_t v = 0; v < n_views; v++) {
        if ((err = promos_until(shop, t)))
            return err;
        uint32_t sku = pick_sku(shop, t);
        uint32_t promo = promo_of(shop, sku, t);

        if (dc_rng_uniform(r) < P_SEARCH) {
            if ((err = push_click(shop, t, &base, DC_CLICK_SEARCH_CLICK, sku)))
                return err;
            t += 1000 + rng_below(r, 3000);
        }
        if ((err = push_click(shop, t, &base, DC_CLICK_VIEW, sku)))
            return err;
        if (dc_rng_uniform(r) < P_WISHLIST &&
            (err = push_click(shop, t + 3000 + rng_below(r, 17000), &base, DC_CLICK_WISHLIST,
                              sku)))
            return err;

        double p_cart = P_CART * (promo ? shop->promos[promo - 1].sqrt_lift : 1.0);
        if (dc_rng_uniform(r) < (p_cart < P_CART_MAX ? p_cart : P_CART_MAX)) {
            uint16_t qty = 1;
            if (dc_rng_uniform(r) >= 0.75)
                qty = (uint16_t)(2 + (uint32_t)rng_exp(r, 1.5) % 49);
            t += 5000 + (int64_t)rng_exp(r, 20000);
            uint8_t li = 0;
            while (li < order.n_lines && order.lines[li].sku != sku)
                li++;
            if (li < DC_SHOP_MAX_LINES) {
                if ((err = push_click(shop, t, &base, DC_CLICK_ADD_TO_CART, sku)))
                    return err;
                if (li == order.n_lines) {
                    order.lines[li] = (pend_line_t){sku, 0, (uint16_t)promo_of(shop, sku, t)};
                    order.n_lines++;
                }
                order.lines[li].qty += qty;
                if (dc_rng_uniform(r) < P_REMOVE) {
                    t += 5000 + (int64_t)rng_exp(r, 30000);
                    if ((err = push_click(shop, t, &base, DC_CLICK_REMOVE_FROM_CART, sku)))
                        return err;
                    /* Taking the item out drops its line, keeping the rest in order. */
                    memmove(&order.lines[li], &order.lines[li + 1],
                            (order.n_lines - li - 1) * sizeof(order.lines[0]));
                    order.n_lines--;
                }
            }
        }
        t += 2000 + (int64_t)rng_exp(r, 40000);
    }

    if (order.n_lines && dc_rng_uniform(r) < P_ORDER) {
        order.kind = PEND_ORDER;
        order.user = base.user;
        order.session = base.session;
        order.order_no = shop->n_orders_made++;
        t += 2 * MINUTE_MS + (int64_t)rng_exp(r, 12 * MINUTE_MS);
        if ((err = push(shop, t, &order)))
            return err;
        if (dc_rng_uniform(r) < P_CANCEL) {
            order.kind = PEND_CANCEL;
            t += 30 * MINUTE_MS + (int64_t)rng_exp(r, 6 * HOUR_MS);
            if ((err = push(shop, t, &order)))
                return err;
        }
    }
    return DC_OK;
}

/* Sets *t to the start of the next session after it: a Poisson process
 * whose rate follows the calendar and the promotions, drawn by thinning
 * against rate_bound. */
static int next_arrival(dc_shop_t *shop, int64_t *t)
{
    dc_rng_t *r = &shop->rng_session;
    double tt = (double)*t;
    int err;

    for (;;) {
        tt += rng_exp(r, 1.0 / shop->rate_bound);
        int64_t ti = (int64_t)tt;
        if ((err = promos_until(shop, ti)))
            return err;
        double rate = shop->rate_per_ms * seasonality(shop, ti) * (1.0 + promo_boost(shop, ti));
        if (dc_rng_uniform(r) * shop->rate_bound < rate) {
            *t = ti;
            return DC_OK;
        }
    }
}

/* ---- ids ---- */

static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    *p = '\0';
    return p;
}

/* "<letter><seed>-<n>": unique per seed, and short. */
static void put_id(const dc_shop_t *shop, char *out, char letter, uint64_t n)
{
    out[0] = letter;
    memcpy(out + 1, shop->prefix, shop->prefix_len);
    put_u64(out + 1 + shop->prefix_len, n);
}

static double unit_price(const dc_shop_t *shop, uint32_t sku, uint32_t promo)
{
    if (!promo)
        return shop->price[sku];
    return round(shop->price[sku] * (1.0 - shop->promos[promo - 1].discount) * 100) / 100;
}

static void set_promo_text(const dc_shop_t *shop, uint32_t promo, int *has, char *text)
{
    *has = promo != 0;
    if (promo)
        memcpy(text, shop->promos[promo - 1].code, DC_TEXT_MAX);
    else
        text[0] = '\0';
}

static int emit_order(dc_shop_t *shop, const pend_t *ev, int64_t ts, dc_order_t *order)
{
    uint32_t promo = 0;
    int err;

    put_id(shop, order->order_id, 'o', ev->order_no);
    order->ts_ms = ts;
    order->user_id[0] = 'u';
    put_u64(order->user_id + 1, ev->user);
    order->status = ev->kind == PEND_CANCEL ? DC_ORDER_CANCELLED : DC_ORDER_PLACED;
    order->n_lines = 0;
    for (uint8_t i = 0; i < ev->n_lines; i++) {
        const pend_line_t *l = &ev->lines[i];
        if ((err = dc_order_add_line(order, shop->names[l->sku], l->qty,
                                     unit_price(shop, l->sku, l->promo))))
            return err;
        if (!promo)
            promo = l->promo;
        if (ev->kind == PEND_CANCEL) {
            shop->counts[l->sku].units_cancelled += l->qty;
        } else {
            shop->counts[l->sku].order_lines++;
            shop->counts[l->sku].units += l->qty;
            shop->stats.order_lines++;
            shop->stats.units += l->qty;
        }
    }
    set_promo_text(shop, promo, &order->has_promo_code, order->promo_code);
    shop->stats.orders++;
    if (ev->kind == PEND_CANCEL)
        shop->stats.orders_cancelled++;
    else
        shop->stats.orders_placed++;
    return DC_OK;
}

static void emit_click(dc_shop_t *shop, const pend_t *ev, int64_t ts, dc_click_t *click)
{
    put_id(shop, click->event_id, 'e', shop->stats.events);
    click->ts_ms = ts;
    memcpy(click->sku, shop->names[ev->sku], sizeof(shop->names[0]));
    click->user_id[0] = 'u';
    put_u64(click->user_id + 1, ev->user);
    put_id(shop, click->session_id, 's', ev->session);
    click->type = (dc_click_type_t)ev->click_type;
    click->price = unit_price(shop, ev->sku, ev->promo);
    set_promo_text(shop, ev->promo, &click->has_promo, click->promo);

    shop->stats.clicks++;
    shop->stats.clicks_by_type[ev->click_type]++;
    if (ev->click_type == DC_CLICK_VIEW)
        shop->counts[ev->sku].views++;
    else if (ev->click_type == DC_CLICK_ADD_TO_CART)
        shop->counts[ev->sku].carts++;
}

int dc_shop_next(dc_shop_t *shop, dc_click_t *click, dc_order_t *order)
{
    int err = DC_OK, type;

    if (shop->params.n_events && shop->stats.events >= shop->params.n_events)
        return DC_ERR_EOF;
    while (!shop->heap_n || shop->next_session_ms <= shop->heap[0].ts) {
        /* Promotions that ended before this session can no longer matter. */
        while (shop->promo_lo < shop->n_promos &&
               shop->promos[shop->promo_lo].end_ms <= shop->next_session_ms)
            shop->promo_lo++;
        if ((err = session(shop, shop->next_session_ms)) ||
            (err = next_arrival(shop, &shop->next_session_ms)))
            return err;
    }

    heap_ent_t top = pop(shop);
    const pend_t *ev = &shop->slots[top.slot];
    if (ev->kind == PEND_CLICK) {
        emit_click(shop, ev, top.ts, click);
        type = DC_REC_CLICK;
    } else {
        type = DC_REC_ORDER;
        err = emit_order(shop, ev, top.ts, order);
    }
    shop->free_slots[shop->n_free++] = top.slot;
    if (err)
        return err;
    if (!shop->stats.events)
        shop->stats.first_ts_ms = top.ts;
    shop->stats.last_ts_ms = top.ts;
    shop->stats.events++;
    return type;
}

/* ---- construction ---- */

dc_shop_t *dc_shop_new(const dc_shop_params_t *params, char *errstr, size_t errstr_size)
{
    dc_shop_t *shop = NULL;
    dc_rng_t setup;
    double sum = 0, max_daily = 0, max_weekly = 0, promo_pop = 0;
    uint32_t n;

    if (!params->n_skus || params->n_skus > DC_SHOP_MAX_SKUS) {
        dc_seterr(errstr, errstr_size, DC_ERR_INVAL, "number of SKUs must be 1..%d, got %u",
                  DC_SHOP_MAX_SKUS, params->n_skus);
        goto fail;
    }
    if (!(params->sessions_per_hour > 0 &&
          params->sessions_per_hour <= DC_SHOP_MAX_SESSIONS_PER_HOUR)) {
        dc_seterr(errstr, errstr_size, DC_ERR_INVAL, "sessions per hour must be in (0, %g], got %g",
                  DC_SHOP_MAX_SESSIONS_PER_HOUR, params->sessions_per_hour);
        goto fail;
    }
    if (!(params->promos_per_day >= 0 && params->promos_per_day <= 24)) {
        dc_seterr(errstr, errstr_size, DC_ERR_INVAL, "promotions per day must be 0..24, got %g",
                  params->promos_per_day);
        goto fail;
    }
    /* Years 1970 to 9999, so every time prints as ISO-8601. */
    if (params->start_ms < 0 || params->start_ms > 253402300799999LL) {
        dc_seterr(errstr, errstr_size, DC_ERR_INVAL, "start time out of range");
        goto fail;
    }

    shop = calloc(1, sizeof(*shop));
    if (!shop)
        goto nomem;
    shop->params = *params;
    n = shop->n_skus = params->n_skus;
    shop->n_users = n * USERS_PER_SKU > MIN_USERS ? n * USERS_PER_SKU : MIN_USERS;
    shop->names = calloc(n, sizeof(*shop->names));
    shop->price = calloc(n, sizeof(*shop->price));
    shop->pop = calloc(n, sizeof(*shop->pop));
    shop->cdf = calloc(n, sizeof(*shop->cdf));
    shop->by_rank = calloc(n, sizeof(*shop->by_rank));
    shop->rank = calloc(n, sizeof(*shop->rank));
    shop->counts = calloc(n, sizeof(*shop->counts));
    if (!shop->names || !shop->price || !shop->pop || !shop->cdf || !shop->by_rank ||
        !shop->rank || !shop->counts)
        goto nomem;

    dc_rng_seed(&setup, params->seed, 1);
    dc_rng_seed(&shop->rng_session, params->seed, 2);
    dc_rng_seed(&shop->rng_promo, params->seed, 3);
    shop->prefix_len = (size_t)(put_u64(shop->prefix, params->seed) - shop->prefix);
    shop->prefix[shop->prefix_len++] = '-';

    for (uint32_t i = 0; i < n; i++) {
        /* Codes 10000..99999, then the same with a letter: the product
         * codes of PROTOCOL.md section 2. */
        uint32_t digits = 10000 + i % 90000, suffix = i / 90000;
        char *name = shop->names[i];
        for (int k = 4; k >= 0; k--, digits /= 10)
            name[k] = (char)('0' + digits % 10);
        name[5] = suffix ? (char)('A' + suffix - 1) : '\0';
        /* Log-normal around 20, priced at .99. */
        double p = floor(exp(3.0 + 0.9 * rng_normal(&setup)));
        shop->price[i] = p + 0.99;
        shop->by_rank[i] = i;
    }
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = rng_below(&setup, i), tmp = shop->by_rank[i - 1];
        shop->by_rank[i - 1] = shop->by_rank[j];
        shop->by_rank[j] = tmp;
    }
    for (uint32_t r = 0; r < n; r++) {
        shop->rank[shop->by_rank[r]] = r;
        sum += pow(r + 1.0, -ZIPF_S);
    }
    double acc = 0;
    for (uint32_t r = 0; r < n; r++) {
        double w = pow(r + 1.0, -ZIPF_S) / sum;
        shop->pop[shop->by_rank[r]] = w;
        acc += w;
        shop->cdf[r] = acc;
    }
    shop->cdf[n - 1] = 1.0;

    /* Promotions go to ranks 1 .. ~2% of the catalogue (at least 8), busy
     * enough for hourly buckets; the top seller is left alone, as shops
     * rarely need to push it. */
    shop->promo_rank0 = n > 1 ? 1 : 0;
    shop->promo_ranks = n / 50 > 8 ? n / 50 : 8;
    if (shop->promo_ranks > n - shop->promo_rank0)
        shop->promo_ranks = n - shop->promo_rank0;
    for (uint32_t r = 0; r < shop->promo_ranks; r++)
        promo_pop += shop->pop[shop->by_rank[shop->promo_rank0 + r]];

    sum = 0;
    for (int h = 0; h < 24; h++)
        sum += daily_curve[h];
    for (int h = 0; h < 24; h++) {
        shop->daily[h] = daily_curve[h] * 24 / sum;
        if (shop->daily[h] > max_daily)
            max_daily = shop->daily[h];
    }
    for (int d = 0; d < 7; d++)
        if (weekly_curve[d] > max_weekly)
            max_weekly = weekly_curve[d];
    shop->rate_per_ms = params->sessions_per_hour / HOUR_MS;
    /* Any set of running promotions adds at most promo_pop (sqrt(8) - 1). */
    shop->rate_bound = shop->rate_per_ms * max_daily * max_weekly *
                       (1.0 + promo_pop * (sqrt(PROMO_MAX_LIFT) - 1.0));
    shop->next_session_ms = params->start_ms;
    return shop;

nomem:
    dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
fail:
    dc_shop_destroy(shop);
    return NULL;
}

void dc_shop_destroy(dc_shop_t *shop)
{
    if (!shop)
        return;
    free(shop->names);
    free(shop->price);
    free(shop->pop);
    free(shop->cdf);
    free(shop->by_rank);
    free(shop->rank);
    free(shop->counts);
    free(shop->promos);
    free(shop->slots);
    free(shop->free_slots);
    free(shop->heap);
    free(shop);
}

/* ---- results ---- */

void dc_shop_stats(const dc_shop_t *shop, dc_shop_stats_t *stats) { *stats = shop->stats; }

uint32_t dc_shop_sku_count(const dc_shop_t *shop) { return shop->n_skus; }

const char *dc_shop_sku_name(const dc_shop_t *shop, uint32_t i) { return shop->names[i]; }

void dc_shop_sku_stats(const dc_shop_t *shop, uint32_t i, dc_shop_sku_stats_t *stats)
{
    const sku_count_t *c = &shop->counts[i];
    stats->views = c->views;
    stats->carts = c->carts;
    stats->order_lines = c->order_lines;
    stats->units = c->units;
    stats->units_cancelled = c->units_cancelled;
    stats->price = shop->price[i];
    stats->rank = shop->rank[i];
}

size_t dc_shop_promo_count(const dc_shop_t *shop)
{
    size_t n = 0;
    if (!shop->stats.events)
        return 0;
    while (n < shop->n_promos && shop->promos[n].start_ms <= shop->stats.last_ts_ms)
        n++;
    return n;
}

void dc_shop_promo(const dc_shop_t *shop, size_t i, dc_shop_promo_t *promo)
{
    const promo_t *p = &shop->promos[i];
    promo->sku = p->sku;
    promo->start_ms = p->start_ms;
    promo->end_ms = p->end_ms;
    promo->lift = p->lift;
    promo->discount = p->discount;
    memcpy(promo->code, p->code, sizeof(promo->code));
}

int dc_shop_write_truth(const dc_shop_t *shop, FILE *out)
{
    size_t n = dc_shop_promo_count(shop);
    char a[32], b[32];

    fputs("sku,start,end,lift\n", out);
    for (size_t i = 0; i < n; i++) {
        const promo_t *p = &shop->promos[i];
        fprintf(out, "%s,%s,%s,%.2f\n", shop->names[p->sku],
                dc_time_format(p->start_ms, a, sizeof(a)), dc_time_format(p->end_ms, b, sizeof(b)),
                p->lift);
    }
    return ferror(out) ? DC_ERR_IO : DC_OK;
}
