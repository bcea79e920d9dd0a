#!/usr/bin/env bash
# The whole life cycle on the local emulator, as a person would run it:
# build, start moto, apply envs/dev, show the plan is empty, fis start, destroy.
# Needs no AWS account: everything talks to a moto server on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
cargo build --bin spotctl
BIN=$PWD/target/debug/spotctl

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/python -m moto.server -H 127.0.0.1 -p "$port" >/tmp/spotctl-lifecycle-moto.log 2>&1 &
moto_pid=$!
work=$(mktemp -d)
cleanup() { kill "$moto_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

export SPOTCTL_EMULATOR_UNENFORCED_CONDITIONS=1 AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE

# A throwaway copy of envs/dev with its own SSH key, so the repository's key/ is left alone.
mkdir -p "$work/envs" "$work/key"
cp -r envs/dev "$work/envs/dev"
ssh-keygen -q -t ed25519 -N '' -C spotctl-lifecycle -f "$work/key/spotctl"
ENV=$work/envs/dev

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
