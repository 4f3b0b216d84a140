#!/usr/bin/env bash
# tests/integration/test_go_interop.sh SCENARIO_WORKER — histories the Go
# SDK records replay on twe's twins: GetVersion ("Version" markers and the
# TemporalChangeVersion upsert), SideEffect ("SideEffect" markers) and
# MutableSideEffect ("MutableSideEffect" markers, recorded on change); and
# twe's own runs of the twins record the same markers (names, keys,
# values) as the Go SDK's.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_go_interop.sh SCENARIO_WORKER}
[ -x "$TWE_GO_WORKER" ] || fail "no Go SDK worker at $TWE_GO_WORKER (run scripts/bootstrap)"

gq=$(unique go-interop-go)
"$TWE_GO_WORKER" worker "$gq" >"$TWE_IT_TMP/gow.out" 2>"$TWE_IT_TMP/gow.err" &
gow=$!
TWE_IT_PIDS+=("$gow")
for _ in $(seq 1 150); do grep -q '^ready' "$TWE_IT_TMP/gow.out" && break; sleep 0.1; done
grep -q '^ready' "$TWE_IT_TMP/gow.out" || fail "Go worker not ready: $(cat "$TWE_IT_TMP/gow.err")"
q=$(unique go-interop-twe)
start_worker w "$sw" worker --task-queue "$q"
pid=$WORKER_PID

result() { python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["result"]))'; }
# markers FILE: the markers' names and details (every payload decoded), one
# JSON line.
markers() {
  python3 - "$1" <<'PY'
import base64, json, sys
ev = json.load(open(sys.argv[1]))["events"]
out = []
for e in ev:
    if e["eventType"].endswith("MARKER_RECORDED"):
        a = e["markerRecordedEventAttributes"]
        out.append([a["markerName"], {k: [json.loads(base64.b64decode(p["data"])) for p in v["payloads"]]
                                      for k, v in sorted(a.get("details", {}).items())}])
print(json.dumps(out, sort_keys=True))
PY
}

for wf in Versioned GoSided GoMutable; do
  gid=$(unique "go-$wf")
  tid=$(unique "twe-$wf")
  gr=$(t workflow execute --type "$wf" --task-queue "$gq" --workflow-id "$gid" -o json | result)
  tr=$(t workflow execute --type "$wf" --task-queue "$q" --workflow-id "$tid" -o json | result)
  [ "$gr" = "$tr" ] || fail "$wf: the Go SDK's result $gr, twe's $tr"
  gh=$(history "$gid")
  th=$(history "$tid")
  "$sw" replay "$gh" >"$TWE_IT_TMP/replay.out" 2>&1 ||
    fail "the Go SDK's $wf history does not replay on twe: $(cat "$TWE_IT_TMP/replay.out")"
  gm=$(markers "$gh")
  tm=$(markers "$th")
  [ "$gm" = "$tm" ] || fail "$wf: the Go SDK's markers $gm, twe's $tm"
  ok "$wf: the Go SDK's history replays on twe; both record $gm (result $gr)"
done

kill -TERM "$gow"; wait "$gow" 2>/dev/null || true
stop_worker w "$pid"
