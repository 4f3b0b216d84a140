#!/usr/bin/env bash
# bench/run_blocking_bench.sh — activity concurrency under blocking work, the
# worker alone in a 1-CPU cgroup: the field's workload (W Fanout workflows,
# each 2 initial activities, then N inputs x 4 parallel activities — two
# block 500 ms in a system call, two burn 50 ms of CPU — then 2 final ones)
# on twe at its default activity concurrency, on twe with 4 activity
# threads, and on the Python SDK worker written correctly for blocking work.
#
#   bench/run_blocking_bench.sh [--quick] [--workflows W] [--inputs N]
#       [--sizes "N1 N2 ..."] [--block MS] [--burn MS] [--deadline S]
#       [--twe-args "..."] [--only twe|python] [--peers "TAG-pyX.Y ..."]
#       [--wire] [--out DIR] [--logs DIR]
#
# Rows, for each N in --sizes (default: --inputs), each on a fresh dev
# server and its own task queue:
#   twe, default     examples/fanout --worker-only, no --activity-threads:
#                    the engine's default activity concurrency (resource-
#                    based activity slots since they exist: 4 to 500, more
#                    while the CPU is under its target; the CPU plan's fixed
#                    4 threads before); --twe-args adds flags to this row only
#   twe, 4 threads   the same with --activity-threads 4 (the "before" figure)
#   Python           bench/peers/python/fanout_worker.py --sync-activities
#                    --activity-threads 100 --max-concurrent-activities 100:
#                    plain `def` activities on a ThreadPoolExecutor(100)
#                    given as activity_executor; the same workflow. In the
#                    venv bench/bootstrap made for the newest temporalio
#                    (venv-latest-pyX.Y, the newest Python found); --peers
#                    names others instead (e.g. "latest-py3.11 1.6.0-py3.12").
# Only the worker is in the cgroup: a cgroup v1 cpu controller group made
# under /sys/fs/cgroup/cpu with cpu.cfs_quota_us=100000 per
# cpu.cfs_period_us=100000 (1 CPU), the worker launched through
# `bash -c 'echo $$ >"$cg/cgroup.procs" && exec "$@"'` so that every thread
# it makes is inside (and its CPU plan sees the quota), removed at exit. The
# dev server and the driver run outside it, on the machine's CPUs. Needs
# root and a v1 cpu controller (dies with a message otherwise).
#
# Per row: completed workflows; completion time (the first workflow's start
# to the last one's close, from the histories, by bench/fanout_driver.py);
# worker CPU (utime+stime from /proc/PID/stat, "ready" -> the driver's end)
# and peak RSS (VmHWM); the cgroup's cpu.stat deltas over the same window
# (nr_periods, nr_throttled, throttled_time); the worker's own "stats"
# JSON line (printed at SIGTERM; kept whole in the raw rows) and, for twe,
# its "cpu plan", "activity slots" and "activity cpu group" start-up lines.
#
# --wire: each row is also captured (tcpdump on the loopback, the server's
# port, from before the worker starts to the driver's end) and read by
# bench/wire_polls.py: each task's schedule-to-start as the server reports
# it, and whether the worker had a poll waiting at the server all along (a
# table of its own). Needs tcpdump and the right to capture, as
# bench/run --wire does; a row whose capture fails says so.
#
# Defaults: W=5, N=30 (about 2 minutes on 2 CPUs, after bootstrap and
# build; twe at 4 threads needs W*N*(2*500+2*50)/4 ms, 41 s, a row; the CPU
# alone, W*N*2*50 ms, 15 s);
# --quick W=2, N=10 (about 30 s; written as blocking-quick.*, which git
# ignores). --sizes "30 120" runs the rows for each N (the 120 ones take
# about 7 minutes more). The driver's deadline defaults to the serial time
# of one row (one activity at a time) plus 60 s.
#
# Writes DIR/blocking.md (the table; also on stdout), DIR/blocking.png
# (completion time and worker CPU per row) and DIR/blocking.jsonl (the raw
# rows; bench/blocking_report.py redraws from them) (default DIR
# bench/results). --logs DIR keeps every worker's stdout and stderr there.
# TWE_BENCH_BUILD_DIR names the CMake build directory (default: build).
# Progress goes to stderr. Nothing here asserts a timing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/common.sh"
source "$root/scripts/lib/devserver.sh"
source "$root/bench/lib.sh"

command_line="bench/run_blocking_bench.sh${*:+ $*}"
usage="usage: $0 [--quick] [--workflows W] [--inputs N] [--sizes \"N1 N2 ...\"] [--block MS] [--burn MS] [--deadline S] [--twe-args \"...\"] [--only twe|python] [--peers \"latest-py3.12 ...\"] [--wire] [--out DIR] [--logs DIR]"
quick=0 workflows=5 inputs=30 sizes="" block=500 burn=50 deadline="" twe_args=""
only="" peers="" out="" logs="" wire=0
set_quick() { quick=1; workflows=2 inputs=10; }
# --quick first, so explicit sizes given with it win.
for a in "$@"; do [ "$a" = --quick ] && set_quick; done
while [ $# -gt 0 ]; do
  case $1 in
    --quick) ;;
    --workflows) workflows=$2; shift ;;
    --inputs) inputs=$2; shift ;;
    --sizes) sizes=$2; shift ;;
    --block) block=$2; shift ;;
    --burn) burn=$2; shift ;;
    --deadline) deadline=$2; shift ;;
    --twe-args) twe_args=$2; shift ;;
    --only) only=$2; shift ;;
    --peers) peers=$2; shift ;;
    --wire) wire=1 ;;
    --out) out=$2; shift ;;
    --logs) logs=$2; shift ;;
    -h | --help) echo "$usage"; exit 0 ;;
    *) twe_die "$usage" ;;
  esac
  shift
done
sizes=${sizes:-$inputs}
for n in $sizes $workflows $block $burn ${deadline:-1}; do
  [[ $n =~ ^[0-9]+$ ]] || twe_die "not a number: $n ($usage)"
done
case $only in "" | twe | python) ;; *) twe_die "--only: twe or python" ;; esac
read -r -a twe_extra <<<"$twe_args"
out=${out:-$root/bench/results}
name=blocking; [ $quick -eq 1 ] && name=blocking-quick
mkdir -p "$out"

log() { printf 'bench: %s\n' "$*" >&2; }
t_begin=$(date +%s)
cd "$root"

# The cgroup first: without root or a v1 cpu controller there is nothing to run.
state=$(mktemp -d)
worker_pid=""
bench_cg=""
cleanup() {
  if [ -n "$worker_pid" ]; then kill -KILL "$worker_pid" 2>/dev/null || true; fi
  bench_wire_stop now
  devserver_stop "$state/server"
  bench_cgroup_remove
  rm -rf "$state"
}
trap cleanup EXIT
quota_us=100000
bench_cgroup_quota "twe-bench-blocking-$$" "$quota_us"
log "cgroup $bench_cg: cpu.cfs_quota_us=$(cat "$bench_cg/cpu.cfs_quota_us") cpu.cfs_period_us=$(cat "$bench_cg/cpu.cfs_period_us")"

log "bootstrap"
scripts/bootstrap >/dev/null
bench/bootstrap >&2
venvs=$TWE_CACHE_DIR/bench
bench_py=$venvs/venv-bench/bin/python

build=${TWE_BENCH_BUILD_DIR:-build}
fanout_bin=""
if [ "$only" != python ]; then
  log "building examples/fanout in $build"
  cmake -S . -B "$build" -G Ninja -DTWE_CACHE_DIR="$TWE_CACHE_DIR" -DTWE_PROTO_DIR="$TWE_PROTO_DIR" >/dev/null
  cmake --build "$build" -j2 --target fanout >/dev/null
  fanout_bin=$build/examples/fanout
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)

# The Python venvs: --peers, or venv-latest on the newest Python found.
py_venvs=()
if [ "$only" != twe ]; then
  if [ -n "$peers" ]; then
    for tag in $peers; do
      [ -f "$venvs/venv-$tag/.complete" ] || twe_die "--peers: no venv $venvs/venv-$tag (bench/bootstrap makes venv-{latest,1.6.0}-pyX.Y)"
      py_venvs+=("$venvs/venv-$tag")
    done
  else
    v=$( (ls -d "$venvs"/venv-latest-py* 2>/dev/null || true) | sort -V | while read -r d; do
          if [ -f "$d/.complete" ]; then echo "$d"; fi; done | tail -1)
    if [ -n "$v" ]; then py_venvs+=("$v"); else log "no venv-latest-pyX.Y under $venvs: the Python rows are left out"; fi
  fi
fi

tick=$(getconf CLK_TCK)
rows=$state/rows.jsonl
: >"$rows"
# cpu.stat's three counters of the cgroup, as "periods throttled ns" (as
# read: awk's print would turn a large number into 2.58e+09).
cg_stat() { awk '$1 == "nr_periods" {p = $2} $1 == "nr_throttled" {t = $2} $1 == "throttled_time" {n = $2} END {printf "%s %s %s\n", p, t, n}' "$bench_cg/cpu.stat"; }

# run_row LABEL CONFIG N CMD... — one row: fresh server, the worker (CMD
# plus --task-queue) in the cgroup, the driver (W workflows x N inputs),
# then the worker stopped.
nrun=0
run_row() {
  local label=$1 config=$2 n=$3; shift 3
  nrun=$((nrun + 1))
  local tq="blocking-$nrun-$$" wout=$state/worker-$nrun.out werr=$state/worker-$nrun.err
  local dl=${deadline:-$(( workflows * (n * (2 * block + 2 * burn) + 4 * 5) / 1000 + 60 ))}
  log "[$nrun] $label, $config, N=$n: fresh dev server"
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  bench_server_start "$state/server"
  local port=${TEMPORAL_ADDRESS##*:} pcap=$state/wire-$nrun.pcap wire_out="" wire_ports=""
  if [ $wire -eq 1 ] && ! bench_wire_start "$pcap" "$port"; then
    log "[$nrun] no capture: $(tail -1 "$pcap.err" 2>/dev/null)"
  fi
  "${bench_cg_launcher[@]}" "$@" --task-queue "$tq" >"$wout" 2>"$werr" &
  worker_pid=$!
  if ! bench_wait_ready "$worker_pid" "$wout"; then
    tail -20 "$werr" >&2
    log "[$nrun] the worker did not get ready: row left out"
    kill -KILL "$worker_pid" 2>/dev/null || true
    wait "$worker_pid" 2>/dev/null || true
    worker_pid=""
    bench_wire_stop now
    devserver_stop "$state/server"
    return 0
  fi
  local in_cg=false
  grep -qx "$worker_pid" "$bench_cg/cgroup.procs" && in_cg=true
  [ $in_cg = true ] || log "[$nrun] warning: the worker ($worker_pid) is not in $bench_cg"
  if [ -n "$BENCH_WIRE_PID" ]; then wire_ports=$(bench_wire_ports "$worker_pid" "$port"); fi
  local c0 c1 s0 s1 hwm dout
  c0=$(bench_proc_ticks "$worker_pid"); s0=$(cg_stat)
  log "[$nrun] $workflows workflows x $n inputs, blocking $block ms, burn $burn ms, deadline $dl s"
  dout=$("$bench_py" bench/fanout_driver.py run --task-queue "$tq" --workflows "$workflows" \
           --inputs "$n" --block-min-ms "$block" --block-max-ms "$block" \
           --burn-ms "$burn" --deadline "$dl" --id-prefix "blocking-$nrun-$$-" \
           2> >(sed "s/^/bench: [$nrun]   /" >&2)) || log "[$nrun] the driver failed"
  if kill -0 "$worker_pid" 2>/dev/null; then
    c1=$(bench_proc_ticks "$worker_pid"); hwm=$(bench_hwm_kib "$worker_pid"); s1=$(cg_stat)
  else
    log "[$nrun] the worker died during the run"; c1=$c0; hwm=0; s1=$s0
  fi
  if [ -n "$BENCH_WIRE_PID" ]; then
    bench_wire_stop
    if [ -z "$wire_ports" ]; then
      log "[$nrun] no connection of the worker to the server found: no wire reading"
    elif ! wire_out=$(python3 bench/wire_polls.py --pcap "$pcap" --server-port "$port" \
                        --worker-ports "$wire_ports"); then
      log "[$nrun] bench/wire_polls.py failed: no wire reading"; wire_out=""
    fi
    rm -f "$pcap" "$pcap.err"
  fi
  bench_stop_worker "$worker_pid"
  local stop=$bench_stop status=$bench_exit_status
  if [ "$stop" = killed ]; then log "[$nrun] the worker did not stop within 30 s of SIGTERM; killed"; fi
  worker_pid=""
  local stats plan slots grp nlog
  stats=$(sed -n 's/^stats //p' "$wout" | tail -1)
  plan=$(sed -n 's/^twe: cpu plan: //p' "$werr" | head -1)
  slots=$(sed -n 's/^twe: activity slots: //p' "$werr" | head -1)
  grp=$(sed -n 's/^twe: activity cpu group: //p' "$werr" | head -1)
  if [ -n "$grp" ]; then slots="$slots; activity cpu group: $grp"; fi
  log "[$nrun] worker stats: ${stats:-none}"
  nlog=$(bench_worker_other_lines "$wout" "$werr" | wc -l)
  if [ "$nlog" -gt 0 ]; then
    log "[$nrun] the worker logged $nlog other line(s); the first 6:"
    bench_worker_other_lines "$wout" "$werr" | head -6 | cut -c1-240 | sed 's/^/bench:   /' >&2 || true
  fi
  python3 - "$label" "$config" "$n" "$dout" "$stats" "$c0" "$c1" "$tick" "$hwm" "$s0" "$s1" \
    "$nlog" "$stop" "$status" "$load" "$plan" "$slots" "$in_cg" "$*" "$wire_out" >>"$rows" <<'EOF' || log "[$nrun] could not record the row (see above): left out"
import json, sys
(label, config, n, dout, stats, c0, c1, tick, hwm, s0, s1, nlog, stop, status, load, plan,
 slots, in_cg, cmd, wire) = sys.argv[1:]
def parse(s):
    try:
        return json.loads(s)
    except Exception:
        return None
p0, t0, ns0 = map(int, s0.split())
p1, t1, ns1 = map(int, s1.split())  # cpu.stat's counters as read
print(json.dumps({"worker": label, "config": config, "inputs": int(n), "driver": parse(dout),
                  "worker_stats": parse(stats), "cpu_s": (int(c1) - int(c0)) / int(tick),
                  "peak_rss_mib": int(hwm) / 1024,
                  "cgroup": {"nr_periods": p1 - p0, "nr_throttled": t1 - t0,
                             "throttled_s": round((ns1 - ns0) / 1e9, 3),
                             "worker_in_cgroup": in_cg == "true"},
                  "cpu_plan": plan or None, "activity_slots": slots or None,
                  "worker_log_lines": int(nlog), "stop": stop,
                  "exit_status": int(status), "loadavg_before": float(load), "command": cmd,
                  "wire": parse(wire) if wire else None}))
EOF
  if [ -n "$logs" ]; then
    mkdir -p "$logs"
    cp "$wout" "$logs/$nrun-worker.out"; cp "$werr" "$logs/$nrun-worker.err"
  fi
  devserver_stop "$state/server"
}

# --- the rows --------------------------------------------------------------------------
peer=$root/bench/peers/python/fanout_worker.py
py_versions=()
for n in $sizes; do
  if [ -n "$fanout_bin" ]; then
    run_row "twe" "default activity concurrency${twe_args:+ ($twe_args)}" "$n" \
      "$fanout_bin" --worker-only "${twe_extra[@]}"
    run_row "twe" "--activity-threads 4" "$n" "$fanout_bin" --worker-only --activity-threads 4
  fi
  for v in "${py_venvs[@]}"; do
    sdk=$("$v/bin/python" -c 'from importlib.metadata import version; print(version("temporalio"))')
    pyv=$("$v/bin/python" -c 'import sys; print(sys.version.split()[0])')
    py_versions+=("temporalio $sdk on Python $pyv")
    run_row "Python SDK $sdk (Python $pyv)" \
      "sync def activities, ThreadPoolExecutor(100), max_concurrent_activities=100" "$n" \
      "$v/bin/python" -u "$peer" --sync-activities --activity-threads 100 --max-concurrent-activities 100
  done
done

# --- the report ------------------------------------------------------------------------
t_end=$(date +%s)
elapsed=$((t_end - t_begin))
machine="$(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r)"
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')
branch=$(git -C "$root" rev-parse --abbrev-ref HEAD 2>/dev/null || echo '?')
dirty=$(git -C "$root" status --porcelain 2>/dev/null | grep -q . && echo ' + uncommitted changes' || true)
pyvers=$(printf '%s\n' "${py_versions[@]}" | sort -u | paste -sd, - | sed 's/,/, /g')
"$bench_py" bench/blocking_report.py "$rows" --md "$out/$name.md" --png "$out/$name.png" \
  --title "Blocking activities, the worker in a 1-CPU cgroup: $workflows workflows x N inputs x 4 activities (2 block $block ms, 2 burn $burn ms)" \
  --note "\`$command_line\` — $(date -u '+%Y-%m-%d %H:%M UTC'), $(printf '%dm%02ds' $((elapsed / 60)) $((elapsed % 60))) in all. Machine: $machine. Temporal dev server $TWE_TEMPORAL_SERVER_VERSION (in memory, a fresh one per row, outside the cgroup, as is the driver). twe $commit ($branch)$dirty, ${build_type:-?} build. Python SDK: ${pyvers:-none}." \
  --note "The worker alone in a cgroup v1 cpu group: cpu.cfs_quota_us=$quota_us, cpu.cfs_period_us=100000 (1 CPU). Each row: $workflows Fanout workflows started at once; Init, Prepare, then N inputs x (Download: nanosleep, Lookup: recv() with a timeout, each $block ms; Transform, Score: burn $burn ms of CPU), then Aggregate, Notify. twe rows: \`examples/fanout --worker-only\` with no --activity-threads (its default activity concurrency) and with \`--activity-threads 4\`. Python rows: \`bench/peers/python/fanout_worker.py --sync-activities\`: plain \`def\` activities on a ThreadPoolExecutor(max_workers=100) as activity_executor, max_concurrent_activities=100." \
  --note "Completion s = the first workflow's start to the last one's close (histories). Worker CPU s = utime+stime of the worker process from \"ready\" to the driver's end; throttled = the cgroup's cpu.stat deltas over the same window (periods throttled / periods run, and the time throttled). The stats columns come from the worker's own stats line (at SIGTERM); \"-\" where that worker does not report the field."
cp "$rows" "$out/$name.jsonl"
log "wrote $out/$name.md, $name.png and $name.jsonl ($((elapsed / 60)) min $((elapsed % 60)) s)"
