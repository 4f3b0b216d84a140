#!/usr/bin/env bash
# tests/fault/test_netcut.sh FAULT_WORKER — the network between the worker
# and the server cut under load for 20 s, longer than the worker's HTTP/2
# keepalive (TWE_KEEPALIVE_INTERVAL=10, TWE_KEEPALIVE_TIMEOUT=3), then
# mended. The test makes network namespaces: the dev server and the test's
# own clients in one (10.231.0.1; the server listens on every address
# there), the worker in another (10.231.0.6), and a router between them
# (veth pairs to each). The cut makes the router drop every packet it
# forwards (a pfifo queue of length 0 on both its ends): neither end hears
# a reset or gets an error, its packets just go nowhere, so nothing but
# the keepalive tells the worker. Checks that the worker logged the loss
# during the cut and the return only after it, that its /readyz said 503
# during the cut, and that every workflow completes with its result, no
# workflow task failed, every step ran, and the extra executions are at
# most 2 x the activity threads (the activities in flight at the cut,
# whose reports the server may have timed out). Skips (77) when not root
# or when the namespaces cannot be made; removes them at exit (a guard
# does if the test dies without its trap).
set -euo pipefail

if [ "${1:-}" != --inside ]; then
  FAULT_WORKER=${1:?usage: test_netcut.sh FAULT_WORKER}
  [ "$(id -u)" = 0 ] || { echo "SKIP: not root: cannot make network namespaces"; exit 77; }
  S=twe-fault-s-$$ R=twe-fault-r-$$ W=twe-fault-w-$$
  netns_remove() {
    local n p
    for n in "$S" "$R" "$W"; do
      for p in $(ip netns pids "$n" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
      ip netns del "$n" 2>/dev/null || true
    done
  }
  trap netns_remove EXIT
  # server (S) 10.231.0.1 -- .2 router (R) .5 -- .6 worker (W)
  netns_make() {
    local l
    ip netns add "$S" && ip netns add "$R" && ip netns add "$W" &&
      ip link add vs netns "$S" type veth peer name rs netns "$R" &&
      ip link add vw netns "$W" type veth peer name rw netns "$R" &&
      ip -n "$S" addr add 10.231.0.1/30 dev vs && ip -n "$R" addr add 10.231.0.2/30 dev rs &&
      ip -n "$R" addr add 10.231.0.5/30 dev rw && ip -n "$W" addr add 10.231.0.6/30 dev vw ||
      return 1
    for l in "$S lo" "$S vs" "$R lo" "$R rs" "$R rw" "$W lo" "$W vw"; do
      ip -n "${l% *}" link set "${l#* }" up || return 1
    done
    ip -n "$S" route add default via 10.231.0.2 && ip -n "$W" route add default via 10.231.0.5 &&
      ip netns exec "$R" sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'
  }
  err="/tmp/twe-netcut-$$.err"
  if ! netns_make 2>"$err"; then
    echo "SKIP: cannot make the network namespaces: $(cat "$err")"
    rm -f "$err"
    exit 77
  fi
  rm -f "$err"
  # The guard: removes the namespaces (and what runs in them) if this
  # script is gone without its trap.
  setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; shift
                  for n in "$@"; do
                    for p in $(ip netns pids "$n" 2>/dev/null); do kill -KILL "$p"; done
                    ip netns del "$n"
                  done' guard $$ "$S" "$R" "$W" </dev/null >/dev/null 2>&1 &
  rc=0
  FAULT_NETNS_R=$R FAULT_NETNS_W=$W ip netns exec "$S" "$0" --inside "$FAULT_WORKER" || rc=$?
  exit $rc
fi

# Inside the server's namespace from here.
FAULT_WORKER=${2:?}
R=${FAULT_NETNS_R:?} W=${FAULT_NETNS_W:?}
FAULT_IP=10.231.0.1 FAULT_LISTEN_IP=0.0.0.0 # alone in its namespace
source "$(dirname "$0")/lib.sh"
FAULT_WORKER_PREFIX=(ip netns exec "$W")
cut() {
  ip netns exec "$R" tc qdisc replace dev rs root pfifo limit 0 &&
    ip netns exec "$R" tc qdisc replace dev rw root pfifo limit 0
}
mend() { ip netns exec "$R" tc qdisc del dev rs root && ip netns exec "$R" tc qdisc del dev rw root; }

server_start
QUEUE=$(unique netcut)
mport=$(twe_free_port)
start_fault_worker w TWE_KEEPALIVE_INTERVAL=10 TWE_KEEPALIVE_TIMEOUT=3 \
  TWE_METRICS_ADDRESS="127.0.0.1:$mport"
pid=$WORKER_PID
load_start
wait_executions 100
cut || fail "could not cut the link (tc qdisc pfifo limit 0)"
snapshot "network cut"
sleep 20
lost=$(grep -c "lost the connection to $TEMPORAL_ADDRESS" "$TWE_IT_TMP/w.err" || true)
back=$(grep -c "connection to $TEMPORAL_ADDRESS back after" "$TWE_IT_TMP/w.err" || true)
ready=$(ip netns exec "$W" curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
  "http://127.0.0.1:$mport/readyz" || true)
mend || fail "could not mend the link"
snapshot "network mended"
[ "$lost" -ge 1 ] || fail "the worker did not log the connection loss within the 20 s cut"
[ "$back" = 0 ] || fail "the worker said the connection was back during the cut"
[ "$ready" = 503 ] || fail "/readyz answered $ready during the cut"
grep "lost the connection to $TEMPORAL_ADDRESS" "$TWE_IT_TMP/w.err" | head -3
check $((2 * FAULT_THREADS)) 120
grep "connection to $TEMPORAL_ADDRESS back after" "$TWE_IT_TMP/w.err" ||
  fail "the worker did not log the connection's return"
check_stopped w "$pid"
ok "network cut for 20 s under load: the loss seen by the keepalive, all completed ($(elapsed) s)"
