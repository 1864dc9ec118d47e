/* features/parts.c - the input partitions one instance owns, with the offset
 * the store holds for each, the next offset to read, and its watermark. An
 * instance owns a few dozen partitions at most, so a small array searched
 * linearly beats any index. */
#include "features/features.h"

#include <stdlib.h>
#include <string.h>

struct dc_parts_s {
    dc_part_t **items; /* stable pointers: callers keep them across adds */
    size_t n, cap;
};

dc_parts_t *dc_parts_new(void) { return calloc(1, sizeof(dc_parts_t)); }

void dc_parts_destroy(dc_parts_t *parts)
{
    if (!parts)
        return;
    dc_parts_clear(parts);
    free(parts->items);
    free(parts);
}

dc_part_t *dc_parts_find(dc_parts_t *parts, int topic, int32_t partition)
{
    for (size_t i = 0; i < parts->n; i++)
        if (parts->items[i]->topic == topic && parts->items[i]->partition == partition)
            return parts->items[i];
    return NULL;
}

dc_part_t *dc_parts_add(dc_parts_t *parts, const char *topic_name, int topic, int32_t partition)
{
    dc_part_t *part = dc_parts_find(parts, topic, partition);

    if (part)
        return part;
    if (parts->n == parts->cap) {
        size_t cap = parts->cap ? parts->cap * 2 : 16;
        dc_part_t **items = realloc(parts->items, cap * sizeof(*items));
        if (!items)
            return NULL;
        parts->items = items;
        parts->cap = cap;
    }
    if (!(part = calloc(1, sizeof(*part))))
        return NULL;
    snprintf(part->name, sizeof(part->name), "%s/%d", topic_name, (int)partition);
    part->topic = topic;
    part->partition = partition;
    part->stored_offset = -1;
    part->next_offset = -1;
    part->max_ts = INT64_MIN;
    parts->items[parts->n++] = part;
    return part;
}

void dc_parts_remove(dc_parts_t *parts, int topic, int32_t partition)
{
    for (size_t i = 0; i < parts->n; i++) {
        if (parts->items[i]->topic == topic && parts->items[i]->partition == partition) {
            free(parts->items[i]);
            parts->items[i] = parts->items[--parts->n];
            return;
        }
    }
}

void dc_parts_clear(dc_parts_t *parts)
{
    for (size_t i = 0; i < parts->n; i++)
        free(parts->items[i]);
    parts->n = 0;
}

int dc_parts_copy(dc_parts_t *dst, const dc_parts_t *src)
{
    dc_parts_clear(dst);
    for (size_t i = 0; i < src->n; i++) {
        const dc_part_t *from = src->items[i];
        dc_part_t *to = dc_parts_add(dst, "", from->topic, from->partition);
        if (!to)
            return DC_ERR_NOMEM;
        *to = *from;
    }
    return DC_OK;
}

size_t dc_parts_count(const dc_parts_t *parts) { return parts->n; }

dc_part_t *dc_parts_at(dc_parts_t *parts, size_t i) { return i < parts->n ? parts->items[i] : NULL; }

int dc_part_is_idle(const dc_part_t *part, int64_t idle_timeout_ms, double now_mono)
{
    return part->at_end && (now_mono - part->end_since) * 1000.0 >= (double)idle_timeout_ms;
}

