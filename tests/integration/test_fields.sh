#!/usr/bin/env bash
# tests/integration/test_fields.sh SCENARIO_WORKER [cache0] — memo and
# search attributes (the Fields workflow): given at start by the CLI, read
# by the workflow, an upsert seen by the workflow and by
# `temporal workflow list --query`; given to a child by its parent;
# carried over by continue-as-new.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_fields.sh SCENARIO_WORKER [cache0]}
cache=10000
[ "${2:-}" = cache0 ] && cache=0
q=$(unique fields)
start_worker w "$sw" worker --task-queue "$q" --cache "$cache"
pid=$WORKER_PID

# run ID INPUT: executes Fields with memo note="hi" and TweTag="t1-ID".
run() {
  t workflow execute --type Fields --task-queue "$q" --workflow-id "$1" --input "$2" \
    --memo 'note="hi"' --search-attribute "TweTag=\"t1-$1\"" -o json |
    python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["result"]))'
}
expect() {
  python3 - "$1" "$2" <<'PY' || fail "result $1, want $2"
import json, sys
got, want = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert got == want, (got, want)
PY
}

id=$(unique plain)
expect "$(run "$id" '{}')" "{\"memo\":\"hi\",\"tag\":\"t1-$id\",\"after\":\"changed\",\"type\":\"Keyword\",\"kid\":null}"
# The upsert reached the server's visibility.
for _ in $(seq 1 50); do
  n=$(t workflow list --query "TweTag=\"changed\" AND WorkflowId=\"$id\"" -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin) or []))')
  [ "$n" = 1 ] && break
  sleep 0.2
done
[ "$n" = 1 ] || fail "the upserted TweTag of $id is not found by a visibility query"

id=$(unique parent)
expect "$(run "$id" '{"child":true}')" "{\"memo\":\"hi\",\"tag\":\"t1-$id\",\"after\":\"changed\",\"type\":\"Keyword\",\"kid\":{\"memo\":\"from parent\",\"tag\":\"kid\",\"after\":\"changed\",\"type\":\"Keyword\",\"kid\":null}}"

# Continued as new twice: the last run has the first run's memo and the
# search attribute as its predecessor left it.
id=$(unique can)
t workflow start --type Fields --task-queue "$q" --workflow-id "$id" --input '{"can":2}' \
  --memo 'note="hi"' --search-attribute 'TweTag="t1"' >/dev/null
r=$(t workflow result --workflow-id "$id" -o json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["result"]))')
expect "$r" '{"memo":"hi","tag":"changed","after":"changed","type":"Keyword","kid":null}'

stop_worker w "$pid"
ok "memo and search attributes (cache $cache): at start, upserted and listed, to a child, over continue-as-new: $(cat "$TWE_IT_TMP/w.stats")"
