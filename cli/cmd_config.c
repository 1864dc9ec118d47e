/* cli/cmd_config.c - `demandcast config`: the property table as Markdown
 * (the source of CONFIGURATION.md), or a check of -c/-X settings. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>

static const char usage_text[] =
    "Usage: demandcast config --list\n"
    "       demandcast config [-c FILE] [-X KEY=VALUE ...]\n\n"
    "With --list, print every configuration property as the Markdown table of\n"
    "CONFIGURATION.md. Otherwise check the given configuration and exit 0 if it is\n"
    "valid, 2 with a message naming the bad key if not.\n\n"
    "Options:\n"
    "      --list            print the property table as Markdown\n" DC_CLI_COMMON_HELP;

int dc_cmd_config(int argc, char **argv)
{
    static const struct option longopts[] = {{"list", no_argument, NULL, 'l'},
                                             DC_CLI_COMMON_LONGOPTS,
                                             {NULL, 0, NULL, 0}};
    dc_conf_t *conf = dc_conf_new();
    int opt, list = 0, rc = DC_EXIT_OK;

    if (!conf)
        return DC_EXIT_FAIL;
    while ((opt = getopt_long(argc, argv, DC_CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1) {
        if (opt == 'l') {
            list = 1;
            continue;
        }
        if ((rc = dc_cli_common_opt(opt, optarg, conf, usage_text)) >= 0)
            goto out;
    }
    rc = DC_EXIT_OK;
    if (optind < argc) {
        rc = dc_cli_usage_error("config", "unexpected argument \"%s\"", argv[optind]);
        goto out;
    }
    if (list)
        dc_conf_write_markdown(stdout);
    else
        rc = dc_cli_apply_log_level(conf);
out:
    dc_conf_destroy(conf);
    return rc;
}
