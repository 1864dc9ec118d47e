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
 * largest flush (flush.max.events) plus this slack per malloc arena.
 *
 * The threshold decides when a heap gives memory back, the top pad how much
 * it keeps: all but the pad (128 KiB by default). The other threads'
 * arenas are chains of 64 MiB heaps, and glibc unmaps a heap at a chain's
 * end once it falls free unless the pad is as large as a heap. So the pad
 * is a heap's size: the flush thread and librdkafka's broker threads
 * keep what their peaks touched (in bench_ingest they faulted 40 % and
 * 20 % fewer pages, and the process spent 6 % less CPU an event). The pad
 * reserves address space only: pages count once touched. */
#define DC_HEAP_KEEP     (64 << 20)
#define DC_HEAP_MAP_FROM (32 << 20)
#define DC_HEAP_PAD      (64 << 20)

void dc_heap_keep(void)
{
    /* Both or neither: setting either disables glibc's moving thresholds. */
    mallopt(M_MMAP_THRESHOLD, DC_HEAP_MAP_FROM);
    mallopt(M_TRIM_THRESHOLD, DC_HEAP_KEEP);
    mallopt(M_TOP_PAD, DC_HEAP_PAD);
}
