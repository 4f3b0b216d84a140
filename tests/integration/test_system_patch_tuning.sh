#!/usr/bin/env bash
# tests/integration/test_system_patch_tuning.sh WORKER CLIENT — exercise 8
# of the System Patching workshop: five V5 runs at once on a worker with 2
# activity threads, then on one with 32. Activity schedule-to-start latency,
# read from the worker's /metrics (what Prometheus scrapes and the dashboard
# plots), is high when the threads are few and falls when they are raised.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
worker=${1:?usage: test_system_patch_tuning.sh WORKER CLIENT}
client=${2:?usage: test_system_patch_tuning.sh WORKER CLIENT}

# mean_s2s THREADS: runs five V5 workflows on a fresh worker with THREADS
# activity threads; prints the mean activity schedule-to-start latency (s).
mean_s2s() {
  local q port pids=()
  q=$(unique tune)
  start_worker "t$1" "$worker" --task-queue "$q" --activity-threads "$1" --work-ms 100 \
    --update-steps 2 --update-step-ms 100
  port=$(sed -n 's/^metrics port //p' "$TWE_IT_TMP/t$1.out")
  for i in 1 2 3 4 5; do
    "$client" run 5 "$(unique "tune$1-$i")" --task-queue "$q" --interval-ms 500 \
      >"$TWE_IT_TMP/tune$1-$i.out" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || fail "a run on $1 thread(s) failed"; done
  curl -fsS "http://127.0.0.1:$port/metrics" | python3 -c '
import re, sys
s = c = 0.0
for line in sys.stdin:
    m = re.match(r"temporal_activity_schedule_to_start_latency_seconds_(sum|count)\{.*\} (\S+)", line)
    if m:
        if m.group(1) == "sum": s += float(m.group(2))
        else: c += float(m.group(2))
print("%.4f" % (s / c))'
  kill -TERM "$WORKER_PID"
  wait "$WORKER_PID" || fail "worker with $1 thread(s) exited badly"
}
few=$(mean_s2s 2)
many=$(mean_s2s 32)
echo "activity schedule-to-start, mean: $few s with 2 threads, $many s with 32"
python3 -c "import sys; sys.exit(0 if $few > 3 * $many and $few > 0.2 else 1)" ||
  fail "schedule-to-start did not fall with more activity threads: $few s vs $many s"
ok "exercise 8: activity schedule-to-start $few s with 2 activity threads, $many s with 32"
