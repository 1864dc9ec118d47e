/* common/heap.c - the process's malloc policy (glibc). */
#include "common/common.h"

#include <malloc.h>

/* Sizes chosen for the pipeline's own churn: a flush's batch, its merged
 * records and a close's rows are tens of MiB at most and come back every
 * flush, and librdkafka allocates and frees an op per message across its
 * threads. glibc's defaults hand freed memory back to the kernel once a
 * little of it (128 KiB at first) sits free at a heap's top, and map large
 * blocks afresh each time, so every flush faulted the same pages in again:
 * a sixth of the pipeline process's CPU in bench_ingest. Each heap now
 * keeps up to DC_HEAP_KEEP free for reuse, and blocks up to
 * DC_HEAP_MAP_FROM come from the heaps. The footprint stays bounded by the
 * largest flush (flush.max.events) plus this slack per malloc arena. */
#define DC_HEAP_KEEP     (64 << 20)
#define DC_HEAP_MAP_FROM (32 << 20)

void dc_heap_keep(void)
{
    /* Both or neither: setting either disables glibc's moving thresholds. */
    mallopt(M_MMAP_THRESHOLD, DC_HEAP_MAP_FROM);
    mallopt(M_TRIM_THRESHOLD, DC_HEAP_KEEP);
}
