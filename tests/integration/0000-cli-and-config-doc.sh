# The command-line contract and the generated configuration reference:
# --help and exit codes, unknown keys rejected, and CONFIGURATION.md equal to
# what `demandcast config --list` prints (so the document cannot drift).
source "$(dirname "$0")/lib.sh"

"$DC_BIN" --help | grep -q '^Usage: demandcast COMMAND' || dc_fail "--help text"
set +e
"$DC_BIN" >/dev/null 2>&1; rc=$?
[[ $rc == 2 ]] || dc_fail "no command: exit $rc, want 2"
"$DC_BIN" frobnicate 2>"$DC_TMP/err"; rc=$?
[[ $rc == 2 ]] || dc_fail "unknown command: exit $rc, want 2"
grep -q 'unknown command "frobnicate"' "$DC_TMP/err" || dc_fail "unknown command message"

# Every subcommand listed in --help answers its own --help with exit 0.
for cmd in $("$DC_BIN" --help | awk '/^Commands:/{on=1; next} on && /^  [a-z]/{print $1} /^$/{on=0}'); do
    "$DC_BIN" "$cmd" --help >"$DC_TMP/help" 2>&1; rc=$?
    [[ $rc == 0 ]] || dc_fail "$cmd --help: exit $rc"
    grep -q "Usage: demandcast $cmd" "$DC_TMP/help" || dc_fail "$cmd --help has no usage line"
    "$DC_BIN" "$cmd" --no-such-option >/dev/null 2>&1; rc=$?
    [[ $rc == 2 ]] || dc_fail "$cmd --no-such-option: exit $rc, want 2"
done

"$DC_BIN" config -X redis.port=99999 2>"$DC_TMP/err"; rc=$?
[[ $rc == 2 ]] || dc_fail "out-of-range property: exit $rc"
grep -q 'redis.port' "$DC_TMP/err" || dc_fail "message does not name the key"
"$DC_BIN" config -X no.such.key=1 2>"$DC_TMP/err"; rc=$?
[[ $rc == 2 ]] || dc_fail "unknown property: exit $rc"
printf 'redis.port=7000\nbogus=1\n' >"$DC_TMP/bad.properties"
"$DC_BIN" config -c "$DC_TMP/bad.properties" 2>"$DC_TMP/err"; rc=$?
[[ $rc == 2 ]] || dc_fail "bad properties file: exit $rc"
grep -q 'bad.properties:2:' "$DC_TMP/err" || dc_fail "message does not give FILE:LINE"
"$DC_BIN" config -X kafka.bootstrap.servers=127.0.0.1:1 -X redis.port=7000 ||
    dc_fail "valid configuration rejected"
set -e
# The shipped example configuration is valid.
"$DC_BIN" config -c "$DC_SOURCE_DIR/deploy/demandcast.properties" ||
    dc_fail "deploy/demandcast.properties is not a valid configuration"

"$DC_BIN" config --list | diff -u "$DC_SOURCE_DIR/CONFIGURATION.md" - ||
    dc_fail "CONFIGURATION.md drifted: regenerate it with 'demandcast config --list > CONFIGURATION.md'"
echo "ok"
