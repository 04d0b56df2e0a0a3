#!/usr/bin/env bash
# Runs each libFuzzer target of the debug tree (build/debug/tests/fuzz) for SECONDS
# (default 300) and prints one line per target: executions, corpus size, result. Exits
# non-zero when a target crashed, leaked, timed out or ran out of memory; the input is kept
# in build/fuzz/findings/<target>/.
#
# usage: toolchain/run-fuzzers.sh [SECONDS] [TARGET...]   (FUZZ_FLAGS: more libFuzzer flags,
# e.g. "-fork=1 -ignore_crashes=1" to search on past a known crash; FUZZ_JOBS: how many
# targets run side by side, default 1 — each target is one process on one core)
# The checked-in seeds (tests/fuzz/corpus/<target>/, crash reproducers included) are run
# first, read-only; new inputs go to build/fuzz/corpus/<target>/, which later runs reuse.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(gguf_fuzz tokenizer_fuzz protocol_fuzz config_fuzz session_fuzz mqtt_wire_fuzz)
bin=${AIRT_FUZZ_BIN:-build/debug/tests/fuzz}
jobs=${FUZZ_JOBS:-1}

# Runs target $1 and writes its summary line (and on failure the log's tail) to $2;
# exits non-zero when it found something.
run_one() {
  local t=$1 report=$2
  [ -x "$bin/$t" ] || { echo "fuzz: $bin/$t is not built (make fuzz-build)" >"$report"; return 1; }
  local work=build/fuzz/corpus/$t findings=build/fuzz/findings/$t log=build/fuzz/logs/$t.log
  mkdir -p "$work" "$findings" "$(dirname "$log")" "tests/fuzz/corpus/$t"
  touch "$log.start"
  # -timeout: one input running 10 s is a hang; -rss_limit_mb: a leak or a blow-up.
  AIRT_FUZZ_SEED_OUT="$work" ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$bin/$t" ${FUZZ_FLAGS:-} -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$findings/" "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1
  local rc=$? runs corpus found result
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  [ -n "$runs" ] || runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')  # -fork mode
  corpus=$(find "$work" -type f | wc -l)
  found=$(find "$findings" -type f -newer "$log.start" 2>/dev/null | wc -l)
  if [ $rc -eq 0 ] && [ "$found" -eq 0 ]; then
    result=ok
  elif [ $rc -eq 0 ]; then
    result="FOUND $found inputs (in $findings; -ignore_crashes went on)"
  else
    result="FAILED (rc $rc): $(grep -m1 -E 'ERROR: |fuzz invariant failed|runtime error' "$log" | cut -c1-160)"
  fi
  printf 'fuzz %-15s %4ss  %10s execs  %6s corpus  %s\n' "$t" "$seconds" "${runs:-?}" "$corpus" "$result" >"$report"
  [ $rc -eq 0 ] || { echo "  log: $log; inputs: $(ls "$findings" | head -3 | tr '\n' ' ')"; tail -30 "$log"; } >>"$report"
  [ "$result" = ok ]
}

reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
start_all=$SECONDS
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  ( run_one "$t" "$reports/$t" || touch "$reports/$t.failed" ) &
done
wait
failed=0
for t in "${targets[@]}"; do
  cat "$reports/$t"
  [ -e "$reports/$t.failed" ] && failed=1
done
echo "fuzz: ${#targets[@]} targets ($jobs at a time), $((SECONDS - start_all)) s, $([ $failed -eq 0 ] && echo 'no findings' || echo 'FINDINGS')"
exit $failed
