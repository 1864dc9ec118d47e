/* common/rng.c - the seeded generator (see common.h). */
#include "common/common.h"

void dc_rng_seed(dc_rng_t *rng, uint64_t seed, uint64_t stream)
{
    /* splitmix64 spreads any seed, 0 included, over the xoshiro state. */
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    for (int i = 0; i < 4; i++) {
        uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        rng->s[i] = z ^ (z >> 31);
    }
}

uint64_t dc_rng_below(dc_rng_t *rng, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do
        v = dc_rng_next(rng);
    while (v >= limit);
    return v % n;
}
