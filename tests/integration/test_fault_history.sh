#!/usr/bin/env bash
# tests/integration/test_fault_history.sh SCENARIO_WORKER — a server whose
# history pages never end (tests/support/fault_server.py, a fault injector:
# every GetWorkflowExecutionHistory page is empty and names another page).
# The worker fetches a bounded number of pages, fails the workflow task
# saying why, keeps its memory, and stops at once on SIGTERM.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_fault_history.sh SCENARIO_WORKER}
start_fault_server endless-history "$TWE_IT_TMP/calls.log"
TEMPORAL_ADDRESS=$FAULT_ADDRESS start_worker w "$sw" worker --task-queue fq
for _ in $(seq 1 100); do grep -q RespondWorkflowTaskFailed "$TWE_IT_TMP/calls.log" 2>/dev/null && break; sleep 0.1; done
sleep 1 # more pages would come now, if any
pages=$(grep -c '"GetWorkflowExecutionHistory"' "$TWE_IT_TMP/calls.log" || true)
failed=$(grep RespondWorkflowTaskFailed "$TWE_IT_TMP/calls.log" || true)
echo "history pages fetched: $pages; $failed"
[ -n "$failed" ] || fail "the task was not failed ($pages pages fetched)"
[ "$pages" -le 2 ] || fail "$pages history pages fetched for a task whose pages never end"
case "$failed" in *"a page with no new events came with another next_page_token"*) ;;
  *) fail "the failure does not say why: $failed" ;; esac
grep -q "workflow task failed (attempt 1): GetWorkflowExecutionHistory: a page with no new events" \
  "$TWE_IT_TMP/w.err" || fail "the worker's log: $(cat "$TWE_IT_TMP/w.err")"
rss=$(awk '/VmRSS/ {print $2}' "/proc/$WORKER_PID/status")
[ "$rss" -lt 200000 ] || fail "worker RSS $rss kB"
t0=$(date +%s%N)
kill -TERM "$WORKER_PID"
wait "$WORKER_PID" || fail "the worker exited with $?"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -lt 15000 ] || fail "the stop took $ms ms"
ok "endless history pages: $pages fetched, the task failed saying why, RSS $rss kB, stopped in $ms ms"
