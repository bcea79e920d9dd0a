#!/usr/bin/env bash
# The warned handoff's drain, sealed against stored, at the same size in one run (real MariaDB,
# moto S3, the release binary): a writer commits steadily while `spotctl agent ship` ships the
# binary log and a base backup has been taken; at the "warning" `spotctl agent drain --seal`
# fences the server and waits until the shipped log holds its position; then, on the same
# fenced server, the full drain of every table (what the warning had to hold before). Finally
# `spotctl agent recover` rebuilds the database from the base and the log in a fresh server.
# Prints: the seal's time against the full drain's (the warning now bounds only the log's tail,
# not the database's size), and acknowledged commits missing after the recovery (goal: none).
# Usage: bash benches/seal.sh [ROWS] [RATE]   (defaults: 2000000 rows, 300 commits/s)
# Env: CONNS (4), LOAD_SECONDS (10), SPOTCTL_BIN, SPOTCTL_WRITER.
# Needs: bash tests/setup.sh done; release builds:
#   cargo build --release --bin spotctl && cargo build --release -p spotctl-db --example protect_writer
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-2000000}
RATE=${2:-300}
CONNS=${CONNS:-4}
LOAD=${LOAD_SECONDS:-10}
BIN=${SPOTCTL_BIN:-$PWD/target/release/spotctl}
WRITER=${SPOTCTL_WRITER:-$PWD/target/release/examples/protect_writer}
VENV=${SPOTCTL_VENV:-$PWD/.venv}
# shellcheck source=benches/protect-lib.sh
source benches/protect-lib.sh

start_db p 1; start_db r 2
echo "seeding appdb.big with $ROWS rows"
sql p -e "CREATE DATABASE appdb CHARACTER SET utf8mb4"
sql p appdb -e "CREATE TABLE big (id INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, email VARCHAR(255) NOT NULL);
  INSERT INTO big SELECT seq, CONCAT('name', seq), CONCAT('e', seq, '@example.com') FROM seq_1_to_${ROWS};"
# The application's account: no SUPER or READ_ONLY ADMIN, so read_only stops it (ARD.md, fencing).
sql p -e "CREATE USER app@localhost IDENTIFIED BY 'app-pw'; GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON appdb.* TO app@localhost"
app_dsn="mysql://app:app-pw@localhost/appdb?socket=$work/p/sock"
"$BIN" agent ship --mysql "$(dsn p)" --to "$TO" >/dev/null 2>"$work/ship.log" &
pids+=($!)
nice -n 19 "$BIN" agent base-backup --mysql "$(dsn p)" --to "$TO" >"$work/base.json"
"$WRITER" "$app_dsn" "$work/acks.txt" "$RATE" "$CONNS" 2>"$work/writer.log" &
writer_pid=$!
pids+=($writer_pid)
sleep "$LOAD"

echo "warning: sealing"
t=$(now)
"$BIN" agent drain --seal --mysql "$(dsn p)" --to "$TO" --handoff epoch-1 >"$work/seal.json"
s_seal=$(python3 -c "print($(now) - $t)")
wait "$writer_pid" || true
echo "the same fenced server, drained in full"
t=$(now)
"$BIN" agent drain --mysql "$(dsn p)" --to "$TO" --handoff epoch-full >"$work/drain.json"
s_drain=$(python3 -c "print($(now) - $t)")
t=$(now)
"$BIN" agent recover --mysql "$(dsn r)" --from "$TO" >"$work/recover.json"
s_recover=$(python3 -c "print($(now) - $t)")
sql r -N -e "SELECT id FROM appdb.acks" >"$work/recovered.txt"

python3 - "$work" "$s_seal" "$s_drain" "$s_recover" "$ROWS" <<'PY'
import json, sys
w, s_seal, s_drain, s_recover, rows = sys.argv[1], *map(float, sys.argv[2:5]), int(sys.argv[5])
seal = json.load(open(f"{w}/seal.json"))
if "sealed" not in seal:
    sys.exit(f"NOT SEALED: {seal.get('unsealed')}")
s = seal["sealed"]
d = json.load(open(f"{w}/drain.json"))
acks = {int(l.split()[0]) for l in open(f"{w}/acks.txt") if l.strip()}
got = {int(l) for l in open(f"{w}/recovered.txt") if l.strip()}
r = json.load(open(f"{w}/recover.json"))
print(f"database: {rows} rows in appdb.big + {len(acks)} acknowledged commits in appdb.acks")
print(f"sealed drain: {s_seal:.2f} s (the shipped log reached GTID {s['gtid']} in {s['waited_ms']} ms; piece {s['piece']})")
print(f"full drain of the same server: {s_drain:.2f} s ({d['timings_ms']['total']} ms by its own count)")
print(f"full drain / sealed drain: {s_drain / s_seal:.1f}x (above 1: the seal leaves the warning that much more room)")
print(f"recovery from base + log: {s_recover:.2f} s, reached {r['reached']['gtid']}"
      f" ({'the seal' if r['reached']['gtid'] == s['gtid'] else 'NOT the seal'})")
missing = acks - got
print(f"acknowledged commits missing after the recovery: {len(missing)} of {len(acks)} "
      f"(goal: none: {'met' if not missing else 'MISSED'})")
PY
