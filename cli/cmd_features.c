/* cli/cmd_features.c - `demandcast features SKU...`: the rolling windows of
 * SKUs as stored in Redis, one JSON line each. */
#include "cli/cli.h"
#include "features/features.h"

#include <jansson.h>
#include <stdio.h>

static const char usage_text[] =
    "Usage: demandcast features [-c FILE] [-X KEY=VALUE ...] SKU...\n\n"
    "Print, per SKU, one JSON line with its rolling windows as the feature store\n"
    "holds them: {\"sku\": ..., \"found\": true, \"asof\": ..., \"windows\": {\"5m\": {views,\n"
    "carts, units, orders, revenue, users, conversion}, ...}}. A SKU the store does\n"
    "not know prints with \"found\": false and zeros. Reads only, so Redis may be a\n"
    "read-only replica of the store's (a primary gets demandcast's functions if it\n"
    "lacks them, and a store of format 1 its upgrade). Exit 1 if Redis fails.\n\n"
    "Options:\n" DC_CLI_COMMON_HELP;

static json_t *sku_json(const dc_limits_t *lim, const char *sku, const dc_sku_features_t *f)
{
    json_t *root = json_object(), *wins = json_object();
    char asof[32];

    json_object_set_new(root, "sku", json_string(sku));
    json_object_set_new(root, "found", json_boolean(f->found));
    if (f->found)
        json_object_set_new(root, "asof", json_string(dc_time_format(f->asof_ms, asof,
                                                                     sizeof(asof))));
    for (size_t w = 0; w < lim->n_windows; w++) {
        const dc_window_vals_t *v = &f->win[w];
        json_t *o = json_object();
        json_object_set_new(o, "views", json_integer(v->views));
        json_object_set_new(o, "carts", json_integer(v->carts));
        json_object_set_new(o, "units", json_integer(v->units));
        json_object_set_new(o, "orders", json_integer(v->orders));
        json_object_set_new(o, "revenue", json_real(v->revenue));
        json_object_set_new(o, "users", json_integer((json_int_t)v->users));
        json_object_set_new(o, "conversion", json_real(v->conversion));
        json_object_set_new(wins, lim->window_name[w], o);
    }
    json_object_set_new(root, "windows", wins);
    return root;
}

int dc_cmd_features(int argc, char **argv)
{
    static const struct option longopts[] = {DC_CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    dc_conf_t *conf = dc_conf_new();
    dc_featstore_t *fs = NULL;
    dc_limits_t lim;
    char errstr[512];
    int opt, rc = DC_EXIT_FAIL;

    if (!conf)
        return DC_EXIT_FAIL;
    while ((opt = getopt_long(argc, argv, DC_CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1)
        if ((rc = dc_cli_common_opt(opt, optarg, conf, usage_text)) >= 0)
            goto out;
    if (optind >= argc) {
        rc = dc_cli_usage_error("features", "give at least one SKU");
        goto out;
    }
    if ((rc = dc_cli_apply_log_level(conf)))
        goto out;
    if (dc_limits_init(&lim, conf, errstr, sizeof(errstr))) {
        rc = dc_cli_usage_error("features", "%s", errstr);
        goto out;
    }
    rc = DC_EXIT_FAIL;
    if (!(fs = dc_featstore_new_reader(conf, &lim, errstr, sizeof(errstr)))) {
        fprintf(stderr, "demandcast features: %s\n", errstr);
        goto out;
    }
    for (int i = optind; i < argc; i++) {
        dc_sku_features_t f;
        json_t *j;
        char *text;
        if (dc_featstore_read(fs, argv[i], &f)) {
            fprintf(stderr, "demandcast features: %s\n", dc_featstore_errstr(fs));
            goto out;
        }
        j = sku_json(&lim, argv[i], &f);
        text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
        if (text)
            puts(text);
        free(text);
        json_decref(j);
    }
    rc = DC_EXIT_OK;
out:
    dc_featstore_destroy(fs);
    dc_conf_destroy(conf);
    return rc;
}
