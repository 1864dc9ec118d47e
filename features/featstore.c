/* features/featstore.c - the Redis feature store: connection, the flush and
 * the bucket close (each one optimistic MULTI/EXEC transaction, see
 * features.h; values are merged here, features/values.c, so Redis only
 * moves bytes), and reading features back through the function library
 * features.lua, which other services call too. The flush's meta step
 * (flush.lua) gets its arguments as one MessagePack string, which Redis'
 * embedded cmsgpack decodes far faster than Lua could parse text. */
#include "features/features.h"
#include "features/snapshot.h"

#include <hiredis/hiredis.h>
#include <msgpack.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DC_KEY_PREFIX_MAX 128
#define DC_STORE_CHUNK 2000 /* keys per MGET or MSET: big commands, bounded buffers */

/* The format of the store's values (features/values.lua), which the clock
 * keeps: 2 since records keep their SKU's newest event time, 3 since the
 * SKUs a close lists are one string, not a sorted set. */
#define STORE_FORMAT 3

extern const char dc__lua_flush[];
extern const char dc__lua_upgrade[];
extern const char dc__lua_features[];

struct dc_featstore_s {
    redisContext *rc;
    double redis_wait_s; /* blocked on the connection, for dc_featstore_redis_wait_s() */
    char *host, *user, *password, *prefix, *instance;
    int port, db;
    int reader; /* dc_featstore_new_reader: writes nothing to a current store */
    int64_t timeout_ms, lease_ms;
    dc_limits_t lim;
    msgpack_sbuffer sbuf; /* the meta step's argument */
    /* A flush's work space, kept across flushes (see entry_t): */
    dc_buf_t ent_buf;     /* the entries, */
    struct entry_s *ents; /* seen as an array */
    size_t n_ents;
    dc_buf_t keys, values;        /* the entries' keys, merged records */
    /* The records the last flush wrote (its entries, keys and values,
     * swapped in after it, and an index by key) and the store's version
     * after it. While no other writer has come between (the version says),
     * a flush takes a SKU's record from here instead of reading it: in a
     * busy stream consecutive flushes touch mostly the same SKUs. */
    dc_buf_t cache_ent_buf, cache_keys, cache_values;
    uint32_t *cache_index; /* positions of cache entries, UINT32_MAX: empty */
    size_t n_cache, cache_index_cap;
    int64_t cache_version; /* -1: nothing cached */
    int cache_trusted;     /* the last flush found the store at cache_version */
    int64_t read_version;    /* the version the flush in progress found */
    int64_t flushed_version; /* the version it left */
    dc_value_scratch_t scratch;   /* the merge's and a close's record parsing */
    dc_value_logs_t logs;         /* a flush's entries of the open buckets' logs */
    dc_buf_t log_lens;            /* what this instance knows of them (log_len_t) */
    dc_buf_t log_in, log_out;     /* a compaction's log, and the compacted log */
    dc_buf_t names, sort_tmp;     /* a close's SKU lists, as sorted dc_name_key_t arrays */
    dc_buf_t listed;              /* the list of listed SKUs a close writes */
    dc_buf_t zeros;               /* the names of a snapshot's rows of zeros */
    dc_buf_t gone;                /* the SKUs that leave the store at a close, by index */
    dc_buf_t key_text;            /* their records' keys, side by side */
    const char **argv;            /* one command's arguments */
    size_t *argl, cap_argv;
    int send_failed;              /* an append ran out of memory */
    char errstr[512];
};

/* What this instance knows of an open bucket's log: its length as the
 * last flush's APPEND (which counts every instance's entries) or
 * compaction left it, and the length from which a flush compacts it. */
typedef struct {
    int64_t start;
    size_t len, compact_at;
    int reading; /* the flush in progress reads it to compact it */
} log_len_t;

static int fs_err(dc_featstore_t *fs, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fs_err(dc_featstore_t *fs, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fs->errstr, sizeof(fs->errstr), fmt, ap);
    va_end(ap);
    return err;
}

const char *dc_featstore_errstr(const dc_featstore_t *fs) { return fs->errstr; }

double dc_featstore_redis_wait_s(const dc_featstore_t *fs) { return fs->redis_wait_s; }

static void disconnect(dc_featstore_t *fs)
{
    if (fs->rc)
        redisFree(fs->rc);
    fs->rc = NULL;
}

/* The connection failed (hiredis says why): the error is kept and the
 * connection dropped; returns DC_ERR_REDIS. */
static int connection_failed(dc_featstore_t *fs)
{
    int err = fs_err(fs, DC_ERR_REDIS, "redis %s:%d: %s", fs->host, fs->port,
                     fs->rc->errstr[0] ? fs->rc->errstr : "connection lost");
    disconnect(fs);
    return err;
}

/* Runs a command given as argv; returns the reply (caller frees) or NULL with
 * errstr set. A broken connection is dropped so the next call reconnects. */
static redisReply *command(dc_featstore_t *fs, int argc, const char **argv, const size_t *lens)
{
    redisReply *r;

    if (!fs->rc && dc_featstore_connect(fs))
        return NULL;
    double t0 = dc_monotonic_s();
    r = redisCommandArgv(fs->rc, argc, argv, lens);
    fs->redis_wait_s += dc_monotonic_s() - t0;
    if (!r) {
        connection_failed(fs);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        fs_err(fs, DC_ERR_REDIS, "redis: %s", r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* Loads (or replaces) the function library features.lua. Redis keeps
 * functions with its data, so other readers find it after a restart too. */
static int load_functions(dc_featstore_t *fs)
{
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", dc__lua_features};
    size_t lens[] = {8, 4, 7, strlen(dc__lua_features)};
    redisReply *r = redisCommandArgv(fs->rc, 4, argv, lens);
    int err = DC_OK;

    if (!r || r->type == REDIS_REPLY_ERROR)
        err = fs_err(fs, DC_ERR_REDIS, "redis: FUNCTION LOAD: %s",
                     r ? r->str : fs->rc->errstr);
    if (r)
        freeReplyObject(r);
    return err;
}

/* Brings a store of an older format to STORE_FORMAT (upgrade.lua); one
 * of the format already, or new, is left as it is. */
static int upgrade_store(dc_featstore_t *fs)
{
    char format[8];
    snprintf(format, sizeof(format), "%d", STORE_FORMAT);
    const char *argv[] = {"EVAL", dc__lua_upgrade, "0", fs->prefix, format};
    size_t lens[5];
    redisReply *r;

    for (int i = 0; i < 5; i++)
        lens[i] = strlen(argv[i]);
    if (!(r = command(fs, 5, argv, lens))) {
        char why[sizeof(fs->errstr)];
        snprintf(why, sizeof(why), "%s", fs->errstr);
        return fs_err(fs, DC_ERR_REDIS, "upgrading the feature store under redis.key.prefix "
                      "%s to format %d: %s", fs->prefix, STORE_FORMAT, why);
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_INTEGER && r->element[1]->type == REDIS_REPLY_INTEGER)
        dc_log(DC_LOG_INFO, "features", "the feature store under redis.key.prefix %s is now "
               "of format %d (%lld records rewritten, %lld SKUs listed)", fs->prefix,
               STORE_FORMAT, (long long)r->element[0]->integer,
               (long long)r->element[1]->integer);
    freeReplyObject(r);
    return DC_OK;
}

static int64_t reply_i64(const redisReply *r, int64_t def);
static int check_format(dc_featstore_t *fs, int64_t closed, int64_t format);

/* A reader's check of the store's format: it writes nothing to a store of
 * the current format, so that a read-only replica serves it. A store of an
 * older format is upgraded where Redis takes writes, as any writer's
 * connection would upgrade it. */
static int check_reader_format(dc_featstore_t *fs)
{
    char key[DC_KEY_PREFIX_MAX + 64];
    snprintf(key, sizeof(key), "%s:{meta}:clock", fs->prefix);
    const char *argv[] = {"HMGET", key, "closed", "format"};
    size_t lens[] = {5, strlen(key), 6, 6};
    redisReply *r = command(fs, 4, argv, lens);
    int64_t closed, format;

    if (!r)
        return DC_ERR_REDIS;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        freeReplyObject(r);
        return fs_err(fs, DC_ERR_REDIS, "redis: reading the clock: unexpected reply");
    }
    closed = reply_i64(r->element[0], INT64_MIN);
    format = reply_i64(r->element[1], 0);
    freeReplyObject(r);
    if (closed == INT64_MIN || (format ? format : 1) >= STORE_FORMAT)
        return check_format(fs, closed, format);
    if (!upgrade_store(fs))
        return DC_OK;
    if (strstr(fs->errstr, "READONLY"))
        return fs_err(fs, DC_ERR_CONFIG,
                      "the feature store under redis.key.prefix %s holds values of format "
                      "%lld, which demandcast upgrades to format %d when it connects to the "
                      "primary; this read-only replica cannot take the upgrade", fs->prefix,
                      (long long)(format ? format : 1), STORE_FORMAT);
    return DC_ERR_REDIS;
}

int dc_featstore_connect(dc_featstore_t *fs)
{
    struct timeval tv = {(time_t)(fs->timeout_ms / 1000), (suseconds_t)(fs->timeout_ms % 1000) * 1000};
    redisReply *r = NULL;
    int err;

    disconnect(fs);
    fs->cache_version = -1; /* a Redis restarted without its data restarts the version */
    fs->rc = redisConnectWithTimeout(fs->host, fs->port, tv);
    if (!fs->rc || fs->rc->err) {
        err = fs_err(fs, DC_ERR_REDIS, "redis %s:%d: %s", fs->host, fs->port,
                     fs->rc ? fs->rc->errstr : "cannot allocate a context");
        goto fail;
    }
    redisSetTimeout(fs->rc, tv);
    if (fs->password) {
        if (fs->user)
            r = redisCommand(fs->rc, "AUTH %s %s", fs->user, fs->password);
        else
            r = redisCommand(fs->rc, "AUTH %s", fs->password);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            err = fs_err(fs, DC_ERR_REDIS, "redis AUTH: %s", r ? r->str : fs->rc->errstr);
            goto fail;
        }
        freeReplyObject(r);
        r = NULL;
    }
    if (fs->db) {
        r = redisCommand(fs->rc, "SELECT %d", fs->db);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            err = fs_err(fs, DC_ERR_REDIS, "redis SELECT %d: %s", fs->db,
                         r ? r->str : fs->rc->errstr);
            goto fail;
        }
        freeReplyObject(r);
        r = NULL;
    }
    if (fs->reader ? (err = check_reader_format(fs))
                   : ((err = load_functions(fs)) || (err = upgrade_store(fs))))
        goto fail;
    return DC_OK;
fail:
    if (r)
        freeReplyObject(r);
    disconnect(fs);
    return err;
}

/* An unset or empty user or password means no AUTH. */
static int has_text(const char *s) { return s && *s; }
static char *dup_or_null(const char *s) { return has_text(s) ? strdup(s) : NULL; }

static dc_featstore_t *store_new(const dc_conf_t *conf, const dc_limits_t *lim,
                                 const char *instance, int reader, char *errstr,
                                 size_t errstr_size)
{
    dc_featstore_t *fs;

    if (strlen(dc_conf_str(conf, "redis.key.prefix")) > DC_KEY_PREFIX_MAX) {
        dc_seterr(errstr, errstr_size, DC_ERR_CONFIG, "redis.key.prefix: longer than %d bytes",
                  DC_KEY_PREFIX_MAX);
        return NULL;
    }
    if (!(fs = calloc(1, sizeof(*fs))))
        goto nomem;
    fs->host = strdup(dc_conf_str(conf, "redis.host"));
    fs->user = dup_or_null(dc_conf_str(conf, "redis.user"));
    fs->password = dup_or_null(dc_conf_str(conf, "redis.password"));
    fs->prefix = strdup(dc_conf_str(conf, "redis.key.prefix"));
    fs->instance = strdup(instance);
    if (!fs->host || !fs->prefix || !fs->instance ||
        (has_text(dc_conf_str(conf, "redis.user")) && !fs->user) ||
        (has_text(dc_conf_str(conf, "redis.password")) && !fs->password))
        goto nomem;
    fs->port = (int)dc_conf_int(conf, "redis.port");
    fs->db = (int)dc_conf_int(conf, "redis.db");
    fs->timeout_ms = dc_conf_duration_ms(conf, "redis.timeout");
    fs->lease_ms = dc_conf_duration_ms(conf, "close.lease");
    fs->lim = *lim;
    fs->reader = reader;
    fs->cache_trusted = 1; /* dc_featstore_connect empties the cache */
    msgpack_sbuffer_init(&fs->sbuf);
    if (dc_featstore_connect(fs)) {
        dc_seterr(errstr, errstr_size, DC_ERR_REDIS, "%s", fs->errstr);
        dc_featstore_destroy(fs);
        return NULL;
    }
    return fs;
nomem:
    dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
    dc_featstore_destroy(fs);
    return NULL;
}

dc_featstore_t *dc_featstore_new(const dc_conf_t *conf, const dc_limits_t *lim,
                                 const char *instance, char *errstr, size_t errstr_size)
{
    return store_new(conf, lim, instance, 0, errstr, errstr_size);
}

dc_featstore_t *dc_featstore_new_reader(const dc_conf_t *conf, const dc_limits_t *lim,
                                        char *errstr, size_t errstr_size)
{
    return store_new(conf, lim, "reader", 1, errstr, errstr_size);
}

void dc_featstore_destroy(dc_featstore_t *fs)
{
    if (!fs)
        return;
    disconnect(fs);
    msgpack_sbuffer_destroy(&fs->sbuf);
    dc_buf_free(&fs->ent_buf);
    dc_buf_free(&fs->keys);
    dc_value_scratch_free(&fs->scratch);
    dc_buf_free(&fs->values);
    dc_buf_free(&fs->cache_ent_buf);
    dc_buf_free(&fs->cache_keys);
    dc_buf_free(&fs->cache_values);
    free(fs->cache_index);
    dc_value_logs_free(&fs->logs);
    dc_buf_free(&fs->log_lens);
    dc_buf_free(&fs->log_in);
    dc_buf_free(&fs->log_out);
    dc_buf_free(&fs->names);
    dc_buf_free(&fs->sort_tmp);
    dc_buf_free(&fs->listed);
    dc_buf_free(&fs->zeros);
    dc_buf_free(&fs->gone);
    dc_buf_free(&fs->key_text);
    free(fs->argv);
    free(fs->argl);
    free(fs->host);
    free(fs->user);
    free(fs->password);
    free(fs->prefix);
    free(fs->instance);
    free(fs);
}

/* Parses a decimal reply element; def when nil. */
static int64_t reply_i64(const redisReply *r, int64_t def)
{
    if (!r || r->type == REDIS_REPLY_NIL)
        return def;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return def;
}

/* HMGET key over every partition name; calls set(part, element). */
static int hmget_parts(dc_featstore_t *fs, const char *key, dc_parts_t *parts,
                       void (*set)(dc_part_t *, const redisReply *))
{
    size_t n = dc_parts_count(parts);
    const char **argv = calloc(n + 2, sizeof(*argv));
    size_t *lens = calloc(n + 2, sizeof(*lens));
    redisReply *r = NULL;
    int err = DC_OK;

    if (!argv || !lens) {
        err = DC_ERR_NOMEM;
        goto out;
    }
    argv[0] = "HMGET";
    argv[1] = key;
    for (size_t i = 0; i < n; i++)
        argv[i + 2] = dc_parts_at(parts, i)->name;
    for (size_t i = 0; i < n + 2; i++)
        lens[i] = strlen(argv[i]);
    if (!(r = command(fs, (int)n + 2, argv, lens))) {
        err = DC_ERR_REDIS;
        goto out;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
        err = fs_err(fs, DC_ERR_REDIS, "redis: HMGET %s: unexpected reply", key);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        set(dc_parts_at(parts, i), r->element[i]);
out:
    if (r)
        freeReplyObject(r);
    free(argv);
    free(lens);
    return err;
}

static void set_offset(dc_part_t *p, const redisReply *e) { p->stored_offset = reply_i64(e, -1); }
static void set_wm(dc_part_t *p, const redisReply *e) { p->max_ts = reply_i64(e, INT64_MIN); }

int dc_featstore_load_parts(dc_featstore_t *fs, dc_parts_t *parts)
{
    char key[2][300];
    int err;

    if (!dc_parts_count(parts))
        return DC_OK;
    snprintf(key[0], sizeof(key[0]), "%s:{meta}:offsets", fs->prefix);
    snprintf(key[1], sizeof(key[1]), "%s:{meta}:wm", fs->prefix);
    if ((err = hmget_parts(fs, key[0], parts, set_offset)))
        return err;
    return hmget_parts(fs, key[1], parts, set_wm);
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    size_t len = strlen(s);

    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

/* One record a flush or a close reads, and a flush writes: its key and the
 * merged record, by offsets into the store's buffers (they grow). */
typedef struct entry_s {
    size_t key_off, key_len;
    size_t sku;                  /* index in the batch, or in a close's list */
    size_t value_off, value_len; /* the merged record */
    int logged;                  /* the flush put an entry in an open bucket's log */
    long cached;                 /* its record's cache entry, -1: read it */
} entry_t;

static entry_t *new_entry(dc_featstore_t *fs)
{
    if (dc_buf_reserve(&fs->ent_buf, sizeof(entry_t)))
        return NULL;
    fs->ents = (entry_t *)(void *)fs->ent_buf.data;
    fs->ent_buf.len += sizeof(entry_t);
    entry_t *e = &fs->ents[fs->n_ents++];
    memset(e, 0, sizeof(*e));
    e->key_off = fs->keys.len;
    return e;
}

/* Restarts the entry list for a new set of keys. */
static void clear_entries(dc_featstore_t *fs)
{
    fs->n_ents = 0;
    fs->ent_buf.len = fs->keys.len = 0;
}

/* Adds an entry for the record of SKU sku (index i in the batch or list)
 * under its key, prefix:{SKU}:f (KEYS.md); NULL when out of memory. The key
 * is copied together, not printed: a flush adds one per SKU it touches. */
static entry_t *add_record(dc_featstore_t *fs, size_t i, const char *sku)
{
    size_t prefix_len = strlen(fs->prefix), sku_len = strlen(sku);
    entry_t *e = new_entry(fs);
    char *k;

    if (!e || dc_buf_reserve(&fs->keys, prefix_len + sku_len + 6))
        return NULL;
    k = (char *)fs->keys.data + fs->keys.len;
    memcpy(k, fs->prefix, prefix_len);
    memcpy(k + prefix_len, ":{", 2);
    memcpy(k + prefix_len + 2, sku, sku_len);
    memcpy(k + prefix_len + 2 + sku_len, "}:f", 4); /* with its terminator */
    e->key_len = prefix_len + sku_len + 5;
    fs->keys.len += e->key_len;
    e->sku = i;
    return e;
}

/* Lists the records batch touches: one per SKU. */
static int collect_entries(dc_featstore_t *fs, const dc_featbatch_t *batch)
{
    size_t n_skus = batch ? dc_featbatch_skus(batch) : 0;

    clear_entries(fs);
    for (size_t i = 0; i < n_skus; i++)
        if (!add_record(fs, i, dc_featbatch_sku(batch, i)->sku))
            return DC_ERR_NOMEM;
    return DC_OK;
}

static const entry_t *cache_ents(const dc_featstore_t *fs)
{
    return (const entry_t *)(const void *)fs->cache_ent_buf.data;
}

/* The cache entry of the record at key (len bytes), -1: none. */
static long cache_find(const dc_featstore_t *fs, const uint8_t *key, size_t len)
{
    size_t mask = fs->cache_index_cap - 1;

    if (!fs->cache_index_cap)
        return -1;
    for (size_t pos = dc_mem_hash(key, len) & mask; fs->cache_index[pos] != UINT32_MAX;
         pos = (pos + 1) & mask) {
        const entry_t *c = &cache_ents(fs)[fs->cache_index[pos]];
        if (c->key_len == len && !memcmp(fs->cache_keys.data + c->key_off, key, len))
            return (long)fs->cache_index[pos];
    }
    return -1;
}

/* After a flush that left the store at version: its records become the
 * cache (its buffers and the cache's trade places), unless it wrote none,
 * which leaves the cached ones as they are if it found the store at their
 * version. Out of memory for the index, nothing is cached. */
static void cache_keep(dc_featstore_t *fs, int64_t version)
{
    if (!fs->n_ents && fs->read_version != fs->cache_version) {
        fs->cache_version = -1;
        return;
    }
    if (fs->n_ents) {
        dc_buf_t t;
        t = fs->keys, fs->keys = fs->cache_keys, fs->cache_keys = t;
        t = fs->values, fs->values = fs->cache_values, fs->cache_values = t;
        t = fs->ent_buf, fs->ent_buf = fs->cache_ent_buf, fs->cache_ent_buf = t;
        fs->n_cache = fs->n_ents;
        clear_entries(fs);
        fs->ents = (entry_t *)(void *)fs->ent_buf.data;
        size_t cap = 1024;
        while (cap < 2 * fs->n_cache)
            cap *= 2;
        if (cap != fs->cache_index_cap) {
            uint32_t *index = realloc(fs->cache_index, cap * sizeof(*index));
            if (!index) {
                fs->cache_version = -1;
                return;
            }
            fs->cache_index = index;
            fs->cache_index_cap = cap;
        }
        memset(fs->cache_index, 0xff, cap * sizeof(*fs->cache_index));
        for (size_t i = 0; i < fs->n_cache; i++) {
            const entry_t *c = &cache_ents(fs)[i];
            size_t pos = dc_mem_hash(fs->cache_keys.data + c->key_off, c->key_len) & (cap - 1);
            while (fs->cache_index[pos] != UINT32_MAX)
                pos = (pos + 1) & (cap - 1);
            fs->cache_index[pos] = (uint32_t)i;
        }
    }
    fs->cache_version = version;
}

/* Room for one command of up to n arguments in fs->argv / fs->argl. */
static int reserve_argv(dc_featstore_t *fs, size_t n)
{
    if (n <= fs->cap_argv)
        return DC_OK;
    const char **argv = realloc(fs->argv, n * sizeof(*argv));
    if (argv)
        fs->argv = argv;
    size_t *argl = realloc(fs->argl, n * sizeof(*argl));
    if (argl)
        fs->argl = argl;
    if (!argv || !argl)
        return DC_ERR_NOMEM;
    fs->cap_argv = n;
    return DC_OK;
}

static void arg(dc_featstore_t *fs, size_t *argc, const void *s, size_t len)
{
    fs->argv[*argc] = s;
    fs->argl[*argc] = len;
    (*argc)++;
}

static void arg_str(dc_featstore_t *fs, size_t *argc, const char *s)
{
    arg(fs, argc, s, strlen(s));
}

/* Appends the command in fs->argv to the connection's output. A failure
 * (out of memory) is remembered: the caller drops the connection, whose
 * output no longer matches the replies it expects. */
static void send_argv(dc_featstore_t *fs, size_t argc)
{
    if (redisAppendCommandArgv(fs->rc, (int)argc, fs->argv, fs->argl) != REDIS_OK)
        fs->send_failed = 1;
}

/* The meta step's argument (flush.lua). */
static void pack_meta(dc_featstore_t *fs, dc_parts_t *parts, int64_t ack_until,
                      double now_mono, int64_t oldest_bucket)
{
    msgpack_packer pk;
    const dc_limits_t *lim = &fs->lim;

    msgpack_sbuffer_clear(&fs->sbuf);
    msgpack_packer_init(&pk, &fs->sbuf, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 10);
    pack_cstr(&pk, fs->prefix);
    pack_cstr(&pk, fs->instance);
    msgpack_pack_int64(&pk, fs->lease_ms);
    msgpack_pack_int64(&pk, lim->bucket_ms);
    msgpack_pack_int64(&pk, lim->lateness_ms);
    if (ack_until == INT64_MIN)
        msgpack_pack_nil(&pk);
    else
        msgpack_pack_int64(&pk, ack_until);
    msgpack_pack_array(&pk, lim->n_windows);
    for (size_t w = 0; w < lim->n_windows; w++) {
        msgpack_pack_array(&pk, 2);
        pack_cstr(&pk, lim->window_name[w]);
        msgpack_pack_int64(&pk, lim->window_ms[w] / DC_WINDOW_SLOTS);
    }
    /* A partition with nothing read and nothing stored (next_offset -1) has
     * no offset to write, but it still holds buckets open until it is idle. */
    msgpack_pack_array(&pk, dc_parts_count(parts));
    for (size_t i = 0; i < dc_parts_count(parts); i++) {
        const dc_part_t *p = dc_parts_at(parts, i);
        msgpack_pack_array(&pk, 4);
        pack_cstr(&pk, p->name);
        msgpack_pack_int64(&pk, p->next_offset);
        if (p->max_ts == INT64_MIN)
            msgpack_pack_nil(&pk);
        else
            msgpack_pack_int64(&pk, p->max_ts);
        pack_cstr(&pk, dc_part_is_idle(p, lim->idle_timeout_ms, now_mono) ? "1" : "0");
    }
    if (oldest_bucket == INT64_MAX)
        msgpack_pack_nil(&pk);
    else
        msgpack_pack_int64(&pk, oldest_bucket);
    msgpack_pack_int64(&pk, STORE_FORMAT);
}

/* The key of the log of the open bucket at start. */
static void open_log_key(const dc_featstore_t *fs, char *key, size_t size, int64_t start)
{
    snprintf(key, size, "%s:{meta}:open:%lld", fs->prefix, (long long)start);
}

static log_len_t *log_lens(const dc_featstore_t *fs, size_t *n)
{
    *n = fs->log_lens.len / sizeof(log_len_t);
    return (log_len_t *)(void *)fs->log_lens.data;
}

/* Queues MGET over the keys of the entries whose records are not taken
 * from the cache, DC_STORE_CHUNK keys a command; returns how many
 * commands. */
static size_t send_mgets(dc_featstore_t *fs)
{
    size_t n = 0, i = 0;

    while (i < fs->n_ents) {
        size_t argc = 0;
        arg_str(fs, &argc, "MGET");
        for (; i < fs->n_ents && argc <= DC_STORE_CHUNK; i++)
            if (fs->ents[i].cached < 0)
                arg(fs, &argc, fs->keys.data + fs->ents[i].key_off, fs->ents[i].key_len);
        if (argc > 1)
            send_argv(fs, argc), n++;
    }
    return n;
}

/* Sends what a flush reads, under WATCH of the version key: the version,
 * the clock, the partition offsets, every value the batch touches but
 * those the cache holds (if the last flush found the store as it had left
 * it) and the open logs due to be compacted. */
static int send_reads(dc_featstore_t *fs, dc_parts_t *parts, int64_t *ncmd)
{
    char key[DC_KEY_PREFIX_MAX + 64];
    size_t argc = 0, n_parts = dc_parts_count(parts);

    /* Room for the longest command of the flush: MGET, MSET or ZADD of a
     * chunk, or HMGET of the offsets. */
    if (reserve_argv(fs, 3 + 2 * (n_parts > DC_STORE_CHUNK ? n_parts : DC_STORE_CHUNK)))
        return DC_ERR_NOMEM;
    snprintf(key, sizeof(key), "%s:{meta}:version", fs->prefix);
    arg_str(fs, &argc, "WATCH");
    arg_str(fs, &argc, key);
    send_argv(fs, argc);
    argc = 0;
    arg_str(fs, &argc, "GET");
    arg_str(fs, &argc, key);
    send_argv(fs, argc);
    argc = 0;
    snprintf(key, sizeof(key), "%s:{meta}:clock", fs->prefix);
    arg_str(fs, &argc, "HMGET");
    arg_str(fs, &argc, key);
    arg_str(fs, &argc, "closed");
    arg_str(fs, &argc, "acked");
    arg_str(fs, &argc, "origin");
    arg_str(fs, &argc, "windows");
    arg_str(fs, &argc, "bucket");
    arg_str(fs, &argc, "format");
    send_argv(fs, argc);
    *ncmd += 3;
    if (n_parts) {
        argc = 0;
        snprintf(key, sizeof(key), "%s:{meta}:offsets", fs->prefix);
        arg_str(fs, &argc, "HMGET");
        arg_str(fs, &argc, key);
        for (size_t i = 0; i < n_parts; i++)
            arg_str(fs, &argc, dc_parts_at(parts, i)->name);
        send_argv(fs, argc);
        ++*ncmd;
    }
    int use_cache = fs->cache_version >= 0 && fs->cache_trusted;
    for (size_t i = 0; i < fs->n_ents; i++)
        fs->ents[i].cached =
            use_cache ? cache_find(fs, fs->keys.data + fs->ents[i].key_off, fs->ents[i].key_len)
                      : -1;
    *ncmd += (int64_t)send_mgets(fs);
    size_t n_logs;
    log_len_t *ll = log_lens(fs, &n_logs);
    for (size_t i = 0; i < n_logs; i++) {
        if (!(ll[i].reading = ll[i].len >= ll[i].compact_at))
            continue;
        argc = 0;
        open_log_key(fs, key, sizeof(key), ll[i].start);
        arg_str(fs, &argc, "GET");
        arg_str(fs, &argc, key);
        send_argv(fs, argc);
        ++*ncmd;
    }
    return DC_OK;
}

/* The next reply, or NULL with the connection dropped. */
static redisReply *next_reply(dc_featstore_t *fs)
{
    redisReply *r = NULL;
    double t0 = dc_monotonic_s();
    int rc = redisGetReply(fs->rc, (void **)&r);

    fs->redis_wait_s += dc_monotonic_s() - t0;
    if (rc != REDIS_OK || !r) {
        connection_failed(fs);
        return NULL;
    }
    return r;
}

/* Writes the connection's output to Redis now, so that Redis parses what
 * is queued while this process works on; DC_ERR_REDIS with the connection
 * dropped if it cannot. */
static int push_output(dc_featstore_t *fs)
{
    int done = 0, err = DC_OK;
    double t0 = dc_monotonic_s();

    if (fs->send_failed)
        return DC_ERR_NOMEM; /* check_sent() drops the connection */
    while (!done && !err)
        if (redisBufferWrite(fs->rc, &done) != REDIS_OK)
            err = connection_failed(fs);
    /* A write blocks while the socket is full: Redis reads slower. */
    fs->redis_wait_s += dc_monotonic_s() - t0;
    return err;
}

/* Queues MSET of the merged records of entries [from, to). */
static void send_mset(dc_featstore_t *fs, size_t from, size_t to)
{
    size_t argc = 0;

    arg_str(fs, &argc, "MSET");
    for (size_t i = from; i < to; i++) {
        const entry_t *e = &fs->ents[i];
        arg(fs, &argc, fs->keys.data + e->key_off, e->key_len);
        arg(fs, &argc, fs->values.data + e->value_off, e->value_len);
    }
    send_argv(fs, argc);
}

/* Compacts the log ll of a bucket, stored as r (GET's reply), with this
 * flush's entries of it into the flush's whole log of the bucket. A log
 * gone (its bucket closed) or of a closed bucket (before late_before: it
 * stays as it is for its close) is left alone. */
static int compact_log(dc_featstore_t *fs, log_len_t *ll, const redisReply *r,
                       int64_t late_before)
{
    dc_value_log_t *log;
    int err;

    if (r->type == REDIS_REPLY_NIL || ll->start < late_before) {
        ll->len = 0; /* forgotten after the flush */
        return DC_OK;
    }
    if (r->type != REDIS_REPLY_STRING)
        return fs_err(fs, DC_ERR_REDIS, "redis: GET of bucket %lld's log: unexpected reply",
                      (long long)ll->start);
    if (!(log = dc_value_logs_get(&fs->logs, ll->start)))
        return fs_err(fs, DC_ERR_NOMEM, "out of memory compacting a log");
    fs->log_in.len = 0;
    fs->log_out.len = 0;
    if (dc_buf_append(&fs->log_in, r->str, r->len) ||
        dc_buf_append(&fs->log_in, log->log.data, log->log.len))
        return fs_err(fs, DC_ERR_NOMEM, "out of memory compacting a log");
    err = dc_value_compact_log(fs->log_in.data, fs->log_in.len, &fs->scratch, &fs->log_out);
    if (err == DC_ERR_MALFORMED)
        return fs_err(fs, err, "bucket %lld's log in redis is not a bucket log",
                      (long long)ll->start);
    if (err)
        return fs_err(fs, err, "out of memory compacting a log");
    dc_buf_t swap = log->log;
    log->log = fs->log_out;
    fs->log_out = swap;
    log->whole = 1;
    return DC_OK;
}

/* Whether the windows spec (flush.lua's "name=slot_ms,...", len bytes)
 * has the slot lengths of this configuration's windows, in order; their
 * names may differ (a reader takes them from the clock). */
static int same_slots(const dc_featstore_t *fs, const char *spec, size_t len)
{
    const char *p = spec, *end = spec + len;
    size_t w = 0;

    for (; p < end; w++) {
        const char *comma = memchr(p, ',', (size_t)(end - p)), *stop = comma ? comma : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        char ms[24];
        if (!eq || w == fs->lim.n_windows || (size_t)(stop - eq) > sizeof(ms))
            return 0;
        memcpy(ms, eq + 1, (size_t)(stop - eq - 1));
        ms[stop - eq - 1] = '\0';
        if (strtoll(ms, NULL, 10) != fs->lim.window_ms[w] / DC_WINDOW_SLOTS)
            return 0;
        p = stop + 1;
    }
    return w == fs->lim.n_windows;
}

/* DC_ERR_CONFIG for a store of values in another format than STORE_FORMAT:
 * format is the clock's, 0 when it has none, as in a new store (closed
 * INT64_MIN: no clock) and in a store written before the clock kept it
 * (format 1, whose records lack the newest event time). */
static int check_format(dc_featstore_t *fs, int64_t closed, int64_t format)
{
    if (closed == INT64_MIN || format == STORE_FORMAT)
        return DC_OK;
    return fs_err(fs, DC_ERR_CONFIG,
                  "the feature store under redis.key.prefix %s holds values of format %lld; "
                  "this demandcast reads and writes format %d only. Use another "
                  "redis.key.prefix, or empty the store",
                  fs->prefix, (long long)(format ? format : 1), STORE_FORMAT);
}

/* DC_ERR_CONFIG unless the store's values are written in the layout this
 * configuration writes: windows (the clock's spec, nil for a new store)
 * and the bucket width (INT64_MIN: not stored yet). Merging slots of
 * other lengths, or closing buckets by other starts, would mix them up
 * without a word. */
static int check_layout(dc_featstore_t *fs, const redisReply *windows, int64_t bucket_ms)
{
    int same_windows = windows->type != REDIS_REPLY_STRING ||
                       same_slots(fs, windows->str, windows->len);

    if (same_windows && (bucket_ms == INT64_MIN || bucket_ms == fs->lim.bucket_ms))
        return DC_OK;
    /* This configuration's windows as flush.lua writes them in the clock. */
    char spec[DC_WINDOWS_MAX * 40] = "";
    for (size_t w = 0, len = 0; w < fs->lim.n_windows && len < sizeof(spec); w++)
        len += (size_t)snprintf(spec + len, sizeof(spec) - len, "%s%s=%lld", w ? "," : "",
                                fs->lim.window_name[w],
                                (long long)(fs->lim.window_ms[w] / DC_WINDOW_SLOTS));
    return fs_err(fs, DC_ERR_CONFIG,
                  "the feature store under redis.key.prefix %s holds windows of slots %.*s "
                  "(name=ms) and buckets of %lld ms; this configuration has %s and %lld ms. "
                  "The stored windows and buckets cannot change: use another "
                  "redis.key.prefix, or empty the store", fs->prefix,
                  windows->type == REDIS_REPLY_STRING ? (int)windows->len : 1,
                  windows->type == REDIS_REPLY_STRING ? windows->str : "-",
                  (long long)(bucket_ms == INT64_MIN ? fs->lim.bucket_ms : bucket_ms),
                  spec, (long long)fs->lim.bucket_ms);
}

/* Whether SKU sku of batch has a delta of a bucket open at late_before
 * (dc_value_merge_sku logs those). */
static int has_open_delta(const dc_featbatch_t *batch, size_t sku, int64_t late_before)
{
    for (const dc_bucket_delta_t *b = dc_featbatch_bucket_first(batch, sku); b;
         b = dc_featbatch_bucket_next(batch, b))
        if (b->start >= late_before)
            return 1;
    return 0;
}

/* Asks for entry i's record and its SKU's slot deltas to be brought into
 * cache while the entry before it merges: both are a cache miss otherwise
 * (ten thousand SKUs' records; deltas grouped a whole batch before). An
 * entry read from Redis is the next element of got (got_n of them, got_i
 * taken) if that reply holds it. */
static void prefetch_entry(const dc_featstore_t *fs, const dc_featbatch_t *batch, size_t i,
                           const redisReply *got, size_t got_i, size_t got_n)
{
    const entry_t *e = &fs->ents[i];
    const dc_slot_delta_t *first = dc_featbatch_slot_first(batch, e->sku);

    if (e->cached >= 0)
        __builtin_prefetch(fs->cache_values.data + cache_ents(fs)[e->cached].value_off);
    else if (got && got_i < got_n && got->element[got_i]->type == REDIS_REPLY_STRING)
        __builtin_prefetch(got->element[got_i]->str);
    if (first)
        __builtin_prefetch(first);
}

/* Reads the replies of send_reads(): checks every partition's offset is
 * where this instance left it (DC_ERR_VERSION: fenced), then opens the
 * transaction (MULTI; *in_multi is set) and merges batch into every
 * entry's record in fs->values and the open buckets' logs in fs->logs,
 * sending each chunk of merged records (MSET, *n_queued counts them) as
 * soon as it is merged: Redis queues one while the next is merged. Bucket
 * deltas before the closed time go to closed buckets: they are dropped,
 * their events counted in *late_dropped (none while the clock is
 * provisional, flush.lua). */
static int read_and_merge(dc_featstore_t *fs, const dc_featbatch_t *batch, dc_parts_t *parts,
                          int64_t *late_dropped, int *in_multi, size_t *n_queued)
{
    int64_t late_before = INT64_MIN;
    size_t n_parts = dc_parts_count(parts);
    redisReply *r;
    int err = DC_OK;

    if (!(r = next_reply(fs)))
        return DC_ERR_REDIS;
    freeReplyObject(r); /* WATCH */
    if (!(r = next_reply(fs)))
        return DC_ERR_REDIS;
    /* Another writer since the last flush: the cache is of no use until a
     * flush finds the store as it left it again, and this one, if it took
     * records from it, starts over reading them all (DC_ERR_AGAIN). */
    fs->read_version = reply_i64(r, 0);
    if (fs->cache_version >= 0) {
        fs->cache_trusted = fs->read_version == fs->cache_version;
        for (size_t i = 0; !fs->cache_trusted && !err && i < fs->n_ents; i++)
            if (fs->ents[i].cached >= 0)
                err = DC_ERR_AGAIN;
    }
    freeReplyObject(r);
    if (!(r = next_reply(fs)))
        return DC_ERR_REDIS;
    if (!err && (r->type != REDIS_REPLY_ARRAY || r->elements != 6))
        err = fs_err(fs, DC_ERR_REDIS, "redis: reading the clock: unexpected reply");
    else if (!err) {
        int64_t closed = reply_i64(r->element[0], INT64_MIN);
        int64_t acked = reply_i64(r->element[1], INT64_MIN);
        int64_t origin = reply_i64(r->element[2], INT64_MIN);
        int provisional = closed == INT64_MIN || (closed == origin && acked == origin);
        late_before = provisional ? INT64_MIN : closed;
        if (!(err = check_format(fs, closed, reply_i64(r->element[5], 0))))
            err = check_layout(fs, r->element[3], reply_i64(r->element[4], INT64_MIN));
    }
    freeReplyObject(r);
    if (n_parts) {
        if (!(r = next_reply(fs)))
            return DC_ERR_REDIS;
        if (!err && (r->type != REDIS_REPLY_ARRAY || r->elements != n_parts))
            err = fs_err(fs, DC_ERR_REDIS, "redis: reading the offsets: unexpected reply");
        for (size_t i = 0; !err && i < n_parts; i++) {
            const dc_part_t *p = dc_parts_at(parts, i);
            int64_t stored = reply_i64(r->element[i], -1);
            if (stored != p->stored_offset)
                err = fs_err(fs, DC_ERR_VERSION,
                             "partition %s: the store holds offset %lld, not the one this "
                             "instance read; another instance owns it now, or the store "
                             "lost writes (restored, or crashed with appendfsync everysec)",
                             p->name, (long long)stored);
        }
        freeReplyObject(r);
    }
    fs->values.len = 0;
    *late_dropped = 0;
    *n_queued = 0;
    dc_value_logs_clear(&fs->logs);
    if (!err) {
        if (redisAppendCommand(fs->rc, "MULTI") != REDIS_OK)
            fs->send_failed = 1;
        *in_multi = 1;
    }
    /* Each entry's record comes from the cache or, in entry order, from
     * the MGET replies (send_mgets), every one of which is read, error or
     * not, so that the replies after them stay in step. */
    size_t to_read = 0, got_n = 0, got_i = 0;
    redisReply *got = NULL;
    for (size_t i = 0; i < fs->n_ents; i++)
        to_read += fs->ents[i].cached < 0;
    for (size_t c = 0; c < fs->n_ents; c += DC_STORE_CHUNK) {
        size_t n = fs->n_ents - c < DC_STORE_CHUNK ? fs->n_ents - c : DC_STORE_CHUNK;
        for (size_t i = c; i < c + n; i++) {
            entry_t *e = &fs->ents[i];
            const char *cur = "";
            size_t cur_len = 0;
            if (e->cached >= 0) {
                const entry_t *k = &cache_ents(fs)[e->cached];
                cur = (const char *)fs->cache_values.data + k->value_off;
                cur_len = k->value_len;
            } else {
                if (got_i == got_n) {
                    if (got)
                        freeReplyObject(got);
                    if (!(got = next_reply(fs)))
                        return DC_ERR_REDIS;
                    got_n = to_read < DC_STORE_CHUNK ? to_read : DC_STORE_CHUNK;
                    to_read -= got_n;
                    got_i = 0;
                    if (!err && (got->type != REDIS_REPLY_ARRAY || got->elements != got_n))
                        err = fs_err(fs, DC_ERR_REDIS, "redis: MGET: unexpected reply");
                }
                const redisReply *v = err ? NULL : got->element[got_i];
                got_i++;
                if (v && v->type == REDIS_REPLY_STRING)
                    cur = v->str, cur_len = v->len;
            }
            if (err)
                continue;
            if (i + 1 < fs->n_ents)
                prefetch_entry(fs, batch, i + 1, got, got_i, got_n);
            e->value_off = fs->values.len;
            int merr = dc_value_merge_sku(&fs->values, cur, cur_len, batch, e->sku, late_before,
                                          &fs->logs, late_dropped, &fs->scratch);
            if (merr == DC_ERR_MALFORMED)
                err = fs_err(fs, merr, "redis key %.*s holds a value of another format",
                             (int)e->key_len, (const char *)fs->keys.data + e->key_off);
            else if (merr)
                err = fs_err(fs, merr, "merging a flush: %s", dc_err2str(merr));
            e->value_len = fs->values.len - e->value_off;
            e->logged = has_open_delta(batch, e->sku, late_before);
        }
        if (!err) {
            send_mset(fs, c, c + n);
            ++*n_queued;
            if ((err = push_output(fs))) {
                if (got)
                    freeReplyObject(got);
                return err;
            }
        }
    }
    if (got)
        freeReplyObject(got);
    /* The logs' reads come last: every delta of the flush is in fs->logs. */
    size_t n_logs;
    log_len_t *ll = log_lens(fs, &n_logs);
    for (size_t i = 0; i < n_logs; i++) {
        if (!ll[i].reading)
            continue;
        if (!(r = next_reply(fs)))
            return DC_ERR_REDIS;
        if (!err)
            err = compact_log(fs, &ll[i], r, late_before);
        freeReplyObject(r);
    }
    return err;
}

/* Queues "SADD key sku..." over the SKUs of the flush's entries that put
 * nothing in an open bucket's log, in chunks. A close lists the SKUs of
 * its buckets' logs, and finds those gone idle among the SKUs it listed
 * before; these SKUs' events all went to closed buckets (late), so without
 * this a SKU with only such events would keep its record for ever. The
 * next close lists them, in no bucket: late events count in the windows,
 * not in the buckets. A set holds each SKU once, however many flushes
 * come before that close. */
static void send_unlogged(dc_featstore_t *fs, const dc_featbatch_t *batch, const char *key,
                          size_t *n_queued)
{
    size_t i = 0;

    while (i < fs->n_ents) {
        size_t argc = 0;
        arg_str(fs, &argc, "SADD");
        arg_str(fs, &argc, key);
        for (; i < fs->n_ents && argc < 2 + DC_STORE_CHUNK; i++)
            if (!fs->ents[i].logged)
                arg_str(fs, &argc, dc_featbatch_sku(batch, fs->ents[i].sku)->sku);
        if (argc > 2) {
            send_argv(fs, argc);
            ++*n_queued;
        }
    }
}

/* Sends the rest of the transaction read_and_merge() opened: the SKUs
 * without log entries, the bucket logs and the meta step (flush.lua), and
 * EXEC;
 * *n_queued counts the commands queued between MULTI and EXEC. */
static int send_commit(dc_featstore_t *fs, const dc_featbatch_t *batch, dc_parts_t *parts,
                       int64_t ack_until, double now_mono, size_t *n_queued, int64_t *ncmd)
{
    char key[DC_KEY_PREFIX_MAX + 64];
    size_t argc;
    int64_t oldest_bucket = INT64_MAX;

    ++*ncmd; /* MULTI */
    if (batch) {
        snprintf(key, sizeof(key), "%s:{meta}:unlisted", fs->prefix);
        send_unlogged(fs, batch, key, n_queued);
    }
    /* Each open bucket's deltas go to the end of its log, which its close
     * sums; a compacted log replaces it. */
    for (size_t i = 0; i < fs->logs.n; i++) {
        const dc_value_log_t *log = &fs->logs.logs[i];
        argc = 0;
        open_log_key(fs, key, sizeof(key), log->start);
        arg_str(fs, &argc, log->whole ? "SET" : "APPEND");
        arg_str(fs, &argc, key);
        arg(fs, &argc, log->log.data, log->log.len);
        send_argv(fs, argc);
        ++*n_queued;
        if (log->start < oldest_bucket)
            oldest_bucket = log->start;
    }
    /* EVAL, not EVALSHA: a script missing from the cache would fail inside
     * EXEC after the values were written. */
    pack_meta(fs, parts, ack_until, now_mono, oldest_bucket);
    argc = 0;
    arg_str(fs, &argc, "EVAL");
    arg_str(fs, &argc, dc__lua_flush);
    arg_str(fs, &argc, "0");
    arg(fs, &argc, fs->sbuf.data, fs->sbuf.size);
    send_argv(fs, argc);
    ++*n_queued;
    if (redisAppendCommand(fs->rc, "EXEC") != REDIS_OK)
        fs->send_failed = 1;
    *ncmd += (int64_t)*n_queued + 1;
    return DC_OK;
}

/* Reads the replies of MULTI, n_queued queued commands and EXEC.
 * DC_ERR_AGAIN: EXEC found the version changed (another writer came
 * between the reads and the transaction) and wrote nothing. On success
 * *exec (if not NULL) gets EXEC's reply, one element per queued command,
 * for the caller to free. */
static int read_exec(dc_featstore_t *fs, size_t n_queued, redisReply **exec)
{
    redisReply *r;
    int err = DC_OK;

    for (size_t i = 0; i < n_queued + 1; i++) { /* MULTI, then QUEUED or an error */
        if (!(r = next_reply(fs)))
            return DC_ERR_REDIS;
        if (!err && r->type == REDIS_REPLY_ERROR)
            err = fs_err(fs, DC_ERR_REDIS, "redis: queueing a transaction: %s", r->str);
        freeReplyObject(r);
    }
    if (!(r = next_reply(fs)))
        return DC_ERR_REDIS;
    if (err) {
        /* EXEC refused the whole transaction (EXECABORT): nothing written. */
    } else if (r->type == REDIS_REPLY_NIL) {
        err = DC_ERR_AGAIN;
    } else if (r->type == REDIS_REPLY_ERROR) {
        err = fs_err(fs, DC_ERR_REDIS, "redis: EXEC: %s", r->str);
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != n_queued) {
        err = fs_err(fs, DC_ERR_REDIS, "redis: EXEC: unexpected reply");
    } else {
        for (size_t i = 0; !err && i < n_queued; i++)
            if (r->element[i]->type == REDIS_REPLY_ERROR)
                err = fs_err(fs, DC_ERR_REDIS, "redis: command %zu of %zu in a transaction "
                             "failed: %s", i + 1, n_queued, r->element[i]->str);
    }
    if (!err && exec)
        *exec = r;
    else
        freeReplyObject(r);
    return err;
}

/* After a flush: the lengths its logs' APPEND (replies[i], one per log) or
 * SET left, and the logs of buckets before closed_until (closed: their
 * close reads them as they are) or gone forgotten. Out of memory, a log
 * goes unnoted: it is compacted once a later flush notes it. */
static void note_log_lens(dc_featstore_t *fs, redisReply **replies, int64_t closed_until)
{
    size_t n_logs, kept = 0;
    log_len_t *ll;

    for (size_t i = 0; i < fs->logs.n; i++) {
        const dc_value_log_t *log = &fs->logs.logs[i];
        size_t len = log->whole ? log->log.len
                     : replies[i]->type == REDIS_REPLY_INTEGER ? (size_t)replies[i]->integer
                                                               : 0;
        size_t at = 0;
        ll = log_lens(fs, &n_logs);
        while (at < n_logs && ll[at].start != log->start)
            at++;
        if (at == n_logs) {
            if (dc_buf_reserve(&fs->log_lens, sizeof(log_len_t)))
                continue;
            ll = log_lens(fs, &n_logs);
            ll[at] = (log_len_t){.start = log->start, .compact_at = DC_LOG_COMPACT_MIN};
            fs->log_lens.len += sizeof(log_len_t);
        }
        ll[at].len = len;
        if (log->whole)
            ll[at].compact_at = len < DC_LOG_COMPACT_MIN / 2 ? DC_LOG_COMPACT_MIN : 2 * len;
    }
    ll = log_lens(fs, &n_logs);
    for (size_t i = 0; i < n_logs; i++)
        if (ll[i].len && (closed_until == INT64_MIN || ll[i].start >= closed_until))
            ll[kept++] = ll[i];
    fs->log_lens.len = kept * sizeof(log_len_t);
}

/* Reads the replies of send_commit() (see read_exec) into res. */
static int read_commit(dc_featstore_t *fs, size_t n_queued, dc_flush_result_t *res)
{
    redisReply *r = NULL;
    const redisReply *m;
    int err = read_exec(fs, n_queued, &r);

    if (err)
        return err;
    m = r->element[n_queued - 1];
    if (m->type != REDIS_REPLY_ARRAY || m->elements != 5) {
        err = fs_err(fs, DC_ERR_REDIS, "redis: flush script: unexpected reply");
    } else {
        res->closed_until = reply_i64(m->element[0], INT64_MIN);
        res->acked_until = reply_i64(m->element[1], INT64_MIN);
        res->closer = (int)reply_i64(m->element[2], 0);
        res->commands += reply_i64(m->element[3], 0);
        fs->flushed_version = reply_i64(m->element[4], -1);
        /* The logs' commands come just before the script (send_commit). */
        note_log_lens(fs, r->element + n_queued - 1 - fs->logs.n, res->closed_until);
    }
    freeReplyObject(r);
    return err;
}

static void unwatch(dc_featstore_t *fs)
{
    redisReply *r;

    if (fs->rc && (r = redisCommand(fs->rc, "UNWATCH")))
        freeReplyObject(r);
}

/* After sending: a failed append leaves the connection out of step with
 * the replies expected, so it goes (dropping its WATCH too). */
static int check_sent(dc_featstore_t *fs)
{
    if (!fs->send_failed)
        return DC_OK;
    fs->send_failed = 0;
    disconnect(fs);
    return fs_err(fs, DC_ERR_NOMEM, "out of memory sending a flush");
}

/* Puts the names a[0 .. n) in byte order, each once (a name listed twice
 * keeps its newest end); returns how many are left. The list a close
 * wrote is in order already; one an upgrade wrote, and a set's members,
 * may not be. tmp has room for n names. */
static size_t sorted_unique(dc_name_key_t *a, dc_name_key_t *tmp, size_t n)
{
    size_t i = 1, out = 0;

    while (i < n && dc_name_cmp(&a[i - 1], &a[i]) < 0)
        i++;
    if (i >= n)
        return n;
    dc_name_sort(a, tmp, n);
    for (i = 0; i < n; i++) {
        if (out && !dc_name_cmp(&a[out - 1], &a[i])) {
            if (a[i].value > a[out - 1].value)
                a[out - 1].value = a[i].value;
        } else {
            a[out++] = a[i];
        }
    }
    return out;
}

/* Appends the listed SKUs of reply r (a string, or nil for none) of key
 * to fs->names; *n gets how many. */
static int read_listed(dc_featstore_t *fs, const redisReply *r, const char *key, size_t *n)
{
    int err;

    *n = 0;
    if (r->type != REDIS_REPLY_STRING)
        return DC_OK;
    if ((err = dc_value_read_listed(r->str, r->len, &fs->names, n)) == DC_ERR_MALFORMED)
        return fs_err(fs, err, "redis key %s holds a value of another format", key);
    return err ? fs_err(fs, err, "out of memory closing a bucket") : DC_OK;
}

/* Appends the SKUs of set reply r of key (send_unlogged) to fs->names,
 * without a bucket; *n gets how many. */
static int read_unlisted(dc_featstore_t *fs, const redisReply *r, const char *key, size_t *n)
{
    for (*n = 0; *n < r->elements; ++*n) {
        const redisReply *e = r->element[*n];
        if (e->type != REDIS_REPLY_STRING || !e->len || e->len >= DC_SKU_MAX)
            return fs_err(fs, DC_ERR_MALFORMED, "redis key %s holds a value of another format",
                          key);
        if (dc_buf_reserve(&fs->names, sizeof(dc_name_key_t)))
            return fs_err(fs, DC_ERR_NOMEM, "out of memory closing a bucket");
        *(dc_name_key_t *)(void *)(fs->names.data + fs->names.len) =
            dc_name_key(e->str, e->len, INT64_MIN);
        fs->names.len += sizeof(dc_name_key_t);
    }
    return DC_OK;
}

/* The keys of the records of the listed SKUs l[idx[i]] for i in
 * [from, to), side by side in fs->key_text, as arguments after the
 * argc ones of a command. */
static int record_args(dc_featstore_t *fs, const dc_name_key_t *l, const size_t *idx,
                       size_t from, size_t to, size_t *argc)
{
    size_t prefix_len = strlen(fs->prefix);
    const uint8_t *key;

    fs->key_text.len = 0;
    for (size_t i = from; i < to; i++)
        if (dc_buf_append(&fs->key_text, fs->prefix, prefix_len) ||
            dc_buf_append(&fs->key_text, ":{", 2) ||
            dc_buf_append(&fs->key_text, l[idx[i]].s, l[idx[i]].len) ||
            dc_buf_append(&fs->key_text, "}:f", 3))
            return fs_err(fs, DC_ERR_NOMEM, "out of memory closing a bucket");
    key = fs->key_text.data;
    for (size_t i = from; i < to; i++) {
        size_t len = prefix_len + 5 + l[idx[i]].len; /* ":{" and "}:f" around the SKU */
        arg(fs, argc, key, len);
        key += len;
    }
    return DC_OK;
}

/* Of the listed SKUs l[0 .. n), those whose newest closed bucket with
 * events ended at or before idle_before and whose newest event (their
 * record's `seen`) is older too leave the store: their indexes go to
 * fs->gone, ascending, *n_gone how many. A key that holds no record goes
 * too, rather than stay for ever. The records are read under the close's
 * WATCH, before its transaction opens: as exact as reading them in it,
 * since the transaction runs only if nobody wrote in between. Few SKUs
 * are idle at one close, so this read is small, and most closes have none
 * to make. */
static int find_gone(dc_featstore_t *fs, const dc_name_key_t *l, size_t n, int64_t idle_before,
                     size_t *n_gone)
{
    size_t n_cand = 0, *cand;
    int err = DC_OK;

    *n_gone = 0;
    fs->gone.len = 0;
    for (size_t i = 0; i < n; i++)
        if (l[i].value <= idle_before) {
            if (dc_buf_append(&fs->gone, &i, sizeof(i)))
                return fs_err(fs, DC_ERR_NOMEM, "out of memory closing a bucket");
            n_cand++;
        }
    cand = (size_t *)(void *)fs->gone.data;
    for (size_t c = 0; c < n_cand; c += DC_STORE_CHUNK) {
        size_t m = n_cand - c < DC_STORE_CHUNK ? n_cand - c : DC_STORE_CHUNK, argc = 0;
        redisReply *r;
        arg_str(fs, &argc, "MGET");
        if ((err = record_args(fs, l, cand, c, c + m, &argc)))
            return err;
        send_argv(fs, argc);
        if ((err = check_sent(fs)))
            return err;
        if (!(r = next_reply(fs)))
            return DC_ERR_REDIS;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != m) {
            freeReplyObject(r);
            return fs_err(fs, DC_ERR_REDIS, "redis: reading idle SKUs: unexpected reply");
        }
        for (size_t i = 0; i < m; i++) {
            const redisReply *e = r->element[i];
            int64_t seen;
            if (e->type != REDIS_REPLY_STRING || dc_value_record_seen(e->str, e->len, &seen) ||
                seen < idle_before)
                cand[(*n_gone)++] = cand[c + i];
        }
        freeReplyObject(r);
    }
    fs->gone.len = *n_gone * sizeof(size_t);
    return DC_OK;
}

/* Queues DEL over the records of the listed SKUs l[fs->gone]; returns how
 * many commands. */
static size_t send_gone(dc_featstore_t *fs, const dc_name_key_t *l, size_t n_gone, int *err)
{
    const size_t *gone = (const size_t *)(void *)fs->gone.data;
    size_t sent = 0;

    for (size_t c = 0; !*err && c < n_gone; c += DC_STORE_CHUNK) {
        size_t m = n_gone - c < DC_STORE_CHUNK ? n_gone - c : DC_STORE_CHUNK, argc = 0;
        arg_str(fs, &argc, "DEL");
        if (!(*err = record_args(fs, l, gone, c, c + m, &argc)))
            send_argv(fs, argc), sent++;
    }
    return sent;
}

/* The list of listed SKUs a close leaves: l[0 .. n) but those gone, into
 * fs->listed. */
static int put_listed(dc_featstore_t *fs, const dc_name_key_t *l, size_t n, size_t n_gone)
{
    const size_t *gone = (const size_t *)(void *)fs->gone.data;

    fs->listed.len = 0;
    for (size_t i = 0, g = 0; i < n; i++) {
        if (g < n_gone && gone[g] == i) {
            g++;
            continue;
        }
        int err = dc_value_put_listed(&fs->listed, l[i].s, l[i].len, l[i].value);
        if (err == DC_ERR_INVAL)
            return fs_err(fs, DC_ERR_MALFORMED, "the listed SKUs hold \"%.*s\", longer than "
                          "any SKU", (int)(l[i].len > 64 ? 64 : l[i].len), l[i].s);
        if (err)
            return fs_err(fs, err, "out of memory closing a bucket");
    }
    return DC_OK;
}

/* After a close whose transaction replied exec (the version's INCR last)
 * and deleted the records of n_gone SKUs: the cached records stay exact if
 * the store was at the cache's version (nobody wrote since the last flush)
 * and no SKU left it; else the cache goes. */
static void cache_after_close(dc_featstore_t *fs, const redisReply *exec, size_t n_gone)
{
    int64_t version = reply_i64(exec->element[exec->elements - 1], -1);

    if (n_gone || fs->cache_version < 0 || version - 1 != fs->cache_version)
        fs->cache_version = -1;
    else
        fs->cache_version = version;
}

enum {
    R_WATCH, R_SNAP, R_CLOCK, R_LISTED, R_UNLISTED, R_LOG,
    R_N = R_LOG + DC_CLOSES_MAX
};

/* Checks the types of a close's replies rep[0 .. R_LOG + n). */
static int close_replies_ok(redisReply **rep, int n)
{
    for (int i = R_SNAP; i < R_LOG + n; i++)
        if (i == R_LISTED || i >= R_LOG
                ? rep[i]->type != REDIS_REPLY_STRING && rep[i]->type != REDIS_REPLY_NIL
                : rep[i]->type != REDIS_REPLY_ARRAY)
            return 0;
    return rep[R_SNAP]->elements == (size_t)n;
}

/* One close of buckets start, start + width, ... (at most n; see
 * dc_featstore_close_buckets): its keys, the replies to its reads, and what
 * close_plan() worked out of them for close_commit(). */
typedef struct {
    int64_t start;
    int n;    /* buckets asked for */
    int k;    /* buckets to close, once planned */
    int done; /* closed before: out holds their snapshots' rows, nothing to write */
    char snapkey[DC_CLOSES_MAX][DC_KEY_PREFIX_MAX + 64];
    char logkey[DC_CLOSES_MAX][DC_KEY_PREFIX_MAX + 64];
    char listedkey[DC_KEY_PREFIX_MAX + 64], unlistedkey[DC_KEY_PREFIX_MAX + 64];
    size_t snap_from[DC_CLOSES_MAX], snap_to[DC_CLOSES_MAX]; /* the snapshots in fs->sbuf */
    const dc_name_key_t *seen; /* the SKUs listed after the last bucket, before the gone */
    size_t n_gone;
    redisReply *rep[R_N];
} close_t;

static void close_init(const dc_featstore_t *fs, close_t *c, int64_t start, int n)
{
    c->start = start;
    c->n = n;
    c->k = 0;
    c->done = 0;
    memset(c->rep, 0, sizeof(c->rep));
    for (int b = 0; b < n; b++) {
        long long at = (long long)(start + b * fs->lim.bucket_ms);
        snprintf(c->snapkey[b], sizeof(c->snapkey[b]), "%s:{meta}:closed:%lld", fs->prefix, at);
        open_log_key(fs, c->logkey[b], sizeof(c->logkey[b]), start + b * fs->lim.bucket_ms);
    }
    snprintf(c->listedkey, sizeof(c->listedkey), "%s:{meta}:listed", fs->prefix);
    snprintf(c->unlistedkey, sizeof(c->unlistedkey), "%s:{meta}:unlisted", fs->prefix);
}

static void close_free(close_t *c)
{
    for (int i = 0; i < R_N; i++)
        if (c->rep[i])
            freeReplyObject(c->rep[i]);
    memset(c->rep, 0, sizeof(c->rep));
}

/* Sends what a close reads (under a WATCH of the version key the caller
 * sent): the snapshots of buckets closed before, the clock, the listed
 * SKUs with the ends of their newest closed buckets with events, the SKUs
 * the flushes added since with none, and each bucket's log (the deltas of
 * the SKUs with events in it). */
static void close_send_reads(dc_featstore_t *fs, const close_t *c)
{
    char key[DC_KEY_PREFIX_MAX + 64];
    size_t argc = 0;

    arg_str(fs, &argc, "MGET");
    for (int b = 0; b < c->n; b++)
        arg_str(fs, &argc, c->snapkey[b]);
    send_argv(fs, argc);
    snprintf(key, sizeof(key), "%s:{meta}:clock", fs->prefix);
    argc = 0, arg_str(fs, &argc, "HMGET"), arg_str(fs, &argc, key);
    arg_str(fs, &argc, "closed"), send_argv(fs, argc);
    argc = 0, arg_str(fs, &argc, "GET"), arg_str(fs, &argc, c->listedkey), send_argv(fs, argc);
    argc = 0, arg_str(fs, &argc, "SMEMBERS"), arg_str(fs, &argc, c->unlistedkey);
    send_argv(fs, argc);
    for (int b = 0; b < c->n; b++) {
        argc = 0, arg_str(fs, &argc, "GET"), arg_str(fs, &argc, c->logkey[b]);
        send_argv(fs, argc);
    }
}

/* Reads the replies of close_send_reads() into c->rep; DC_ERR_REDIS with
 * the connection dropped, or in errstr with the connection in step. */
static int close_read(dc_featstore_t *fs, close_t *c)
{
    for (int i = R_SNAP; i < R_LOG + c->n; i++)
        if (!(c->rep[i] = next_reply(fs)))
            return DC_ERR_REDIS;
    if (!close_replies_ok(c->rep, c->n))
        return fs_err(fs, DC_ERR_REDIS, "redis: closing bucket %lld: unexpected reply",
                      (long long)c->start);
    return DC_OK;
}

/* Works out the close from its replies: buckets closed before are read
 * back from their snapshots into out (c->done); else the buckets to close
 * now (c->k), their snapshots (into fs->sbuf, their rows into out), the
 * SKUs that leave the store and the list that stays. Only SKUs that may
 * have gone idle make it read (their records); without may_read it gives
 * up on them instead: DC_ERR_AGAIN. */
static int close_plan(dc_featstore_t *fs, close_t *c, int may_read, dc_bucket_t *out)
{
    const dc_limits_t *lim = &fs->lim;
    int64_t width = lim->bucket_ms, start = c->start;
    redisReply **rep = c->rep;
    int err = DC_OK, k;

    /* Buckets closed before (a crash or a lost reply came between their
     * close and its acknowledgement): the same rows again, from their
     * snapshots. */
    const redisReply *snaps = rep[R_SNAP];
    if (snaps->element[0]->type == REDIS_REPLY_STRING) {
        for (k = 0; k < c->n && snaps->element[k]->type == REDIS_REPLY_STRING; k++)
            if ((err = dc_snapshot_decode(snaps->element[k]->str, snaps->element[k]->len,
                                          width, &out[k], fs->errstr, sizeof(fs->errstr))))
                return err;
        c->k = k;
        c->done = 1;
        return DC_OK;
    }
    /* The buckets to close now: up to the clock, and before any closed
     * already. */
    int64_t closed = rep[R_CLOCK]->elements == 1 ? reply_i64(rep[R_CLOCK]->element[0], INT64_MIN)
                                                 : INT64_MIN;
    if (closed < start + width)
        return fs_err(fs, DC_ERR_REDIS, "redis: bucket %lld is not closed", (long long)start);
    for (k = 1; k < c->n && start + (k + 1) * width <= closed &&
                snaps->element[k]->type != REDIS_REPLY_STRING;
         k++)
        ;

    /* seen: the listed SKUs in name order, with the ends of their newest
     * closed buckets with events, and those the flushes added (INT64_MIN:
     * none). Each bucket's log merges into it in turn, and lists each SKU
     * in the bucket that has events in it or in a closed bucket that ended
     * within the idle TTL before its end. So they follow from the events
     * alone: the newest event times, which a flush may have moved past the
     * bucket already, do not count here. */
    size_t n_listed, n_unlisted, n_logged = 0;
    fs->names.len = 0;
    if ((err = read_listed(fs, rep[R_LISTED], c->listedkey, &n_listed)) ||
        (err = read_unlisted(fs, rep[R_UNLISTED], c->unlistedkey, &n_unlisted)))
        return err;
    for (int b = 0; b < k; b++)
        if (rep[R_LOG + b]->type == REDIS_REPLY_STRING)
            n_logged += rep[R_LOG + b]->len / 14; /* an entry takes 14 bytes at least */
    size_t n_seen_max = n_listed + n_unlisted + n_logged;
    if (dc_buf_reserve(&fs->names, 2 * n_seen_max * sizeof(dc_name_key_t)) ||
        dc_buf_reserve(&fs->sort_tmp, (n_listed + n_unlisted) * sizeof(dc_name_key_t)))
        goto nomem;
    dc_name_key_t *listed = (dc_name_key_t *)(void *)fs->names.data;
    dc_name_key_t *unlisted = listed + n_listed, *seen = unlisted + n_unlisted;
    dc_name_key_t *merged = seen + n_seen_max;
    dc_name_key_t *tmp = (dc_name_key_t *)(void *)fs->sort_tmp.data;
    n_listed = sorted_unique(listed, tmp, n_listed);
    n_unlisted = sorted_unique(unlisted, tmp, n_unlisted);
    size_t n_seen = 0;
    for (size_t i = 0, j = 0; i < n_listed || j < n_unlisted;) {
        int cmp = i == n_listed ? 1 : j == n_unlisted ? -1 : dc_name_cmp(&listed[i], &unlisted[j]);
        seen[n_seen++] = cmp > 0 ? unlisted[j] : listed[i];
        i += cmp <= 0;
        j += cmp >= 0;
    }

    msgpack_sbuffer_clear(&fs->sbuf);
    for (int b = 0; b < k; b++) {
        int64_t stop = start + (b + 1) * width, since_b = stop - lim->idle_ttl_ms;
        dc_log_row_t *rows = NULL;
        size_t n_rows = 0, n_merged = 0, i_seen = 0, i_row = 0;

        if (rep[R_LOG + b]->type == REDIS_REPLY_STRING &&
            (err = dc_value_read_log(rep[R_LOG + b]->str, rep[R_LOG + b]->len, &fs->scratch,
                                     &rows, &n_rows)))
            return err == DC_ERR_MALFORMED
                       ? fs_err(fs, err, "redis key %s holds a value of another format",
                                c->logkey[b])
                       : fs_err(fs, err, "out of memory closing a bucket");
        /* Merged with the log, each SKU goes into the snapshot, kept until
         * acknowledged, if active in this bucket. The rows' names point
         * into the log's reply, kept to the end. */
        dc_snapshot_t sn;
        if (dc_snapshot_begin(&sn, &fs->sbuf, &fs->zeros, start + b * width, width,
                              n_seen + n_rows, &out[b]))
            goto nomem;
        /* The next row's key, made once: most listed SKUs come before it. */
        dc_name_key_t row_key = {0};
        if (n_rows)
            row_key = dc_name_key(rows[0].sku, rows[0].sku_len, stop);
        while (!err && (i_seen < n_seen || i_row < n_rows)) {
            const dc_log_row_t *row = NULL;
            int cmp = i_row == n_rows   ? -1
                      : i_seen == n_seen ? 1
                                         : dc_name_cmp(&seen[i_seen], &row_key);
            if (cmp < 0) {
                merged[n_merged] = seen[i_seen++];
            } else {
                merged[n_merged] = row_key;
                row = &rows[i_row++];
                i_seen += !cmp;
                if (i_row < n_rows)
                    row_key = dc_name_key(rows[i_row].sku, rows[i_row].sku_len, stop);
            }
            const dc_name_key_t *name = &merged[n_merged++];
            if (name->value > since_b && (err = dc_snapshot_row(&sn, name->s, name->len, row)))
                err = err == DC_ERR_MALFORMED
                          ? fs_err(fs, err, "a bucket log holds \"%.64s...\", longer than "
                                   "any SKU", name->s)
                          : fs_err(fs, err, "out of memory closing a bucket");
        }
        if (err)
            return err;
        if (dc_snapshot_end(&sn))
            goto nomem;
        c->snap_from[b] = sn.from;
        c->snap_to[b] = fs->sbuf.size;
        dc_name_key_t *swap = seen;
        seen = merged;
        merged = swap;
        n_seen = n_merged;
    }
    /* The SKUs idle by the buckets closed at the last one's end leave the
     * store if idle by their newest events too; the others stay listed. */
    int64_t idle_before = start + k * width - lim->idle_ttl_ms;
    if (!may_read)
        for (size_t i = 0; i < n_seen; i++)
            if (seen[i].value <= idle_before)
                return DC_ERR_AGAIN;
    c->k = k;
    c->seen = seen;
    if ((err = find_gone(fs, seen, n_seen, idle_before, &c->n_gone)) ||
        (err = put_listed(fs, seen, n_seen, c->n_gone)))
        return err;
    return DC_OK;
nomem:
    return fs_err(fs, DC_ERR_NOMEM, "out of memory closing a bucket");
}

/* The transaction close_plan() worked out: the snapshots, the logs gone,
 * the list, the idle SKUs' records gone, and the version. Under the WATCH
 * of the version key its reads came under, or one after them that found
 * the store as they left it: DC_ERR_AGAIN if another writer came. */
static int close_commit(dc_featstore_t *fs, const close_t *c)
{
    char key[DC_KEY_PREFIX_MAX + 64], ttl[32];
    size_t argc, n_queued = 0;
    int err = DC_OK;

    snprintf(ttl, sizeof(ttl), "%lld", (long long)fs->lim.idle_ttl_ms);
    if (redisAppendCommand(fs->rc, "MULTI") != REDIS_OK)
        fs->send_failed = 1;
    for (int b = 0; b < c->k; b++) {
        argc = 0, arg_str(fs, &argc, "SET"), arg_str(fs, &argc, c->snapkey[b]);
        arg(fs, &argc, fs->sbuf.data + c->snap_from[b], c->snap_to[b] - c->snap_from[b]);
        arg_str(fs, &argc, "PX"), arg_str(fs, &argc, ttl), send_argv(fs, argc);
        argc = 0, arg_str(fs, &argc, "DEL"), arg_str(fs, &argc, c->logkey[b]);
        send_argv(fs, argc);
        n_queued += 2;
    }
    argc = 0;
    if (fs->listed.len) {
        arg_str(fs, &argc, "SET"), arg_str(fs, &argc, c->listedkey);
        arg(fs, &argc, fs->listed.data, fs->listed.len);
    } else {
        arg_str(fs, &argc, "DEL"), arg_str(fs, &argc, c->listedkey);
    }
    send_argv(fs, argc);
    n_queued++;
    if (c->rep[R_UNLISTED]->elements) {
        argc = 0, arg_str(fs, &argc, "DEL"), arg_str(fs, &argc, c->unlistedkey);
        send_argv(fs, argc), n_queued++;
    }
    n_queued += send_gone(fs, c->seen, c->n_gone, &err);
    snprintf(key, sizeof(key), "%s:{meta}:version", fs->prefix);
    argc = 0, arg_str(fs, &argc, "INCR"), arg_str(fs, &argc, key), send_argv(fs, argc);
    n_queued++;
    if (redisAppendCommand(fs->rc, "EXEC") != REDIS_OK)
        fs->send_failed = 1;
    if (err) {
        /* MULTI and some commands are queued: the connection is out of
         * step. */
        fs->send_failed = 0;
        disconnect(fs);
        return err;
    }
    if ((err = check_sent(fs)))
        return err;
    redisReply *exec = NULL;
    if ((err = read_exec(fs, n_queued, &exec))) {
        fs->cache_version = -1; /* the transaction may have run in part */
        return err;
    }
    cache_after_close(fs, exec, c->n_gone);
    freeReplyObject(exec);
    return DC_OK;
}

/* One attempt at closing buckets start, start + width, ... (at most n;
 * dc_featstore_close_buckets). */
static int close_once(dc_featstore_t *fs, int64_t start, int n, dc_bucket_t *out, int *n_closed)
{
    char key[DC_KEY_PREFIX_MAX + 64];
    size_t argc = 0;
    close_t c;
    int err;

    *n_closed = 0;
    close_init(fs, &c, start, n);
    if (reserve_argv(fs, 3 + 2 * DC_STORE_CHUNK))
        return fs_err(fs, DC_ERR_NOMEM, "out of memory closing a bucket");
    snprintf(key, sizeof(key), "%s:{meta}:version", fs->prefix);
    arg_str(fs, &argc, "WATCH"), arg_str(fs, &argc, key), send_argv(fs, argc);
    close_send_reads(fs, &c);
    if ((err = check_sent(fs)))
        return err;
    if (!(c.rep[R_WATCH] = next_reply(fs)) || (err = close_read(fs, &c))) {
        err = err ? err : DC_ERR_REDIS;
        if (fs->rc)
            unwatch(fs);
    } else if ((err = close_plan(fs, &c, 1, out))) {
        unwatch(fs);
    } else if (c.done) { /* read back from the snapshots: nothing to write */
        unwatch(fs);
        *n_closed = c.k;
    } else if (!(err = close_commit(fs, &c))) {
        *n_closed = c.k;
    }
    close_free(&c);
    return err;
}

/* After a flush that succeeded with the close c planned inside it: its
 * buckets, if the flush left this instance the closer, nothing
 * acknowledged past the first and the clock past the last, and nobody
 * wrote after the flush (a WATCH of the version key, which must be the
 * flush's). Its rows are in out; *n_closed gets how many buckets, 0 if it
 * wrote nothing. Errors are left to the next close to meet again. */
static void close_after_flush(dc_featstore_t *fs, close_t *c, const dc_flush_result_t *res,
                              int *n_closed)
{
    char key[DC_KEY_PREFIX_MAX + 64];
    redisReply *watch = NULL, *version = NULL;
    size_t argc = 0;

    if (!res->closer || res->acked_until > c->start ||
        res->closed_until < c->start + c->k * fs->lim.bucket_ms)
        return;
    if (c->done) { /* read back from the snapshots: nothing to write */
        *n_closed = c->k;
        return;
    }
    snprintf(key, sizeof(key), "%s:{meta}:version", fs->prefix);
    arg_str(fs, &argc, "WATCH"), arg_str(fs, &argc, key), send_argv(fs, argc);
    argc = 0, arg_str(fs, &argc, "GET"), arg_str(fs, &argc, key), send_argv(fs, argc);
    if (check_sent(fs) || !(watch = next_reply(fs)) || !(version = next_reply(fs)))
        goto out;
    if (reply_i64(version, -1) != fs->flushed_version)
        unwatch(fs);
    else if (!close_commit(fs, c))
        *n_closed = c->k;
out:
    if (watch)
        freeReplyObject(watch);
    if (version)
        freeReplyObject(version);
}

int dc_featstore_flush_closing(dc_featstore_t *fs, dc_featbatch_t *batch, dc_parts_t *parts,
                               int64_t ack_until, double now_mono, int64_t close_start,
                               int close_n, dc_bucket_t *out, int *n_closed,
                               dc_flush_result_t *res)
{
    int err, closing = 0;
    close_t c;

    memset(res, 0, sizeof(*res));
    *n_closed = 0;
    if (close_n < 0 || close_n > DC_CLOSES_MAX)
        return fs_err(fs, DC_ERR_INVAL, "closes %d buckets at once, not 0 .. %d", close_n,
                      DC_CLOSES_MAX);
    close_init(fs, &c, close_start, close_n);
    if (collect_entries(fs, batch))
        return fs_err(fs, DC_ERR_NOMEM, "out of memory collecting a flush");
    for (;;) {
        size_t n_queued;
        int in_multi = 0;

        close_free(&c);
        c.k = c.done = 0;
        if (!fs->rc && dc_featstore_connect(fs))
            return DC_ERR_REDIS;
        if (send_reads(fs, parts, &res->commands))
            fs->send_failed = 1;
        /* The close's reads come under the flush's WATCH. Its buckets are
         * closed by the clock, so no flush writes to their logs; of what
         * it reads, the flush writes only the clock (close_after_flush()
         * checks it again) and the set of unlisted SKUs, adding to it. A
         * close that meets any unlisted SKU reads its record (it may be
         * idle), which it cannot do inside a flush: it gives up. One that
         * meets none leaves the set as it is, so those the flush adds wait
         * for the next close. */
        if ((closing = close_n > 0))
            close_send_reads(fs, &c);
        if ((err = check_sent(fs)) || (err = push_output(fs)))
            goto done;
        /* The batch's deltas are worked out while Redis reads (the reads
         * need only the SKUs' names). */
        if (batch && dc_featbatch_group(batch)) {
            disconnect(fs); /* its replies are not read */
            err = fs_err(fs, DC_ERR_NOMEM, "out of memory grouping a flush");
            goto done;
        }
        err = read_and_merge(fs, batch, parts, &res->late_dropped, &in_multi, &n_queued);
        if (closing && fs->rc && !(err && in_multi) && close_read(fs, &c)) {
            closing = 0;
            if (!fs->rc) /* the connection went, and the flush with it */
                err = DC_ERR_REDIS;
        }
        if (err) {
            if (fs->send_failed) {
                err = check_sent(fs);
                goto done;
            }
            if (in_multi) /* the transaction must not run: it goes with the connection */
                disconnect(fs);
            else if (err != DC_ERR_REDIS)
                unwatch(fs);
            if (err == DC_ERR_AGAIN) { /* the cache went stale: read every record */
                res->conflicts++;
                continue;
            }
            fs->cache_version = -1;
            goto done;
        }
        if (send_commit(fs, batch, parts, ack_until, now_mono, &n_queued, &res->commands))
            fs->send_failed = 1;
        if ((err = check_sent(fs)))
            goto done;
        /* While Redis runs the transaction, the close is worked out. */
        if (closing) {
            double cpu0 = dc_thread_cpu_s();
            if (push_output(fs) || close_plan(fs, &c, 0, out))
                closing = 0;
            res->close_cpu_s += dc_thread_cpu_s() - cpu0;
        }
        err = fs->rc ? read_commit(fs, n_queued, res) : DC_ERR_REDIS;
        if (err != DC_ERR_AGAIN)
            break;
        res->conflicts++;
    }
    if (err) {
        fs->cache_version = -1;
        goto done;
    }
    cache_keep(fs, fs->flushed_version);
    for (size_t i = 0; i < dc_parts_count(parts); i++) {
        dc_part_t *p = dc_parts_at(parts, i);
        if (p->next_offset >= 0)
            p->stored_offset = p->next_offset;
    }
    if (closing) {
        double cpu0 = dc_thread_cpu_s();
        close_after_flush(fs, &c, res, n_closed);
        res->close_cpu_s += dc_thread_cpu_s() - cpu0;
    }
done:
    close_free(&c);
    return err;
}

int dc_featstore_flush(dc_featstore_t *fs, dc_featbatch_t *batch, dc_parts_t *parts,
                       int64_t ack_until, double now_mono, dc_flush_result_t *res)
{
    int n_closed;

    return dc_featstore_flush_closing(fs, batch, parts, ack_until, now_mono, 0, 0, NULL,
                                      &n_closed, res);
}

int dc_featstore_close_buckets(dc_featstore_t *fs, int64_t start, int n, dc_bucket_t *out,
                               int *n_closed)
{
    int err;

    if (n < 1 || n > DC_CLOSES_MAX)
        return fs_err(fs, DC_ERR_INVAL, "closes %d buckets at once, not 1 .. %d", n,
                      DC_CLOSES_MAX);
    do {
        if (!fs->rc && dc_featstore_connect(fs))
            return DC_ERR_REDIS;
        err = close_once(fs, start, n, out, n_closed);
    } while (err == DC_ERR_AGAIN);
    return err;
}

int dc_featstore_read(dc_featstore_t *fs, const char *sku, dc_sku_features_t *out)
{
    char key[DC_SKU_MAX + 300];
    /* FCALL_RO: the function writes nothing, so replicas serve it too. */
    const char *argv[4] = {"FCALL_RO", "dc_features", "1", key};
    size_t lens[4];
    redisReply *r;

    memset(out, 0, sizeof(*out));
    snprintf(key, sizeof(key), "%s:{%s}", fs->prefix, sku);
    for (int i = 0; i < 4; i++)
        lens[i] = strlen(argv[i]);
    /* A Redis that lost its data (no persistence) lost the library too; a
     * replica has it once its primary has (a writer loads it there). */
    for (int attempt = 0; !(r = command(fs, 4, argv, lens)); attempt++) {
        if (attempt || !strstr(fs->errstr, "Function not found") || !fs->rc)
            return DC_ERR_REDIS;
        if (load_functions(fs))
            return strstr(fs->errstr, "READONLY")
                       ? fs_err(fs, DC_ERR_REDIS, "redis: this read-only replica has no "
                                "demandcast functions yet: they come from its primary once "
                                "demandcast has connected there (`run`, or `features`)")
                       : DC_ERR_REDIS;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return fs_err(fs, DC_ERR_REDIS, "redis: dc_features %s: unexpected reply", key);
    }
    out->found = r->elements > 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *field = r->element[i]->str, *val = r->element[i + 1]->str, *dot;
        if (!field || !val)
            continue;
        if (!strcmp(field, "asof")) {
            out->asof_ms = strtoll(val, NULL, 10);
            continue;
        }
        if (!(dot = strchr(field, '.')))
            continue;
        for (size_t w = 0; w < fs->lim.n_windows; w++) {
            const char *name = fs->lim.window_name[w], *m = dot + 1;
            dc_window_vals_t *v = &out->win[w];
            if (strlen(name) != (size_t)(dot - field) || strncmp(field, name, (size_t)(dot - field)))
                continue;
            if (!strcmp(m, "views")) v->views = strtoll(val, NULL, 10);
            else if (!strcmp(m, "carts")) v->carts = strtoll(val, NULL, 10);
            else if (!strcmp(m, "units")) v->units = strtoll(val, NULL, 10);
            else if (!strcmp(m, "orders")) v->orders = strtoll(val, NULL, 10);
            else if (!strcmp(m, "revenue")) v->revenue = strtod(val, NULL);
            else if (!strcmp(m, "users")) v->users = strtod(val, NULL);
            else if (!strcmp(m, "conversion")) v->conversion = strtod(val, NULL);
        }
    }
    freeReplyObject(r);
    return DC_OK;
}
