/*
 * cli/cli.h - the `demandcast` binary: one file per subcommand, wiring only.
 *
 * Every subcommand takes -c FILE (a properties file) and repeated
 * -X key=value overrides, applied in command-line order after the file, and
 * --help. Exit codes: 0 success, 1 runtime failure (bad input, lost server),
 * 2 bad arguments or configuration.
 */
#ifndef DC_CLI_H
#define DC_CLI_H

#include "common/common.h"

#include <getopt.h>

enum { DC_EXIT_OK = 0, DC_EXIT_FAIL = 1, DC_EXIT_USAGE = 2 };

/* Long options every subcommand shares; append them to a subcommand's table
 * with DC_CLI_COMMON_LONGOPTS and handle the codes in dc_cli_common_opt(). */
#define DC_CLI_COMMON_SHORTOPTS "c:X:h"
#define DC_CLI_COMMON_LONGOPTS                                                                  \
    {"config", required_argument, NULL, 'c'}, {"set", required_argument, NULL, 'X'},          \
        {"help", no_argument, NULL, 'h'}

#define DC_CLI_COMMON_HELP                                                                      \
    "  -c, --config FILE     read key=value properties from FILE\n"                           \
    "  -X, --set KEY=VALUE   set one property (repeatable; after -c, in order)\n"             \
    "  -h, --help            show this help and exit\n"

typedef struct {
    const char *name;
    const char *summary;
    int (*main)(int argc, char **argv); /* argv[0] is the subcommand name */
} dc_cli_cmd_t;

/* Handles -c, -X and -h for a subcommand. Returns -1 if the option was
 * handled and parsing continues, or an exit code to return now (0 after
 * --help, 2 after a bad -c/-X, with the message printed). usage is the
 * subcommand's full help text. -c files are loaded in order, so a later
 * -X overrides. */
int dc_cli_common_opt(int opt, const char *arg, dc_conf_t *conf, const char *usage);

/* Prints "demandcast CMD: message" and a hint to --help; returns 2. */
int dc_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Applies log.level from conf; returns 2 with a message when it is invalid. */
int dc_cli_apply_log_level(const dc_conf_t *conf);

/* Installs SIGINT/SIGTERM handlers that set the flag dc_cli_stop reads. */
void dc_cli_install_signals(void);
int dc_cli_stop_requested(void);

int dc_cmd_config(int argc, char **argv);
int dc_cmd_replay(int argc, char **argv);
int dc_cmd_train(int argc, char **argv);
int dc_cmd_broker(int argc, char **argv);
int dc_cmd_gen(int argc, char **argv);
int dc_cmd_tail(int argc, char **argv);
int dc_cmd_run(int argc, char **argv);
int dc_cmd_features(int argc, char **argv);

#endif /* DC_CLI_H */
