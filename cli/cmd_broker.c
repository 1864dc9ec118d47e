/* cli/cmd_broker.c - `demandcast broker`: the embedded Kafka (librdkafka's
 * mock cluster) for demos and tests, with demandcast's topics created. */
#include "cli/cli.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
    "Usage: demandcast broker [--brokers N] [--partitions P] [--bootstrap-file FILE]\n\n"
    "Run an embedded Kafka cluster (librdkafka's mock cluster) until SIGINT or\n"
    "SIGTERM. It creates demandcast's topics (the topic.* properties) and prints\n"
    "its bootstrap address on stdout; clients connect to it over TCP like to any\n"
    "Kafka. Data lives in memory only, and each start picks a new port.\n\n"
    "Options:\n"
    "      --brokers N           brokers in the cluster (default 1)\n"
    "      --partitions P        partitions of each topic created (default 4)\n"
    "      --bootstrap-file FILE also write the bootstrap address to FILE, atomically,\n"
    "                            once the cluster is ready\n" DC_CLI_COMMON_HELP;

static const char *const topic_props[] = {"topic.clickstream", "topic.orders", "topic.forecasts",
                                          "topic.surges", "topic.dlq"};

static int parse_count(const char *arg, const char *what, int max, int *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(arg, &end, 10);
    if (errno || end == arg || *end || v < 1 || v > max)
        return dc_cli_usage_error("broker", "%s must be an integer in 1..%d, got \"%s\"", what,
                                  max, arg);
    *out = (int)v;
    return DC_EXIT_OK;
}

/* Writes text to path through a temporary file and rename(2), so a reader
 * polling for path never sees it half-written. */
static int write_atomically(const char *path, const char *text)
{
    char tmp[4096];
    FILE *f;
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());

    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        fprintf(stderr, "demandcast broker: path too long: %s\n", path);
        return -1;
    }
    if (!(f = fopen(tmp, "w"))) {
        fprintf(stderr, "demandcast broker: cannot create %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    int bad = fprintf(f, "%s\n", text) < 0;
    bad |= fclose(f) != 0;
    if (bad) {
        fprintf(stderr, "demandcast broker: cannot write %s: %s\n", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path)) {
        fprintf(stderr, "demandcast broker: cannot rename %s to %s: %s\n", tmp, path,
                strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    dc_log(level <= 3 ? DC_LOG_ERROR : level <= 4 ? DC_LOG_WARN : DC_LOG_DEBUG, "broker",
           "%s: %s", fac, buf);
}

int dc_cmd_broker(int argc, char **argv)
{
    static const struct option longopts[] = {{"brokers", required_argument, NULL, 'b'},
                                             {"partitions", required_argument, NULL, 'p'},
                                             {"bootstrap-file", required_argument, NULL, 'f'},
                                             DC_CLI_COMMON_LONGOPTS,
                                             {NULL, 0, NULL, 0}};
    dc_conf_t *conf = dc_conf_new();
    rd_kafka_conf_t *rkconf = NULL;
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mcluster = NULL;
    const char *bootstrap_file = NULL, *bootstraps;
    int opt, rc = DC_EXIT_OK, n_brokers = 1, n_partitions = 4;
    char errstr[512];

    if (!conf)
        return DC_EXIT_FAIL;
    while ((opt = getopt_long(argc, argv, DC_CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        switch (opt) {
        case 'b':
            rc = parse_count(optarg, "--brokers", 32, &n_brokers);
            break;
        case 'p':
            rc = parse_count(optarg, "--partitions", 10000, &n_partitions);
            break;
        case 'f':
            bootstrap_file = optarg;
            break;
        default:
            if ((rc = dc_cli_common_opt(opt, optarg, conf, usage_text)) >= 0)
                goto out;
            rc = DC_EXIT_OK;
        }
        if (rc)
            goto out;
    }
    if (optind < argc) {
        rc = dc_cli_usage_error("broker", "unexpected argument \"%s\"", argv[optind]);
        goto out;
    }
    if ((rc = dc_cli_apply_log_level(conf)))
        goto out;

    /* The mock cluster lives inside a client handle; a producer that never
     * produces is the lightest one. */
    rkconf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(rkconf, on_log);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, rkconf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "demandcast broker: %s\n", errstr);
        rd_kafka_conf_destroy(rkconf);
        rc = DC_EXIT_FAIL;
        goto out;
    }
    mcluster = rd_kafka_mock_cluster_new(rk, n_brokers);
    if (!mcluster) {
        fprintf(stderr, "demandcast broker: cannot start the mock cluster\n");
        rc = DC_EXIT_FAIL;
        goto out;
    }
    for (size_t i = 0; i < DC_ARRAY_SIZE(topic_props); i++) {
        const char *name = dc_conf_str(conf, topic_props[i]);
        int replication = n_brokers < 3 ? n_brokers : 3;
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(mcluster, name, n_partitions, replication);
        if (err) {
            fprintf(stderr, "demandcast broker: cannot create topic %s: %s\n", name,
                    rd_kafka_err2str(err));
            rc = DC_EXIT_FAIL;
            goto out;
        }
        dc_log(DC_LOG_INFO, "broker", "topic %s: %d partitions, replication %d", name,
               n_partitions, replication);
    }

    bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
    dc_cli_install_signals();
    printf("%s\n", bootstraps);
    fflush(stdout);
    if (bootstrap_file && write_atomically(bootstrap_file, bootstraps)) {
        rc = DC_EXIT_FAIL;
        goto out;
    }
    dc_log(DC_LOG_INFO, "broker", "%d broker(s) listening on %s", n_brokers, bootstraps);

    while (!dc_cli_stop_requested()) {
        struct timespec ts = {0, 100 * 1000000};
        nanosleep(&ts, NULL);
    }
    dc_log(DC_LOG_INFO, "broker", "stopping");

out:
    if (mcluster)
        rd_kafka_mock_cluster_destroy(mcluster);
    if (rk)
        rd_kafka_destroy(rk);
    dc_conf_destroy(conf);
    return rc;
}
