#!/usr/bin/env bash
# tests/integration/test_firehose_input.sh BENCH_WORKER — the firehose's
# input is real: the workloads bench/run_firehose_bench.sh feeds from the
# recorded histories (bench/results/histories/, recorded on the dev server
# by bench/run) run on the fixture's dev server with twe's bench worker, and
# the histories the server writes match the recordings under the firehose's
# own comparison (`firehose -check`, bench/firehose/check.go): every command
# (type, activity type, task queue, input, timeouts, retry policy; the
# workflow's result), every activity result, and for OneActivity and
# TenSequential the sequence of event types; FanOut100's events interleave
# by timing, so only its commands and results. A tampered copy must differ,
# or the check proves nothing. Skipped (77) without Go to build the
# firehose (bench/firehose/bootstrap, cached outside the checkout).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bw=${1:?usage: test_firehose_input.sh BENCH_WORKER}
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/scripts/lib/common.sh"
source "$root/bench/firehose/lib.sh"
recorded=$root/bench/results/histories

command -v go >/dev/null || { echo "SKIP: no Go to build the firehose"; exit 77; }
"$root/bench/firehose/bootstrap" >"$TWE_IT_TMP/build.log" 2>&1 ||
  { cat "$TWE_IT_TMP/build.log" >&2; fail "bench/firehose/bootstrap"; }
fh=$(firehose_bin)

q=$(unique firehose-input)
start_worker w "$bw" --task-queue "$q"
pid=$WORKER_PID

for wl in OneActivity TenSequential FanOut100; do
  wf=$(unique "$wl")
  t workflow execute --type "$wl" --task-queue "$q" --workflow-id "$wf" >/dev/null || fail "$wl on the dev server"
  h=$(history "$wf")
  events=true
  [ "$wl" = FanOut100 ] && events=false
  out=$("$fh" -workload "$wl" -histories "$recorded" -check "$h" -check-events="$events" 2>&1) ||
    fail "$wl: the dev server's history differs from the recording the firehose serves: $out"
  ok "$wl: $out"
done

# The same check on a copy with the 3rd activity's type changed and the
# workflow's result changed: it must see both.
python3 - "$h" "$TWE_IT_TMP/tampered.json" <<'PY'
import base64, json, sys
d = json.load(open(sys.argv[1]))
s = [e for e in d["events"] if "activityTaskScheduledEventAttributes" in e]
s[2]["activityTaskScheduledEventAttributes"]["activityType"]["name"] = "Other"
for e in d["events"]:
    a = e.get("workflowExecutionCompletedEventAttributes")
    if a:
        a["result"]["payloads"][0]["data"] = base64.b64encode(b"99").decode()
json.dump(d, open(sys.argv[2], "w"))
PY
if out=$("$fh" -workload FanOut100 -histories "$recorded" -check "$TWE_IT_TMP/tampered.json" -check-events=false 2>&1); then
  fail "a tampered history passed the check: $out"
fi
echo "$out" | grep -q 'activity type "Other", recorded "Noop"' || fail "the changed activity type went unseen: $out"
echo "$out" | grep -q 'workflow result \[99\], recorded \[100\]' || fail "the changed result went unseen: $out"
ok "a tampered history differs: $(echo "$out" | wc -l) differences"

kill -TERM "$pid"
wait "$pid" || fail "the bench worker exited with $?"
