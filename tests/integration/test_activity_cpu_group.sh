#!/usr/bin/env bash
# tests/integration/test_activity_cpu_group.sh FANOUT_BIN — the activity
# threads' own CPU group (sched/cpu_group.h), on a worker in a cgroup (v1 cpu
# controller) with a quota of half a CPU:
#   1. at start the worker makes the child twe-activities with 0.9 of the
#      quota (45000 of 100000 us) and says so, and its activity threads are
#      in it (read again 0.5 s later if one has not moved yet);
#   2. under a burning load (4 Fanout workflows x 6 inputs, two 50 ms burns
#      and two 100 ms sleeps each) every activity thread (twe-act-*) is in
#      the child (one seen outside as it starts is in it 0.5 s later), and
#      no other thread of the worker is; the child's cpu.stat
#      shows it was throttled (the activities met their share), and every
#      workflow completes;
#   3. a stop removes the child;
#   4. a worker killed leaves the child; the next one takes it over and
#      removes it at its stop;
#   5. TWE_ACTIVITY_CPU_GROUP=off: no child, the threads stay in the
#      worker's group; TWE_ACTIVITY_CPU_GROUP=0.5: a quota of 25000 us; a
#      share that is not one stops the worker at start, saying why.
# Skips (77) without a cgroup.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
fanout=${1:?usage: test_activity_cpu_group.sh FANOUT_BIN}
q=$(unique cpugroup)
cgroup_quota "$q" 50000
child="$cg/twe-activities"

# in_child PID: "A B" — the worker's activity threads in the child, and its
# other threads in the child.
in_child() {
  local t a=0 o=0
  for t in /proc/"$1"/task/*; do
    grep -qx "${t##*/}" "$child/tasks" 2>/dev/null || continue
    case $(cat "$t/comm" 2>/dev/null) in twe-act-*) a=$((a + 1)) ;; *) o=$((o + 1)) ;; esac
  done
  echo "$a $o"
}
act_threads() { grep -l '^twe-act-' /proc/"$1"/task/*/comm 2>/dev/null | wc -l; }
# settled PID: "N A O" — activity threads, those in the child, other threads
# in the child; read again 0.5 s later when some activity thread was not in
# it yet (a thread moves itself as it starts, after "ready" may be).
settled() {
  local a o n
  read -r a o < <(in_child "$1")
  n=$(act_threads "$1")
  if [ "$a" != "$n" ]; then
    sleep 0.5
    read -r a o < <(in_child "$1")
    n=$(act_threads "$1")
  fi
  echo "$n $a $o"
}

# 1. The group at start.
TWE_SHARD_THREADS=1 start_worker w "${launcher[@]}" "$fanout" --worker-only --task-queue "$q"
pid=$WORKER_PID
grep 'activity cpu group' "$TWE_IT_TMP/w.err" || fail "no 'activity cpu group' line in the worker's log"
grep -q "activity cpu group: $child, 45000/100000 us (0.90 of the worker's quota)" "$TWE_IT_TMP/w.err" ||
  fail "the worker did not make $child with 45000 us"
[ -d "$child" ] || fail "$child does not exist"
[ "$(cat "$child/cpu.cfs_quota_us")" = 45000 ] || fail "$child's quota is $(cat "$child/cpu.cfs_quota_us")"
read -r n a o < <(settled "$pid")
echo "at start: $n activity threads, $a of them in the child; $o other threads in it"
[ "$n" -ge 1 ] && [ "$a" = "$n" ] && [ "$o" = 0 ] ||
  fail "at start: $a of $n activity threads in the child, $o others"
ok "the worker made $child with 0.90 of its quota; its $n activity threads are in it, no other thread"

# 2. A burning load: the pool grows, every new thread starts in the child.
thr0=$(awk '$1 == "nr_throttled" {print $2}' "$child/cpu.stat")
input='{"inputs":6,"block_min_ms":100,"block_max_ms":100,"burn_ms":50}'
for i in 0 1 2 3; do
  t workflow start --type Fanout --task-queue "$q" --workflow-id "$q-$i" --input "$input" >/dev/null ||
    fail "start $q-$i"
done
# outside PID: the worker's activity threads not (yet) in the child. A
# thread moves itself as it starts: one started a moment ago may not have.
outside() {
  local t
  for t in /proc/"$1"/task/*; do
    case $(cat "$t/comm" 2>/dev/null) in twe-act-*) ;; *) continue ;; esac
    grep -qx "${t##*/}" "$child/tasks" 2>/dev/null || echo "${t##*/}"
  done
}
worst="" most=0 late=0
for _ in $(seq 1 15); do
  read -r a o < <(in_child "$pid")
  n=$(act_threads "$pid")
  [ "$n" -gt "$most" ] && most=$n
  [ "$o" = 0 ] || worst="$o threads other than activity threads in the child"
  out=$(outside "$pid")
  if [ -n "$out" ]; then
    late=$((late + $(echo "$out" | wc -l)))
    sleep 0.5
    for tid in $out; do
      [ -d "/proc/$pid/task/$tid" ] || continue # exited meanwhile
      grep -qx "$tid" "$child/tasks" || worst="activity thread $tid still outside the child 0.5 s later"
    done
  fi
  sleep 0.2
done
for i in 0 1 2 3; do
  "$TEMPORAL_CLI" --address "$TEMPORAL_ADDRESS" --command-timeout 120s workflow result \
    --workflow-id "$q-$i" -o json >"$TWE_IT_TMP/$q-$i.result.json" ||
    fail "$q-$i did not complete: $(cat "$TWE_IT_TMP/$q-$i.result.json")"
done
thr1=$(awk '$1 == "nr_throttled" {print $2}' "$child/cpu.stat")
echo "under load: up to $most activity threads ($late seen outside the child as they started, each in it 0.5 s later); the child throttled in $((thr1 - thr0)) periods"
[ -z "$worst" ] || fail "under load a sample had $worst"
[ "$((thr1 - thr0))" -gt 0 ] || fail "the child was never throttled: its quota did not bind the activities"
ok "under load every activity thread (up to $most) was in the child, which was throttled $((thr1 - thr0)) times; every workflow completed"

# 3. A stop removes it.
stop_worker w "$pid"
[ ! -d "$child" ] || fail "$child is still there after the worker stopped"
ok "the stop removed the child"

# 4. Killed: left behind, taken over by the next worker, removed at its stop.
TWE_SHARD_THREADS=1 start_worker k "${launcher[@]}" "$fanout" --worker-only --task-queue "$q"
kill -KILL "$WORKER_PID"
wait "$WORKER_PID" 2>/dev/null || true
[ -d "$child" ] || fail "a killed worker's child is gone: this run did not test a takeover"
TWE_SHARD_THREADS=1 start_worker k2 "${launcher[@]}" "$fanout" --worker-only --task-queue "$q"
grep -q "activity cpu group: $child, 45000/100000 us" "$TWE_IT_TMP/k2.err" ||
  fail "the next worker did not take the child over: $(grep 'activity cpu group' "$TWE_IT_TMP/k2.err")"
read -r n a o < <(settled "$WORKER_PID")
[ "$a" -ge 1 ] && [ "$a" = "$n" ] && [ "$o" = 0 ] ||
  fail "after the takeover: $a of $n activity threads in the child, $o others"
stop_worker k2 "$WORKER_PID"
[ ! -d "$child" ] || fail "$child is still there after the second worker stopped"
ok "a killed worker's child was taken over by the next worker and removed at its stop"

# 5. Off, another share, a bad value.
TWE_ACTIVITY_CPU_GROUP=off TWE_SHARD_THREADS=1 start_worker off "${launcher[@]}" "$fanout" \
  --worker-only --task-queue "$q"
grep -q 'activity cpu group: off' "$TWE_IT_TMP/off.err" || fail "no 'activity cpu group: off' line"
[ ! -d "$child" ] || fail "TWE_ACTIVITY_CPU_GROUP=off made $child"
stop_worker off "$WORKER_PID"
TWE_ACTIVITY_CPU_GROUP=0.5 TWE_SHARD_THREADS=1 start_worker half "${launcher[@]}" "$fanout" \
  --worker-only --task-queue "$q"
[ "$(cat "$child/cpu.cfs_quota_us")" = 25000 ] || fail "TWE_ACTIVITY_CPU_GROUP=0.5: quota $(cat "$child/cpu.cfs_quota_us")"
stop_worker half "$WORKER_PID"
rc=0
TWE_ACTIVITY_CPU_GROUP=1.5 timeout 20 "${launcher[@]}" "$fanout" --worker-only --task-queue "$q" \
  >"$TWE_IT_TMP/bad.out" 2>"$TWE_IT_TMP/bad.err" || rc=$?
[ "$rc" != 0 ] || fail "TWE_ACTIVITY_CPU_GROUP=1.5: the worker started"
grep -q 'TWE_ACTIVITY_CPU_GROUP is not valid' "$TWE_IT_TMP/bad.err" ||
  fail "TWE_ACTIVITY_CPU_GROUP=1.5: no message saying why: $(cat "$TWE_IT_TMP/bad.err")"
ok "off: no child; 0.5: 25000 us; 1.5: refused at start ($(grep -o 'TWE_ACTIVITY_CPU_GROUP is not valid[^;]*' "$TWE_IT_TMP/bad.err"))"
