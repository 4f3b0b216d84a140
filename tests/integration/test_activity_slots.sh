#!/usr/bin/env bash
# tests/integration/test_activity_slots.sh FANOUT_BIN — the resource-based
# activity slots, on a worker in a cgroup (v1 cpu controller) with a CPU
# quota of half a CPU, whose CPU plan gives it 4 activity threads (a floor
# of 6 slots: the 4, and one for each of the shard's 2 activity polls):
#   1. blocking load (8 Fanout workflows x 2 inputs, the two blocking
#      activities of each input sleeping 1.5 s, no CPU burnt): the slots
#      and the pool grow well past the floor (at least 12 at once), as the
#      CPU stays idle;
#   2. CPU load (8 Fanout workflows x 10 inputs, each input's two burning
#      activities burning 50 ms of CPU, nothing blocking): the quota
#      saturates, and once it has stayed saturated for 10 samples (2-3 s:
#      the burns granted before, in a gap of the load, are done; a slot is
#      never taken back), the slots in use are at the floor of 6 in most
#      samples while burns still wait; threads idle for 5 s exit, so the
#      pool shrinks too (the test runs alone: other tests' CPU would change
#      what the samples see);
#   3. every workflow completes, and no slot is left taken after the stop.
# Read from /metrics (twe_activity_slots_used, twe_activity_threads,
# twe_resource_cpu_ratio) every 200 ms. Skips (77) without a cgroup.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
fanout=${1:?usage: test_activity_slots.sh FANOUT_BIN}
q=$(unique slots)
cgroup_quota "$q" 50000

# One shard, as the plan gives half a CPU: more would raise the floor (it
# covers every shard's activity polls).
TWE_SHARD_THREADS=1 TWE_METRICS_ADDRESS=127.0.0.1:0 start_worker w "${launcher[@]}" "$fanout" \
  --worker-only --task-queue "$q"
pid=$WORKER_PID
port=""
for _ in $(seq 1 50); do
  port=$(sed -n 's/.*metrics endpoint on port \([0-9]*\).*/\1/p' "$TWE_IT_TMP/w.err" | head -1)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || fail "no metrics port in the worker's log: $(cat "$TWE_IT_TMP/w.err")"
grep 'activity slots:' "$TWE_IT_TMP/w.err" || fail "no activity slots line in the worker's log"
grep -q 'activity slots: resource-based, 6 to ' "$TWE_IT_TMP/w.err" ||
  fail "the worker's activity slots are not resource-based from 6 (4 threads, 2 polls)"

# gauge NAME: the metric's value now.
gauge() {
  curl -s "http://127.0.0.1:$port/metrics" | awk -v n="$1" '$1 ~ "^"n"[{ ]" || $1 == n {print $2; exit}'
}
# watch SECONDS FILE: "slots threads cpu" every 200 ms.
watch_metrics() {
  local end=$(( $(date +%s%N) + $1 * 1000000000 ))
  : >"$2"
  while [ "$(date +%s%N)" -lt "$end" ]; do
    echo "$(gauge twe_activity_slots_used) $(gauge twe_activity_threads) $(gauge twe_resource_cpu_ratio)" >>"$2"
    sleep 0.2
  done
}
start_batch() { # PREFIX INPUT
  for i in $(seq 0 7); do
    t workflow start --type Fanout --task-queue "$q" --workflow-id "$1-$i" --input "$2" >/dev/null ||
      fail "start $1-$i"
  done
}
wait_batch() { # PREFIX
  for i in $(seq 0 7); do
    "$TEMPORAL_CLI" --address "$TEMPORAL_ADDRESS" --command-timeout 240s workflow result \
      --workflow-id "$1-$i" -o json >"$TWE_IT_TMP/$1-$i.result.json" ||
      fail "$1-$i did not complete: $(cat "$TWE_IT_TMP/$1-$i.result.json")"
  done
}

# 1. Blocking: up to 8 x 2 sleeping activities at once.
start_batch "$q-block" '{"inputs":2,"block_min_ms":1500,"block_max_ms":1500,"burn_ms":0}'
watch_metrics 4 "$TWE_IT_TMP/block.txt"
wait_batch "$q-block"
peak=$(awk '{ if ($1 > m) m = $1 } END { print m + 0 }' "$TWE_IT_TMP/block.txt")
tpeak=$(awk '{ if ($2 > m) m = $2 } END { print m + 0 }' "$TWE_IT_TMP/block.txt")
echo "blocking load: slots in use up to $peak, threads up to $tpeak (samples: $(tr '\n' ';' <"$TWE_IT_TMP/block.txt"))"
if [ "$peak" -lt 12 ]; then
  tail -20 "$TWE_IT_TMP/w.err" >&2
  t workflow describe --workflow-id "$q-block-0" >&2 || true
  kill -USR1 "$pid"; sleep 0.5; tail -1 "$TWE_IT_TMP/w.out" >&2
  fail "the slots did not grow under blocking load: at most $peak in use (the floor is 6)"
fi
[ "$tpeak" -ge 12 ] || fail "the pool did not grow under blocking load: at most $tpeak threads"
ok "blocking load: up to $peak slots and $tpeak threads at once, from a floor of 6"

# 2. CPU: 8 x 10 x 2 burns of 50 ms, up to 16 at once wanted, half a CPU to
# burn them on (16 s of it at least).
start_batch "$q-cpu" '{"inputs":10,"block_min_ms":0,"block_max_ms":0,"burn_ms":50}'
# The 1 s window sees the saturation, and what was granted before it did
# drains (a slot is never taken back): up to 10 s.
sleep 2
for _ in $(seq 1 40); do
  [ "$(gauge twe_activity_slots_used)" -le 6 ] && break
  sleep 0.2
done
watch_metrics 6 "$TWE_IT_TMP/cpu.txt"
open=$(t workflow list --query "WorkflowId STARTS_WITH '$q-cpu' AND ExecutionStatus = 'Running'" -o json |
  python3 -c 'import json,sys; print(len(json.load(sys.stdin) or []))')
wait_batch "$q-cpu"
high=$(awk '{ if ($1 > m) m = $1 } END { print m + 0 }' "$TWE_IT_TMP/cpu.txt")
# Samples with the CPU saturated; of those, the settled ones (at least 10
# saturated samples in a row before them), and how many of these had the
# slots at the floor (6, or a little over: a poll's slot passing to its
# task). The load has gaps (all eight workflows between inputs at once): a
# sample under the target rightly lets the slots grow again for the next
# wave, which then drains: from 25 slots over 7 saturated samples in one
# run under the parallel suite's load (that run counted every saturated
# sample, and 7 of its 20 were still draining). Settled samples must be at the floor
# (with no supplier, as with 40 fixed threads, none would be).
read -r sat settled atfloor < <(awk '
  $3 >= 0.9 { n++; run++; if (run > 10) { s++; if ($1 <= 8) f++ } next }
  { run = 0 }
  END { print n + 0, s + 0, f + 0 }' "$TWE_IT_TMP/cpu.txt")
# The fewest threads in the window: idle ones exit 5 s after the slots fell
# (a later wave may start some again).
last_threads=$(awk 'NR == 1 || $2 < m { m = $2 } END { print m + 0 }' "$TWE_IT_TMP/cpu.txt")
cpu=$(awk '{ s += $3; n++ } END { printf "%.2f", n ? s / n : 0 }' "$TWE_IT_TMP/cpu.txt")
echo "CPU load: slots in use up to $high, threads down to $last_threads, CPU sample $cpu on average, $open workflows still running after the window (samples: $(tr '\n' ';' <"$TWE_IT_TMP/cpu.txt"))"
[ "$open" -gt 0 ] || fail "the CPU load was over before the window: this run did not test a saturated CPU"
awk -v c="$cpu" 'BEGIN { exit !(c >= 0.9) }' || fail "the CPU sample averaged $cpu: the quota did not saturate"
[ "$sat" -ge 10 ] || fail "only $sat samples with the CPU saturated: this run did not test it"
[ "$settled" -ge 4 ] ||
  fail "only $settled samples after 10 saturated ones in a row: this run did not test a lasting saturation"
[ $((atfloor * 100)) -ge $((settled * 80)) ] ||
  fail "slots in use at the floor in only $atfloor of $settled settled saturated samples (at most $high)"
[ "$last_threads" -le 8 ] || fail "the pool did not shrink: never fewer than $last_threads threads in 8 s or more of saturation"
ok "CPU saturated ($cpu): slots in use at the floor in $atfloor of $settled settled saturated samples ($sat saturated; at most $high), threads down to $last_threads"

stop_worker w "$pid"
python3 - "$TWE_IT_TMP/w.stats" <<'PY' || fail "stats"
import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print("worker stats:", json.dumps(s))
assert s["activities_completed"] == 8 * (4 + 4 * 2) + 8 * (4 + 4 * 10), s["activities_completed"]
assert s["activity_slots_refused"] > 0, "the supplier never refused a slot"
PY
ok "every activity ran; no slot left taken after the stop"
