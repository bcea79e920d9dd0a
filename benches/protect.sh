#!/usr/bin/env bash
# Continuous protection, measured in one run (real MariaDB, moto S3, the release binary):
#   a writer commits steadily (RATE commits/s over CONNS connections, each acknowledgement
#   timestamped by the client) while `spotctl agent ship` ships the binary log and a base backup
#   is taken (niced, as its unit runs it); then the server and the shipper are SIGKILLed at the
#   same instant, and `spotctl agent recover` rebuilds the database in a fresh server.
# Prints: acknowledged commits lost and the loss window (goal: nothing acknowledged more than 1 s
# before the loss is missing); recovery time against base size and log length (goal: replay at
# least 10x faster than the log was written); the base backup's effect on the writer (goal: at
# most 20 % fewer commits/s while it runs); S3 requests per hour idle and under load, and their
# monthly cost at S3 Standard list prices; and a second recovery with --until (every commit
# acknowledged before that second present, none begun at or after it).
# Usage: bash benches/protect.sh [ROWS] [RATE]   (defaults: 5000000 rows in the base, 500 commits/s)
# Env: CONNS (8), IDLE_SECONDS (180), LOAD_SECONDS (20), SPOTCTL_BIN, SPOTCTL_WRITER.
# Needs: bash tests/setup.sh done; release builds:
#   cargo build --release --bin spotctl && cargo build --release -p spotctl-db --example protect_writer
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-5000000}
RATE=${2:-500}
CONNS=${CONNS:-8}
IDLE=${IDLE_SECONDS:-180}
LOAD=${LOAD_SECONDS:-20}
BIN=${SPOTCTL_BIN:-$PWD/target/release/spotctl}
WRITER=${SPOTCTL_WRITER:-$PWD/target/release/examples/protect_writer}
VENV=${SPOTCTL_VENV:-$PWD/.venv}
# shellcheck source=benches/protect-lib.sh
source benches/protect-lib.sh

start_db p 1; start_db r 2; start_db u 3
echo "seeding appdb.big with $ROWS rows (the base backup's bulk)"
sql p -e "CREATE DATABASE appdb CHARACTER SET utf8mb4"
sql p appdb -e "CREATE TABLE big (id INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, email VARCHAR(255) NOT NULL);
  INSERT INTO big SELECT seq, CONCAT('name', seq), CONCAT('e', seq, '@example.com') FROM seq_1_to_${ROWS};"

# The shipper, its counters (with the time they were read) every 10 s.
"$BIN" agent ship --mysql "$(dsn p)" --to "$TO" --stats-every 10s >"$work/ship.jsonl" 2>"$work/ship.log" &
ship_pid=$!
pids+=($ship_pid)
t_ship=$(now)
echo "idle for $IDLE s (the shipper alone)"
sleep "$IDLE"
t_load=$(now)
"$WRITER" "$(dsn p)" "$work/acks.txt" "$RATE" "$CONNS" 2>"$work/writer.log" &
writer_pid=$!
pids+=($writer_pid)
sleep "$LOAD"
t_b0=$(now)
nice -n 19 "$BIN" agent base-backup --mysql "$(dsn p)" --to "$TO" >"$work/base.json"
t_b1=$(now)
sleep "$LOAD"
t_kill=$(now)
kill -9 "$pid_p" "$ship_pid"
wait "$writer_pid" || true

t=$(now)
"$BIN" agent recover --mysql "$(dsn r)" --from "$TO" >"$work/recover.json"
s_recover=$(python3 -c "print($(now) - $t)")
sql r -N -e "SELECT id FROM appdb.acks" >"$work/recovered.txt"
until_s=$(python3 -c "print(int($t_b1) + $LOAD // 2)")
until=$(date -u -d "@$until_s" +%Y-%m-%dT%H:%M:%SZ)
"$BIN" agent recover --mysql "$(dsn u)" --from "$TO" --until "$until" >"$work/until.json"
sql u -N -e "SELECT id FROM appdb.acks" >"$work/until.txt"

python3 - "$work" "$t_ship" "$t_load" "$t_b0" "$t_b1" "$t_kill" "$s_recover" "$until_s" "$RATE" "$CONNS" <<'PY'
import json, sys
w = sys.argv[1]
t_ship, t_load, t_b0, t_b1, t_kill, s_recover = map(float, sys.argv[2:8])
until_s, rate, conns = int(sys.argv[8]), sys.argv[9], sys.argv[10]
acks = {}
for line in open(f"{w}/acks.txt"):
    i, start, ack = map(int, line.split())
    acks[i] = (start / 1e6, ack / 1e6)
recovered = {int(l) for l in open(f"{w}/recovered.txt") if l.strip()}
lost = sorted((t_kill - ack, i) for i, (_, ack) in acks.items() if i not in recovered)
print(f"writer: {len(acks)} commits acknowledged ({rate}/s asked over {conns} connections)")
print("\n== unwarned loss (SIGKILL of server and shipper at the same instant) ==")
print(f"acknowledged commits lost: {len(lost)} of {len(acks)}; rows in flight recovered too: {len(recovered - set(acks))}")
if lost:
    print(f"loss window: the lost commits were acknowledged {max(lost[0][0], 0)*1000:.0f} to "
          f"{max(lost[-1][0], 0)*1000:.0f} ms before the loss")
older = [x for x in lost if x[0] > 1.0]
print(f"goal (nothing acknowledged more than 1 s before the loss is missing): {'met' if not older else f'MISSED ({len(older)} older)'}")

r = json.load(open(f"{w}/recover.json"))
b = json.load(open(f"{w}/base.json"))["base"]
tm, log, base = r["timings_ms"], r["log"], r["base"]
written = t_kill - b["taken_at_ms"] / 1000
replay = tm["replay"] / 1000
print("\n== recovery into a fresh server ==")
print(f"base: {base['rows']} rows, {base['stored_bytes']/1048576:.1f} MiB stored; log: {log['bytes']/1048576:.2f} MiB, "
      f"{log['transactions']} transactions in {log['pieces']} pieces, written over {written:.1f} s")
print(f"recover: {s_recover:.2f} s in all (check {tm['check']} ms, base restore {tm['restore']} ms, replay {tm['replay']} ms)")
speed = written / replay if replay > 0 else float('inf')
print(f"log replay: {log['transactions']/max(replay,1e-3):.0f} transactions/s, {speed:.1f}x faster than it was written "
      f"(goal >= 10x: {'met' if speed >= 10 else 'MISSED'})")
print(f"reached: {r['reached']['gtid']} (last commit {r['reached']['last_commit']}); new timeline {r['new_timeline']}")

def rate(spans):
    n = sum(1 for s, a in acks.values() for lo, hi in spans if lo <= a < hi)
    return n / sum(hi - lo for lo, hi in spans)
def latencies(lo, hi):
    return sorted((a - s) * 1000 for s, a in acks.values() if lo <= a < hi)
def pct(v, p):
    return v[min(len(v) - 1, int(len(v) * p))] if v else float('nan')
during = rate([(t_b0, t_b1)])
outside = rate([(t_load + 1, t_b0), (t_b1, t_kill - 0.5)])
ld, lo_ = latencies(t_b0, t_b1), latencies(t_load + 1, t_b0) + latencies(t_b1, t_kill - 0.5)
print("\n== base backup while writes go on (nice 19) ==")
print(f"base: {b['rows']} rows in {t_b1 - t_b0:.1f} s ({b['raw_bytes']/1048576:.0f} MiB of row text, "
      f"{b['stored_bytes']/1048576:.1f} MiB stored); commits blocked {b['timings_ms']['commits_blocked']} ms "
      f"while the snapshots opened")
print(f"writer: {during:.0f} commits/s during the base, {outside:.0f} outside: {during/outside:.2f}x "
      f"(goal >= 0.80: {'met' if during >= 0.8 * outside else 'MISSED'})")
print(f"commit latency p50/p99: {pct(ld,.5):.1f}/{pct(ld,.99):.1f} ms during, {pct(lo_,.5):.1f}/{pct(lo_,.99):.1f} ms outside")

stats = []
for line in open(f"{w}/ship.jsonl"):
    if line.strip():
        j = json.loads(line)
        stats.append((j["at_ms"] / 1000, j))
def per_hour(lo, hi):
    pts = [(t, s["requests"]) for t, s in stats if lo <= t <= hi]
    if len(pts) < 2:
        return None
    (t0, a), (t1, z) = pts[0], pts[-1]
    return {k: (z[k] - a[k]) * 3600 / (t1 - t0) for k in a}
PRICE = {"put": 0.005 / 1000, "list": 0.005 / 1000, "get": 0.0004 / 1000, "delete": 0.0}
print("\n== S3 requests of the shipper ==")
print("by design, idle: a heartbeat PUT a minute and a GET every 10 s for a newer timeline = 60 PUT + 360 GET "
      f"per hour -> ${(60 * PRICE['put'] + 360 * PRICE['get']) * 730:.2f} per month")
for name, lo, hi in [("idle", t_ship + 1, t_load), ("under load", t_load + 1, t_kill)]:
    h = per_hour(lo, hi)
    if h is None:
        print(f"{name}: too short to measure"); continue
    cost = sum(h[k] * PRICE[k] for k in h) * 730
    print(f"{name}: {h['put']:.0f} PUT + {h['get']:.0f} GET + {h['list']:.0f} LIST per hour -> "
          f"${cost:.2f} per month at S3 Standard list prices (PUT/LIST $0.005, GET $0.0004 per 1000)")

got = {int(l) for l in open(f"{w}/until.txt") if l.strip()}
before = {i for i, (s, a) in acks.items() if a < until_s}
after = {i for i, (s, a) in acks.items() if s >= until_s}
print(f"\n== point in time: --until {until_s} ==")
print(f"acknowledged before it: {len(before)}, present {len(before & got)}; begun at or after it: {len(after)}, "
      f"present {len(after & got)} -> {'exact' if before <= got and not (after & got) else 'WRONG'}")
PY
