/* common/names.c - sorting names (SKUs) by their bytes, fast for the many
 * short ones a bucket close or a bucket log holds. */
#include "common/common.h"

#include <string.h>

dc_name_key_t dc_name_key(const char *s, size_t len, int64_t value)
{
    dc_name_key_t k = {0, s, len, value};

    for (size_t b = 0; b < 8; b++)
        k.head = k.head << 8 | (b < len ? (uint8_t)s[b] : 0);
    return k;
}

int dc_name_cmp(const dc_name_key_t *a, const dc_name_key_t *b)
{
    if (a->head != b->head)
        return a->head < b->head ? -1 : 1;
    int c = memcmp(a->s, b->s, a->len < b->len ? a->len : b->len);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

void dc_name_sort(dc_name_key_t *a, dc_name_key_t *tmp, size_t n)
{
    if (n < 2)
        return;
    /* Least significant byte first, each pass stable, so that the heads
     * end up in order; bytes every head shares cost no pass. */
    for (int shift = 0; shift < 64; shift += 8) {
        size_t count[256] = {0}, at = 0;
        for (size_t i = 0; i < n; i++)
            count[(a[i].head >> shift) & 0xff]++;
        if (count[(a[0].head >> shift) & 0xff] == n)
            continue;
        for (int v = 0; v < 256; v++) {
            size_t c = count[v];
            count[v] = at;
            at += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[(a[i].head >> shift) & 0xff]++] = a[i];
        memcpy(a, tmp, n * sizeof(*a));
    }
    /* Names sharing a head lie side by side now: order them by the rest. */
    for (size_t i = 1; i < n; i++) {
        dc_name_key_t x = a[i];
        size_t j = i;
        for (; j > 0 && a[j - 1].head == x.head && dc_name_cmp(&a[j - 1], &x) > 0; j--)
            a[j] = a[j - 1];
        a[j] = x;
    }
}
