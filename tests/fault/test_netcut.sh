#!/usr/bin/env bash
# tests/fault/test_netcut.sh FAULT_WORKER — the network between the worker
# and the server cut under load for 20 s, longer than the worker's HTTP/2
# keepalive (TWE_KEEPALIVE_INTERVAL=10, TWE_KEEPALIVE_TIMEOUT=3), then
# mended. The test makes two network namespaces joined by a veth pair: the
# dev server and the test's own clients in one (10.231.0.1; the server
# listens on every address there), the worker in the other (10.231.0.2). The cut drops every packet both ends send (a
# pfifo queue of length 0 on each end: no reset, no error, silence), so
# nothing but the keepalive tells the worker. Checks that the worker
# logged the loss during the cut and the return after, and that every
# workflow completes with its result, no workflow task failed, every step
# ran, and the extra executions are at most 2 x the activity threads (the
# activities in flight at the cut, whose reports the server may have timed
# out). Skips (77) when not root or when the namespaces cannot be made;
# removes them at exit (a guard does if the test dies without its trap).
set -euo pipefail

if [ "${1:-}" != --inside ]; then
  FAULT_WORKER=${1:?usage: test_netcut.sh FAULT_WORKER}
  [ "$(id -u)" = 0 ] || { echo "SKIP: not root: cannot make network namespaces"; exit 77; }
  S=twe-fault-s-$$ W=twe-fault-w-$$
  netns_remove() {
    local n p
    for n in "$S" "$W"; do
      for p in $(ip netns pids "$n" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
      ip netns del "$n" 2>/dev/null || true
    done
  }
  trap netns_remove EXIT
  if ! { ip netns add "$S" && ip netns add "$W" &&
         ip link add vs netns "$S" type veth peer name vw netns "$W" &&
         ip -n "$S" addr add 10.231.0.1/30 dev vs && ip -n "$W" addr add 10.231.0.2/30 dev vw &&
         ip -n "$S" link set lo up && ip -n "$W" link set lo up &&
         ip -n "$S" link set vs up && ip -n "$W" link set vw up; } 2>"/tmp/twe-netcut-$$.err"; then
    echo "SKIP: cannot make the network namespaces: $(cat "/tmp/twe-netcut-$$.err")"
    rm -f "/tmp/twe-netcut-$$.err"
    exit 77
  fi
  rm -f "/tmp/twe-netcut-$$.err"
  # The guard: removes the namespaces (and what runs in them) if this
  # script is gone without its trap.
  setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done
                  for n in "$2" "$3"; do
                    for p in $(ip netns pids "$n" 2>/dev/null); do kill -KILL "$p"; done
                    ip netns del "$n"
                  done' guard $$ "$S" "$W" </dev/null >/dev/null 2>&1 &
  rc=0
  FAULT_NETNS_W=$W ip netns exec "$S" "$0" --inside "$FAULT_WORKER" || rc=$?
  exit $rc
fi

# Inside the server's namespace from here.
FAULT_WORKER=${2:?}
W=${FAULT_NETNS_W:?}
FAULT_IP=10.231.0.1 FAULT_LISTEN_IP=0.0.0.0 # alone in its namespace
source "$(dirname "$0")/lib.sh"
FAULT_WORKER_PREFIX=(ip netns exec "$W")
cut() {
  tc qdisc replace dev vs root pfifo limit 0 && ip netns exec "$W" tc qdisc replace dev vw root pfifo limit 0
}
mend() { tc qdisc del dev vs root && ip netns exec "$W" tc qdisc del dev vw root; }

server_start
QUEUE=$(unique netcut)
start_fault_worker w TWE_KEEPALIVE_INTERVAL=10 TWE_KEEPALIVE_TIMEOUT=3
pid=$WORKER_PID
load_start
wait_executions 100
cut || fail "could not cut the link (tc qdisc pfifo limit 0)"
snapshot "network cut"
sleep 20
lost=$(grep -c "lost the connection to $TEMPORAL_ADDRESS" "$TWE_IT_TMP/w.err" || true)
mend || fail "could not mend the link"
snapshot "network mended"
[ "$lost" -ge 1 ] || fail "the worker did not log the connection loss within the 20 s cut"
grep "lost the connection to $TEMPORAL_ADDRESS" "$TWE_IT_TMP/w.err" | head -3
check $((2 * FAULT_THREADS)) 120
grep "connection to $TEMPORAL_ADDRESS back after" "$TWE_IT_TMP/w.err" ||
  fail "the worker did not log the connection's return"
check_stopped w "$pid"
ok "network cut for 20 s under load: the loss seen by the keepalive, all completed ($(elapsed) s)"
