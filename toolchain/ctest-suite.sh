#!/usr/bin/env bash
# Runs one CTest preset with a per-test timeout and prints a summary line (tests, seconds)
# and its five slowest tests, so a suite that creeps towards the CI budget shows.
#
# usage: toolchain/ctest-suite.sh PRESET TIMEOUT_S JOBS [NAME [CTEST_ARGS...]]
#   NAME names the suite in the summary (default PRESET); CTEST_ARGS select tests (-L unit).
set -uo pipefail
cd "$(dirname "$0")/.."
preset=$1 timeout=$2 jobs=$3
name=${4:-$preset}
shift 4 2>/dev/null || shift $#
log=build/ctest-$name.log
mkdir -p build
start=$SECONDS
ctest --preset "$preset" -j "$jobs" --timeout "$timeout" "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
secs=$((SECONDS - start))
summary=$(grep -E '^[0-9]+% tests passed' "$log" | tail -1)
echo "slowest in $name:"
grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+: ' "$log" | sed -E 's/.* Test +#[0-9]+: ([^ ]+) .* ([0-9.]+) sec$/\2 \1/' |
  sort -rn | head -5 | awk '{printf "  %8.2f s  %s\n", $1, $2}'
line="suite $name: ${summary:-no tests ran}, ${secs} s wall (timeout ${timeout} s per test)"
echo "$line"
echo "$line" >>build/phases.log  # toolchain/phase.sh --summary prints it again
exit "$rc"
