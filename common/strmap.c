/* common/strmap.c - string keys to dense indexes (see common.h). */
#include "common/common.h"

#include <stdlib.h>
#include <string.h>

struct dc_strmap_s {
    uint32_t *slots;   /* index + 1, 0 = empty */
    size_t n_slots;    /* power of two */
    char **keys;       /* by index */
    uint64_t *hashes;  /* by index, for rehashing without rereading keys */
    size_t count, cap;
};

dc_strmap_t *dc_strmap_new(void)
{
    dc_strmap_t *map = calloc(1, sizeof(*map));
    if (!map)
        return NULL;
    map->n_slots = 64;
    map->slots = calloc(map->n_slots, sizeof(*map->slots));
    if (!map->slots) {
        free(map);
        return NULL;
    }
    return map;
}

void dc_strmap_destroy(dc_strmap_t *map)
{
    if (!map)
        return;
    for (size_t i = 0; i < map->count; i++)
        free(map->keys[i]);
    free(map->keys);
    free(map->hashes);
    free(map->slots);
    free(map);
}

static size_t probe(const dc_strmap_t *map, const char *key, uint64_t h)
{
    size_t mask = map->n_slots - 1, i = (size_t)h & mask;
    while (map->slots[i]) {
        uint32_t idx = map->slots[i] - 1;
        if (map->hashes[idx] == h && !strcmp(map->keys[idx], key))
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

int64_t dc_strmap_find(const dc_strmap_t *map, const char *key)
{
    size_t i = probe(map, key, dc_str_hash(key));
    return map->slots[i] ? (int64_t)map->slots[i] - 1 : -1;
}

static int grow_slots(dc_strmap_t *map)
{
    size_t n = map->n_slots * 2, mask = n - 1;
    uint32_t *slots = calloc(n, sizeof(*slots));
    if (!slots)
        return DC_ERR_NOMEM;
    for (size_t idx = 0; idx < map->count; idx++) {
        size_t i = (size_t)map->hashes[idx] & mask;
        while (slots[i])
            i = (i + 1) & mask;
        slots[i] = (uint32_t)idx + 1;
    }
    free(map->slots);
    map->slots = slots;
    map->n_slots = n;
    return DC_OK;
}

int64_t dc_strmap_put(dc_strmap_t *map, const char *key, int *inserted)
{
    uint64_t h = dc_str_hash(key);
    size_t i = probe(map, key, h);

    if (inserted)
        *inserted = 0;
    if (map->slots[i])
        return (int64_t)map->slots[i] - 1;
    if (map->count >= UINT32_MAX - 1)
        return -1;
    /* Grow before inserting, so a failed growth leaves the map as it was
     * and the load never passes one half. */
    if ((map->count + 1) * 2 > map->n_slots) {
        if (grow_slots(map))
            return -1;
        i = probe(map, key, h);
    }
    if (map->count == map->cap) {
        size_t cap = map->cap ? map->cap * 2 : 64;
        char **keys = realloc(map->keys, cap * sizeof(*keys));
        if (!keys)
            return -1;
        map->keys = keys;
        uint64_t *hashes = realloc(map->hashes, cap * sizeof(*hashes));
        if (!hashes)
            return -1;
        map->hashes = hashes;
        map->cap = cap;
    }
    char *copy = strdup(key);
    if (!copy)
        return -1;
    map->keys[map->count] = copy;
    map->hashes[map->count] = h;
    map->slots[i] = (uint32_t)map->count + 1;
    map->count++;
    if (inserted)
        *inserted = 1;
    return (int64_t)map->count - 1;
}

size_t dc_strmap_count(const dc_strmap_t *map) { return map->count; }

const char *dc_strmap_key(const dc_strmap_t *map, size_t index)
{
    return index < map->count ? map->keys[index] : NULL;
}
