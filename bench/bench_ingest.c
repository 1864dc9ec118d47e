/* bench/bench_ingest.c - ingest throughput of one pipeline process, real
 * Redis, embedded Kafka (librdkafka's mock cluster, in this process), over
 * the same events in the same run:
 *
 *   decode      consume + decode only: the reference (the floor of any ingest),
 *               reading a message a call, and again reading runs of
 *               DC_INGEST_RUN a call as the pipeline reads; whichever is
 *               faster is the run's reference
 *   busy        consume + decode + 1 us of busy work per message: how the
 *               reference itself holds up once a consumer does anything
 *               (the embedded broker shares the machine's cores)
 *   batch       consume + decode + validate + coalesce into the feature batch
 *               (grouped per SKU as a flush groups it), no Redis: the
 *               pipeline without the exactly-once step
 *   pipeline    `run`'s code path: consumer group, pipeline, atomic flushes of
 *               deltas and offsets to Redis, commits, and its metrics
 *
 * busy and batch read runs, as the pipeline does.
 *
 * Each pass runs --repeat times (a fresh consumer group, and for the
 * pipeline an empty Redis, each time); rates are medians. The reference
 * runs both ways before the other passes and again, in the opposite order,
 * after the pipeline: a way's rate in a run is the mean of its two passes,
 * and the faster way's is the run's reference. For the pipeline
 * it also prints the Redis commands per event as INFO commandstats counts
 * them (commands run inside scripts included), the bytes Redis read per
 * event (about what its append-only file grows by), the CPU Redis spent per
 * event, and the rate that CPU alone allows (Redis executes one command at
 * a time, so no client can go faster with this Redis); and the CPU per
 * event of this process (consumer, pipeline, flush thread, embedded
 * broker) in the reference and pipeline passes, with the rate the
 * machine's cores allow the pipeline if every one of them were busy with
 * it, the CPU per event the target (0.8 x the reference) leaves the
 * pipeline beyond the reference's own against what it adds, how many
 * cores each pass kept busy against how many 0.8 x would need, and the
 * events one core's second of CPU takes through each pass;
 * the flush thread's CPU per event, in flushes and in closes, how much of
 * the pass it was busy, on a core or blocked on Redis, and the
 * main thread's (which reads the input) in both passes; each pass's
 * busiest threads (those it started and the main thread; the embedded
 * broker's are left out, as a deployment's broker runs elsewhere) and the
 * rate each pass would reach with a core for every thread, which its
 * busiest thread's CPU per event caps (or, for the pipeline, Redis');
 * and how long the input stood still waiting for flushes or closes in
 * flight, and
 * the drain: the end of the pass after the last event is read, with the
 * cores this process kept busy before it and in it; and how
 * far apart in event time the partitions got while the input was read. Besides
 * the ratios of medians it prints the median and range of each run's own
 * pipeline-to-reference ratios, whose passes share the load of the moment,
 * those ratios in the order the runs ran, an interval that holds their
 * median with known confidence, and whether that interval settles the
 * target of 0.8 x the reference.
 * Events come from the synthetic shop (Zipf popularity), so the SKUs one
 * flush touches are what a real skew gives.
 *
 *   bench_ingest [--skus N] [--events N] [--flush-max N] [--partitions P]
 *                [--sessions-per-hour X] [--repeat N] [--redis-port PORT] [--jobs]
 *                [-X key=value ...]
 *
 * -X sets a configuration property for every pass, as `demandcast run -X`
 * does (e.g. -X bucket.width=1w: the default stream then closes at most one
 * bucket, which tells what the closes cost). It overrides --flush-max and
 * the bench's idle.timeout (1s) and metrics.log.interval (0). The brokers,
 * the consumer groups and the Redis server (host, port, user, password) are
 * the bench's own, which it also reads INFO from, and are refused.
 * --jobs prints the pipeline's debug line of each job of the flush thread
 * (its flush, closes, CPU, time blocked on Redis, and how long after the job
 * before it began) and of the drain, on stderr: the pass's timeline.
 *
 * The events are produced in lz4-compressed batches, as a shop's
 * producers would send them, and every pass inflates them. The embedded
 * broker keeps about 5 MB of each partition (compressed), which the popular
 * SKUs' clickstream partitions outgrow a little above the default events:
 * the run then stops at once with how many events it kept. Compressed, a
 * pass is six full batches long (at the default flush.max.events), so the
 * drain is a smaller share of it.
 *
 * Without --redis-port it starts its own redis-server (AOF on, appendfsync
 * everysec) on a spare port in a temporary directory and stops it by PID.
 * Defaults: 10000 SKUs, 600000 events, the configuration's flush.max.events,
 * 8 partitions per topic, the shop's 1000 sessions an hour (sparse: under
 * one event per SKU and hour; a larger rate packs a flush's events of a SKU
 * into fewer window slots), 3 repeats.
 */
#include "bench/bench.h"
#include "consumers/consumers.h"
#include "features/features.h"
#include "pipeline/pipeline.h"
#include "producers/producers.h"
#include "schemas/schemas.h"

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka_mock.h>

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_ingest: %s: %s\n", what, why);
    exit(1);
}

static void conf_set(dc_conf_t *conf, const char *name, const char *value)
{
    char errstr[256];
    if (dc_conf_set(conf, name, value, errstr, sizeof(errstr)))
        die(name, errstr);
}

/* Sets "key=value" from -X (dc_conf_set_kv's form). */
static void set_prop(dc_conf_t *conf, const char *prop)
{
    char errstr[512];

    if (dc_conf_set_kv(conf, prop, errstr, sizeof(errstr)))
        die("-X", errstr);
}

/* Dies if -X set a property of the bench's own brokers, consumer groups or
 * Redis, rather than let the bench override it silently: called before the
 * bench sets them. */
static void refuse_own(const dc_conf_t *conf)
{
    static const char *const kafka[] = {"kafka.bootstrap.servers", "kafka.group.id", NULL};
    static const char *const redis[] = {"redis.host", "redis.port", "redis.user",
                                        "redis.password", NULL};

    for (int i = 0; kafka[i]; i++)
        if (dc_conf_passthrough(conf, kafka[i]))
            die(kafka[i], "the bench sets up its brokers, consumer groups and Redis itself");
    for (int i = 0; redis[i]; i++)
        if (dc_conf_is_set(conf, redis[i]))
            die(redis[i], "the bench sets up its brokers, consumer groups and Redis itself");
}

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
        getsockname(fd, (struct sockaddr *)&a, &len))
        die("socket", "cannot find a free port");
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static redisContext *redis_connect(int port, double wait_s)
{
    double deadline = dc_monotonic_s() + wait_s;
    for (;;) {
        redisContext *rc = redisConnect("127.0.0.1", port);
        if (rc && !rc->err)
            return rc;
        if (rc)
            redisFree(rc);
        if (dc_monotonic_s() > deadline)
            die("redis", "cannot connect");
        sleep_ms(50);
    }
}

/* The redis-server this run started (0: none) and its directory, stopped
 * and removed at exit, a failed run's included. */
static pid_t g_redis_pid;
static char g_redis_dir[] = "/tmp/bench_ingest.XXXXXX";

static void stop_redis(void)
{
    char cmd[64 + sizeof(g_redis_dir)];

    if (!g_redis_pid)
        return;
    kill(g_redis_pid, SIGTERM);
    waitpid(g_redis_pid, NULL, 0);
    g_redis_pid = 0;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_redis_dir);
    if (system(cmd))
        fprintf(stderr, "bench_ingest: could not remove %s\n", g_redis_dir);
}

static pid_t start_redis(int port, const char *dir)
{
    char p[16], log[512];
    pid_t pid;

    snprintf(p, sizeof(p), "%d", port);
    snprintf(log, sizeof(log), "%s/redis.log", dir);
    if ((pid = fork()) < 0)
        die("fork", "failed");
    if (pid == 0) {
        execlp("redis-server", "redis-server", "--bind", "127.0.0.1", "--port", p, "--dir", dir,
               "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
               "--daemonize", "no", "--logfile", log, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Sum of calls over INFO commandstats, leaving out the bench's own INFO,
 * CONFIG and FLUSHALL. */
static long long redis_calls(redisContext *rc)
{
    redisReply *r = redisCommand(rc, "INFO commandstats");
    long long sum = 0;

    if (!r || r->type != REDIS_REPLY_STRING)
        die("redis", "INFO commandstats failed");
    for (char *line = strstr(r->str, "cmdstat_"); line; line = strstr(line + 1, "cmdstat_")) {
        char *calls = strstr(line, "calls=");
        if (!strncmp(line, "cmdstat_info:", 13) || !strncmp(line, "cmdstat_config", 14) ||
            !strncmp(line, "cmdstat_flushall", 16) || !calls)
            continue;
        sum += strtoll(calls + 6, NULL, 10);
    }
    freeReplyObject(r);
    return sum;
}

/* CPU seconds (user + system) this process has used: the consumer, the
 * pipeline and its flush thread, and the embedded broker's threads. */
static double process_cpu(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The CPU time of each thread of this process, found in /proc/self/task.
 * A thread's CPU clock is read by the clock id Linux makes of its thread
 * id (kernel ABI: what glibc's pthread_getcpuclockid() returns, which
 * takes only this library's own threads). */
#define THREADS_MAX 128
typedef struct {
    pid_t tid;
    char name[16];
    double cpu_s;
} thread_cpu_t;

typedef struct {
    thread_cpu_t t[THREADS_MAX];
    size_t n;
} threads_t;

static void threads_take(threads_t *s)
{
    DIR *dir = opendir("/proc/self/task");
    struct dirent *de;

    if (!dir)
        die("/proc/self/task", strerror(errno));
    s->n = 0;
    while ((de = readdir(dir))) {
        pid_t tid = (pid_t)strtol(de->d_name, NULL, 10);
        char path[64];
        struct timespec ts;
        if (tid <= 0)
            continue;
        if (s->n == THREADS_MAX)
            die("/proc/self/task", "too many threads");
        /* ~tid << 3, per thread (4), the scheduler's run time (2) */
        clockid_t clock = (clockid_t)((~(unsigned)tid << 3) | 6u);
        if (clock_gettime(clock, &ts))
            continue; /* it ended since the listing */
        thread_cpu_t *t = &s->t[s->n++];
        t->tid = tid;
        t->cpu_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
        snprintf(path, sizeof(path), "/proc/self/task/%d/comm", (int)tid);
        FILE *f = fopen(path, "r");
        if (!f || !fgets(t->name, sizeof(t->name), f))
            snprintf(t->name, sizeof(t->name), "%d", (int)tid);
        t->name[strcspn(t->name, "\n")] = '\0';
        if (f)
            fclose(f);
    }
    closedir(dir);
}

/* A pass's threads from snapshots before and after it: this thread and
 * the threads the pass started (its consumer's and the pipeline's). The
 * embedded broker's threads, which were there before, are left out: a
 * deployment's broker runs elsewhere. Returns the CPU seconds of the
 * busiest; list gets the busiest few, "name cpu-per-event", busiest first. */
static double busiest_thread(const threads_t *before, const threads_t *after, uint64_t events,
                             char *list, size_t list_size)
{
    pid_t self = (pid_t)syscall(SYS_gettid);
    thread_cpu_t pass[THREADS_MAX];
    size_t n = 0;

    for (size_t i = 0; i < after->n; i++) {
        const thread_cpu_t *t = &after->t[i];
        size_t k = 0;
        while (k < before->n && before->t[k].tid != t->tid)
            k++;
        if (k < before->n && t->tid != self)
            continue;
        pass[n] = *t;
        pass[n].cpu_s -= k < before->n ? before->t[k].cpu_s : 0;
        if (t->tid == self)
            snprintf(pass[n].name, sizeof(pass[n].name), "main");
        /* in order, busiest first */
        for (size_t j = n++; j > 0 && pass[j].cpu_s > pass[j - 1].cpu_s; j--) {
            thread_cpu_t tmp = pass[j];
            pass[j] = pass[j - 1];
            pass[j - 1] = tmp;
        }
    }
    list[0] = '\0';
    for (size_t i = 0; i < n && i < 3; i++)
        snprintf(list + strlen(list), list_size - strlen(list), "%s%s %.2f", i ? ", " : "",
                 pass[i].name, pass[i].cpu_s / (double)events * 1e6);
    return n ? pass[0].cpu_s : 0;
}

/* The number a field of an INFO section holds (e.g. section "cpu", field
 * "used_cpu_user"): the field at the start of a line, before its colon. */
static double redis_info(redisContext *rc, const char *section, const char *field)
{
    redisReply *r = redisCommand(rc, "INFO %s", section);
    size_t len = strlen(field);
    const char *at = r && r->type == REDIS_REPLY_STRING ? r->str : NULL;

    while (at && (at = strstr(at, field)) && (at[len] != ':' || (at > r->str && at[-1] != '\n')))
        at += len;
    if (!at)
        die(field, "not in Redis' INFO");
    double v = strtod(at + len + 1, NULL);
    freeReplyObject(r);
    return v;
}

/* CPU seconds (user + system) Redis has used. */
static double redis_cpu(redisContext *rc)
{
    return redis_info(rc, "cpu", "used_cpu_user") + redis_info(rc, "cpu", "used_cpu_sys");
}

static void redis_do(redisContext *rc, const char *cmd)
{
    redisReply *r = redisCommand(rc, cmd);
    if (!r || r->type == REDIS_REPLY_ERROR)
        die(cmd, r ? r->str : rc->errstr);
    freeReplyObject(r);
}

/* Produces n shop events into the topics as a shop's producers would:
 * batches compressed with lz4, which the broker stores as they come and
 * every consumer (each pass) inflates; returns the Kafka messages. conf is
 * the passes' configuration; the producer gets a copy of its brokers with
 * the compression, a producer's property the passes' consumers would warn
 * about. */
static uint64_t produce(const dc_conf_t *conf, uint32_t skus, uint64_t n, double sessions)
{
    dc_shop_params_t params;
    dc_shop_t *shop;
    dc_kafka_producer_t *kp;
    dc_codec_t *codec;
    dc_click_t click;
    dc_order_t order = {0};
    dc_buf_t buf = {0};
    char errstr[512];
    uint64_t count = 0;
    int t;
    dc_conf_t *pconf = dc_conf_new();

    if (!pconf)
        die("produce", "out of memory");
    conf_set(pconf, "kafka.bootstrap.servers",
             dc_conf_passthrough(conf, "kafka.bootstrap.servers"));
    conf_set(pconf, "kafka.compression.type", "lz4");
    dc_shop_params_init(&params);
    params.n_skus = skus;
    params.n_events = n;
    if (sessions > 0)
        params.sessions_per_hour = sessions;
    if (!(shop = dc_shop_new(&params, errstr, sizeof(errstr))) ||
        !(codec = dc_codec_new(conf, errstr, sizeof(errstr))) ||
        !(kp = dc_kafka_producer_new(pconf, errstr, sizeof(errstr))))
        die("produce", errstr);
    while ((t = dc_shop_next(shop, &click, &order)) >= 0) {
        dc_kafka_msg_t m = {0};
        buf.len = 0;
        if (t == DC_REC_CLICK) {
            dc_codec_encode_click(codec, &click, &buf);
            m.topic = dc_conf_str(conf, "topic.clickstream");
            m.key = click.sku;
            m.key_len = strlen(click.sku);
            m.timestamp_ms = click.ts_ms;
        } else {
            dc_codec_encode_order(codec, &order, &buf);
            m.topic = dc_conf_str(conf, "topic.orders");
            m.key = order.order_id;
            m.key_len = strlen(order.order_id);
            m.timestamp_ms = order.ts_ms;
        }
        m.value = buf.data;
        m.value_len = buf.len;
        if (dc_kafka_producer_produce(kp, &m))
            die("produce", dc_kafka_producer_errstr(kp));
        count++;
    }
    if (t != DC_ERR_EOF)
        die("produce", dc_err2str(t)); /* not the figures of a cut-short stream */
    if (dc_kafka_producer_flush(kp, 60000))
        die("produce", "not every message was delivered");
    dc_kafka_producer_destroy(kp, 1000);
    dc_conf_destroy(pconf);
    dc_codec_destroy(codec);
    dc_shop_destroy(shop);
    dc_order_clear(&order);
    dc_buf_free(&buf);
    return count;
}

/* Dies unless the embedded broker still holds all n events. It keeps only
 * about 5 MB of each partition and drops the oldest beyond that, and the
 * clickstream is keyed by SKU, so the partitions of the popular SKUs fill
 * first: a pass would then wait for events that are gone. */
static void check_kept(const dc_conf_t *conf, long partitions, uint64_t n)
{
    const char *over[] = {"group.id", "bench-watermarks", NULL};
    const char *topics[] = {dc_conf_str(conf, "topic.clickstream"),
                            dc_conf_str(conf, "topic.orders")};
    char errstr[512];
    rd_kafka_t *rk = dc_kafka_consumer_new(conf, over, errstr, sizeof(errstr));
    uint64_t kept = 0;

    if (!rk)
        die("consumer", errstr);
    for (int t = 0; t < 2; t++)
        for (int32_t p = 0; p < (int32_t)partitions; p++) {
            int64_t low, high;
            if (rd_kafka_query_watermark_offsets(rk, topics[t], p, &low, &high, 10000))
                die("watermarks", topics[t]);
            kept += (uint64_t)(high - low);
        }
    rd_kafka_destroy(rk);
    if (kept < n) {
        snprintf(errstr, sizeof(errstr),
                 "the embedded broker kept %llu of the %llu events (it keeps about 5 MB a "
                 "partition, the oldest go first): use fewer --events",
                 (unsigned long long)kept, (unsigned long long)n);
        die("produce", errstr);
    }
}

typedef struct {
    dc_codec_t *codec;
    dc_limits_t lim;
    dc_featbatch_t *batch; /* NULL: decode only */
    double busy_s;         /* busy work per message, seconds */
    int64_t flush_max;
    dc_click_t click;
    dc_order_t order;
} pass_t;

/* What the batch pass does where a flush would start: the batch's deltas
 * are worked out (grouping: the flush thread's first step, or the loop's
 * while a flush runs), then dropped. */
static void flush_batch(pass_t *ps)
{
    if (dc_featbatch_group(ps->batch))
        die("batch", "out of memory");
    dc_featbatch_reset(ps->batch);
}

static void decode_one(pass_t *ps, const rd_kafka_message_t *m)
{
    int32_t id;
    dc_rec_type_t type;
    char errstr[256];

    if (dc_codec_peek_id(m->payload, m->len, &id) || dc_codec_id_type(ps->codec, id, &type))
        die("decode", "bad frame");
    if (ps->busy_s > 0)
        for (double until = dc_monotonic_s() + ps->busy_s; dc_monotonic_s() < until;)
            ;
    if (type == DC_REC_CLICK) {
        if (dc_codec_decode_click(ps->codec, m->payload, m->len, &ps->click, errstr,
                                  sizeof(errstr)))
            die("decode", errstr);
        if (!ps->batch || dc_validate_click(&ps->lim, &ps->click))
            return;
        dc_fevent_t ev = {.sku = ps->click.sku, .user = ps->click.user_id,
                          .ts_ms = ps->click.ts_ms, .kind = (dc_fev_kind_t)ps->click.type,
                          .price = ps->click.price, .promo = ps->click.has_promo};
        if (dc_featbatch_add(ps->batch, &ev, INT64_MIN, NULL))
            die("batch", "out of memory");
    } else {
        if (dc_codec_decode_order(ps->codec, m->payload, m->len, &ps->order, errstr,
                                  sizeof(errstr)))
            die("decode", errstr);
        if (!ps->batch || dc_validate_order(&ps->lim, &ps->order))
            return;
        for (size_t i = 0; i < ps->order.n_lines; i++) {
            dc_fevent_t ev = {.sku = ps->order.lines[i].sku, .user = ps->order.user_id,
                              .ts_ms = ps->order.ts_ms, .kind = DC_FEV_PLACED,
                              .qty = ps->order.lines[i].qty,
                              .price = ps->order.lines[i].unit_price};
            if (dc_featbatch_add(ps->batch, &ev, INT64_MIN, NULL))
                die("batch", "out of memory");
        }
    }
    if ((int64_t)dc_featbatch_events(ps->batch) >= ps->flush_max)
        flush_batch(ps);
}

/* What a reference pass measures: its rate, the CPU of this process, of
 * the thread that reads and of its busiest thread (busiest_thread()). */
typedef struct {
    double rate, cpu, main_cpu, top_cpu;
    char top[128];
} ref_pass_t;

/* Consumes every message as a fresh group and runs decode_one() on it,
 * taking them a message a call, or run messages a call from the consumer
 * queue (run > 0); returns events/s from the first message to the last.
 * top (if not NULL, 128 bytes) gets the pass's busiest threads, top_cpu
 * the busiest one's CPU (busiest_thread()). */
static double consume_pass(const dc_conf_t *conf, const char *group, pass_t *ps, uint64_t n,
                           size_t run, double *top_cpu, char *top)
{
    threads_t before, after;
    if (top)
        threads_take(&before);
    const char *over[] = {"group.id", group, "auto.offset.reset", "earliest", NULL};
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(2);
    char errstr[512];
    rd_kafka_t *rk = dc_kafka_consumer_new(conf, over, errstr, sizeof(errstr));
    uint64_t got = 0;
    double t0 = 0, deadline = dc_monotonic_s() + 120;

    if (!rk)
        die("consumer", errstr);
    rd_kafka_topic_partition_list_add(subs, dc_conf_str(conf, "topic.clickstream"),
                                      RD_KAFKA_PARTITION_UA);
    rd_kafka_topic_partition_list_add(subs, dc_conf_str(conf, "topic.orders"),
                                      RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    rd_kafka_queue_t *cq = run ? rd_kafka_queue_get_consumer(rk) : NULL;
    rd_kafka_message_t *taken[DC_INGEST_RUN];
    size_t at = 0, n_taken = 0;
    if (run > DC_INGEST_RUN)
        die(group, "run too long");
    while (got < n) {
        rd_kafka_message_t *m;
        if (!cq) {
            m = rd_kafka_consumer_poll(rk, 100);
        } else {
            if (at == n_taken) {
                /* A call waits out its timeout for a run it cannot fill:
                 * the last asks for no more than are left. */
                size_t want = n - got < run ? (size_t)(n - got) : run;
                ssize_t k = rd_kafka_consume_batch_queue(cq, 100, taken, want);
                at = 0;
                n_taken = k > 0 ? (size_t)k : 0;
            }
            m = at < n_taken ? taken[at++] : NULL;
        }
        /* The clock only when no event came: the reference reads none
         * for an event. */
        if ((!m || m->err) && dc_monotonic_s() > deadline)
            die(group, "timed out");
        if (!m)
            continue;
        if (!m->err) {
            if (!got)
                t0 = dc_monotonic_s();
            decode_one(ps, m);
            got++;
        }
        rd_kafka_message_destroy(m);
    }
    if (ps->batch)
        flush_batch(ps); /* the last events' share, as the pipeline's drain */
    double rate = (double)(n - 1) / (dc_monotonic_s() - t0);
    if (top) {
        threads_take(&after);
        *top_cpu = busiest_thread(&before, &after, n, top, 128);
    }
    while (at < n_taken)
        rd_kafka_message_destroy(taken[at++]);
    if (cq)
        rd_kafka_queue_destroy(cq);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rate;
}

static ref_pass_t reference_pass(const dc_conf_t *conf, const char *group, pass_t *ps,
                                 uint64_t n, size_t run)
{
    double p0 = process_cpu(), m0 = dc_thread_cpu_s();
    ref_pass_t r;
    r.rate = consume_pass(conf, group, ps, n, run, &r.top_cpu, r.top);

    r.cpu = process_cpu() - p0;
    r.main_cpu = dc_thread_cpu_s() - m0;
    return r;
}

/* The pipeline pass: stop() sees the pipeline through these. */
static dc_pipeline_t *g_pl;
static uint64_t g_n;
static double g_t0, g_t1;
static int g_jobs; /* --jobs */
/* Before the first event: the input's wait for flushes, the flush
 * thread's time on jobs, on a core and blocked on Redis. */
static double g_wait0, g_busy0, g_fcpu0, g_rwait0;
/* This process's CPU time at the first event and once all are read. */
static double g_pcpu0, g_pcpu1;

static int all_in(void)
{
    dc_pipeline_stats_t s;
    dc_pipeline_stats(g_pl, &s);
    if (!g_t0 && s.events_in) {
        g_t0 = dc_monotonic_s();
        g_wait0 = s.flush_wait_s;
        g_busy0 = s.flush_busy_s;
        g_fcpu0 = s.flush_cpu_s + s.close_cpu_s;
        g_rwait0 = s.redis_wait_s;
        g_pcpu0 = process_cpu();
    }
    if ((uint64_t)(s.events_in + s.skipped) >= g_n) {
        g_t1 = dc_monotonic_s();
        g_pcpu1 = process_cpu();
        return 1;
    }
    return 0;
}

/* Cores this process kept busy in a pipeline pass while it read the input,
 * and in its drain (Redis apart). */
typedef struct {
    double reading, draining;
} pass_cores_t;

static double pipeline_pass(dc_conf_t *conf, const dc_limits_t *lim, uint64_t n,
                            dc_pipeline_stats_t *stats, double *drain_share, pass_cores_t *cores,
                            double *top_cpu, char *top, size_t top_size)
{
    threads_t before, after;
    threads_take(&before);
    char errstr[512];
    dc_featstore_t *fs = dc_featstore_new(conf, lim, "bench", errstr, sizeof(errstr));
    dc_metrics_t *metrics = dc_metrics_new(); /* counted as `run` counts them */
    dc_pipeline_sinks_t sinks = {0};
    dc_ingest_cbs_t cbs;
    dc_source_t source;
    dc_ingest_t *in;
    int err;

    if (!fs)
        die("featstore", errstr);
    if (!metrics)
        die("metrics", "out of memory");
    if (!(g_pl = dc_pipeline_new(conf, lim, fs, &sinks, metrics, errstr, sizeof(errstr))))
        die("pipeline", errstr);
    dc_pipeline_ingest_cbs(g_pl, &cbs);
    if (!(in = dc_ingest_new(conf, &cbs, metrics, errstr, sizeof(errstr))))
        die("ingest", errstr);
    dc_pipeline_ingest_source(&source, in);
    g_n = n;
    g_t0 = g_t1 = 0;
    dc_log_level_t level = dc_log_get_level();
    if (g_jobs)
        dc_log_set_level(DC_LOG_DEBUG);
    if ((err = dc_pipeline_run(g_pl, &source, all_in, 30000)))
        die("pipeline", dc_err2str(err));
    /* The final drain flush is part of the work: the pass ends once the
     * store holds every event, a while after the last one was read. */
    double all_read = g_t1;
    g_t1 = dc_monotonic_s();
    *drain_share = (g_t1 - all_read) / (g_t1 - g_t0);
    cores->reading = (g_pcpu1 - g_pcpu0) / (all_read - g_t0);
    cores->draining = (process_cpu() - g_pcpu1) / (g_t1 - all_read);
    threads_take(&after);
    *top_cpu = busiest_thread(&before, &after, n, top, top_size);
    dc_log_set_level(level);
    dc_pipeline_stats(g_pl, stats);
    dc_ingest_destroy(in);
    dc_pipeline_destroy(g_pl);
    dc_featstore_destroy(fs);
    dc_metrics_destroy(metrics);
    return (double)(n - 1) / (g_t1 - g_t0);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"skus", required_argument, NULL, 's'},
                                         {"events", required_argument, NULL, 'e'},
                                         {"flush-max", required_argument, NULL, 'f'},
                                         {"partitions", required_argument, NULL, 'p'},
                                         {"redis-port", required_argument, NULL, 'r'},
                                         {"sessions-per-hour", required_argument, NULL, 'h'},
                                         {"repeat", required_argument, NULL, 'n'},
                                         {"jobs", no_argument, NULL, 'j'},
                                         {NULL, 0, NULL, 0}};
    uint32_t skus = 10000;
    uint64_t events = 600000, n;
    long flush_max = 0, partitions = 8; /* 0: the configuration's default */
    double sessions = 0;
    int redis_port = 0, opt, repeat = 3;
    char num[32], errstr[512];
    rd_kafka_conf_t *mconf;
    rd_kafka_t *mrk;
    rd_kafka_mock_cluster_t *mc;
    dc_conf_t *conf = dc_conf_new();
    redisContext *rc;
    dc_limits_t lim;
    dc_pipeline_stats_t st;
    pass_t ps = {0};
    const char *props[64]; /* -X key=value, in order */
    int n_props = 0;

    while ((opt = getopt_long(argc, argv, "X:", opts, NULL)) != -1) {
        switch (opt) {
        case 's': skus = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'e': events = strtoull(optarg, NULL, 10); break;
        case 'f': flush_max = strtol(optarg, NULL, 10); break;
        case 'p': partitions = strtol(optarg, NULL, 10); break;
        case 'r': redis_port = (int)strtol(optarg, NULL, 10); break;
        case 'h': sessions = strtod(optarg, NULL); break;
        case 'n': repeat = (int)strtol(optarg, NULL, 10); break;
        case 'j': g_jobs = 1; break;
        case 'X':
            if (n_props == (int)(sizeof(props) / sizeof(props[0])))
                die("-X", "too many properties");
            props[n_props++] = optarg;
            break;
        default:
            fprintf(stderr, "usage: bench_ingest [--skus N] [--events N] [--flush-max N] "
                            "[--partitions P] [--sessions-per-hour X] [--repeat N] "
                            "[--redis-port PORT] [--jobs] [-X key=value ...]\n");
            return 2;
        }
    }
    if (repeat < 1 || repeat > 99) {
        fprintf(stderr, "bench_ingest: --repeat must be 1 .. 99\n");
        return 2;
    }
    if (flush_max > 0) {
        snprintf(num, sizeof(num), "%ld", flush_max);
        conf_set(conf, "flush.max.events", num);
    }
    conf_set(conf, "idle.timeout", "1s");
    conf_set(conf, "metrics.log.interval", "0");
    for (int i = 0; i < n_props; i++)
        set_prop(conf, props[i]);
    refuse_own(conf);
    flush_max = (long)dc_conf_int(conf, "flush.max.events");
    dc_log_set_level(DC_LOG_WARN);
    if (!redis_port) {
        if (!mkdtemp(g_redis_dir))
            die("mkdtemp", g_redis_dir);
        redis_port = free_port();
        g_redis_pid = start_redis(redis_port, g_redis_dir);
        atexit(stop_redis);
    }
    rc = redis_connect(redis_port, 10);
    redis_do(rc, "FLUSHALL");

    mconf = rd_kafka_conf_new();
    if (!(mrk = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, errstr, sizeof(errstr))) ||
        !(mc = rd_kafka_mock_cluster_new(mrk, 1)))
        die("mock cluster", errstr);
    rd_kafka_mock_topic_create(mc, dc_conf_str(conf, "topic.clickstream"), (int)partitions, 1);
    rd_kafka_mock_topic_create(mc, dc_conf_str(conf, "topic.orders"), (int)partitions, 1);
    rd_kafka_mock_topic_create(mc, dc_conf_str(conf, "topic.dlq"), 1, 1);

    conf_set(conf, "kafka.bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc));
    snprintf(num, sizeof(num), "%d", redis_port);
    conf_set(conf, "redis.port", num);
    if (dc_limits_init(&lim, conf, errstr, sizeof(errstr)))
        die("limits", errstr);

    n = produce(conf, skus, events, sessions);
    check_kept(conf, partitions, n);
    printf("setup: %llu messages, %u SKUs, flush.max.events %ld, %ld partitions per topic\n",
           (unsigned long long)n, skus, flush_max, partitions);

    if (!(ps.codec = dc_codec_new(conf, errstr, sizeof(errstr))))
        die("codec", errstr);
    ps.lim = lim;
    ps.flush_max = flush_max;
    /* Reserved as the pipeline reserves its batches. */
    if (!(ps.batch = dc_featbatch_new(&lim)) ||
        dc_featbatch_reserve(ps.batch, dc_pipeline_batch_reserve(flush_max)))
        die("batch", "out of memory");
    double r_decode[99], r_by_msg[99], r_by_run[99], r_busy[99], r_batch[99], r_pipe[99], cpu[99];
    double cpu_ref[99], cpu_pipe[99];
    double cpu_flush[99], cpu_close[99], wait_share[99], drain[99], main_ref[99], main_pipe[99];
    double busy_share[99], rwait_share[99], fcpu_share[99], cores_reading[99], cores_draining[99];
    double skew_h[99], in_bytes[99], top_ref[99], top_pipe[99];
    char top_ref_name[128] = "", top_pipe_name[128] = "";
    long long calls = 0;
    for (int i = 0; i < repeat; i++) {
        char group[32];
        pass_t plain = {.codec = ps.codec, .lim = lim}, busy = plain;
        busy.busy_s = 1e-6;
        ref_pass_t by_msg[2], by_run[2];
        snprintf(group, sizeof(group), "bench-decode-%d", i);
        by_msg[0] = reference_pass(conf, group, &plain, n, 0);
        snprintf(group, sizeof(group), "bench-decode-runs-%d", i);
        by_run[0] = reference_pass(conf, group, &plain, n, DC_INGEST_RUN);
        snprintf(group, sizeof(group), "bench-busy-%d", i);
        r_busy[i] = consume_pass(conf, group, &busy, n, DC_INGEST_RUN, NULL, NULL);
        snprintf(group, sizeof(group), "bench-batch-%d", i);
        dc_featbatch_reset(ps.batch);
        r_batch[i] = consume_pass(conf, group, &ps, n, DC_INGEST_RUN, NULL, NULL);

        redis_do(rc, "FLUSHALL");
        redis_do(rc, "CONFIG RESETSTAT");
        snprintf(group, sizeof(group), "bench-pipeline-%d", i);
        conf_set(conf, "kafka.group.id", group);
        double cpu0 = redis_cpu(rc);
        double p0 = process_cpu(), m0 = dc_thread_cpu_s();
        pass_cores_t pc;
        r_pipe[i] = pipeline_pass(conf, &lim, n, &st, &drain[i], &pc, &top_pipe[i],
                                  top_pipe_name, sizeof(top_pipe_name));
        cores_reading[i] = pc.reading;
        cores_draining[i] = pc.draining;
        cpu_pipe[i] = process_cpu() - p0;
        main_pipe[i] = dc_thread_cpu_s() - m0;
        cpu[i] = redis_cpu(rc) - cpu0;
        cpu_flush[i] = st.flush_cpu_s;
        cpu_close[i] = st.close_cpu_s;
        /* Of the timed pass only: the flushes before the first event
         * (the group's join) are not in it. */
        wait_share[i] = (st.flush_wait_s - g_wait0) * r_pipe[i] / (double)(n - 1);
        busy_share[i] = (st.flush_busy_s - g_busy0) * r_pipe[i] / (double)(n - 1);
        rwait_share[i] = (st.redis_wait_s - g_rwait0) * r_pipe[i] / (double)(n - 1);
        fcpu_share[i] = (st.flush_cpu_s + st.close_cpu_s - g_fcpu0) * r_pipe[i] / (double)(n - 1);
        skew_h[i] = (double)st.max_skew_ms / 3.6e6;
        calls = redis_calls(rc);
        in_bytes[i] = redis_info(rc, "stats", "total_net_input_bytes");
        /* The reference again after the pipeline, in the opposite order:
         * each way's rate is the mean of its passes around the pipeline,
         * so that a load that comes or goes during the run weighs on both
         * sides of its ratio alike. The faster way is the run's reference,
         * so that the pipeline's way of reading flatters no ratio. */
        snprintf(group, sizeof(group), "bench-decode-runs-after-%d", i);
        by_run[1] = reference_pass(conf, group, &plain, n, DC_INGEST_RUN);
        snprintf(group, sizeof(group), "bench-decode-after-%d", i);
        by_msg[1] = reference_pass(conf, group, &plain, n, 0);
        r_by_msg[i] = (by_msg[0].rate + by_msg[1].rate) / 2;
        r_by_run[i] = (by_run[0].rate + by_run[1].rate) / 2;
        int msg_faster = r_by_msg[i] >= r_by_run[i];
        const ref_pass_t *best = msg_faster ? by_msg : by_run;
        r_decode[i] = msg_faster ? r_by_msg[i] : r_by_run[i];
        cpu_ref[i] = (best[0].cpu + best[1].cpu) / 2;
        main_ref[i] = (best[0].main_cpu + best[1].main_cpu) / 2;
        top_ref[i] = (best[0].top_cpu + best[1].top_cpu) / 2;
        memcpy(top_ref_name, best[1].top, sizeof(top_ref_name));
        dc_order_clear(&plain.order); /* the lines' array the decoder grew */
        dc_order_clear(&busy.order);
    }
    size_t runs = (size_t)repeat;
    /* A run's passes follow each other within seconds and share the
     * machine's load of the moment, which swings the reference alone by 2x
     * here: each run's own ratios, and their spread, show through it. */
    double q_rate[99], q_core[99];
    for (int i = 0; i < repeat; i++) {
        q_rate[i] = r_pipe[i] / r_decode[i];
        q_core[i] = cpu_ref[i] / (cpu_pipe[i] + cpu[i]);
    }
    /* In the order they ran (the medians sort them): a trend across the
     * runs, such as a load that came or went, shows here. */
    char in_order[99 * 8] = "";
    for (int i = 0; i < repeat; i++)
        snprintf(in_order + strlen(in_order), sizeof(in_order) - strlen(in_order), " %.2f",
                 q_rate[i]);
    double ref = bench_median(r_decode, runs), busy = bench_median(r_busy, runs);
    double batch = bench_median(r_batch, runs), pipe = bench_median(r_pipe, runs);

    printf("runs: %d; rates are medians, ratios are of medians\n", repeat);
    printf("consume+decode:           %10.0f events/s (reference: each run's faster way)\n",
           ref);
    printf("  a message a call:       %10.0f events/s, runs of %d a call: %.0f (medians)\n",
           bench_median(r_by_msg, runs), DC_INGEST_RUN, bench_median(r_by_run, runs));
    printf("consume+decode+1us work:  %10.0f events/s  %.2f x reference (calibration)\n", busy,
           busy / ref);
    printf("consume+decode+batch:     %10.0f events/s  %.2f x reference (no Redis)\n", batch,
           batch / ref);
    printf("pipeline (exactly once):  %10.0f events/s  %.2f x reference\n", pipe, pipe / ref);
    double redis_us = bench_median(cpu, runs) / (double)n * 1e6;
    printf("redis cpu per event:      %10.2f us (median over the pipeline runs)\n", redis_us);
    /* Redis runs one command at a time: at its CPU per event, a whole core
     * of its own caps any pipeline at this rate. */
    printf("redis ceiling:            %10.0f events/s  %.2f x reference (Redis alone on a "
           "core)\n", 1e6 / redis_us, 1e6 / redis_us / ref);
    /* Everything shares the machine's cores: the CPU the whole pipeline
     * (this process and Redis) spends per event caps its rate there. */
    double ref_us = bench_median(cpu_ref, runs) / (double)n * 1e6;
    double pipe_us = bench_median(cpu_pipe, runs) / (double)n * 1e6;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    printf("cpu per event:            %10.2f us reference, %.2f us pipeline process + %.2f us "
           "Redis\n", ref_us, pipe_us, redis_us);
    printf("cpu ceiling:              %10.0f events/s  %.2f x reference (%ld cores, all busy)\n",
           (double)cores * 1e6 / (pipe_us + redis_us),
           (double)cores * 1e6 / (pipe_us + redis_us) / ref, cores);
    /* What the target leaves: at 0.8 x the reference's rate, every core
     * busy, the CPU per event the pipeline may spend beyond the reference's
     * own (the consumer, decoding and the embedded broker, which it does
     * too). */
    printf("cpu budget at 0.8 x:      %10.2f us per event beyond the reference's, the pipeline "
           "adds %.2f (%.2f in this process, %.2f in Redis)\n",
           (double)cores * 1e6 / (0.8 * ref) - ref_us, pipe_us - ref_us + redis_us,
           pipe_us - ref_us, redis_us);
    /* How much of the machine each pass kept busy, and what 0.8 x needs
     * at the pipeline's CPU per event: the reference leaves part of the
     * cores idle, so the pipeline reaches 0.8 x only by keeping more of
     * them busy than it does, or by spending less beyond it. */
    printf("cores busy:               %10.2f reference, %.2f pipeline (Redis included); 0.8 x "
           "needs %.2f of %ld\n", ref_us * ref / 1e6, (pipe_us + redis_us) * pipe / 1e6,
           (pipe_us + redis_us) * 0.8 * ref / 1e6, cores);
    /* Events per second of CPU: what one core does, however the passes
     * share the machine's cores with the broker and Redis. */
    printf("per core:                 %10.0f events/s reference, %.0f pipeline (Redis "
           "included)  %.2f x\n", 1e6 / ref_us, 1e6 / (pipe_us + redis_us),
           ref_us / (pipe_us + redis_us));
    double q_rate_med = bench_median(q_rate, runs), q_core_med = bench_median(q_core, runs);
    printf("pipeline / reference:     %10.2f x events/s (runs %.2f .. %.2f), %.2f x per core "
           "(runs %.2f .. %.2f): medians of each run's ratio\n", q_rate_med, q_rate[0],
           q_rate[runs - 1], q_core_med, q_core[0], q_core[runs - 1]);
    printf("each run:                %s x events/s, in the order they ran\n", in_order);
    /* Whether the runs settle the target (0.8 x the reference): only when
     * the median's interval lies on one side of it. */
    double rate_lo, rate_hi, core_lo, core_hi;
    double covered = bench_median_interval(q_rate, runs, &rate_lo, &rate_hi);
    bench_median_interval(q_core, runs, &core_lo, &core_hi);
    printf("median's interval:        %10.2f .. %.2f x events/s, %.2f .. %.2f x per core (%.0f %% "
           "confidence, %d runs)\n", rate_lo, rate_hi, core_lo, core_hi, covered * 100, repeat);
    if (rate_lo >= 0.8 || rate_hi < 0.8)
        printf("target 0.8 x events/s:    %10s (%.0f %% confidence)\n",
               rate_lo >= 0.8 ? "met" : "missed", covered * 100);
    else
        printf("target 0.8 x events/s:    %10s: the interval spans it (more --repeat)\n",
               "undecided");
    /* The flush thread's share: the part of the pipeline's CPU that works
     * in series with Redis within a flush. */
    printf("flush thread cpu/event:   %10.2f us merging and sending, %.2f us closing "
           "(medians)\n", bench_median(cpu_flush, runs) / (double)n * 1e6,
           bench_median(cpu_close, runs) / (double)n * 1e6);
    /* Whether the flush chain sets the pace: a flush thread busy most of
     * the pass, and of that time, what Redis held it up (executing a
     * transaction, reading what was sent) against what it ran or waited
     * for one of the cores the other threads and Redis share. */
    printf("flush thread busy:        %10.0f %% of the pipeline pass: %.0f %% on a core, %.0f %% "
           "blocked on Redis, the rest waiting for a core (medians)\n",
           bench_median(busy_share, runs) * 100, bench_median(fcpu_share, runs) * 100,
           bench_median(rwait_share, runs) * 100);
    /* The thread that reads the input: in the reference it only polls and
     * decodes, in the pipeline it also validates and batches the events
     * (and groups a batch while it waits for a flush in flight). */
    printf("main thread cpu/event:    %10.2f us reference, %.2f us pipeline (medians)\n",
           bench_median(main_ref, runs) / (double)n * 1e6,
           bench_median(main_pipe, runs) / (double)n * 1e6);
    /* With a core for each thread, a pass goes as fast as its busiest
     * thread (or, for the pipeline, Redis) allows: what more cores than
     * this machine's would give, as far as the threads do not slow each
     * other down. The embedded broker is left out, as a deployment's runs
     * elsewhere. */
    double top_ref_us = bench_median(top_ref, runs) / (double)n * 1e6;
    double top_pipe_us = bench_median(top_pipe, runs) / (double)n * 1e6;
    double cap_pipe_us = top_pipe_us > redis_us ? top_pipe_us : redis_us;
    printf("busiest thread cpu/event: %10.2f us reference, %.2f us pipeline, %.2f us Redis "
           "(medians)\n", top_ref_us, top_pipe_us, redis_us);
    printf("  last run's busiest:     reference %s; pipeline %s (us per event)\n", top_ref_name,
           top_pipe_name);
    printf("a core per thread:        %10.0f events/s reference, %.0f pipeline  %.2f x (each "
           "pass as fast as its busiest thread alone on a core allows)\n", 1e6 / top_ref_us,
           1e6 / cap_pipe_us, top_ref_us / cap_pipe_us);
    /* When the flush chain (flush thread, Redis, closes) is slower than
     * the input, the input waits for it with a full batch. */
    printf("input stood still:        %10.0f %% of the pipeline pass, waiting for flushes or "
           "closes in flight (median; the drain included)\n",
           bench_median(wait_share, runs) * 100);
    /* After the last event is read only the store works: the last batch's
     * flush and the closes it makes due. A pass many batches long makes
     * this end a small share of it, as in a stream that goes on. */
    printf("drain:                    %10.0f %% of the pipeline pass, from the last event read "
           "until the store holds them all (median)\n", bench_median(drain, runs) * 100);
    /* Where the pipeline leaves a core idle: the drain has only the flush
     * thread's jobs to run, while Redis executes them. */
    printf("cores busy in the pass:   %10.2f while the input is read, %.2f in the drain "
           "(this process, Redis apart; medians)\n",
           bench_median(cores_reading, runs), bench_median(cores_draining, runs));
    /* The input read by event time (see consumers.h): how far the
     * partitions drifted apart in it, against the span of the events. */
    printf("partition skew:           %10.1f h of event time at most between two partitions with "
           "events to read, at a flush (median)\n", bench_median(skew_h, runs));
    /* Only the flushes with events are the batches: the others are the
     * heartbeats while the group forms and the drain's acknowledgements. */
    printf("flushes:                  %10lld with events (%.0f events on average, %lld grouped by "
           "the input while a flush ran), %lld without, last run\n",
           (long long)st.flushes_with_events,
           st.flushes_with_events ? (double)st.events_out / (double)st.flushes_with_events : 0.0,
           (long long)st.grouped_ahead, (long long)(st.flushes - st.flushes_with_events));
    printf("redis commands per event: %10.4f (INFO commandstats: %lld calls for %llu events)\n",
           (double)calls / (double)n, calls, (unsigned long long)n);
    printf("redis commands per event: %10.4f (counted by the flushes)\n",
           (double)st.redis_commands / (double)n);
    /* What Redis reads per event is about what its append-only file grows
     * by between rewrites: the write load a store's disk takes. */
    printf("redis input per event:    %10.1f bytes (INFO stats total_net_input_bytes, median)\n",
           bench_median(in_bytes, runs) / (double)n);

    dc_featbatch_destroy(ps.batch);
    dc_codec_destroy(ps.codec);
    dc_order_clear(&ps.order);
    redisFree(rc);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mrk);
    dc_conf_destroy(conf);
    return 0;
}
