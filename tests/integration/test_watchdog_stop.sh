#!/usr/bin/env bash
# tests/integration/test_watchdog_stop.sh FANOUT_BIN — a stop always ends:
# 1. The blocked budget off, a RunawayBlock holds the shard thread in read()
#    and nothing retires it. SIGTERM (twe_worker_stop from the signal
#    handler) cannot drain that shard; at the 3 s stop deadline the worker
#    logs the run and where its thread is, leaves it behind, and exits 3
#    (twe_worker_wait returned TWE_ESTUCK).
# 2. A hard cap of 1 retired thread and two RunawayBlock: the first costs
#    the one thread allowed; the second leaves its shard with no thread to
#    give. The worker says the shard is lost, stops by itself, and exits 3
#    at the deadline: a worker that cannot serve says so and ends instead
#    of hanging.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
fanout=${1:?usage: test_watchdog_stop.sh FANOUT_BIN}

# wait_exit PID SECONDS: waits for PID (a child of this shell) to exit;
# sets rc to its status and ms to the milliseconds it took, or fails.
wait_exit() {
  local p=$1 s=$2 t0
  t0=$(date +%s%N)
  for _ in $(seq 1 $((s * 10))); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$p" 2>/dev/null && fail "the worker did not exit within $s s"
  rc=0
  wait "$p" || rc=$?
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
}

# --- 1. a shard stuck in workflow code at stop --------------------------------
q=$(unique wdstop)
start_worker a "$fanout" --worker-only --task-queue "$q" --blocked-budget-ms off \
  --stop-deadline-ms 3000
pid=$WORKER_PID
t workflow start --type RunawayBlock --task-queue "$q" --workflow-id "$q-block" >/dev/null
for _ in $(seq 1 50); do
  grep -q 'workflow "RunawayBlock".*blocked in a system call' "$TWE_IT_TMP/a.err" && break
  sleep 0.1
done
grep -q 'workflow "RunawayBlock".*blocked in a system call' "$TWE_IT_TMP/a.err" ||
  fail "the runaway never blocked (no warning)"
kill -TERM "$pid"
wait_exit "$pid" 20
echo "exit $rc after $ms ms"
grep 'stop deadline' "$TWE_IT_TMP/a.err" || true
[ "$rc" = 3 ] || { cat "$TWE_IT_TMP/a.err" >&2; fail "exit status $rc, not 3 (TWE_ESTUCK)"; }
[ "$ms" -ge 2500 ] || fail "exited after $ms ms, before the 3 s deadline"
grep -q 'shard 0: error: the stop deadline (3.0 s) passed and the shard has not stopped: thread [0-9]* is in the code of workflow "RunawayBlock" (run [0-9a-f-]*), at read' \
  "$TWE_IT_TMP/a.err" || fail "the log does not name the stuck run and where it is"
ok "SIGTERM with a shard stuck in read(): exit 3 at the deadline ($ms ms), the run and read() named"
t workflow terminate --workflow-id "$q-block" --reason "test done" >/dev/null

# --- 2. the hard cap reached ------------------------------------------------------
q=$(unique wdcap)
start_worker b "$fanout" --worker-only --task-queue "$q" --blocked-budget-ms 200 \
  --max-retired 1 --hard-cap 1 --stop-deadline-ms 3000
pid=$WORKER_PID
t workflow start --type RunawayBlock --task-queue "$q" --workflow-id "$q-block-0" >/dev/null
t workflow start --type RunawayBlock --task-queue "$q" --workflow-id "$q-block-1" >/dev/null
wait_exit "$pid" 30
echo "exit $rc, $ms ms after the starts"
grep 'hard cap\|is lost\|stop deadline' "$TWE_IT_TMP/b.err" || true
[ "$rc" = 3 ] || { cat "$TWE_IT_TMP/b.err" >&2; fail "exit status $rc, not 3 (TWE_ESTUCK)"; }
grep -q '1 retired threads are alive already (the hard cap): the shard cannot be given a new thread' \
  "$TWE_IT_TMP/b.err" || fail "no hard-cap message"
grep -q 'twe: shard 0: error: the shard is lost' "$TWE_IT_TMP/b.err" || fail "the lost shard was not reported"
grep -q 'has not stopped: .*RunawayBlock.*at read' "$TWE_IT_TMP/b.err" ||
  fail "the stop did not name the stuck run"
ok "at the hard cap the worker stopped by itself and exited 3, naming the stuck runs"
for i in 0 1; do t workflow terminate --workflow-id "$q-block-$i" --reason "test done" >/dev/null; done
