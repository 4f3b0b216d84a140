#!/usr/bin/env bash
# tests/integration/test_wire_split.sh BENCH_WORKER — bench/wire_split.py
# (what `bench/run --wire` reads each cell with) reads a real connection:
# twe's bench worker on the fixture's dev server, captured with tcpdump on
# the loopback while 4 OneActivity and 4 TenSequential workflows run. Every
# workflow's messages must alternate (task in, answer out) and give exactly
# its workflow tasks and activities: 4 x 2 + 4 x 11 workflow tasks, 4 x 1 +
# 4 x 10 activities, and as many server hops after each kind. The same
# capture read for a port the worker does not use gives no workflow. The
# capture is bench/run's (bench/lib.sh: bench_wire_start, _stop, _ports).
# bench/wire_polls.py (run_blocking_bench.sh --wire) must find each workflow
# task on the poll that brought it: the 8 first ones on the normal queue,
# the 44 later ones on the sticky queue, with the server's scheduled and
# started times in a sane span of the capture's clock. Skipped
# (77) without tcpdump or the right to capture (scripts/bootstrap installs
# it; capturing needs root or CAP_NET_RAW).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bw=${1:?usage: test_wire_split.sh BENCH_WORKER}
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/scripts/lib/common.sh"
source "$root/bench/lib.sh"
command -v tcpdump >/dev/null || { echo "SKIP: no tcpdump"; exit 77; }
port=${TEMPORAL_ADDRESS##*:}
cap=$TWE_IT_TMP/wire.pcap

# From before the worker connects: the connection is read from its first byte.
bench_wire_start "$cap" "$port" || { echo "SKIP: tcpdump cannot capture here: $(tail -1 "$cap.err")"; exit 77; }
TWE_IT_PIDS+=("$BENCH_WIRE_PID")

q=$(unique wire)
start_worker w "$bw" --task-queue "$q"
pid=$WORKER_PID
ports=$(bench_wire_ports "$pid" "$port")
[ -n "$ports" ] || fail "no connection of the worker to the server"

for i in 0 1 2 3; do
  t workflow start --type OneActivity --task-queue "$q" --workflow-id "$q-wf-$i" >/dev/null
  t workflow start --type TenSequential --task-queue "$q" --workflow-id "$q-wf-1$i" >/dev/null
done
for i in 0 1 2 3 10 11 12 13; do
  t workflow result --workflow-id "$q-wf-$i" >/dev/null || fail "workflow $q-wf-$i"
done
bench_wire_stop

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

# bench/wire_polls.py on the same capture: every workflow task came on a
# poll (no eager workflow start here): each workflow's first on the normal
# queue, the later ones on twe's sticky queue; each with the server's
# scheduled and started times, read against the capture's clock.
polls=$(python3 "$root/bench/wire_polls.py" --pcap "$cap" --server-port "$port" --worker-ports "$ports")
echo "wire_polls: $polls"
python3 - "$polls" <<'PY' || fail "the polls' reading does not match the workflows that ran"
import json, sys
d = json.loads(sys.argv[1])
tasks = lambda g: (d.get(g) or {}).get("tasks", 0)
assert tasks("workflow_normal") == 8, f"normal-queue workflow tasks {tasks('workflow_normal')}, expected 8"
assert tasks("workflow_sticky") == 4 * 1 + 4 * 10, f"sticky workflow tasks {tasks('workflow_sticky')}, expected 44"
assert tasks("activity") <= 44, f"activity tasks on polls {tasks('activity')}, more than ran"
assert d["polls"]["sticky"]["polls"] >= 44, f"sticky polls {d['polls']['sticky']}"
for g in ("workflow_normal", "workflow_sticky"):
    s2s, wire = d[g]["schedule_to_start_ms"], d[g]["started_to_wire_ms"]
    # Both clocks are the host's: a misread field gives years, or less than 0.
    assert 0 <= s2s["p50"] <= s2s["max"] < 60_000, f"{g} schedule-to-start {s2s}"
    assert 0 <= wire["p50"] <= wire["max"] < 60_000, f"{g} started -> on the wire {wire}"
    assert d[g]["slow_poll_waiting"] <= d[g]["slow"]
PY
ok "polls read: 8 workflow tasks on the normal queue, 44 on the sticky one, sticky schedule-to-start p99 $(json_get <(echo "$polls") 'd["workflow_sticky"]["schedule_to_start_ms"]["p99"]') ms"
