#!/usr/bin/env bash
# Drain and restore speed, measured in one run on this machine, against the baselines:
#   spotctl agent drain | restore   (moto S3; InnoDB tables as their files, the default)
#   spotctl agent drain --logical   (every table as rows)
#   mysqldump | gzip -> moto S3 ; moto S3 -> gunzip | mysql
#   mydumper / myloader (local directory; add the S3 upload with --s3 is not available here)
# Usage: bash benches/drain.sh [ROWS]   (default 1000000; 10000000 when asked)
# Needs: bash tests/setup.sh done; a release build (cargo build --release --bin spotctl).
# Without S3 or the binary: cargo run --release -p spotctl-db --example bench -- [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
BIN=${SPOTCTL_BIN:-$PWD/target/release/spotctl}
VENV=$PWD/.venv
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
since() { python3 -c "print(f'{$(now) - $1:.2f}')"; }

start_db() { # name
  local d=$work/$1
  mariadb-install-db --no-defaults --auth-root-authentication-method=normal --user=root --skip-test-db --datadir="$d/data" >/dev/null 2>&1
  /usr/sbin/mariadbd --no-defaults --user=root --bind-address=127.0.0.1 --port="$(free_port)" --socket="$d/sock" \
    --datadir="$d/data" --pid-file="$d/pid" --local-infile=1 --innodb-buffer-pool-size=1G --log-bin=mysql-bin --server-id=1 \
    --innodb-flush-log-at-trx-commit=2 >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do [ -S "$d/sock" ] && break; sleep 0.1; done
}
sql() { mariadb --no-defaults -uroot --socket="$work/$1/sock" "${@:2}"; }

port=$(free_port)
"$VENV/bin/python" -m moto.server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
pids+=($!)
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
"$VENV/bin/python" -c "import boto3; boto3.client('s3', endpoint_url='$AWS_ENDPOINT_URL').create_bucket(Bucket='bench')"
s3() { "$VENV/bin/python" - "$@"; }

start_db old; start_db new; start_db rows; start_db base; start_db myl
echo "seeding appdb.employees with $ROWS rows"
sql old -e "CREATE DATABASE appdb; CREATE TABLE appdb.employees (id INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, email VARCHAR(255) NOT NULL);"
sql old appdb -e "INSERT INTO employees SELECT seq, CONCAT('name', seq), CONCAT('e', seq, '@example.com') FROM seq_1_to_${ROWS};"

OLD="mysql://root@localhost/?socket=$work/old/sock"; NEW="mysql://root@localhost/?socket=$work/new/sock"

ROWS_DSN="mysql://root@localhost/?socket=$work/rows/sock"
t=$(now); "$BIN" agent drain --mysql "$OLD" --to s3://bench/spotctl --handoff b1 --bucket-region us-east-1 >"$work/drain.json"; s_drain=$(since "$t")
sql old -e "SET GLOBAL read_only = OFF"
t=$(now); "$BIN" agent restore --mysql "$NEW" --from s3://bench/spotctl --handoff b1 --bucket-region us-east-1 >"$work/restore.json"; s_restore=$(since "$t")
# The same with every table as rows (--logical: what a move to another server series uses).
t=$(now); "$BIN" agent drain --logical --mysql "$OLD" --to s3://bench/spotctl --handoff b2 --bucket-region us-east-1 >/dev/null; l_drain=$(since "$t")
sql old -e "SET GLOBAL read_only = OFF"
t=$(now); "$BIN" agent restore --mysql "$ROWS_DSN" --from s3://bench/spotctl --handoff b2 --bucket-region us-east-1 >/dev/null; l_restore=$(since "$t")
python3 - "$work/drain.json" "$work/restore.json" <<'PY'
import json, sys
d, r = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
tables = [t for db in d["databases"] for t in db["tables"]]
pieces = [c for t in tables for c in t["chunks"]]
pieces += [p for t in tables if t.get("tablespace") for p in t["tablespace"]["parts"] + [t["tablespace"]["cfg"]]]
raw = sum(c["raw_bytes"] for c in pieces); stored = sum(c["stored_bytes"] for c in pieces)
files = sum(1 for t in tables if t.get("tablespace"))
print(f"spotctl drain phases (ms): {d['timings_ms']}; {files} of {len(tables)} tables as InnoDB files; "
      f"{raw/1048576:.1f} MiB read (files and row text), {stored/1048576:.1f} MiB stored")
print(f"spotctl restore phases (ms): {r['timings_ms']}")
open(sys.argv[1] + ".mib", "w").write(str(raw / 1048576))
PY

t=$(now)
mysqldump --no-defaults -uroot --socket="$work/old/sock" --single-transaction --routines --triggers --databases appdb | gzip -1 > "$work/dump.sql.gz"
s3 "$work/dump.sql.gz" <<'PY'
import boto3, sys; boto3.client('s3').upload_file(sys.argv[1], 'bench', 'mysqldump/dump.sql.gz')
PY
m_drain=$(since "$t")
t=$(now)
s3 "$work/dump2.sql.gz" <<'PY'
import boto3, sys; boto3.client('s3').download_file('bench', 'mysqldump/dump.sql.gz', sys.argv[1])
PY
gunzip -c "$work/dump2.sql.gz" | sql base
m_restore=$(since "$t")

y_drain=""; y_restore=""
if command -v mydumper >/dev/null; then
  t=$(now); mydumper --socket "$work/old/sock" -u root -B appdb -o "$work/mydumper" -t 4 -c >/dev/null 2>&1; y_drain=$(since "$t")
  t=$(now); myloader --socket "$work/myl/sock" -u root -d "$work/mydumper" -t 4 >/dev/null 2>&1; y_restore=$(since "$t")
fi

rows_new=$(sql new -N -e "SELECT COUNT(*) FROM appdb.employees")
rows_rows=$(sql rows -N -e "SELECT COUNT(*) FROM appdb.employees")
rows_base=$(sql base -N -e "SELECT COUNT(*) FROM appdb.employees")
echo "rows: spotctl restored $rows_new (files) and $rows_rows (--logical), mysqldump restored $rows_base (of $ROWS)"
size=$(cat "$work/drain.json.mib")
python3 - "$ROWS" "$size" "$s_drain" "$s_restore" "$m_drain" "$m_restore" "$y_drain" "$y_restore" "$l_drain" "$l_restore" <<'PY'
import sys
rows, size, sd, sr, md, mr, yd, yr, ld, lr = sys.argv[1:]
sd, sr, md, mr, ld, lr = map(float, (sd, sr, md, mr, ld, lr))
print(f"{'':24}{'drain s':>10}{'restore s':>11}{'total s':>10}")
print(f"{'spotctl (S3)':24}{sd:>10.2f}{sr:>11.2f}{sd+sr:>10.2f}")
print(f"{'spotctl --logical (S3)':24}{ld:>10.2f}{lr:>11.2f}{ld+lr:>10.2f}   rows only: {(md+mr)/(ld+lr):.2f}x mysqldump")
print(f"{'mysqldump|gzip (S3)':24}{md:>10.2f}{mr:>11.2f}{md+mr:>10.2f}   spotctl is {(md+mr)/(sd+sr):.2f}x faster end to end")
if yd:
    yd, yr = float(yd), float(yr)
    print(f"{'mydumper/myloader (disk)':24}{yd:>10.2f}{yr:>11.2f}{yd+yr:>10.2f}   spotctl is {(yd+yr)/(sd+sr):.2f}x its speed")
mb = float(size)
print(f"drain throughput: {mb/sd:.1f} MiB/s of table files and row text -> about {mb/sd*110/1024:.1f} GiB drains inside the 2-minute warning (110 s of it)")
PY
