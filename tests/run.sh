#!/usr/bin/env bash
# The test command (README, CI): installs what is missing, then runs every test in the workspace
# against real servers the tests start themselves (moto server, MariaDB) on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
export SPOTCTL_MOTO_PYTHON=${SPOTCTL_MOTO_PYTHON:-$PWD/.venv/bin/python}
export SPOTCTL_REQUIRE_MARIADB=1
export PATH="$PATH:/usr/sbin"
cargo test --workspace --all-targets "$@"
