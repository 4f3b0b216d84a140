#!/usr/bin/env bash
# tests/fault/test_server_stop.sh FAULT_WORKER — the dev server stopped
# (SIGSTOP) under load for 20 s, longer than the worker's HTTP/2 keepalive
# (TWE_KEEPALIVE_INTERVAL=10, TWE_KEEPALIVE_TIMEOUT=3: a server that does
# not answer is found within 13 s), then continued (SIGCONT). While it is
# stopped its sockets stay open and silent: nothing but the keepalive
# tells the worker, and a new connection is accepted by the kernel (the
# listening socket's backlog) but never answered. Checks that the worker
# logged the loss while the server was stopped and the return only after
# (not when its new TCP connection was accepted), that /readyz said 503
# while the server was stopped, and that every workflow
# completes with its result, no workflow task failed, every step ran, and
# the extra executions are at most 2 x the activity threads (the
# activities in flight at the stop, which the server may time out when it
# wakes to find 20 s gone).
set -euo pipefail
FAULT_WORKER=${1:?usage: test_server_stop.sh FAULT_WORKER}
source "$(dirname "$0")/lib.sh"

server_start
QUEUE=$(unique server-stop)
mport=$(twe_free_port)
start_fault_worker w TWE_KEEPALIVE_INTERVAL=10 TWE_KEEPALIVE_TIMEOUT=3 \
  TWE_METRICS_ADDRESS="127.0.0.1:$mport"
pid=$WORKER_PID
load_start
wait_executions 100
kill -STOP -- "-$SERVER_PID"
snapshot "server stopped (SIGSTOP)"
sleep 20
lost=$(grep -c "lost the connection to $TEMPORAL_ADDRESS" "$TWE_IT_TMP/w.err" || true)
back=$(grep -c "connection to $TEMPORAL_ADDRESS back after" "$TWE_IT_TMP/w.err" || true)
ready=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$mport/readyz" || true)
kill -CONT -- "-$SERVER_PID"
snapshot "server continued (SIGCONT)"
[ "$lost" -ge 1 ] || fail "the worker did not log the connection loss within the 20 s stop"
[ "$back" = 0 ] || fail "the worker said the connection was back while the server was stopped: \
$(grep "connection to $TEMPORAL_ADDRESS back after" "$TWE_IT_TMP/w.err")"
[ "$ready" = 503 ] || fail "/readyz answered $ready while the server was stopped"
grep "lost the connection to $TEMPORAL_ADDRESS" "$TWE_IT_TMP/w.err" | head -3
check $((2 * FAULT_THREADS)) 120
grep "connection to $TEMPORAL_ADDRESS back after" "$TWE_IT_TMP/w.err" ||
  fail "the worker did not log the connection's return"
check_stopped w "$pid"
ok "server SIGSTOP for 20 s under load: the loss seen by the keepalive, all completed ($(elapsed) s)"
