#!/usr/bin/env bash
# bench/run_worker_bench.sh — what a twe worker costs, measured against a
# local dev server (bench/bench_worker.c, bench/bench_driver.c):
#   (a) worker CPU per Hello workflow (3 sequential + 10 parallel activities)
#       at fixed start rates, beside the dev server's CPU over the same
#       window and the end-to-end latency the driver saw;
#   (b) RSS per cached workflow: N open "Park" workflows each waiting on a
#       1-hour timer, with the cache sized to hold them all.
#
#   bench/run_worker_bench.sh [--quick] [--rates "5 20 50"] [--seconds S]
#                             [--park "10000 100000"] [--only cpu|rss]
#                             [--fiber-stack BYTES] [--worker-args "ARGS"]
#
# --quick: 10 s per rate and N = 10000 only (about 2 minutes); the full run
# takes about 17 minutes on 2 CPUs, most of it the dev server taking 100,000
# starts. TWE_BENCH_BUILD_DIR names the CMake build directory (default:
# build). Tables go to stdout, progress and anything the worker logged
# beyond its start-up lines to stderr. Each part gets a fresh dev server
# (rate limits lifted, one partition per task queue: see bench/lib.sh). The
# server, the worker and the driver share this machine's CPUs: read the CPU
# columns together. Nothing here asserts a timing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/common.sh"
source "$root/scripts/lib/devserver.sh"
source "$root/bench/lib.sh"

rates="5 20 50"
seconds=30
park_counts="10000 100000"
only=""
fiber_stack=0
worker_args=""
while [ $# -gt 0 ]; do
  case $1 in
    --quick) seconds=10; park_counts="10000" ;;
    --rates) rates=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --park) park_counts=$2; shift ;;
    --only) only=$2; shift ;;
    --fiber-stack) fiber_stack=$2; shift ;;
    --worker-args) worker_args=$2; shift ;;
    *) twe_die "usage: $0 [--quick] [--rates \"R...\"] [--seconds S] [--park \"N...\"] [--only cpu|rss] [--fiber-stack BYTES] [--worker-args \"ARGS\"]" ;;
  esac
  shift
done

cd "$root"
build=${TWE_BENCH_BUILD_DIR:-build}
scripts/bootstrap >/dev/null
cmake -S . -B "$build" -G Ninja -DTWE_CACHE_DIR="$TWE_CACHE_DIR" -DTWE_PROTO_DIR="$TWE_PROTO_DIR" >/dev/null
cmake --build "$build" --target bench_worker bench_driver >/dev/null
worker_bin=$build/bench/bench_worker
driver_bin=$build/bench/bench_driver

state=$(mktemp -d)
worker_pid=""
cleanup() {
  if [ -n "$worker_pid" ]; then kill -KILL "$worker_pid" 2>/dev/null || true; fi
  devserver_stop "$state/server"
  rm -rf "$state"
}
trap cleanup EXIT
tick=$(getconf CLK_TCK)
log() { printf 'bench: %s\n' "$*" >&2; }

# --- helpers ------------------------------------------------------------------

# A fresh dev server, limits lifted (bench/lib.sh).
server_start() {
  bench_server_start "$state/server"
  server_pid=$(cat "$state/server/pid")
}

proc_ticks() { bench_proc_ticks "$@"; }
group_ticks() { bench_group_ticks "$@"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
jget() { bench_jget "$@"; }

# Starts bench_worker on task queue $1 with extra arguments, waits for
# "ready". Sets worker_pid; its output goes to $state/worker.{out,err}.
nworkers=0
worker_start() {
  local tq=$1; shift
  nworkers=$((nworkers + 1))
  worker_err=$state/worker-$nworkers.err
  : >"$state/worker.out"
  # shellcheck disable=SC2086 # worker_args: words on purpose
  "$worker_bin" --task-queue "$tq" --fiber-stack "$fiber_stack" $worker_args "$@" \
    >"$state/worker.out" 2>"$worker_err" &
  worker_pid=$!
  local i
  for ((i = 0; i < 300; i++)); do
    grep -q '^ready$' "$state/worker.out" && return 0
    kill -0 "$worker_pid" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$worker_err" >&2
  twe_die "bench_worker did not get ready"
}

# The worker's stats now: one JSON line (SIGUSR1 makes it print one).
worker_stats() { bench_worker_stats "$worker_pid" "$state/worker.out"; }

# SIGTERM, wait up to 60 s; sets stopped_stats to the worker's last stats
# line. (Not in a $(...): the wait and worker_pid belong to this shell.)
worker_stop() {
  local i
  kill -TERM "$worker_pid" 2>/dev/null || true
  for ((i = 0; i < 600; i++)); do
    kill -0 "$worker_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$worker_pid" 2>/dev/null; then
    log "bench_worker did not stop within 60 s of SIGTERM; killed"
    kill -KILL "$worker_pid" 2>/dev/null || true
  fi
  wait "$worker_pid" 2>/dev/null || true
  worker_pid=""
  worker_warnings
  stopped_stats=$(grep '"event":"stopped"' "$state/worker.out" || true)
}

# What the worker said beyond its start-up lines (engine warnings: dropped
# tasks, failed calls ...), on stderr: anything here is worth a look.
worker_warnings() {
  local n
  n=$(grep -cv "$startup_lines" "$worker_err" || true)
  [ "$n" -gt 0 ] || return 0
  log "the worker logged $n other line(s); the first 10:"
  grep -v "$startup_lines" "$worker_err" | head -10 | sed 's/^/bench:   /' >&2
}
startup_lines='^twe: io backend\|^twe: cpu plan\|^twe: worker on task queue\|^bench_worker: task queue'


stack_note() {
  if [ "$fiber_stack" = 0 ]; then echo "64 KiB (engine default)"; else echo "$fiber_stack bytes"; fi
}

echo "machine: $(nproc) CPUs, $(uname -r), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); server: temporal dev server $TWE_TEMPORAL_SERVER_VERSION (in memory); twe $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"

# --- (a) CPU per workflow -------------------------------------------------------
if [ -z "$only" ] || [ "$only" = cpu ]; then
  log "CPU per Hello workflow: rates $rates, $seconds s each"
  server_start
  tq=bench-cpu-$$
  worker_start "$tq"
  # Warm-up, outside the measurement: connections, first allocations.
  "$driver_bin" rate --count 20 --rate 10 --task-queue "$tq" --id-prefix "warm-$$-" \
    >/dev/null 2>>"$state/driver.err" || log "warm-up failed (see below)"
  echo
  echo "Worker CPU per Hello workflow (3 sequential + 10 parallel activities), fixed start rate, $seconds s per rate:"
  echo
  echo "| rate (wf/s) | workflows | worker CPU µs/wf | server CPU µs/wf | driver CPU µs/wf | worker CPU % | server CPU % | p50 ms | p99 ms | errors |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for rate in $rates; do
    count=$(python3 -c "print(max(1, round($rate * $seconds)))")
    log "rate $rate/s: $count Hello workflows"
    w0=$(proc_ticks "$worker_pid"); s0=$(group_ticks "$server_pid"); t0=$(date +%s.%N)
    out=$("$driver_bin" rate --count "$count" --rate "$rate" --task-queue "$tq" \
            --id-prefix "cpu-$rate-$$-" 2>>"$state/driver.err") || log "driver failed at rate $rate"
    w1=$(proc_ticks "$worker_pid"); s1=$(group_ticks "$server_pid"); t1=$(date +%s.%N)
    [ -n "$out" ] || { tail -5 "$state/driver.err" >&2; continue; }
    log "driver: $out"
    python3 - "$out" "$w0" "$w1" "$s0" "$s1" "$t0" "$t1" "$tick" <<'EOF'
import json, sys
d = json.loads(sys.argv[1])
w0, w1, s0, s1 = (int(x) for x in sys.argv[2:6])
t0, t1, tick = float(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8])
n = d["completed"]
us = lambda ticks: ticks * 1e6 / tick
per = lambda ticks: "%.0f" % (us(ticks) / n) if n else "-"
pct = lambda ticks: "%.0f%%" % (100 * ticks / tick / (t1 - t0))
errors = d["start_errors"] + d["result_errors"]
print("| %g | %d | %s | %s | %s | %s | %s | %.1f | %.1f | %d |" % (
    d["rate"], n, per(w1 - w0), per(s1 - s0),
    "%.0f" % (d["driver_cpu_s"] * 1e6 / n) if n else "-",
    pct(w1 - w0), pct(s1 - s0), d["p50_ms"], d["p99_ms"], errors))
EOF
  done
  worker_stop
  log "worker: $stopped_stats"
  echo
  echo "CPU % is of one CPU over the driver's run (worker: all its threads; server: the dev server's process group). Latency: from when a workflow was due to start until the driver read its result."
  if [ -s "$state/driver.err" ] && grep -qv '^bench_driver: [0-9]* s:\|^twe: ' "$state/driver.err"; then
    log "the driver said:"; grep -v '^bench_driver: [0-9]* s:\|^twe: ' "$state/driver.err" | head -10 >&2
  fi
  : >"$state/driver.err"
fi

# --- (b) RSS per cached workflow --------------------------------------------------
if [ -z "$only" ] || [ "$only" = rss ]; then
  rows=()
  for n in $park_counts; do
    log "RSS: $n Park workflows (fresh dev server)"
    server_start
    tq=bench-park-$n-$$
    worker_start "$tq" --cache $((n + 1000))
    sleep 3
    rss0=$(rss_kib "$worker_pid")
    t0=$(date +%s.%N)
    out=$("$driver_bin" park --count "$n" --threads 8 --task-queue "$tq" \
            --id-prefix "park-$n-$$-" 2>>"$state/driver.err") || true
    [ -n "$out" ] || { tail -5 "$state/driver.err" >&2; twe_die "bench_driver park failed"; }
    log "driver: $out"
    start_s=$(jget "$out" seconds)
    start_errors=$(jget "$out" start_errors)
    # Wait until the worker has completed a workflow task for every run (each
    # started its timer and now waits in the cache).
    done_s=""
    last_log=0
    while :; do
      st=$(worker_stats)
      completed=$(jget "$st" workflow_tasks_completed)
      now=$(date +%s.%N)
      el=$(python3 -c "print(int($now - $t0))")
      if [ "$completed" -ge $((n - start_errors)) ]; then
        done_s=$(python3 -c "print('%.1f' % ($now - $t0))")
        break
      fi
      if [ $((el - last_log)) -ge 10 ]; then
        last_log=$el
        log "$n: ${el} s: $completed workflow tasks completed, cached $(jget "$st" cached_workflows), RSS $(( $(rss_kib "$worker_pid") / 1024 )) MiB"
      fi
      if [ "$el" -gt 3600 ]; then log "$n: gave up after an hour"; break; fi
      kill -0 "$worker_pid" 2>/dev/null || { tail -20 "$worker_err" >&2; twe_die "bench_worker died"; }
      sleep 1
    done
    # Then until RSS stops moving (two samples 2 s apart within 0.5%).
    prev=$(rss_kib "$worker_pid")
    for ((i = 0; i < 30; i++)); do
      sleep 2
      cur=$(rss_kib "$worker_pid")
      if python3 -c "import sys; sys.exit(0 if abs($cur - $prev) <= 0.005 * $cur else 1)"; then break; fi
      prev=$cur
    done
    rss1=$(rss_kib "$worker_pid")
    st=$(worker_stats)
    cached=$(jget "$st" cached_workflows)
    server_rss=$(rss_kib "$server_pid")
    log "$n: stats $st"
    rows+=("$(python3 -c "
n, r0, r1 = $n, $rss0, $rss1
print('| %d | %d | %.1f MiB | %.1f MiB | %.2f KiB | %.1f s | %s s | %s | %.0f MiB | %s |' % (
    n, $cached, r0 / 1024, r1 / 1024, (r1 - r0) / n, $start_s, '${done_s:--}', '$start_errors',
    $server_rss / 1024, '$(stack_note)'))")")
    worker_stop
    log "$n: worker stopped: $stopped_stats"
  done
  echo
  echo "RSS per cached workflow: N open Park workflows, each waiting on a 1-hour timer; cache N + 1000; started by 8 client threads:"
  echo
  echo "| N | cached | worker RSS before | worker RSS after | RSS per workflow | time to start N | time until all cached | start errors | dev server RSS | fiber stack |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  for r in "${rows[@]}"; do echo "$r"; done
  echo
  echo "RSS is VmRSS: before = started and idle, after = every run cached and RSS steady. Times count from the first start."
  if [ -s "$state/driver.err" ] && grep -qv '^bench_driver: [0-9]* s:\|^twe: ' "$state/driver.err"; then
    log "the driver said:"; grep -v '^bench_driver: [0-9]* s:\|^twe: ' "$state/driver.err" | head -10 >&2
  fi
fi
