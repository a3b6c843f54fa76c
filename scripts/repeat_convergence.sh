#!/usr/bin/env bash
# Run the convergence test under provider faults again and again, PARALLEL copies at a time,
# and record how many runs passed and the longest streak without a failure.
#
#   scripts/repeat_convergence.sh [RUNS] [PARALLEL] [OUTPUT_DIR]
#
# RUNS (default 30) runs in all, PARALLEL (default 2) at once: each copy is its own pytest
# process with its own Azurite and simulator, so the copies load the machine like a parallel
# `make test`. Every run's output is kept in OUTPUT_DIR (default .local/convergence-runs/<time>);
# summary.txt there has one line per run and the totals. Exit status 0 only if every run passed.
set -u
cd "$(dirname "$0")/.."
runs=${1:-30}
parallel=${2:-2}
out=${3:-.local/convergence-runs/$(date -u +%Y%m%dT%H%M%SZ)}
python=${PYTHON:-.venv/bin/python}
test=tests/e2e/test_convergence_under_faults.py
mkdir -p "$out"
summary="$out/summary.txt"
echo "# $(date -u +%FT%TZ) $runs runs, $parallel at a time, $(nproc) cores, commit $(git rev-parse --short HEAD 2>/dev/null || echo "${COMMIT:-unknown}")" >"$summary"

passed=0 failed=0 streak=0 best=0 n=0
while [ "$n" -lt "$runs" ]; do
  pids=() names=()
  for _ in $(seq 1 "$parallel"); do
    [ "$n" -lt "$runs" ] || break
    n=$((n + 1))
    log="$out/run-$(printf %03d "$n").log"
    "$python" -m pytest "$test" -q -p no:cacheprovider >"$log" 2>&1 &
    pids+=("$!") names+=("$n")
  done
  load=$(cut -d' ' -f1 /proc/loadavg)
  for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then
      result=pass passed=$((passed + 1)) streak=$((streak + 1))
    else
      result=FAIL failed=$((failed + 1)) streak=0
    fi
    [ "$streak" -gt "$best" ] && best=$streak
    echo "run ${names[$i]}: $result (load average at start ${load}) $(tail -n 1 "$out/run-$(printf %03d "${names[$i]}").log")" >>"$summary"
  done
done
echo "# passed $passed of $n, failed $failed, longest streak without a failure $best" >>"$summary"
tail -n 1 "$summary"
[ "$failed" -eq 0 ]
