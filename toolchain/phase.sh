#!/usr/bin/env bash
# Runs one phase of `make` (a build, the fuzzers, the packages) and prints a summary line
# with its wall seconds, like the suites' (toolchain/ctest-suite.sh), so a CI log shows
# where the time goes. Every line is kept in build/phases.log too; `make test` prints them
# together at its end (toolchain/phase.sh --summary).
#
# usage: toolchain/phase.sh NAME COMMAND [ARGS...]
#        toolchain/phase.sh --reset | --summary
set -uo pipefail
cd "$(dirname "$0")/.."
log=build/phases.log
mkdir -p build
case "${1:-}" in
  --reset)
    rm -f "$log"
    date +%s >build/phases.start
    exit 0 ;;
  --summary)
    echo "where the time went:"
    [ -f "$log" ] && sed 's/^/  /' "$log"
    if [ -f build/phases.start ]; then
      echo "  total: $(( $(date +%s) - $(cat build/phases.start) )) s wall"
    fi
    exit 0 ;;
esac
[ $# -ge 2 ] || { echo "usage: $0 NAME COMMAND [ARGS...]" >&2; exit 2; }
name=$1
shift
start=$SECONDS
"$@"
rc=$?
result=ok
[ $rc -eq 0 ] || result="FAILED (rc $rc)"
line="phase $name: $result, $((SECONDS - start)) s wall"
echo "$line"
echo "$line" >>"$log"
exit "$rc"
