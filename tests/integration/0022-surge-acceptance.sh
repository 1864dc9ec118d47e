# Surge alerts against gen's injected promotions (--truth: sku,start,end,lift):
# a promotion is caught when an episode of its SKU STARTs within 2 hourly
# buckets of the promotion's start and ENDs after the promotion does; an
# episode is right when it starts while a promotion of its SKU runs.
# Precision and recall must both reach 0.9 over at least 10 scored
# promotions (fccheck.py surges prints them, every miss and false alarm, and
# what started each episode). The alerts are well-formed START/UPDATE/END
# episodes with reasons, keyed by SKU, timestamped with their event time.
#
# SURGE_DAYS and SURGE_SEED choose the data (12 days of seed 3 by default,
# 10 promotions scored; its 144k events fit the embedded broker's retention,
# while 20 days written before `run` reads them lose their oldest part);
# extra `run` settings go in SURGE_ARGS, e.g.
# SURGE_ARGS='-X surge.promo=false' for traffic alone. By hand, from a build
# directory (DC_KEEP_TMP=1 keeps surges.jsonl, truth.csv and run.log):
#   DC_BIN=cli/demandcast DC_SOURCE_DIR=.. DC_BUILD_DIR=. \
#       bash ../tests/integration/0022-surge-acceptance.sh
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fclib.sh"

SURGE_DAYS=${SURGE_DAYS:-12}
SURGE_SEED=${SURGE_SEED:-3}
dc_start_redis --appendonly yes
dc_start_broker --partitions 4
fc_gen "$SURGE_SEED" 60 $((SURGE_DAYS * 12000)) "$SURGE_DAYS"
fc_run_bg "$DC_TMP/run.log" ${SURGE_ARGS:-}
dc_wait_for 180 fc_all_forecast 0
fc_stop "$RUN_PID"
fc_dump demand.surges "$DC_TMP/surges.jsonl"
"${FC_CHECK[@]}" surges "$DC_TMP/surges.jsonl" "$DC_TMP/truth.csv" "$FC_FIRST_MS" \
    "$(fc_expected_closed)" 24 "$DC_SOURCE_DIR/schemas" || dc_fail "surge alerts off the truth"
echo "surge acceptance ok"
