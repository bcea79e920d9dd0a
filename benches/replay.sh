#!/usr/bin/env bash
# How long `spotctl replay` takes on a folder of measured traces, in a release build, against the
# goal: the 45 days x 9 zones of availability/1-node/aws-02-15-2023 (Can't Be Late, NSDI 2024) in
# under a second. Each run is a whole process: start, env file, every trace file read and parsed,
# the replay, the table. The baseline, measured in the same run, is `spotctl --version` (process
# start alone).
# Usage: bash benches/replay.sh TRACES_DIR [ENV_DIR]   (ENV_DIR: benches/replay-env by default)
# The traces are never part of the repository: pass their folder.
set -euo pipefail
cd "$(dirname "$0")/.."
TRACES=${1:?usage: bash benches/replay.sh TRACES_DIR [ENV_DIR]}
ENV_DIR=${2:-benches/replay-env}
cargo build --release --bin spotctl >&2
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/spotctl
RUNS=5

# The best of $RUNS runs of a command, in milliseconds.
best_ms() {
  local best=
  for _ in $(seq "$RUNS"); do
    local t0 t1 ms
    t0=$(date +%s%N)
    "$@" >/dev/null
    t1=$(date +%s%N)
    ms=$(( (t1 - t0) / 1000000 ))
    if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
  done
  echo "$best"
}

files=$(find "$TRACES" -maxdepth 1 -name '*.json' | wc -l)
echo "traces: $TRACES ($files files); env: $ENV_DIR; best of $RUNS runs"
base=$(best_ms "$BIN" --version)
fleet=$(best_ms "$BIN" replay fleet "$ENV_DIR" --traces "$TRACES")
placement=$(best_ms "$BIN" replay placement "$ENV_DIR" --traces "$TRACES")
verdict() { if [ "$1" -lt 1000 ]; then echo "under 1 s"; else echo "OVER 1 s"; fi; }
printf '%-18s %6s ms\n' "process start" "$base"
printf '%-18s %6s ms  (%s; %s x the process start)\n' "replay fleet" "$fleet" "$(verdict "$fleet")" \
  "$(python3 -c "print(f'{$fleet / max($base, 1):.1f}')")"
printf '%-18s %6s ms  (%s; %s x the process start)\n' "replay placement" "$placement" "$(verdict "$placement")" \
  "$(python3 -c "print(f'{$placement / max($base, 1):.1f}')")"
echo
"$BIN" replay fleet "$ENV_DIR" --traces "$TRACES"
echo
"$BIN" replay placement "$ENV_DIR" --traces "$TRACES"
