#!/usr/bin/env bash
# How long a no-op `spotctl plan` of envs/dev takes against moto, in a release build, against the
# goal (0.3 s, median), and against the old code path measured in the same run: the same plan with
# the handler package's hash not cached (the binary re-zipped on every plan, as before the cache).
# Also prints the describe calls the plan made, per operation (goal: at most one per kind × region).
# Usage: bash benches/plan.sh [RUNS]   (RUNS: 5 by default; each run is a whole process)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
bash tests/setup.sh >/dev/null
cargo build --release --bin spotctl >&2
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/spotctl

MOTO_LOG=/tmp/spotctl-plan-bench-moto.log
# shellcheck source=tests/emulator.sh
source tests/emulator.sh
mkdir -p "$work/cache"
"$BIN" apply "$ENV" --auto-approve >/dev/null 2>&1
"$BIN" plan "$ENV" --detailed-exitcode >/dev/null   # exit 0: nothing to do (set -e stops otherwise)

ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
cached=(); uncached=()
# Interleaved, so drift in the machine's speed hits both alike. The cache lives in $work/cache.
XDG_CACHE_HOME=$work/cache "$BIN" plan "$ENV" >/dev/null 2>&1   # fills the cache
for i in $(seq "$RUNS"); do
  cached+=("$(XDG_CACHE_HOME=$work/cache ms "$BIN" plan "$ENV")")
  # A cache directory of its own for each run: empty, so the package is zipped and hashed again.
  uncached+=("$(XDG_CACHE_HOME=$work/empty-$i ms "$BIN" plan "$ENV")")
done
c=$(printf '%s\n' "${cached[@]}" | median)
u=$(printf '%s\n' "${uncached[@]}" | median)
echo "no-op plan of envs/dev against moto, release build, median of $RUNS whole runs:"
printf '  %-34s %6s ms  (%s)\n' "hash cached (the code path now)" "$c" "${cached[*]}"
printf '  %-34s %6s ms  (%s)\n' "re-zipped each plan (the old one)" "$u" "${uncached[*]}"
python3 -c "print(f'  ratio old/now: {$u / max($c, 1):.1f}x; goal 300 ms: ' + ('met' if $c <= 300 else 'MISSED'))"
echo "describe calls of one no-op plan:"
XDG_CACHE_HOME=$work/cache "$BIN" plan "$ENV" --output json | python3 -c '
import json, sys
calls = json.load(sys.stdin)["calls"]
for op, n in sorted(calls.items()):
    print(f"  {op:<45} {n}")'
