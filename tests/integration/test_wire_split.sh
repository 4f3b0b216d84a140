#!/usr/bin/env bash
# tests/integration/test_wire_split.sh BENCH_WORKER — bench/wire_split.py
# (what `bench/run --wire` reads each cell with) reads a real connection:
# twe's bench worker on the fixture's dev server, captured with tcpdump on
# the loopback while 4 OneActivity and 4 TenSequential workflows run. Every
# workflow's messages must alternate (task in, answer out) and give exactly
# its workflow tasks and activities: 4 x 2 + 4 x 11 workflow tasks, 4 x 1 +
# 4 x 10 activities, and as many server hops after each kind. The same
# capture read for a port the worker does not use gives no workflow. Skipped
# (77) without tcpdump or the right to capture (scripts/bootstrap installs
# it; capturing needs root or CAP_NET_RAW).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bw=${1:?usage: test_wire_split.sh BENCH_WORKER}
root=$(cd "$(dirname "$0")/../.." && pwd)
command -v tcpdump >/dev/null || { echo "SKIP: no tcpdump"; exit 77; }
port=${TEMPORAL_ADDRESS##*:}
cap=$TWE_IT_TMP/wire.pcap

# From before the worker connects: the connection is read from its first byte.
tcpdump -i lo -s 0 -B 65536 -w "$cap" "tcp port $port" 2>"$cap.err" &
tp=$!
TWE_IT_PIDS+=("$tp")
for _ in $(seq 1 100); do
  grep -qs 'listening on' "$cap.err" && break
  kill -0 "$tp" 2>/dev/null || { echo "SKIP: tcpdump cannot capture here: $(tail -1 "$cap.err")"; exit 77; }
  sleep 0.05
done
grep -qs 'listening on' "$cap.err" || fail "tcpdump did not start listening: $(cat "$cap.err")"

q=$(unique wire)
start_worker w "$bw" --task-queue "$q"
pid=$WORKER_PID
ports=$(ss -Htnp state established "( dport = :$port )" |
  awk -v p="pid=$pid," 'index($0, p) { n = split($3, a, ":"); print a[n] }' | sort -u | tr '\n' ' ')
[ -n "$ports" ] || fail "no connection of the worker to the server"

for i in 0 1 2 3; do
  t workflow start --type OneActivity --task-queue "$q" --workflow-id "$q-wf-$i" >/dev/null
  t workflow start --type TenSequential --task-queue "$q" --workflow-id "$q-wf-1$i" >/dev/null
done
for i in 0 1 2 3 10 11 12 13; do
  t workflow result --workflow-id "$q-wf-$i" >/dev/null || fail "workflow $q-wf-$i"
done
# tcpdump hands the kernel's capture buffer over a block at a time (a block
# not yet full within 1 s); stopped at once, it loses the last packets.
sleep 2
kill -INT "$tp"
wait "$tp" || true

out=$(python3 "$root/bench/wire_split.py" --pcap "$cap" --server-port "$port" --worker-ports "$ports" \
        --id-prefix "$q-wf-" --events)
echo "wire_split: $out"
python3 - "$out" <<'PY' || fail "the reading does not match the workflows that ran"
import json, sys
d = json.loads(sys.argv[1])
want = {"workflows": 8, "irregular": 0}
for k, v in want.items():
    assert d[k] == v, f"{k} {d[k]}, expected {v}"
n = lambda k: (d[k] or {}).get("n", 0)
assert n("worker_wft_ms") == 4 * 2 + 4 * 11, f"workflow tasks {n('worker_wft_ms')}"
assert n("worker_act_ms") == 4 + 4 * 10, f"activities {n('worker_act_ms')}"
assert n("server_wft_ms") == 4 + 4 * 10, f"hops after a workflow task {n('server_wft_ms')}"
assert n("server_act_ms") == 4 + 4 * 10, f"hops after an activity {n('server_act_ms')}"
assert d["unreadable"] == 0, f"{d['unreadable']} messages unreadable"
assert d["worker_wft_ms"]["p50"] > 0 and d["server_wft_ms"]["p50"] > 0, "times not positive"
assert 0 < d["worker_share"] < 1, f"worker share {d['worker_share']}"
PY
ok "every workflow read: 52 workflow tasks and 44 activities, worker share $(json_get <(echo "$out") 'round(d["worker_share"], 3)')"

none=$(python3 "$root/bench/wire_split.py" --pcap "$cap" --server-port "$port" --worker-ports 1 \
         --id-prefix "$q-wf-" --events)
[ "$(json_get <(echo "$none") 'd["workflows"]')" = 0 ] || fail "a port with no traffic gave workflows: $none"
ok "a port the worker does not use gives none"
