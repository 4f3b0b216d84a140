#!/usr/bin/env bash
# tests/integration/test_client_calls.sh SCENARIO_WORKER CLIENT_CALLS — the
# client's calls (tests/integration/client_calls.c) against twe workflows
# that a scenario_worker runs on a queue of its own.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_client_calls.sh SCENARIO_WORKER CLIENT_CALLS}
calls=${2:?usage: test_client_calls.sh SCENARIO_WORKER CLIENT_CALLS}
q=$(unique client-calls)
start_worker w "$sw" worker --task-queue "$q"
pid=$WORKER_PID
TWE_TEST_QUEUE=$q "$calls" || { tail -20 "$TWE_IT_TMP/w.err" >&2; fail "client calls"; }
stop_worker w "$pid"
ok "client calls against twe workflows: $(cat "$TWE_IT_TMP/w.stats")"
