# Shared by benches/protect.sh and benches/seal.sh: a work directory cleaned on exit, MariaDB
# servers configured as user-data configures a primary, and moto's S3 with a `bench` bucket.
# Needs BIN, VENV set by the caller; sets TO (where the log, bases and drains go).
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

start_db() { # name server_id
  local d=$work/$1
  mkdir -p "$d/binlog" "$d/tmp"
  mariadb-install-db --no-defaults --auth-root-authentication-method=normal --user=root --skip-test-db \
    --datadir="$d/data" >/dev/null 2>&1
  # As user-data configures a primary (log-basename before log-bin, or the log moves).
  /usr/sbin/mariadbd --no-defaults --user=root --bind-address=127.0.0.1 --port="$(free_port)" --socket="$d/sock" \
    --datadir="$d/data" --tmpdir="$d/tmp" --pid-file="$d/pid" --local-infile=1 --innodb-buffer-pool-size=1G \
    --server-id="$2" --log-basename=spot --log-bin="$d/binlog/spot-bin" --binlog-format=ROW --binlog-row-image=FULL \
    --binlog-checksum=CRC32 --sync-binlog=1 --innodb-flush-log-at-trx-commit=1 --gtid-domain-id=0 \
    --gtid-strict-mode=1 >"$d/err.log" 2>&1 &
  pids+=($!)
  eval "pid_$1=$!"
  for _ in $(seq 300); do [ -S "$d/sock" ] && break; sleep 0.1; done
}
sql() { mariadb --no-defaults -uroot --socket="$work/$1/sock" "${@:2}"; }
dsn() { echo "mysql://root@localhost/?socket=$work/$1/sock"; }

port=$(free_port)
"$VENV/bin/python" -m moto.server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
pids+=($!)
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
"$VENV/bin/python" -c "import boto3; boto3.client('s3', endpoint_url='$AWS_ENDPOINT_URL').create_bucket(Bucket='bench')"
TO=s3://bench/backups

