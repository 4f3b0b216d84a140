# bench/lib.sh — what the bench scripts (bench/run, run_worker_bench.sh,
# run_fanout_bench.sh, run_blocking_bench.sh) share; test_wire_split.sh uses
# the capture's. Sourced after scripts/lib/common.sh and
# scripts/lib/devserver.sh, never run. Bash.

source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/cgroup.sh"

# bench_server_start STATE_DIR [extra start-dev flags...] — a fresh dev
# server in STATE_DIR (any server there is stopped first), TEMPORAL_ADDRESS
# exported; dies if it does not start. Its frontend rate-limits
# (RESOURCE_EXHAUSTED, retried after 1 s) and so do history and matching per
# host: they are all lifted, or the tables measure the limits (see
# run_grpc_bench.sh). One partition per task queue: with the default 4 and
# one worker's few polls, a task written to a partition no poll waits on is
# forwarded or read back later (measured by run_worker_bench.sh: p50/p99
# 650/2770 ms instead of 420/470 ms at 5 Hello/s). The history service
# reads its transfer queue (each new workflow or activity task, on its way
# to matching) at most history.transferProcessorMaxPollRPS times a second
# (20 by default) per history shard, and the dev server has one shard: under
# load a task waited up to 50 ms in history before any poll could get it
# (run_blocking_bench.sh, 2026-12-07: sticky schedule-to-start p99 51.9 ms
# with a poll waiting at the server, 14.2 ms with the limit lifted), so it is
# lifted too (from 2026-12-07: bench tables before that date were made
# with it). The guard stops the server if the calling script dies.
bench_server_start() {
  local state=$1; shift
  devserver_stop "$state"
  WATCH_PID=$$ devserver_start "$state" \
    --dynamic-config-value frontend.rps=1000000 \
    --dynamic-config-value frontend.namespaceRPS=1000000 \
    --dynamic-config-value frontend.globalNamespaceRPS=1000000 \
    --dynamic-config-value history.rps=1000000 \
    --dynamic-config-value matching.rps=1000000 \
    --dynamic-config-value matching.numTaskqueueReadPartitions=1 \
    --dynamic-config-value matching.numTaskqueueWritePartitions=1 \
    --dynamic-config-value history.transferProcessorMaxPollRPS=10000 "$@" ||
    twe_die "dev server did not start"
  TEMPORAL_ADDRESS=$(cat "$state/address")
  export TEMPORAL_ADDRESS
}

# bench_proc_ticks PID — CPU clock ticks (user + system, all threads) of a
# live process, from /proc/PID/stat (divide by `getconf CLK_TCK`).
bench_proc_ticks() { local s; s=$(cat "/proc/$1/stat"); s=${s##*) }; set -- $s; echo $((${12} + ${13})); }
# bench_group_ticks PGID — CPU clock ticks of every process in process group
# PGID (the dev server runs in its own group: setsid).
bench_group_ticks() {
  local pg=$1 total=0 f s
  for f in /proc/[0-9]*/stat; do
    s=$(cat "$f" 2>/dev/null) || continue
    s=${s##*) }
    set -- $s
    [ "$3" = "$pg" ] && total=$((total + ${12} + ${13}))
  done
  echo $total
}
# bench_jget JSON KEY — field KEY of the JSON object JSON (a number or a string).
bench_jget() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
# bench_worker_stats PID OUT — bench_worker PID's stats now: SIGUSR1 makes it
# print one JSON line to OUT (its stdout); prints that line.
bench_worker_stats() {
  local pid=$1 out=$2 n i
  n=$(wc -l <"$out")
  kill -USR1 "$pid"
  for ((i = 0; i < 100; i++)); do
    [ "$(wc -l <"$out")" -gt "$n" ] && break
    sleep 0.05
  done
  tail -1 "$out"
}
# bench_hwm_kib PID — its peak resident set (VmHWM), KiB.
bench_hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# bench_wait_line PID FILE REGEX TENTHS — 0 once FILE has a line matching
# REGEX (grep -E); 1 if PID exited first or TENTHS tenths of a second passed.
bench_wait_line() {
  local pid=$1 file=$2 re=$3 i
  for ((i = 0; i < $4; i++)); do
    grep -qsE "$re" "$file" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
# bench_wait_ready PID OUT — 0 once OUT (the worker's stdout) has a line
# "ready"; 1 if PID exited first or 60 s passed.
bench_wait_ready() { bench_wait_line "$1" "$2" '^ready$' 600; }

# bench_stop_worker PID — SIGTERM, up to 30 s (a Python worker whose loop is
# blocked takes a while), then SIGKILL; reaps it (it must be a child of this
# shell). Sets bench_stop (clean or killed) and bench_exit_status.
bench_stop_worker() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  bench_stop=clean
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    bench_stop=killed
  fi
  bench_exit_status=0
  wait "$pid" 2>/dev/null || bench_exit_status=$?
}

# bench_worker_other_lines OUT ERR — what a fanout worker (examples/fanout,
# bench/peers/python/fanout_worker.py) wrote beyond its start-up and stop
# lines, its "ready" and its "stats" lines: SDK warnings, stack traces, twe
# warnings (the Python SDK's core logs to stdout). Stdout's first.
bench_worker_other_lines() {
  { grep -v '^ready$\|^stats ' "$1" || true
    grep -v '^twe: io backend\|^twe: cpu plan\|^twe: watchdog: workflow task budgets\|^twe: worker on task queue\|^twe: activity slots: \|^twe: activity cpu group: \|^twe: workflow task slots: \|^twe: metrics endpoint on port\|^fanout: stopping the worker$\|^fanout_worker: temporalio' "$2" || true
  }
}

# bench_cgroup_quota NAME QUOTA_US — a cgroup (v1 cpu controller) named
# NAME under /sys/fs/cgroup/cpu with a quota of QUOTA_US per 100 ms period
# (100000 = 1 CPU). Sets bench_cg (its directory) and bench_cg_launcher (a
# command prefix that moves the command into it before it execs, so every
# thread it makes is created inside and its CPU plan sees the quota; the
# PID stays the command's). Dies when it cannot be made: not root, no v1
# cpu controller, read-only. The caller removes it (bench_cgroup_remove),
# e.g. from its EXIT trap. tests/integration/lib.sh's cgroup_quota is the
# tests' twin (it skips instead).
bench_cgroup_quota() {
  local croot=/sys/fs/cgroup/cpu
  [ "$(id -u)" = 0 ] || twe_die "not root: cannot create a cgroup under $croot"
  [ -f "$croot/cpu.cfs_quota_us" ] || twe_die "no cgroup v1 cpu controller at $croot (cgroup v2 only?)"
  bench_cg="$croot/$1"
  mkdir "$bench_cg" 2>/dev/null || { bench_cg=""; twe_die "cannot create $croot/$1 (read-only? exists?)"; }
  if ! { echo 100000 >"$bench_cg/cpu.cfs_period_us" && echo "$2" >"$bench_cg/cpu.cfs_quota_us"; }; then
    rmdir "$bench_cg"; bench_cg=""
    twe_die "cannot set the quota in $croot/$1"
  fi
  bench_cg_launcher=(bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' _ "$bench_cg")
}
# bench_cgroup_remove — kills what is left in bench_cg, removes it. Quiet
# when there is none.
bench_cgroup_remove() {
  [ -n "${bench_cg:-}" ] && [ -d "$bench_cg" ] || return 0
  twe_cgroup_remove "$bench_cg" || echo "bench: warning: could not remove $bench_cg" >&2
  bench_cg=""
}

# bench_wire_start PCAP PORT — tcpdump on the loopback for PORT, into PCAP
# (its messages in PCAP.err); sets BENCH_WIRE_PID. Fails if it does not
# listen within 5 s (no tcpdump, or no right to capture).
BENCH_WIRE_PID=""
bench_wire_start() {
  tcpdump -i lo -s 0 -B 65536 -w "$1" "tcp port $2" 2>"$1.err" &
  BENCH_WIRE_PID=$!
  bench_wait_line "$BENCH_WIRE_PID" "$1.err" 'listening on' 50 && return 0
  bench_wire_stop now
  return 1
}
# bench_wire_stop [now] — stops the capture, 2 s after the work unless
# "now": tcpdump hands the kernel's buffer over a block at a time (a block
# not yet full within 1 s), and stopped at once it loses the last packets.
bench_wire_stop() {
  [ -n "$BENCH_WIRE_PID" ] || return 0
  [ "${1:-}" = now ] || sleep 2
  kill -INT "$BENCH_WIRE_PID" 2>/dev/null || true
  wait "$BENCH_WIRE_PID" 2>/dev/null || true
  BENCH_WIRE_PID=""
}
# bench_wire_ports PID PORT — the local ports of the connections to PORT
# that PID or its children (a peer's run-worker may not exec) hold.
bench_wire_ports() {
  local pids=" $1 " next=$1 p
  for _ in 1 2 3; do
    next=$(for p in $next; do pgrep -P "$p" || true; done)
    [ -n "$next" ] || break
    pids+="$(echo $next) "
  done
  ss -Htnp state established "( dport = :$2 )" |
    awk -v pids="$pids" '{ if (match($0, /pid=[0-9]+/)) { p = substr($0, RSTART + 4, RLENGTH - 4);
      if (index(pids, " " p " ")) { n = split($3, a, ":"); print a[n] } } }' | sort -u | tr '\n' ' '
}
