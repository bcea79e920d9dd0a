#!/usr/bin/env bash
# The whole life cycle on the local emulator, as a person would run it:
# build, start moto, apply envs/dev, show the plan is empty, fis start, destroy.
# Needs no AWS account: everything talks to a moto server on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
cargo build --bin spotctl
BIN=$PWD/target/debug/spotctl

MOTO_LOG=/tmp/spotctl-lifecycle-moto.log
# shellcheck source=tests/emulator.sh
source tests/emulator.sh

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
step "spotctl plan (a fresh env)";          "$BIN" plan "$ENV"
step "spotctl apply";                       "$BIN" apply "$ENV" --auto-approve
step "spotctl plan (must be empty)";        "$BIN" -v plan "$ENV" --detailed-exitcode
step "spotctl fis start";                   "$BIN" fis start "$ENV"
step "spotctl fis status";                  "$BIN" fis status "$ENV"
# moto records the FIS experiment but sends no warning: deliver the warning EventBridge would send.
primary=$("$BIN" status "$ENV" --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["primary"]["instance_id"])')
region=$("$BIN" status "$ENV" --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["primary"]["region"])')
sed -e "s/i-0abcd1234efgh5678/$primary/g" -e "s/us-west-2/$region/g" tests/events/seed-interruption.json > "$work/warning.json"
step "spotctl handle (the interruption warning for $primary)"; "$BIN" handle "$ENV" --event "$work/warning.json"
step "spotctl status (the standby is launched; drain/restore run on the instances, see tests/handoff.rs)"; "$BIN" status "$ENV"
step "spotctl destroy";                     "$BIN" destroy "$ENV" --auto-approve
step "spotctl plan after destroy (everything to create again)"; "$BIN" plan "$ENV" | tail -n 1
echo
echo "life cycle complete"
