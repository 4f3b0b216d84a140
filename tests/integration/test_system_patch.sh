#!/usr/bin/env bash
# tests/integration/test_system_patch.sh WORKER CLIENT — the System Patching
# workshop (examples/system_patch) on the dev server, every exercise:
#   - every stage, SystemPatchWorkflow_V1 .. _V7, driven by the C client,
#     completes with the workshop's result; approval by signal and by
#     update; progress from the query; cluster1_host1's health check passes
#     on its second attempt (its first failure in the history);
#   - V5 patches hosts in parallel (their activities scheduled by one
#     workflow task), V4 one by one; V6 and V7 start a child per cluster
#     and one per host;
#   - no approval: V2 fails with ApprovalTimeout after 5 s;
#   - exercise 3: the worker killed under perform_update_activity after a
#     heartbeat; a restarted worker's retry resumes after the last step a
#     heartbeat recorded;
#   - exercise 7: one host's failure cancels its siblings; the cluster's
#     child fails with that host's failure as its cause;
#   - the final stage with the cache off (every task replayed), and driven
#     by a Python client with the workshop's own input dataclass.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
worker=${1:?usage: test_system_patch.sh WORKER CLIENT}
client=${2:?usage: test_system_patch.sh WORKER CLIENT}
fast=(--work-ms 20 --update-steps 4 --update-step-ms 50)
# stop NAME PID: a graceful stop (SIGTERM) that must end well.
stop() {
  kill -TERM "$2"
  wait "$2" || { cat "$TWE_IT_TMP/$1.err" >&2; fail "worker $1 exited with $?"; }
}
q=$(unique patch)
start_worker w "$worker" --task-queue "$q" "${fast[@]}"
wpid=$WORKER_PID

# run VERSION ID [client options]: the C client's run; its output in
# $TWE_IT_TMP/ID.out; fails the test unless it completed.
run() {
  local v=$1 id=$2; shift 2
  "$client" run "$v" "$id" --task-queue "$q" --interval-ms 400 "$@" >"$TWE_IT_TMP/$id.out" 2>&1 ||
    fail "V$v $id: $(cat "$TWE_IT_TMP/$id.out")"
  grep -q '^result: COMPLETED "your output"$' "$TWE_IT_TMP/$id.out" ||
    fail "V$v $id: $(cat "$TWE_IT_TMP/$id.out")"
}

ids=()
for v in 1 2 3 4 5 6 7; do
  id=$(unique "patch-v$v")
  ids[v]=$id
  how=signal
  [ $((v % 2)) = 1 ] && how=update
  run "$v" "$id" --approve "$how"
done
ok "V1-V7 completed with \"your output\" (approval by signal and by update)"

# Progress by query (V3 on): the steps grow, and end with the final notice.
for v in 3 5 7; do
  grep -q '^progress: .*"send_final_success_notification_activity"\]$' "$TWE_IT_TMP/${ids[v]}.out" ||
    fail "V$v progress: $(cat "$TWE_IT_TMP/${ids[v]}.out"; tail -20 "$TWE_IT_TMP/w.err")"
  [ "$(grep -c '^progress:' "$TWE_IT_TMP/${ids[v]}.out")" -ge 2 ] ||
    fail "V$v: progress seen once: $(cat "$TWE_IT_TMP/${ids[v]}.out"; tail -20 "$TWE_IT_TMP/w.err")"
done
grep -q "approved by update: \"approved\"" "$TWE_IT_TMP/${ids[3]}.out" || fail "V3: no update answer"
[ "$("$client" progress "${ids[3]}")" != "" ] || fail "progress of a closed run"
ok "progress: get_completed_steps grows while it runs, and answers after it closed"

# history_check ID PYTHON: runs PYTHON on the history's events (ev).
history_check() {
  local f="$TWE_IT_TMP/$(printf '%s' "$1" | tr '/:' '__').history.json"
  t workflow show --workflow-id "$1" -o json >"$f" || fail "workflow show $1"
  python3 - "$f" "$2" <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))["events"]
exec(sys.argv[2])
PY
}
# cluster1_host1's health check: failed once, passed on attempt 2.
health='
import base64
def text(payloads): return "".join(base64.b64decode(p["data"]).decode() for p in payloads.get("payloads", []))
sched = {e["eventId"]: e["activityTaskScheduledEventAttributes"] for e in ev if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"}
hits = [e for e in ev if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_STARTED"
        and sched[e["activityTaskStartedEventAttributes"]["scheduledEventId"]]["activityType"]["name"] == "check_service_health_activity"
        and "cluster1_host1" in text(sched[e["activityTaskStartedEventAttributes"]["scheduledEventId"]]["input"])]
assert hits, "no health check of cluster1_host1"
a = hits[0]["activityTaskStartedEventAttributes"]
assert a["attempt"] == 2 and "health check failed" in a["lastFailure"]["message"], a
'
history_check "${ids[1]}" "$health"
history_check "${ids[6]}/cluster:cluster1/host:cluster1_host1" "$health"
ok "cluster1_host1's health check: attempt 2, its first failure as LastFailure (V1, and in V6's host child)"

# Hosts at once (V5) or one by one (V4): how many hosts' first activity one
# workflow task scheduled.
par='
import collections
sched = [e for e in ev if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"
         and e["activityTaskScheduledEventAttributes"]["activityType"]["name"] == "check_host_preconditions_activity"]
by_task = collections.Counter(e["activityTaskScheduledEventAttributes"]["workflowTaskCompletedEventId"] for e in sched)
print(max(by_task.values()))
'
[ "$(history_check "${ids[4]}" "$par")" = 1 ] || fail "V4 patched hosts at once"
[ "$(history_check "${ids[5]}" "$par")" -ge 2 ] || fail "V5 did not patch hosts at once"
kids='
print(sum(1 for e in ev if e["eventType"] == "EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED"))
'
[ "$(history_check "${ids[7]}" "$kids")" = 2 ] || fail "V7: not 2 cluster children"
[ "$(history_check "${ids[7]}/cluster:cluster2" "$kids")" = 3 ] || fail "V7: not 3 host children"
ok "V4 one host at a time, V5 hosts at once; V7: 2 cluster children, 3 host children each"

# No approval: V2 fails after its 5 s wait.
id=$(unique patch-noapproval)
"$client" run 2 "$id" --task-queue "$q" --approve none >"$TWE_IT_TMP/na.out" 2>&1 &&
  fail "V2 without approval completed: $(cat "$TWE_IT_TMP/na.out")"
grep -q '^result: FAILED ApprovalTimeout: no approval within 5 s' "$TWE_IT_TMP/na.out" ||
  fail "V2 without approval: $(cat "$TWE_IT_TMP/na.out")"
ok "no approval: $(sed -n 's/^result: //p' "$TWE_IT_TMP/na.out")"
stop w "$wpid"

# Exercise 7: cluster1_host2 cannot be patched.
q7=$(unique patch7)
start_worker w7 "$worker" --task-queue "$q7" "${fast[@]}" --update-step-ms 400 --fail-host cluster1_host2
id=$(unique patch-v7-fail)
"$client" run 7 "$id" --task-queue "$q7" --pilot 0 >"$TWE_IT_TMP/f7.out" 2>&1 &&
  fail "V7 with a failing host completed"
grep -q '^result: FAILED PreconditionsFailed: .*cluster1_host2' "$TWE_IT_TMP/f7.out" ||
  fail "V7 with a failing host: $(cat "$TWE_IT_TMP/f7.out")"
status() { t workflow describe --workflow-id "$1" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["workflowExecutionInfo"]["status"])'; }
[ "$(status "$id/cluster:cluster1/host:cluster1_host2")" = WORKFLOW_EXECUTION_STATUS_FAILED ] || fail "host2 not failed"
for h in 1 3; do
  s=$(status "$id/cluster:cluster1/host:cluster1_host$h")
  [ "$s" = WORKFLOW_EXECUTION_STATUS_CANCELED ] || fail "cluster1_host$h: $s, not canceled"
done
[ "$(status "$id/cluster:cluster1")" = WORKFLOW_EXECUTION_STATUS_FAILED ] || fail "cluster1 not failed"
[ "$(status "$id/cluster:cluster2")" = WORKFLOW_EXECUTION_STATUS_COMPLETED ] || fail "cluster2 not completed"
cause=$(t workflow show --workflow-id "$id/cluster:cluster1" -o json | python3 -c '
import json, sys
ev = json.load(sys.stdin)["events"]
f = [e for e in ev if e["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_FAILED"][0]
print(f["workflowExecutionFailedEventAttributes"]["failure"]["message"])')
case "$cause" in *"host cluster1_host2 failed: PreconditionsFailed: host preconditions cannot be met (2 other host(s) of the cluster cancelled)"*) ;;
  *) fail "cluster1's failure: $cause" ;; esac
ok "exercise 7: cluster1_host2 failed, host1 and host3 canceled, cluster1 failed with: $cause"
stop w7 "$WORKER_PID"

# Exercise 3: kill the worker under perform_update_activity after a
# heartbeat; the restarted worker's retry resumes after that step.
q3=$(unique patch3)
slow=(--task-queue "$q3" --work-ms 20 --hosts-per-cluster 1 --update-steps 8 --update-step-ms 500)
start_worker w3 "$worker" "${slow[@]}"
id=$(unique patch-v4-kill)
"$client" start 4 "$id" --task-queue "$q3" --clusters solo --pilot 0 >/dev/null
"$client" approve "$id" >/dev/null
beat=""
for _ in $(seq 1 100); do
  beat=$(t workflow describe --workflow-id "$id" -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
for a in d.get("pendingActivities", []):
    d = a.get("heartbeatDetails")
    if a["activityType"]["name"] == "perform_update_activity" and d:
        print(json.dumps(d))' || true)
  [ -n "$beat" ] && break
  sleep 0.1
done
[ -n "$beat" ] || fail "no heartbeat from perform_update_activity"
kill -KILL "$WORKER_PID"
wait "$WORKER_PID" 2>/dev/null || true
start_worker w3b "$worker" "${slow[@]}"
"$client" result "$id" >"$TWE_IT_TMP/r3.out" || fail "V4 after the kill: $(cat "$TWE_IT_TMP/r3.out")"
resumed=$(history_check "$id" '
import base64
for e in ev:
    if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_COMPLETED":
        p = e["activityTaskCompletedEventAttributes"].get("result", {}).get("payloads", [{}])[0]
        if "data" not in p: continue
        r = json.loads(base64.b64decode(p["data"]))
        if isinstance(r, dict) and "resumedFrom" in r: print(r["resumedFrom"])
')
[ -n "$resumed" ] && [ "$resumed" -ge 1 ] || fail "perform_update_activity did not resume: '$resumed'"
grep -q "resumes after step $resumed" "$TWE_IT_TMP/w3b.err" || fail "the restarted worker did not say it resumed"
ok "exercise 3: killed after a heartbeat, the retry on a new worker resumed after step $resumed"
stop w3b "$WORKER_PID"

# The final stage with every task replayed, then driven from Python.
qc=$(unique patch-nocache)
start_worker wc "$worker" --task-queue "$qc" --cache 0 "${fast[@]}"
q=$qc
run 7 "$(unique patch-v7-nocache)" --approve update
ok "V7 with the cache off completed"
id=$(unique patch-py)
"$TWE_TEST_PYTHON" "$(dirname "$0")/py_system_patch.py" SystemPatchWorkflow_V7 "$id" "$qc" \
  >"$TWE_IT_TMP/py.out" 2>&1 || fail "Python client: $(cat "$TWE_IT_TMP/py.out")"
grep -q '^result: "your output"$' "$TWE_IT_TMP/py.out" || fail "Python client: $(cat "$TWE_IT_TMP/py.out")"
grep -q '^progress: .*"approval_request_received"' "$TWE_IT_TMP/py.out" || fail "Python client saw no progress"
# The C workflow read the dataclass: the requester reached the activities.
history_check "$id" '
import base64
assert any(b"python@example.com" in base64.b64decode(p["data"])
           for e in ev if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"
           for p in e["activityTaskScheduledEventAttributes"].get("input", {}).get("payloads", [])), "requesterEmail not passed on"
' || fail "the dataclass's requesterEmail did not reach the activities"
ok "the Python client drove V7 with the workshop's dataclass: $(grep -c '^progress:' "$TWE_IT_TMP/py.out") progress answers, result \"your output\""
stop wc "$WORKER_PID"
