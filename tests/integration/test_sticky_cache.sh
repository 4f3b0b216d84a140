#!/usr/bin/env bash
# tests/integration/test_sticky_cache.sh SCENARIO_WORKER — a workflow of 20
# sequential activities completes served from the sticky cache, and also
# with cache size 0 (no cache: every task replays the full history), 1
# (three workflows at once share one cached run, so nearly every task
# replays), with every idle run stowed at once (TWE_CACHE_STOW_AFTER_MS=0:
# still all cache hits), and under a byte bound smaller than one run
# (TWE_MAX_CACHED_BYTES: forced evictions, replays, all completed). The
# worker's counters say which happened.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_sticky_cache.sh SCENARIO_WORKER}

run_case() { # NAME CACHE WORKFLOWS
  local name=$1 cache=$2 n=$3 q
  q=$(unique "cache$cache")
  start_worker "$name" "$sw" worker --task-queue "$q" --cache "$cache"
  local pid=$WORKER_PID ids=()
  for i in $(seq 1 "$n"); do
    ids+=("$(unique "seq20-c$cache")")
    t workflow start --type Sequential --task-queue "$q" --workflow-id "${ids[-1]}" --input 20 >/dev/null
  done
  for id in "${ids[@]}"; do
    t workflow result --workflow-id "$id" -o json >"$TWE_IT_TMP/$id.json" || fail "$id did not complete (cache $cache)"
    grep -q '20' "$TWE_IT_TMP/$id.json" || fail "$id result: $(cat "$TWE_IT_TMP/$id.json")"
    h=$(history "$id")
    [ "$(count_events "$h" WORKFLOW_TASK_FAILED)" = 0 ] || fail "$id: workflow task failed (cache $cache)"
  done
  stop_worker "$name" "$pid"
  echo "cache $cache, $n workflow(s): $(cat "$TWE_IT_TMP/$name.stats")"
}

run_case big 10000 1
python3 - "$TWE_IT_TMP/big.stats" <<'PY' || fail "sticky cache not used"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["cache_hits"] >= 19, s        # 21 tasks: the first is new, the rest come back sticky
assert s["cache_misses"] == 0, s
assert s["workflow_tasks_completed"] >= 21, s
PY
ok "cache 10000: every task after the first was a sticky cache hit"

run_case none 0 1
python3 - "$TWE_IT_TMP/none.stats" <<'PY' || fail "cache 0 did not replay"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["cache_hits"] == 0, s
assert s["cache_misses"] >= 20, s
assert s["cached_workflows"] == 0, s
PY
ok "cache 0: every task replayed the full history"

run_case one 1 3
python3 - "$TWE_IT_TMP/one.stats" <<'PY' || fail "cache 1"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["cache_misses"] >= 10, s
assert s["cache_evictions"] >= 10, s
PY
ok "cache 1 with 3 workflows: runs evicted and replayed, all completed"

TWE_CACHE_STOW_AFTER_MS=0 run_case stow 10000 1
python3 - "$TWE_IT_TMP/stow.stats" <<'PY' || fail "stowed runs"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["cache_hits"] >= 19, s        # stowed between tasks, still served from the cache
assert s["cache_misses"] == 0, s
assert s["cache_stows"] >= 19, s       # idle after each of its first 20 tasks
PY
ok "every idle run stowed at once: every task after the first still a cache hit"

TWE_MAX_CACHED_BYTES=2000 run_case bytes 10000 3
python3 - "$TWE_IT_TMP/bytes.stats" <<'PY' || fail "byte bound"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["cache_forced_evictions"] >= 20, s   # no run fits in 2000 bytes
assert s["cache_misses"] >= 20, s
PY
ok "a byte bound below one run: runs evicted (forced) and replayed, all completed"
