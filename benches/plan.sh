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

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/python -m moto.server -H 127.0.0.1 -p "$port" >/tmp/spotctl-plan-bench-moto.log 2>&1 &
moto_pid=$!
work=$(mktemp -d)
cleanup() { kill "$moto_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
export SPOTCTL_EMULATOR_UNENFORCED_CONDITIONS=1 AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE
mkdir -p "$work/envs" "$work/key" "$work/cache"
cp -r envs/dev "$work/envs/dev"
ssh-keygen -q -t ed25519 -N '' -C spotctl-bench -f "$work/key/spotctl"
ENV=$work/envs/dev
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
