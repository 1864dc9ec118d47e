/* tests/integration/it_source.h - what a C integration test's own source
 * hands the pipeline: one decoded click on the clickstream topic. */
#ifndef DC_IT_SOURCE_H
#define DC_IT_SOURCE_H

#include "pipeline/pipeline.h"

#include <stdio.h>
#include <string.h>

/* Fills click (the source's, valid until the next call) and msg with a
 * click of sku by user at ts, priced 9.99, at (partition, offset). */
static inline void it_click(dc_srcmsg_t *msg, dc_click_t *click, int32_t partition,
                            int64_t offset, const char *sku, const char *user, int64_t ts,
                            dc_click_type_t type)
{
    memset(click, 0, sizeof(*click));
    snprintf(click->sku, sizeof(click->sku), "%s", sku);
    snprintf(click->user_id, sizeof(click->user_id), "%s", user);
    click->ts_ms = ts;
    click->type = type;
    click->price = 9.99;
    *msg = (dc_srcmsg_t){.topic = DC_TOPIC_CLICKS, .topic_name = "clicks",
                         .partition = partition, .offset = offset, .click = click};
}

#endif
