/* features/snapshot.h - a bucket close's snapshot: what the close hands to
 * the next stage, kept in Redis until acknowledged so that a close repeated
 * after a crash hands over the same rows. featstore.c writes and reads them;
 * the functions are here, not static there, so that the reader, which takes
 * whatever Redis holds, has its own fuzz target.
 *
 * Format (MessagePack): [start, [[sku, units, cancelled, views, carts,
 * removes, orders, revenue_e4, events, promo_events, price_n, price_sum_e4,
 * users]...], zeros] over the bucket's active SKUs: the logged totals of
 * those with events in the bucket, and zeros, a bin of the names of the
 * others, whose rows are all zeros. Most active SKUs of a bucket have no
 * events in it, and a close keeps ten thousand of them in each bucket's
 * snapshot: zeros holds them in name order, each as u8 bytes shared with the
 * name before, u8 bytes after those, then those bytes. Snapshots written
 * before the zeros existed have two elements and rows of just [sku] for the
 * SKUs without events. */
#ifndef DC_FEATURES_SNAPSHOT_H
#define DC_FEATURES_SNAPSHOT_H

#include "features/features.h"

#include <msgpack.h>

/* A snapshot being written at the end of a buffer, while its rows go to a
 * bucket. The caller owns buf, zeros and out; the writer only appends. */
typedef struct {
    msgpack_sbuffer *buf;
    dc_buf_t *zeros; /* the names of the rows of zeros, until the end */
    msgpack_packer pk;
    size_t from;     /* where the snapshot starts in buf */
    size_t count_at; /* the rows' count in buf, filled in at the end */
    uint32_t n_rows;
    const char *last_zero; /* the name zeros holds last (stays the caller's) */
    size_t last_zero_len;
    dc_bucket_t *out;
} dc_snapshot_t;

/* Starts the snapshot of bucket [start, start + width) of at most n rows at
 * the end of buf, and empties out for its rows. DC_ERR_NOMEM. */
int dc_snapshot_begin(dc_snapshot_t *sn, msgpack_sbuffer *buf, dc_buf_t *zeros, int64_t start,
                      int64_t width, size_t n, dc_bucket_t *out);
/* Adds the row of the next active SKU in name order: row's totals, or zeros
 * (row NULL). name (len bytes) must stay until dc_snapshot_end.
 * DC_ERR_MALFORMED: name is not shorter than DC_SKU_MAX; DC_ERR_NOMEM. */
int dc_snapshot_row(dc_snapshot_t *sn, const char *name, size_t len, const dc_log_row_t *row);
/* Ends the snapshot: it is buf's bytes from sn->from to buf->size.
 * DC_ERR_NOMEM. */
int dc_snapshot_end(dc_snapshot_t *sn);

/* Reads a snapshot into out (its arrays reused), width being the bucket
 * width. Succeeds only if every name is a SKU's (1 .. DC_SKU_MAX - 1 bytes,
 * no NUL), the rows and zeros together name each SKU once, in strictly
 * ascending byte order, as a close's input requires, and every number fits:
 * the start and totals int64, the users finite and not negative. Otherwise
 * DC_ERR_MALFORMED with the reason in errstr. DC_ERR_NOMEM. */
int dc_snapshot_decode(const void *data, size_t len, int64_t width, dc_bucket_t *out,
                       char *errstr, size_t errstr_size);

#endif
