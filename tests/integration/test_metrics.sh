#!/usr/bin/env bash
# tests/integration/test_metrics.sh HELLO_BIN — the metrics endpoint
# (TWE_METRICS_ADDRESS) of a worker running the hello workload:
#   - /metrics has the SDKs' names and labels with counts that moved;
#   - /healthz and /readyz answer 200 while it runs;
#   - a real Prometheus (Debian's package) scrapes it, and its HTTP API gives
#     back non-zero workflow task schedule-to-start and activity execution
#     latency histograms for the hello task queue with the right labels.
# Exit 77 (skipped) only when the prometheus binary is not installed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
hello=${1:?usage: test_metrics.sh HELLO_BIN}
q=$(unique metrics)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
mport=$(free_port)

TWE_METRICS_ADDRESS="127.0.0.1:$mport" "$hello" --task-queue "$q" >"$TWE_IT_TMP/hello.out" 2>"$TWE_IT_TMP/hello.err" &
pid=$!
TWE_IT_PIDS+=("$pid")
for _ in $(seq 1 100); do grep -q "worker running" "$TWE_IT_TMP/hello.err" && break; sleep 0.1; done
grep -q "worker running" "$TWE_IT_TMP/hello.err" || { cat "$TWE_IT_TMP/hello.err"; fail "hello worker did not start"; }
grep -q "metrics endpoint on port $mport" "$TWE_IT_TMP/hello.err" || fail "no metrics endpoint line: $(cat "$TWE_IT_TMP/hello.err")"

for i in 1 2 3; do
  t workflow execute --type Hello --task-queue "$q" --workflow-id "$(unique hello-wf)" --input '"World"' >/dev/null ||
    fail "workflow execute"
done

curl -fsS "http://127.0.0.1:$mport/metrics" >"$TWE_IT_TMP/metrics.txt" || fail "GET /metrics"
python3 - "$TWE_IT_TMP/metrics.txt" "$q" <<'PY' || fail "metrics: $(head -c 4000 "$TWE_IT_TMP/metrics.txt")"
import re, sys
text, q = open(sys.argv[1]).read(), sys.argv[2]
samples = {}
for line in text.splitlines():
    if line.startswith("#") or not line: continue
    name_labels, value = line.rsplit(" ", 1)
    samples[name_labels] = float(value)
def find(name, **labels):
    out = []
    for k, v in samples.items():
        m = re.match(r'([a-z_]+)\{(.*)\}$', k)
        if not m or m.group(1) != name: continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
        if all(got.get(a) == b for a, b in labels.items()): out.append(v)
    return out
base = {"namespace": "default", "task_queue": q}
checks = [
    ("temporal_workflow_task_schedule_to_start_latency_seconds_count", dict(base, workflow_type="Hello", worker_type="WorkflowWorker")),
    ("temporal_workflow_task_execution_latency_seconds_count", dict(base, workflow_type="Hello")),
    ("temporal_workflow_completed_total", dict(base, workflow_type="Hello")),
    ("temporal_workflow_endtoend_latency_seconds_count", dict(base, workflow_type="Hello")),
    ("temporal_activity_execution_latency_seconds_count", dict(base, worker_type="ActivityWorker")),
    ("temporal_activity_schedule_to_start_latency_seconds_count", dict(base)),
    ("temporal_activity_succeed_endtoend_latency_seconds_count", dict(base)),
    ("temporal_request_total", dict(base, operation="RespondWorkflowTaskCompleted")),
    ("temporal_request_latency_seconds_count", dict(base, operation="RespondActivityTaskCompleted")),
    ("temporal_long_request_total", dict(base, operation="PollWorkflowTaskQueue")),
    ("temporal_workflow_task_queue_poll_succeed_total", dict(base, poller_type="workflow_task")),
    ("temporal_sticky_cache_hit_total", dict(base)),
]
for name, labels in checks:
    vals = find(name, **labels)
    assert vals and sum(vals) > 0, (name, labels, vals)
assert sum(find("temporal_workflow_completed_total", **base)) == 3, find("temporal_workflow_completed_total", **base)
# Histogram buckets are cumulative and end at +Inf = _count.
inf = find("temporal_workflow_task_schedule_to_start_latency_seconds_bucket", le="+Inf", **base)
cnt = find("temporal_workflow_task_schedule_to_start_latency_seconds_count", **base)
assert sum(inf) == sum(cnt), (inf, cnt)
assert "# TYPE temporal_request_total counter" in text and "# TYPE temporal_request_latency_seconds histogram" in text
assert "# TYPE twe_sticky_cache_bytes gauge" in text and "# TYPE twe_sticky_cache_stowed gauge" in text
# One TYPE line per family, as the format wants.
types = [l.split()[2] for l in text.splitlines() if l.startswith("# TYPE ")]
assert len(types) == len(set(types)), sorted(t for t in types if types.count(t) > 1)
PY
ok "/metrics: the SDKs' names and labels, counts that moved (3 workflows completed)"

# The dashboard in deploy/monitoring reads only what /metrics has (those
# that only show once something failed aside).
python3 - "$TWE_IT_TMP/metrics.txt" "$(dirname "$0")/../../deploy/monitoring/grafana-twe.json" <<'PY' ||
import json, re, sys
text = open(sys.argv[1]).read()
families = {l.split()[2] for l in text.splitlines() if l.startswith("# TYPE ")}
exprs = [t["expr"] for p in json.load(open(sys.argv[2]))["panels"] for t in p["targets"]]
used = {re.sub(r"_(bucket|count|sum)$", "", m) for e in exprs for m in re.findall(r"\b((?:temporal|twe)_[a-z_]+)\{", e)}
need_failure = {"temporal_request_failure_total", "temporal_workflow_task_execution_failed_total"}
missing = sorted(m for m in used - families - need_failure if not m.startswith("twe_cgroup_"))
assert not missing, missing
print("dashboard: %d metric families, all served" % len(used))
PY
  fail "the dashboard reads metrics the worker does not serve"
if command -v promtool >/dev/null; then
  promtool check config "$(dirname "$0")/../../deploy/monitoring/prometheus.yml" >/dev/null ||
    fail "promtool rejects deploy/monitoring/prometheus.yml"
fi

[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/healthz")" = 200 ] || fail "/healthz"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/readyz")" = 200 ] || fail "/readyz: $(curl -s "http://127.0.0.1:$mport/readyz")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/nope")" = 404 ] || fail "/nope is not 404"
ok "/healthz and /readyz: 200 while running"

# A real Prometheus scrapes the worker.
prom=$(command -v prometheus || true)
if [ -z "$prom" ]; then
  kill -TERM "$pid"; wait "$pid" || true
  echo "SKIP: no prometheus binary (scripts/bootstrap installs Debian's package)"
  exit 77
fi
pport=$(free_port)
mkdir -p "$TWE_IT_TMP/prom"
cat >"$TWE_IT_TMP/prom/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: twe
    static_configs:
      - targets: ["127.0.0.1:$mport"]
YML
"$prom" --config.file="$TWE_IT_TMP/prom/prometheus.yml" --storage.tsdb.path="$TWE_IT_TMP/prom/data" \
  --web.listen-address="127.0.0.1:$pport" >"$TWE_IT_TMP/prom.log" 2>&1 &
ppid=$!
TWE_IT_PIDS+=("$ppid")
query() {
  curl -fsS "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$1" 2>/dev/null || true
}
got=""
for _ in $(seq 1 100); do
  got=$(query "temporal_workflow_task_schedule_to_start_latency_seconds_count{task_queue=\"$q\",workflow_type=\"Hello\",namespace=\"default\"}")
  python3 -c 'import json,sys; r=json.loads(sys.argv[1])["data"]["result"]; sys.exit(0 if r and float(r[0]["value"][1]) > 0 else 1)' "$got" 2>/dev/null && break
  sleep 0.3
done
python3 - "$got" "$(query "temporal_activity_execution_latency_seconds_count{task_queue=\"$q\",worker_type=\"ActivityWorker\"}")" "$q" <<'PY' ||
import json, sys
q = sys.argv[3]
wft = json.loads(sys.argv[1])["data"]["result"]
act = json.loads(sys.argv[2])["data"]["result"]
assert wft and float(wft[0]["value"][1]) > 0, wft
assert wft[0]["metric"]["task_queue"] == q and wft[0]["metric"]["workflow_type"] == "Hello", wft
assert act and sum(float(r["value"][1]) for r in act) > 0, act
assert all(r["metric"]["task_queue"] == q and r["metric"]["activity_type"] for r in act), act
print("prometheus: workflow task schedule-to-start count %s, activity execution counts %s" % (
    wft[0]["value"][1], {r["metric"]["activity_type"]: r["value"][1] for r in act}))
PY
  fail "Prometheus did not give the worker's histograms back: $got; log: $(tail -5 "$TWE_IT_TMP/prom.log")"
kill -TERM "$ppid"; wait "$ppid" 2>/dev/null || true
kill -TERM "$pid"
wait "$pid" || fail "hello exited with $?"
ok "a real Prometheus scraped the worker and gave its histograms back through its HTTP API"
