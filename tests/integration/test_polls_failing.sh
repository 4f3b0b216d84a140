#!/usr/bin/env bash
# tests/integration/test_polls_failing.sh SCENARIO_WORKER — polls that keep
# failing are said in the worker's log once they have failed for 5 s, then
# summed up every 30 s, not once per poll (one line per shard: each polls on
# its own connection): a worker polls a namespace that is then deleted, so
# the server answers every poll with an error.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_polls_failing.sh SCENARIO_WORKER}
ns=$(unique twe-gone)
t operator namespace create --namespace "$ns" --retention 24h >/dev/null
for _ in $(seq 1 40); do t operator namespace describe --namespace "$ns" >/dev/null 2>&1 && break; sleep 0.25; done
q=$(unique failing)
TEMPORAL_NAMESPACE="$ns" start_worker w "$sw" worker --task-queue "$q"
t operator namespace delete --namespace "$ns" --yes >/dev/null
# The first line at 5 s, the summary at 35 s.
for _ in $(seq 1 500); do
  grep -q "polls still failing after" "$TWE_IT_TMP/w.err" && break
  sleep 0.1
done
stop_worker w "$WORKER_PID"
python3 - "$TWE_IT_TMP/w.err" "$TWE_IT_TMP/w.stats" "$ns" <<'PY' || fail "the worker's log: $(cat "$TWE_IT_TMP/w.err")"
import json, re, sys
log = open(sys.argv[1]).read().splitlines()
stats = json.load(open(sys.argv[2]))
ns = sys.argv[3]
first = [l for l in log if "polls have been failing for" in l]
summary = [l for l in log if "polls still failing after" in l]
# Each shard polls on its own connection and says so once (one shard unless
# TWE_SHARD_THREADS says more); the summaries come per shard too, the test
# stops after the first.
shard = lambda l: re.search(r"shard (\d+):", l).group(1)
assert first and len(first) == len({shard(l) for l in first}), first
for l in first:
    m = re.search(r"failing for ([0-9.]+) s \(([0-9]+) failed\): Poll\w+TaskQueue( \(sticky\))?: NOT_FOUND: .*%s" % ns, l)
    assert m and 5 <= float(m.group(1)) < 10, l
m = re.search(r"\(([0-9]+) failed\)", first[0])
assert summary and len(summary) == len({shard(l) for l in summary}), summary
assert all("failed so far; last: Poll" in l for l in summary), summary
# Nothing else about the polls: one line each, not one per failed poll.
others = [l for l in log if "Poll" in l and l not in first + summary]
assert not others, others
assert stats["polls_failed"] >= int(m.group(1)), stats
print(first[0]); print(summary[0]); print("polls_failed:", stats["polls_failed"])
PY
ok "failing polls: one line at 5 s, one summary at 35 s, counted in the stats"
