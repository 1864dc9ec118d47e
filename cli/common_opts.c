/* cli/common_opts.c - option handling every subcommand shares. */
#include "cli/cli.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int dc_cli_common_opt(int opt, const char *arg, dc_conf_t *conf, const char *usage)
{
    char errstr[512];

    switch (opt) {
    case 'c':
        if (dc_conf_load(conf, arg, errstr, sizeof(errstr))) {
            fprintf(stderr, "demandcast: %s\n", errstr);
            return DC_EXIT_USAGE;
        }
        return -1;
    case 'X':
        if (dc_conf_set_kv(conf, arg, errstr, sizeof(errstr))) {
            fprintf(stderr, "demandcast: -X %s: %s\n", arg, errstr);
            return DC_EXIT_USAGE;
        }
        return -1;
    case 'h':
        fputs(usage, stdout);
        return DC_EXIT_OK;
    default:
        /* getopt_long already printed what was wrong. */
        fprintf(stderr, "Try `demandcast COMMAND --help'.\n");
        return DC_EXIT_USAGE;
    }
}

int dc_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "demandcast %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry `demandcast %s --help'.\n", cmd);
    return DC_EXIT_USAGE;
}

int dc_cli_apply_log_level(const dc_conf_t *conf)
{
    dc_log_level_t level;
    const char *name = dc_conf_str(conf, "log.level");
    if (dc_log_level_parse(name, &level)) {
        fprintf(stderr, "demandcast: log.level: expected error, warn, info or debug, got \"%s\"\n",
                name);
        return DC_EXIT_USAGE;
    }
    dc_log_set_level(level);
    return DC_EXIT_OK;
}

/* Set by the handler, read by the main loop and by the HTTP server's thread
 * (health): a lock-free atomic is safe in a signal handler and between
 * threads, which a volatile sig_atomic_t is only within one thread. */
static atomic_int stop_requested;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "stop_requested must be lock-free");

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

void dc_cli_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int dc_cli_stop_requested(void) { return stop_requested; }
