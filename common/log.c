/* common/log.c - levelled logging through one process-wide sink. */
#include "common/common.h"

#include <string.h>
#include <strings.h>

static dc_log_level_t log_level = DC_LOG_INFO;
static dc_log_sink_t *log_sink;
static void *log_sink_opaque;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void dc_log_set_level(dc_log_level_t level) { log_level = level; }
dc_log_level_t dc_log_get_level(void) { return log_level; }

void dc_log_set_sink(dc_log_sink_t *sink, void *opaque)
{
    log_sink = sink;
    log_sink_opaque = opaque;
}

int dc_log_level_parse(const char *name, dc_log_level_t *level)
{
    for (size_t i = 0; i < DC_ARRAY_SIZE(level_names); i++) {
        if (!strcasecmp(name, level_names[i])) {
            *level = (dc_log_level_t)i;
            return DC_OK;
        }
    }
    return DC_ERR_INVAL;
}

void dc_log(dc_log_level_t level, const char *component, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (level > log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (log_sink) {
        log_sink(level, component, msg, log_sink_opaque);
        return;
    }
    /* One fprintf per line keeps lines from concurrent threads whole. */
    fprintf(stderr, "%s %s: %s\n", level_names[level], component, msg);
}
