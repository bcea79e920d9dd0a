# Sourced (not run) by the scripts that drive spotctl against a local moto: tests/lifecycle.sh and
# benches/plan.sh. Starts moto on a free 127.0.0.1 port (its output to $MOTO_LOG), exports what a
# spotctl process needs to talk to it and nothing else, and makes ENV=$work/envs/dev, a copy of
# envs/dev with a throwaway SSH key, so the repository's key/ is left alone. The EXIT trap stops
# moto and removes $work. Run from the repository root, after tests/setup.sh.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/python -m moto.server -H 127.0.0.1 -p "$port" >"${MOTO_LOG:-/dev/null}" 2>&1 &
moto_pid=$!
work=$(mktemp -d)
cleanup() { kill "$moto_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

export SPOTCTL_EMULATOR_UNENFORCED_CONDITIONS=1 AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE

mkdir -p "$work/envs" "$work/key"
cp -r envs/dev "$work/envs/dev"
ssh-keygen -q -t ed25519 -N '' -C spotctl-emulator -f "$work/key/spotctl"
ENV=$work/envs/dev
