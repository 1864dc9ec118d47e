/* cli/main.c - `demandcast SUBCOMMAND [options]`: dispatch only. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

/* The subcommands, in the order --help lists them. */
static const dc_cli_cmd_t commands[] = {
    {"replay", "backtest: history through the same pipeline, scored against baselines",
     dc_cmd_replay},
    {"train", "warm-start a model from history and write the checkpoint `run` loads",
     dc_cmd_train},
    {"config", "list the configuration properties, or check a configuration", dc_cmd_config},
    {"broker", "run the embedded Kafka (mock cluster) for demos and tests", dc_cmd_broker},
    {"gen", "generate a synthetic shop's clicks and orders into Kafka or files", dc_cmd_gen},
    {"tail", "print the records of a demandcast topic as JSON lines", dc_cmd_tail},
    {"run", "run the pipeline: Kafka in, exactly-once features in Redis, bucket closes", dc_cmd_run},
    {"features", "print the rolling-window features of SKUs from Redis as JSON", dc_cmd_features},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: demandcast COMMAND [OPTIONS]\n\n"
                 "Streaming demand forecasting: Kafka in, rolling features in Redis, an online\n"
                 "LSTM per SKU, probabilistic forecasts and surge alerts out.\n\nCommands:\n");
    for (size_t i = 0; i < DC_ARRAY_SIZE(commands); i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nEvery command takes -c FILE and -X key=value; `demandcast COMMAND --help`\n"
                 "describes one. Exit codes: 0 ok, 1 failure, 2 bad arguments.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return DC_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return DC_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("demandcast %s\n", DC_VERSION);
        return DC_EXIT_OK;
    }
    for (size_t i = 0; i < DC_ARRAY_SIZE(commands); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].main(argc - 1, argv + 1);
    fprintf(stderr, "demandcast: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return DC_EXIT_USAGE;
}
