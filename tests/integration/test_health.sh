#!/usr/bin/env bash
# tests/integration/test_health.sh SCENARIO_WORKER — /healthz and /readyz:
#   - /healthz fails (503, naming the shard) within its window while a
#     workflow holds its shard thread (a worker with the watchdog off, a
#     Wedge workflow blocked on a FIFO), and recovers once it lets go;
#   - /readyz is 503 while the server is away (a TCP forwarder between the
#     worker and the dev server is killed for 60 s) and 200 again once it is
#     back; no socket of the worker is left in CLOSE-WAIT meanwhile; the
#     worker's log has the loss, the return and the time away, once each;
#   - /readyz is 503 during a graceful stop (an activity in its grace
#     period).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_health.sh SCENARIO_WORKER}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$mport/$1" || true; }
# wait_code PATH CODE SECONDS: until PATH answers CODE.
wait_code() {
  for _ in $(seq 1 $(($3 * 10))); do [ "$(code "$1")" = "$2" ] && return 0; sleep 0.1; done
  fail "/$1 did not answer $2 within $3 s (now $(code "$1"): $(curl -s --max-time 2 "http://127.0.0.1:$mport/$1"))"
}
fport=$(free_port)
forward() {
  python3 "$(dirname "$0")/../support/tcp_forward.py" "$fport" "$TEMPORAL_ADDRESS" >"$TWE_IT_TMP/fwd.out" 2>&1 &
  fwd=$!
  TWE_IT_PIDS+=("$fwd")
  for _ in $(seq 1 50); do grep -q ready "$TWE_IT_TMP/fwd.out" && return 0; sleep 0.1; done
  fail "forwarder not ready"
}
forward
q=$(unique health)
mport=$(free_port)
TEMPORAL_ADDRESS="127.0.0.1:$fport" TWE_METRICS_ADDRESS="127.0.0.1:$mport" \
  start_worker w "$sw" worker --task-queue "$q" --no-watchdog
pid=$WORKER_PID
wait_code healthz 200 5
wait_code readyz 200 10
ok "/healthz and /readyz: 200"

# A shard held by workflow code.
fifo="$TWE_IT_TMP/wedge.fifo"
mkfifo "$fifo"
id=$(unique wedge)
t workflow start --type Wedge --task-queue "$q" --workflow-id "$id" --input "{\"fifo\":\"$fifo\"}" >/dev/null
wait_code healthz 503 15
why=$(curl -s --max-time 2 "http://127.0.0.1:$mport/healthz")
case "$why" in *"its loop has not turned"*) ;; *) fail "/healthz said: $why" ;; esac
echo released >"$fifo"
r=$(t workflow result --workflow-id "$id" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"])')
[ "$r" = released ] || fail "Wedge: $r"
wait_code healthz 200 5
ok "/healthz: 503 while a shard was held ($why), 200 once it let go"
# The held loop's tick came late by about as long as it was held (at
# least the /healthz window, 5 s, less the 1 s between ticks).
lag=$(curl -s --max-time 2 "http://127.0.0.1:$mport/metrics" |
  sed -n 's/^twe_shard_loop_lag_max_seconds{.*} \([0-9.e+-]*\)$/\1/p' | sort -g | tail -1)
python3 -c "import sys; sys.exit(0 if float('${lag:-0}') >= 3 else 1)" ||
  fail "twe_shard_loop_lag_max_seconds after a held loop: ${lag:-none}"
ok "twe_shard_loop_lag_max_seconds: $lag s after the loop was held"

# The server away for 60 s, and back: /readyz follows, and the log says
# once when it went, and once that it came back and how long it was away
# (polls meanwhile wait for the connection inside their deadline).
kill -KILL "$fwd"; wait "$fwd" 2>/dev/null || true
wait_code readyz 503 15
why=$(curl -s --max-time 2 "http://127.0.0.1:$mport/readyz")
# No socket of the worker is left half closed (CLOSE-WAIT: the server's
# side closed, ours not), the client's included.
sleep 2
python3 - "$pid" <<'PY' || fail "sockets left in CLOSE-WAIT after the server went away"
import os, sys
pid = sys.argv[1]
inodes = set()
for fd in os.listdir("/proc/%s/fd" % pid):
    try:
        t = os.readlink("/proc/%s/fd/%s" % (pid, fd))
    except OSError:
        continue
    if t.startswith("socket:["):
        inodes.add(t[8:-1])
waits = []
for f in ("/proc/net/tcp", "/proc/net/tcp6"):
    for line in open(f).read().splitlines()[1:]:
        cols = line.split()
        if cols[3] == "08" and cols[9] in inodes:  # 08: CLOSE_WAIT
            waits.append(cols[1])
assert not waits, "CLOSE-WAIT: %s" % waits
PY
sleep 58
forward
wait_code readyz 200 30
ok "/readyz: 503 while the server was away ($why), 200 once it was back"
python3 - "$TWE_IT_TMP/w.err" "$fport" <<'PY' || fail "the worker's log of the outage: $(grep -v '^twe: watchdog' "$TWE_IT_TMP/w.err" | tail -20)"
import re, sys
log, port = open(sys.argv[1]).read().splitlines(), sys.argv[2]
# Each shard has its connection and says so itself ("shard N:"; one shard
# unless TWE_SHARD_THREADS says more); the log holds back the same line from
# another shard within 10 s.
shard = lambda l: re.search(r"shard (\d+):", l).group(1)
def per_shard(lines, most):
    counts = {}
    for l in lines:
        counts[shard(l)] = counts.get(shard(l), 0) + 1
    return lines and max(counts.values()) <= most
lost = [l for l in log if "lost the connection to 127.0.0.1:%s" % port in l]
backl = [l for l in log if re.search(r"connection to 127.0.0.1:%s back after" % port, l)]
back = [float(re.search(r"back after ([0-9.]+) s away", l).group(1)) for l in backl]
assert lost, "no line for the loss"
assert back and all(60 <= b < 120 for b in back), back
# Said once, not at each of the reconnect attempts while it was away;
# meanwhile every 30 s that it is still away, with how connecting fails.
assert per_shard(lost, 1) and per_shard(backl, 1), (lost, backl)
still = [l for l in log if "still no connection to 127.0.0.1:%s after" % port in l]
assert per_shard(still, 2), still
assert "attempt(s) to connect failed" in still[0], still[0]
print("outage: %s ... %s ... back after %.1f s" % (lost[0], still[0], back[-1]))
PY
ok "the log has the loss, a reminder while away, the return and the time away"
m=$(curl -s --max-time 2 "http://127.0.0.1:$mport/metrics")
for name in twe_connection_losses_total twe_reconnects_total; do
  v=$(printf '%s\n' "$m" | sed -n "s/^$name{.*} \\([0-9]*\\)$/\\1/p")
  [ "${v:-0}" -ge 1 ] || fail "$name after the outage: ${v:-none}"
done
ok "twe_connection_losses_total and twe_reconnects_total count the outage"

# A graceful stop with an activity in its grace period.
id=$(unique stop)
t workflow start --type Cancellable --task-queue "$q" --workflow-id "$id" >/dev/null
# Its activity started: after the outage a poll may still be in its backoff
# (up to 10 s) when the workflow comes, and a stop with no activity running
# ends at once.
started=""
for _ in $(seq 1 200); do
  started=$(t workflow describe --workflow-id "$id" -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("".join("started" for a in d.get("pendingActivities", []) if a.get("state") == "PENDING_ACTIVITY_STATE_STARTED"))' || true)
  [ -n "$started" ] && break
  sleep 0.1
done
[ -n "$started" ] || fail "the Cancellable workflow's activity did not start within 20 s"
kill -TERM "$pid"
wait_code readyz 503 5
why=$(curl -s --max-time 2 "http://127.0.0.1:$mport/readyz")
case "$why" in *stopping*) ;; *) fail "/readyz during the stop said: $why" ;; esac
wait "$pid" || true
ok "/readyz: 503 during the graceful stop ($why)"
