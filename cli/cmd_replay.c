/* cli/cmd_replay.c - `demandcast replay`: history through the very pipeline
 * `run` uses (features in Redis, the model stage, the same forecaster), in
 * event time and as fast as the machine allows, into files and a backtest
 * report. Wiring only. */
#include "cli/cli.h"
#include "pipeline/pipeline.h"
#include "producers/backtest.h"
#include "producers/producers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char usage_text[] =
    "Usage: demandcast replay --input FILE [--input FILE ...]\n"
    "                         [--csv-preset NAME | --csv-map MAPPING]\n"
    "       demandcast replay --from TIME --to TIME -X kafka.bootstrap.servers=HOST:PORT\n"
    "                         [--bucket WIDTH] [--horizon H] [--train-until TIME]\n"
    "                         [--eval-from TIME --eval-to TIME] [--series N] [--min-days D]\n"
    "                         [--forecasts-out FILE.csv] [--skus FILE] [--report DIR]\n"
    "                         [--redis private|config] [-c FILE] [-X KEY=VALUE ...]\n\n"
    "Feeds historical events through the same pipeline as `run` (event-time buckets,\n"
    "the Redis feature store, the LSTM and baseline forecaster, surges) as fast as\n"
    "the machine allows, and scores the forecasts against the actuals that follow\n"
    "them. No sleeps and no wall clock reach the results: the same input, config and\n"
    "seed give byte-identical forecasts and report numbers.\n\n"
    "Input:\n"
    "  -i, --input FILE        Avro object container files of ClickEvent/OrderEvent (as\n"
    "                          `gen --out-dir` writes them; several are merged by event\n"
    "                          time), or one CSV file of order lines (plain or gzip)\n"
    "      --csv-preset NAME   CSV column mapping preset: uci-online-retail\n"
    "      --csv-map MAPPING   CSV column mapping, e.g. 'order_id=InvoiceNo;sku=StockCode;\n"
    "                          qty=Quantity;price=UnitPrice;ts=InvoiceDate;user=CustomerID;\n"
    "                          ts_format=%Y-%m-%d %H:%M:%S;cancel_prefix=C'\n"
    "      --from TIME         without --input: read topic.clickstream and topic.orders\n"
    "      --to TIME           from Kafka, messages timestamped from .. to (inclusive)\n"
    "Model:\n"
    "      --bucket WIDTH      bucket width (sets bucket.width), e.g. 1h or 1d\n"
    "      --horizon H         buckets forecast ahead (sets horizon)\n"
    "      --train-until TIME  fit the model offline on every bucket before TIME (train.epochs\n"
    "                          passes), then continue online, forecasting from TIME on\n"
    "Scoring (PROTOCOL.md; needs --eval-from and --eval-to):\n"
    "      --eval-from TIME    first target bucket (default: --train-until)\n"
    "      --eval-to TIME      last target bucket\n"
    "      --series N          score the N SKUs with the largest train demand (default 500)\n"
    "      --min-days D        ... among those with demand on >= D train buckets (default 60)\n"
    "      --report DIR        write report.md, report.json and report.html into DIR\n"
    "Output:\n"
    "      --forecasts-out F   write every forecast issued at an origin in the evaluation\n"
    "                          window as CSV (sku,origin,target,horizon,mean,p10,p50,p90)\n"
    "      --skus FILE         only these SKUs (one per line) in --forecasts-out\n"
    "      --buckets-out FILE  write what each closed bucket held per SKU, as CSV\n"
    "                          (bucket,sku,units,cancelled,views,carts; SKUs with activity)\n"
    "      --redis MODE        private (default): keep feature state in a throwaway\n"
    "                          redis-server started for this replay; config: use redis.host\n"
    "                          and redis.port (e.g. to pre-warm a deployment)\n" DC_CLI_COMMON_HELP
    "\nTIME is a date (2011-07-01), an ISO-8601 time or epoch milliseconds.\n"
    "A progress line is shown when stderr is a terminal. Exit codes: 0 success,\n"
    "1 bad input or a failed run, 2 bad arguments.\n";

static const char train_usage_text[] =
    "Usage: demandcast train --input FILE [--input FILE ...] --out MODEL\n"
    "                        [--csv-preset NAME | --csv-map MAPPING] [--until TIME]\n"
    "                        [--bucket WIDTH] [--horizon H] [-c FILE] [-X KEY=VALUE ...]\n\n"
    "Warm-starts a model from history: replays the input through the same pipeline as\n"
    "`replay`, fits the LSTM offline on every bucket before --until (default: the end\n"
    "of the input; train.epochs passes), continues online through the rest, and writes\n"
    "the model checkpoint MODEL that `run` loads with -X model.path=MODEL.\n\n"
    "Options:\n"
    "  -i, --input FILE        history: Avro container files or one CSV (see `replay --help`)\n"
    "      --csv-preset NAME   CSV column mapping preset: uci-online-retail\n"
    "      --csv-map MAPPING   CSV column mapping\n"
    "      --until TIME        fit offline on the buckets before TIME\n"
    "  -o, --out MODEL         where to write the checkpoint (written atomically)\n"
    "      --bucket WIDTH      bucket width (sets bucket.width)\n"
    "      --horizon H         buckets forecast ahead (sets horizon)\n" DC_CLI_COMMON_HELP
    "\nExit codes: 0 success, 1 bad input or a failed run, 2 bad arguments.\n";

#define MAX_INPUTS 64
#define MODEL_NAME "demandcast"

/* ---- a private redis-server, stopped by PID ---- */

typedef struct {
    pid_t pid;
    char dir[256];
    int port;
} private_redis_t;

static int free_port(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && !bind(fd, (struct sockaddr *)&addr, sizeof(addr)) &&
        !getsockname(fd, (struct sockaddr *)&addr, &len))
        port = ntohs(addr.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void private_redis_stop(private_redis_t *r)
{
    char path[320];
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        waitpid(r->pid, NULL, 0);
        r->pid = 0;
    }
    if (r->dir[0]) {
        snprintf(path, sizeof(path), "%s/redis.log", r->dir);
        unlink(path);
        rmdir(r->dir);
        r->dir[0] = '\0';
    }
}

/* Starts redis-server on a spare loopback port with its files in a fresh
 * temporary directory and waits (at most 10 s) until it answers. */
static int private_redis_start(private_redis_t *r, char *errstr, size_t errstr_size)
{
    const char *tmp = getenv("TMPDIR");
    char port[16], log[320];

    memset(r, 0, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "%s/demandcast-replay.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(r->dir)) {
        r->dir[0] = '\0';
        return dc_seterr(errstr, errstr_size, DC_ERR_IO, "mkdtemp: %s", strerror(errno));
    }
    if ((r->port = free_port()) < 0)
        return dc_seterr(errstr, errstr_size, DC_ERR_IO, "no free loopback port");
    snprintf(port, sizeof(port), "%d", r->port);
    snprintf(log, sizeof(log), "%s/redis.log", r->dir);
    r->pid = fork();
    if (r->pid < 0)
        return dc_seterr(errstr, errstr_size, DC_ERR_IO, "fork: %s", strerror(errno));
    if (r->pid == 0) {
        execlp("redis-server", "redis-server", "--bind", "127.0.0.1", "--port", port, "--dir",
               r->dir, "--save", "", "--appendonly", "no", "--logfile", log, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        struct timeval tv = {0, 200000};
        redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
        int ok = c && !c->err;
        if (ok) {
            redisReply *reply = redisCommand(c, "PING");
            ok = reply && reply->type == REDIS_REPLY_STATUS;
            freeReplyObject(reply);
        }
        redisFree(c);
        if (ok)
            return DC_OK;
        if (waitpid(r->pid, NULL, WNOHANG) == r->pid) {
            r->pid = 0;
            return dc_seterr(errstr, errstr_size, DC_ERR_IO,
                             "redis-server did not start (is it installed? see %s)", log);
        }
        usleep(50000);
    }
    return dc_seterr(errstr, errstr_size, DC_ERR_IO, "redis-server did not answer within 10 s");
}

/* ---- progress and stop ---- */

static struct {
    int tty;
    double started, last_print;
    const dc_file_source_t *fs;  /* one of the two sources */
    const dc_kafka_range_t *kr;
    int64_t first_ts, end_ts; /* for the ETA; end_ts INT64_MIN: unknown */
} progress;

static int64_t source_records(void)
{
    return progress.fs ? dc_file_source_records(progress.fs) : dc_kafka_range_records(progress.kr);
}

static int64_t source_newest(void)
{
    return progress.fs ? dc_file_source_newest(progress.fs) : dc_kafka_range_newest(progress.kr);
}

static void progress_print(int final)
{
    double now = dc_monotonic_s();
    int64_t newest = source_newest();
    int64_t records = source_records();
    char when[32] = "-", eta[32] = "";
    double rate;

    if (!progress.tty || (!final && now - progress.last_print < 0.25))
        return;
    progress.last_print = now;
    rate = records / (now - progress.started + 1e-9);
    if (newest != INT64_MIN) {
        dc_time_format(newest, when, sizeof(when));
        if (progress.first_ts == INT64_MIN)
            progress.first_ts = newest;
        if (progress.end_ts != INT64_MIN && newest > progress.first_ts && !final) {
            double done = (double)(newest - progress.first_ts) /
                          (double)(progress.end_ts - progress.first_ts);
            if (done > 0 && done < 1)
                snprintf(eta, sizeof(eta), ", ETA %.0fs",
                         (now - progress.started) * (1 - done) / done);
        }
    }
    fprintf(stderr, "\r%lld events, event time %s, %.0f events/s%s\033[K%s", (long long)records,
            when, rate, eta, final ? "\n" : "");
}

static int should_stop(void)
{
    progress_print(0);
    return dc_cli_stop_requested();
}

/* ---- sinks ---- */

typedef struct {
    dc_modelstage_t *ms;
    dc_backtest_t *bt;
    int bt_model;
    dc_backtest_conf_t bt_conf;
    int scoring;
    int64_t first_origin; /* bucket of the first scored origin */
    int64_t train_until;  /* INT64_MIN: none */
    dc_forecast_csv_t *csv;
    FILE *buckets_out;
    int64_t rejected[DC_ERR__COUNT];
    uint64_t forecasts, surges, buckets;
} replay_t;

static int on_forecast(void *opaque, const dc_forecast_t *fc)
{
    replay_t *rp = opaque;
    int err;
    rp->forecasts++;
    if (rp->csv && (err = dc_forecast_csv_write(rp->csv, fc)))
        return err;
    /* Before the first origin the backtest is still collecting train
     * actuals: a forecast would freeze its series selection too early. */
    if (!rp->bt || fc->bucket_start < rp->first_origin)
        return DC_OK;
    for (size_t k = 0; k < fc->n_horizons; k++) {
        const dc_horizon_t *h = &fc->horizons[k];
        err = dc_backtest_add_forecast(rp->bt, rp->bt_model, fc->sku, fc->bucket_start, h->offset,
                                       h->mean, h->p10, h->p50, h->p90);
        if (err) {
            dc_log(DC_LOG_ERROR, "replay", "forecast of %s not scorable: %s", fc->sku,
                   dc_err2str(err));
            return err;
        }
    }
    return DC_OK;
}

static int on_surge(void *opaque, const dc_surge_t *alert)
{
    replay_t *rp = opaque;
    (void)alert;
    rp->surges++;
    return DC_OK;
}

/* Actuals first (the backtest needs the demand of the bucket that just
 * closed), then the model. The backtest's train span starts with the first
 * bucket the pipeline closes. */
static int on_bucket(void *opaque, const dc_bucket_t *bucket)
{
    replay_t *rp = opaque;
    char errstr[256];
    rp->buckets++;
    if (rp->buckets_out) {
        char when[32];
        if (bucket->width % 86400000 == 0)
            dc_date_format(bucket->start, when, sizeof(when));
        else
            dc_time_format(bucket->start, when, sizeof(when));
        for (size_t i = 0; i < bucket->n_skus; i++) {
            const dc_bucket_sku_t *s = &bucket->skus[i];
            if ((s->units || s->cancelled || s->views || s->carts) &&
                fprintf(rp->buckets_out, "%s,%s,%lld,%lld,%lld,%lld\n", when, s->sku,
                        (long long)s->units, (long long)s->cancelled, (long long)s->views,
                        (long long)s->carts) < 0)
                return DC_ERR_IO;
        }
    }
    if (rp->scoring) {
        if (!rp->bt) {
            rp->bt_conf.train_from = bucket->start;
            if (!(rp->bt = dc_backtest_new(&rp->bt_conf, errstr, sizeof(errstr)))) {
                dc_log(DC_LOG_ERROR, "replay", "backtest: %s", errstr);
                return DC_ERR_INVAL;
            }
            rp->bt_model = dc_backtest_add_model(
                rp->bt, MODEL_NAME, "LSTM (NB head, online) blended with the seasonal quantile "
                                    "baseline; p50 as the point");
            if (rp->bt_model < 0)
                return rp->bt_model;
        }
        for (size_t i = 0; i < bucket->n_skus; i++) {
            const dc_bucket_sku_t *s = &bucket->skus[i];
            int err = dc_backtest_add_actual(rp->bt, s->sku, bucket->start, (double)s->units);
            if (err && err != DC_ERR_TOO_LATE)
                return err;
        }
    }
    return dc_modelstage_bucket_closed(rp->ms, bucket);
}

static int on_reject(void *opaque, const dc_srcmsg_t *msg, int reason, const char *detail)
{
    replay_t *rp = opaque;
    (void)msg;
    if (-reason >= 0 && -reason < DC_ERR__COUNT)
        rp->rejected[-reason]++;
    dc_log(DC_LOG_DEBUG, "replay", "rejected (%s): %s", dc_err_name(reason), detail);
    return DC_OK;
}

/* Reads one SKU per line (blank lines and '#' comments skipped). */
static int read_skus(const char *path, char ***skus, size_t *n)
{
    FILE *f = fopen(path, "r");
    char line[256];
    size_t cap = 0;
    *skus = NULL;
    *n = 0;
    if (!f)
        return DC_ERR_IO;
    while (fgets(line, sizeof(line), f)) {
        char *s = line, *e;
        while (*s == ' ' || *s == '\t')
            s++;
        e = s + strcspn(s, "\r\n");
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        *e = '\0';
        if (!*s || *s == '#')
            continue;
        if (*n == cap) {
            char **p = realloc(*skus, (cap = cap ? cap * 2 : 64) * sizeof(*p));
            if (!p)
                break;
            *skus = p;
        }
        if (!((*skus)[*n] = strdup(s)))
            break;
        (*n)++;
    }
    fclose(f);
    return DC_OK;
}

static void print_summary(const replay_t *rp, const dc_file_source_t *fs)
{
    dc_csv_stats_t cs;
    fprintf(stderr, "replay: %lld records, %llu buckets closed, %llu forecasts, %llu surge alerts\n",
            (long long)source_records(), (unsigned long long)rp->buckets,
            (unsigned long long)rp->forecasts, (unsigned long long)rp->surges);
    for (int i = 1; i < DC_ERR__COUNT; i++)
        if (rp->rejected[i])
            fprintf(stderr, "replay: rejected %lld (%s)\n", (long long)rp->rejected[i],
                    dc_err_name(-i));
    if (!fs)
        return;
    dc_file_source_csv_stats(fs, &cs);
    if (cs.rows)
        fprintf(stderr,
                "replay: CSV rows %lld, order lines %lld, orders placed %lld, cancelled %lld\n",
                (long long)cs.rows, (long long)cs.lines_accepted, (long long)cs.orders_placed,
                (long long)cs.orders_cancelled);
}

static void print_table(const dc_backtest_t *bt, int horizon)
{
    printf("| method | WAPE h=1 | WAPE h=1..%d | MASE | QL 0.1 | QL 0.5 | QL 0.9 | cov 10-90 |\n"
           "|---|---|---|---|---|---|---|---|\n",
           horizon);
    for (size_t i = 0; i < dc_backtest_result_count(bt); i++) {
        const dc_backtest_result_t *r = dc_backtest_result(bt, i);
        if (r->n_missing) {
            printf("| %s | unscorable: %lld targets without a forecast |||||||\n", r->name,
                   (long long)r->n_missing);
            continue;
        }
        printf("| %s | %.3f | %.3f | %.3f |", r->name, r->wape_h1, r->wape, r->mase);
        if (r->has_quantiles)
            printf(" %.3f | %.3f | %.3f | %.3f |\n", r->ql10, r->ql50, r->ql90, r->coverage);
        else
            printf(" - | - | - | - |\n");
    }
}

/* `replay` and `train` are one code path: train is a replay with an offline
 * fit and a checkpoint at the end, and without scoring. */
static int replay_main(int argc, char **argv, int train)
{
    static const struct option longopts[] = {
        {"input", required_argument, NULL, 'i'},
        {"csv-preset", required_argument, NULL, 'P'},
        {"csv-map", required_argument, NULL, 'M'},
        {"bucket", required_argument, NULL, 'b'},
        {"horizon", required_argument, NULL, 'H'},
        {"train-until", required_argument, NULL, 'T'},
        {"eval-from", required_argument, NULL, 'F'},
        {"eval-to", required_argument, NULL, 'E'},
        {"series", required_argument, NULL, 'n'},
        {"min-days", required_argument, NULL, 'm'},
        {"forecasts-out", required_argument, NULL, 'o'},
        {"skus", required_argument, NULL, 's'},
        {"report", required_argument, NULL, 'r'},
        {"redis", required_argument, NULL, 'R'},
        {"from", required_argument, NULL, 'f'},
        {"buckets-out", required_argument, NULL, 'B'},
        {"out", required_argument, NULL, 'O'},
        {"until", required_argument, NULL, 'T'},
        {"to", required_argument, NULL, 't'},
        DC_CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0}};
    const char *inputs[MAX_INPUTS];
    size_t n_inputs = 0, n_skus = 0;
    const char *csv_map = NULL, *forecasts_out = NULL, *skus_path = NULL, *report_dir = NULL;
    const char *buckets_path = NULL, *model_out = NULL;
    const char *cmd = train ? "train" : "replay", *usage = train ? train_usage_text : usage_text;
    const char *redis_mode = "private", *eval_from_s = NULL, *eval_to_s = NULL;
    char **skus = NULL, errstr[512], port[16];
    int opt, rc = DC_EXIT_USAGE, err;
    int64_t eval_from = INT64_MIN, eval_to = INT64_MIN, from = INT64_MIN, to = INT64_MIN;
    replay_t rp;
    private_redis_t redis = {0};
    dc_conf_t *conf = dc_conf_new();
    dc_limits_t lim;
    dc_featstore_t *store = NULL;
    dc_pipeline_t *pl = NULL;
    dc_file_source_t *fs = NULL;
    dc_kafka_range_t *kr = NULL;
    dc_source_t source;
    dc_metrics_t *metrics = NULL;
    dc_modelstage_opts_t msopts;

    memset(&rp, 0, sizeof(rp));
    rp.train_until = INT64_MIN;
    dc_backtest_conf_init(&rp.bt_conf);
    if (!conf)
        return DC_EXIT_FAIL;
    while ((opt = getopt_long(argc, argv, "i:" DC_CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        switch (opt) {
        case 'i':
            if (n_inputs == MAX_INPUTS) {
                rc = dc_cli_usage_error(cmd, "at most %d --input files", MAX_INPUTS);
                goto out;
            }
            inputs[n_inputs++] = optarg;
            break;
        case 'P':
            if (!(csv_map = dc_csv_preset(optarg))) {
                rc = dc_cli_usage_error(cmd, "unknown --csv-preset \"%s\" (known: "
                                                  "uci-online-retail)",
                                        optarg);
                goto out;
            }
            break;
        case 'M': csv_map = optarg; break;
        case 'b':
        case 'H':
            if (dc_conf_set(conf, opt == 'b' ? "bucket.width" : "horizon", optarg, errstr,
                            sizeof(errstr))) {
                rc = dc_cli_usage_error(cmd, "%s", errstr);
                goto out;
            }
            break;
        case 'f':
        case 't':
        case 'T':
        case 'F':
        case 'E': {
            int64_t t;
            if (dc_time_parse(optarg, &t)) {
                rc = dc_cli_usage_error(cmd, "bad time \"%s\"", optarg);
                goto out;
            }
            if (opt == 'f')
                from = t;
            else if (opt == 't')
                to = t;
            else if (opt == 'T')
                rp.train_until = t;
            else if (opt == 'F')
                eval_from = t, eval_from_s = optarg;
            else
                eval_to = t, eval_to_s = optarg;
            break;
        }
        case 'n':
        case 'm': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 10000000) {
                rc = dc_cli_usage_error(cmd, "bad --%s \"%s\"",
                                        opt == 'n' ? "series" : "min-days", optarg);
                goto out;
            }
            if (opt == 'n')
                rp.bt_conf.max_series = (int)v;
            else
                rp.bt_conf.min_days = (int)v;
            break;
        }
        case 'o': forecasts_out = optarg; break;
        case 'B': buckets_path = optarg; break;
        case 'O': model_out = optarg; break;
        case 's': skus_path = optarg; break;
        case 'r': report_dir = optarg; break;
        case 'R':
            if (strcmp(optarg, "private") && strcmp(optarg, "config")) {
                rc = dc_cli_usage_error(cmd, "--redis is private or config, not \"%s\"",
                                        optarg);
                goto out;
            }
            redis_mode = optarg;
            break;
        default:
            if ((rc = dc_cli_common_opt(opt, optarg, conf, usage)) >= 0)
                goto out;
        }
    }
    if (optind < argc) {
        rc = dc_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
        goto out;
    }
    if (train && !model_out) {
        rc = dc_cli_usage_error(cmd, "--out MODEL is required");
        goto out;
    }
    if (train && rp.train_until == INT64_MIN)
        rp.train_until = INT64_MAX; /* fit on everything, at the end */
    if (!n_inputs && (from == INT64_MIN || to == INT64_MIN)) {
        rc = dc_cli_usage_error(cmd, "give --input FILE, or --from and --to to read Kafka");
        goto out;
    }
    if (n_inputs && (from != INT64_MIN || to != INT64_MIN)) {
        rc = dc_cli_usage_error(cmd, "--from/--to read Kafka; they do not go with --input");
        goto out;
    }
    if (!n_inputs && !dc_conf_passthrough(conf, "kafka.bootstrap.servers")) {
        rc = dc_cli_usage_error(cmd, "--from/--to need kafka.bootstrap.servers");
        goto out;
    }
    if (eval_from == INT64_MIN && !train)
        eval_from = rp.train_until;
    rp.scoring = report_dir != NULL;
    if ((rp.scoring || forecasts_out) && (eval_from == INT64_MIN || eval_to == INT64_MIN)) {
        rc = dc_cli_usage_error(cmd, "--report and --forecasts-out need --eval-to and "
                                          "--eval-from (or --train-until)");
        goto out;
    }
    if (eval_to != INT64_MIN && eval_to < eval_from) {
        rc = dc_cli_usage_error(cmd, "--eval-to %s is before --eval-from %s", eval_to_s,
                                eval_from_s ? eval_from_s : "(--train-until)");
        goto out;
    }
    if ((rc = dc_cli_apply_log_level(conf)))
        goto out;
    rc = DC_EXIT_FAIL;

    int64_t width = dc_conf_duration_ms(conf, "bucket.width");
    if (rp.scoring) {
        rp.bt_conf.bucket_width = width;
        rp.bt_conf.horizon = (int)dc_conf_int(conf, "horizon");
        rp.bt_conf.train_until = (rp.train_until != INT64_MIN ? rp.train_until : eval_from) - 1;
        rp.bt_conf.eval_from = eval_from;
        rp.bt_conf.eval_to = eval_to;
        rp.first_origin = dc_time_floor(eval_from, width) - width;
    }
    if (skus_path && read_skus(skus_path, &skus, &n_skus)) {
        fprintf(stderr, "demandcast %s: cannot read --skus %s: %s\n", cmd, skus_path,
                strerror(errno));
        goto out;
    }
    if (forecasts_out &&
        !(rp.csv = dc_forecast_csv_new(forecasts_out, dc_time_floor(eval_from, width) - width,
                                       dc_time_floor(eval_to, width) - width,
                                       dc_time_floor(eval_to, width), (const char *const *)skus,
                                       skus_path ? n_skus : 0, errstr, sizeof(errstr)))) {
        fprintf(stderr, "demandcast %s: %s\n", cmd, errstr);
        goto out;
    }
    if (buckets_path) {
        if (!(rp.buckets_out = fopen(buckets_path, "w"))) {
            fprintf(stderr, "demandcast %s: %s: %s\n", cmd, buckets_path, strerror(errno));
            goto out;
        }
        fputs("bucket,sku,units,cancelled,views,carts\n", rp.buckets_out);
    }
    if (n_inputs && !(fs = dc_file_source_new(inputs, n_inputs, csv_map, errstr, sizeof(errstr)))) {
        fprintf(stderr, "demandcast %s: %s\n", cmd, errstr);
        goto out;
    }
    if (!n_inputs && !(kr = dc_kafka_range_new(conf, from, to, errstr, sizeof(errstr)))) {
        fprintf(stderr, "demandcast %s: %s\n", cmd, errstr);
        goto out;
    }
    if (!strcmp(redis_mode, "private")) {
        if (private_redis_start(&redis, errstr, sizeof(errstr))) {
            fprintf(stderr, "demandcast %s: %s\n", cmd, errstr);
            goto out;
        }
        snprintf(port, sizeof(port), "%d", redis.port);
        dc_conf_set(conf, "redis.host", "127.0.0.1", NULL, 0);
        dc_conf_set(conf, "redis.port", port, NULL, 0);
        dc_conf_set(conf, "redis.user", "", NULL, 0);
        dc_conf_set(conf, "redis.password", "", NULL, 0);
    }
    /* A backtest scores every series at every origin, so a SKU stays active
     * (and forecast) through quiet spells: a product that sold nothing for
     * two weeks is still on sale. */
    if (!dc_conf_is_set(conf, "sku.idle.ttl"))
        dc_conf_set(conf, "sku.idle.ttl", "365d", NULL, 0);
    if (dc_limits_init(&lim, conf, errstr, sizeof(errstr))) {
        fprintf(stderr, "demandcast %s: %s\n", cmd, errstr);
        rc = DC_EXIT_USAGE;
        goto out;
    }
    msopts.train_until = rp.train_until;
    dc_model_fit_opts_default(&msopts.fit);
    msopts.fit.epochs = (int)dc_conf_int(conf, "train.epochs");
    msopts.fit.seed = (uint64_t)dc_conf_int(conf, "model.seed");
    dc_forecaster_sink_t fsink = {on_forecast, on_surge, &rp};
    if (!(rp.ms = dc_modelstage_new(conf, &msopts, &fsink, errstr, sizeof(errstr)))) {
        fprintf(stderr, "demandcast %s: %s\n", cmd, errstr);
        goto out;
    }
    metrics = dc_metrics_new();
    if (!(store = dc_featstore_new(conf, &lim, "replay", errstr, sizeof(errstr)))) {
        fprintf(stderr, "demandcast %s: feature store: %s\n", cmd, errstr);
        goto out;
    }
    dc_pipeline_sinks_t sinks = {.bucket_closed = on_bucket,
                                 .closed_opaque = &rp,
                                 .reject = on_reject,
                                 .reject_opaque = &rp};
    if (!(pl = dc_pipeline_new(conf, &lim, store, &sinks, metrics, errstr, sizeof(errstr)))) {
        fprintf(stderr, "demandcast %s: %s\n", cmd, errstr);
        goto out;
    }
    if (fs)
        dc_file_source_attach(fs, &source);
    else
        dc_kafka_range_attach(kr, &source);
    dc_cli_install_signals();
    progress.tty = isatty(STDERR_FILENO);
    progress.started = progress.last_print = dc_monotonic_s();
    progress.fs = fs;
    progress.kr = kr;
    progress.first_ts = INT64_MIN;
    progress.end_ts = eval_to;
    err = dc_pipeline_run(pl, &source, should_stop, 10000);
    progress_print(1);
    if (!err)
        err = dc_modelstage_finish(rp.ms);
    if (err) {
        const char *why = fs && *dc_file_source_errstr(fs) ? dc_file_source_errstr(fs)
                                                           : dc_pipeline_errstr(pl);
        fprintf(stderr, "demandcast %s: %s%s%s\n", cmd, dc_err2str(err), *why ? ": " : "", why);
        goto out;
    }
    if (dc_cli_stop_requested()) {
        fprintf(stderr, "demandcast %s: interrupted\n", cmd);
        goto out;
    }
    print_summary(&rp, fs);
    if (rp.buckets_out) {
        err = fclose(rp.buckets_out);
        rp.buckets_out = NULL;
        if (err) {
            fprintf(stderr, "demandcast %s: writing %s failed\n", cmd, buckets_path);
            goto out;
        }
    }
    if (rp.csv) {
        uint64_t rows = dc_forecast_csv_rows(rp.csv);
        err = dc_forecast_csv_close(rp.csv);
        rp.csv = NULL;
        if (err) {
            fprintf(stderr, "demandcast %s: writing %s failed\n", cmd, forecasts_out);
            goto out;
        }
        fprintf(stderr, "replay: %llu forecast rows in %s\n", (unsigned long long)rows,
                forecasts_out);
    }
    if (rp.scoring) {
        if (!rp.bt || dc_backtest_finish(rp.bt, errstr, sizeof(errstr))) {
            fprintf(stderr, "demandcast %s: backtest: %s\n", cmd,
                    rp.bt ? errstr : "no bucket closed: nothing to score");
            goto out;
        }
        print_table(rp.bt, rp.bt_conf.horizon);
        if (mkdir(report_dir, 0755) && errno != EEXIST) {
            fprintf(stderr, "demandcast %s: %s: %s\n", cmd, report_dir, strerror(errno));
            goto out;
        }
        if (dc_backtest_write_report(rp.bt, report_dir, errstr, sizeof(errstr))) {
            fprintf(stderr, "demandcast %s: report: %s\n", cmd, errstr);
            goto out;
        }
    }
    if (model_out) {
        dc_model_t *model = dc_forecaster_model(dc_modelstage_forecaster(rp.ms));
        if (dc_model_save_file(model, model_out, errstr, sizeof(errstr))) {
            fprintf(stderr, "demandcast %s: %s\n", cmd, errstr);
            goto out;
        }
        fprintf(stderr, "%s: model version %llu written to %s\n", cmd,
                (unsigned long long)dc_model_version(model), model_out);
    }
    rc = DC_EXIT_OK;
out:
    dc_pipeline_destroy(pl);
    dc_featstore_destroy(store);
    dc_modelstage_destroy(rp.ms);
    dc_forecast_csv_close(rp.csv);
    if (rp.buckets_out)
        fclose(rp.buckets_out);
    dc_backtest_destroy(rp.bt);
    dc_file_source_destroy(fs);
    dc_kafka_range_destroy(kr);
    dc_metrics_destroy(metrics);
    private_redis_stop(&redis);
    for (size_t i = 0; i < n_skus; i++)
        free(skus[i]);
    free(skus);
    dc_conf_destroy(conf);
    return rc;
}

int dc_cmd_replay(int argc, char **argv) { return replay_main(argc, argv, 0); }
int dc_cmd_train(int argc, char **argv) { return replay_main(argc, argv, 1); }
