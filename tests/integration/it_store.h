/* tests/integration/it_store.h - the feature store a C integration test
 * works on: one key prefix in the test's redis-server (DC_REDIS_PORT), and
 * what Redis says it ran. */
#ifndef DC_IT_STORE_H
#define DC_IT_STORE_H

#include "features/features.h"

#include <hiredis/hiredis.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    dc_conf_t *conf;
    dc_limits_t lim;
    dc_featstore_t *fs;
} it_store_t;

/* Opens the store under prefix with the settings (name, value, ...,
 * NULL) over the defaults; test names the test in what it says before it
 * exits on failure. */
static inline void it_store_open(it_store_t *s, const char *test, const char *port,
                                 const char *prefix, const char *const *settings)
{
    char errstr[512];

    if (!(s->conf = dc_conf_new()) ||
        dc_conf_set(s->conf, "redis.port", port, errstr, sizeof(errstr)) ||
        dc_conf_set(s->conf, "redis.key.prefix", prefix, errstr, sizeof(errstr)))
        goto fail;
    for (size_t i = 0; settings && settings[i]; i += 2)
        if (dc_conf_set(s->conf, settings[i], settings[i + 1], errstr, sizeof(errstr)))
            goto fail;
    if (dc_limits_init(&s->lim, s->conf, errstr, sizeof(errstr)) ||
        !(s->fs = dc_featstore_new(s->conf, &s->lim, prefix, errstr, sizeof(errstr))))
        goto fail;
    return;
fail:
    fprintf(stderr, "%s: opening store %s: %s\n", test, prefix, s->conf ? errstr : "no memory");
    exit(1);
}

static inline void it_store_close(it_store_t *s)
{
    dc_featstore_destroy(s->fs);
    dc_conf_destroy(s->conf);
}

/* How many times Redis has run command cmd (lower case, as INFO
 * commandstats names it), by connection rc; -1 if INFO fails. */
static inline long long it_redis_calls(redisContext *rc, const char *cmd)
{
    char field[64];
    redisReply *r = redisCommand(rc, "INFO commandstats");
    const char *at;
    long long n = -1;

    snprintf(field, sizeof(field), "cmdstat_%s:calls=", cmd);
    if (r && r->type == REDIS_REPLY_STRING)
        n = (at = strstr(r->str, field)) ? strtoll(at + strlen(field), NULL, 10) : 0;
    if (r)
        freeReplyObject(r);
    return n;
}

#endif
