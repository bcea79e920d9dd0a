#!/usr/bin/env bash
# Installs what spotctl's tests need on a fresh Debian 12 machine, idempotently:
#   - moto server (the AWS API emulator), pinned, in its own virtualenv under .venv/
#   - MariaDB server and client (the real database the drain/restore tests use)
#   - mydumper (the benchmark's second baseline)
# Nothing is started here: each test starts its own servers on free 127.0.0.1 ports.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.5
VENV=${SPOTCTL_VENV:-$PWD/.venv}

need_apt=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need_apt+=(mariadb-server)
command -v mariadb >/dev/null 2>&1 || need_apt+=(mariadb-client)
command -v mydumper >/dev/null 2>&1 || need_apt+=(mydumper)
command -v ssh-keygen >/dev/null 2>&1 || need_apt+=(openssh-client)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # The package starts a system MariaDB; the tests run their own, so stop it to free resources.
  (systemctl stop mariadb 2>/dev/null || service mariadb stop 2>/dev/null || true) >/dev/null 2>&1
fi

if ! "$VENV/bin/python" -c "import moto, sys; sys.exit(0 if moto.__version__ == '$MOTO_VERSION' else 1)" 2>/dev/null; then
  echo "setup: installing moto[server]==$MOTO_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
echo "setup: moto $("$VENV/bin/python" -c 'import moto; print(moto.__version__)'), $(mariadbd --version 2>/dev/null || /usr/sbin/mariadbd --version)"
