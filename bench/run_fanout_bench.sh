#!/usr/bin/env bash
# bench/run_fanout_bench.sh — the field's stalled-worker scenario (FIELD.md,
# "The reported failure") on twe and on the official Python SDK, measured
# the same way: W Fanout workflows, each 2 initial activities, then N
# inputs x 4 parallel activities (two block in a system call for a random
# a..b ms, two burn burn_ms of CPU), then 2 final activities.
#
#   bench/run_fanout_bench.sh [--quick] [--workflows W] [--inputs N]
#       [--block "A B"] [--burn MS] [--deadline S] [--twe-threads T]
#       [--only twe|python] [--peers "TAG-pyX.Y ..."] [--python-idle]
#       [--no-runaway-rows] [--out DIR] [--logs DIR]
#
# Configurations, each on a fresh dev server and its own task queue:
#   twe idle        examples/fanout, burn 0 (the activities only block)
#   twe saturated   examples/fanout, burn MS, T activity threads (both CPUs busy)
#   twe runaway rows (unless --no-runaway-rows) — twe saturated with one
#                   runaway workflow started beside the W Fanout ones, the
#                   worker's watchdog at its defaults:
#                     + RunawayCpu               a busy loop (CPU budget, time slices)
#                     + RunawayBlock             a blocking read (blocked budget,
#                                                a retired thread, the run held back)
#                     + RunawayCpu, slices off   --slice-ms off: what slicing buys
#                   The row's figures are the Fanout workflows' only; the
#                   runaway gets a table of its own: its workflow task's
#                   attempts (read before the driver terminates it, once the
#                   first attempt is over) and the worker's watchdog counters.
#   Python          bench/peers/python/fanout_worker.py (async activities that
#                   block: the field's mistake) on the saturated input, for
#                   every venv bench/bootstrap made: temporalio latest and
#                   1.6.0 (the field's), on Python 3.11 and 3.12 when found;
#                   --python-idle adds the idle input for each; --peers
#                   keeps only the named venvs (e.g. "1.6.0-py3.12").
# --logs DIR keeps every worker's stdout and stderr there (N-*.out/err).
# The driver (bench/fanout_driver.py, the same for every worker) starts the
# W workflows at once, waits until a deadline (open runs then = the worker
# stalled), and reads the histories: completion times, workflow task
# timeouts and failures, TMPRL1101, workflow task schedule-to-start,
# execution and scheduled -> completed latency. Worker CPU is utime+stime from /proc/PID/stat between
# "ready" and the driver's end; peak RSS is VmHWM.
#
# Defaults (full run, about 19 minutes on 2 CPUs): W=4, N=8, blocking
# 500-5000 ms (a slow synchronous cloud call; above the Python SDK's 2 s
# deadlock timer), burn 250 ms, 64 twe activity threads. A Python worker
# runs its blocking activities one at a time on its event loop, about
# W*N*(a+b+2*burn)/1000 s in all: that sets the sizes. --quick: W=2, N=4,
# blocking 500-3000 ms, burn 100 ms (about 4 minutes; under one with
# --only twe). The deadline defaults to twice that serial time plus 60 s.
#
# Writes DIR/fanout.md, DIR/fanout.png and DIR/fanout.jsonl (the raw rows;
# `fanout_driver.py report` redraws from them) (default DIR bench/results;
# --quick: fanout-quick.*); the table also goes to stdout, progress to stderr.
# TWE_BENCH_BUILD_DIR names the CMake build directory (default: build).
# Nothing here asserts a timing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/common.sh"
source "$root/scripts/lib/devserver.sh"
source "$root/bench/lib.sh"

command_line="bench/run_fanout_bench.sh${*:+ $*}"
quick=0
workflows=4 inputs=8 block_min=500 block_max=5000 burn=250
deadline="" twe_threads=64 only="" python_idle=0 runaway_rows=1 out="" logs="" peers=""
set_quick() { quick=1; workflows=2 inputs=4 block_min=500 block_max=3000 burn=100; }
# --quick first, so explicit sizes given with it win.
for a in "$@"; do [ "$a" = --quick ] && set_quick; done
while [ $# -gt 0 ]; do
  case $1 in
    --quick) ;;
    --workflows) workflows=$2; shift ;;
    --inputs) inputs=$2; shift ;;
    --block) read -r block_min block_max <<<"$2"; shift ;;
    --burn) burn=$2; shift ;;
    --deadline) deadline=$2; shift ;;
    --twe-threads) twe_threads=$2; shift ;;
    --only) only=$2; shift ;;
    --python-idle) python_idle=1 ;;
    --no-runaway-rows) runaway_rows=0 ;;
    --out) out=$2; shift ;;
    --logs) logs=$2; shift ;;
    --peers) peers=$2; shift ;;
    *) twe_die "usage: $0 [--quick] [--workflows W] [--inputs N] [--block \"A B\"] [--burn MS] [--deadline S] [--twe-threads T] [--only twe|python] [--peers \"latest-py3.11 ...\"] [--python-idle] [--no-runaway-rows] [--out DIR] [--logs DIR]" ;;
  esac
  shift
done
[ "$block_max" -ge "$block_min" ] || twe_die "--block: A must not exceed B"
# The Python worker's serial time for the saturated input, and the deadline.
serial_s=$(( workflows * (inputs * (block_min + block_max + 2 * burn) + 4 * 5) / 1000 ))
deadline=${deadline:-$(( 2 * serial_s + 60 ))}
out=${out:-$root/bench/results}
name=fanout; [ $quick -eq 1 ] && name=fanout-quick
mkdir -p "$out"

log() { printf 'bench: %s\n' "$*" >&2; }
t_begin=$(date +%s)
cd "$root"
log "bootstrap"
scripts/bootstrap >/dev/null
bench/bootstrap >&2
venvs=$TWE_CACHE_DIR/bench
bench_py=$venvs/venv-bench/bin/python

build=${TWE_BENCH_BUILD_DIR:-build}
fanout_bin=""
if [ "$only" != python ]; then
  if [ -f examples/fanout.c ]; then
    log "building examples/fanout in $build"
    cmake -S . -B "$build" -G Ninja -DTWE_CACHE_DIR="$TWE_CACHE_DIR" -DTWE_PROTO_DIR="$TWE_PROTO_DIR" >/dev/null
    cmake --build "$build" --target fanout >/dev/null
    fanout_bin=$build/examples/fanout
  else
    log "examples/fanout.c is not there: the twe rows are left out"
  fi
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)

state=$(mktemp -d)
worker_pid=""
cleanup() {
  if [ -n "$worker_pid" ]; then kill -KILL "$worker_pid" 2>/dev/null || true; fi
  devserver_stop "$state/server"
  rm -rf "$state"
}
trap cleanup EXIT
tick=$(getconf CLK_TCK)
rows=$state/rows.jsonl
: >"$rows"

# A fresh dev server, limits lifted (bench/lib.sh).
server_start() { bench_server_start "$state/server"; }

# run_config LABEL CONFIG BURN RUNAWAY CMD... — one row: fresh server, the
# worker (CMD plus --task-queue), the driver (RUNAWAY: cpu, block, or "" for
# none: its --runaway), then the worker stopped.
nrun=0
run_config() {
  local label=$1 config=$2 burn_ms=$3 runaway=$4; shift 4
  nrun=$((nrun + 1))
  local tq="fanout-$nrun-$$" wout=$state/worker-$nrun.out werr=$state/worker-$nrun.err
  log "[$nrun] $label, $config: fresh dev server"
  # Other work on the machine shows here (the rows share its CPUs).
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  server_start
  "$@" --task-queue "$tq" >"$wout" 2>"$werr" &
  worker_pid=$!
  if ! bench_wait_ready "$worker_pid" "$wout"; then
    tail -20 "$werr" >&2
    log "[$nrun] the worker did not get ready: row left out"
    kill -KILL "$worker_pid" 2>/dev/null || true
    wait "$worker_pid" 2>/dev/null || true
    worker_pid=""
    return 0
  fi
  local c0 c1 hwm t0 t1 dout
  c0=$(bench_proc_ticks "$worker_pid"); t0=$(date +%s)
  log "[$nrun] $workflows workflows x $inputs inputs, blocking $block_min-$block_max ms, burn $burn_ms ms, deadline $deadline s${runaway:+, one $runaway runaway}"
  dout=$("$bench_py" bench/fanout_driver.py run --task-queue "$tq" --workflows "$workflows" \
           --inputs "$inputs" --block-min-ms "$block_min" --block-max-ms "$block_max" \
           --burn-ms "$burn_ms" --deadline "$deadline" --id-prefix "fanout-$nrun-$$-" \
           ${runaway:+--runaway "$runaway"} \
           2> >(sed "s/^/bench: [$nrun]   /" >&2)) || log "[$nrun] the driver failed"
  t1=$(date +%s)
  if kill -0 "$worker_pid" 2>/dev/null; then
    c1=$(bench_proc_ticks "$worker_pid"); hwm=$(bench_hwm_kib "$worker_pid")
  else
    log "[$nrun] the worker died during the run"; c1=$c0; hwm=0
  fi
  # SIGTERM, up to 30 s (a Python worker whose loop is blocked takes a while).
  bench_stop_worker "$worker_pid"
  local stop=$bench_stop status=$bench_exit_status
  if [ "$stop" = killed ]; then log "[$nrun] the worker did not stop within 30 s of SIGTERM; killed"; fi
  worker_pid=""
  local stats watchdog
  stats=$(sed -n 's/^stats //p' "$wout" | tail -1)
  watchdog=$(sed -n 's/^twe: watchdog: workflow task budgets: //p' "$werr" | head -1)
  log "[$nrun] $((t1 - t0)) s; worker stats: ${stats:-none}"
  # What the worker logged beyond its start-up lines (SDK warnings, stack
  # traces, twe warnings; the Python SDK's core logs to stdout): a count and
  # the first lines of stderr.
  local n
  n=$(bench_worker_other_lines "$wout" "$werr" | wc -l)
  if [ "$n" -gt 0 ]; then
    log "[$nrun] the worker logged $n other line(s); the first 6:"
    bench_worker_other_lines "$wout" "$werr" | head -6 | cut -c1-240 | sed 's/^/bench:   /' >&2 || true
  fi
  python3 - "$label" "$config" "$dout" "$stats" "$c0" "$c1" "$tick" "$hwm" "$n" "$stop" "$status" "$load" "$watchdog" >>"$rows" <<'EOF'
import json, sys
label, config, dout, stats, c0, c1, tick, hwm, nlog, stop, status, load, watchdog = sys.argv[1:]
def parse(s):
    try:
        return json.loads(s)
    except Exception:
        return None
print(json.dumps({"worker": label, "config": config, "driver": parse(dout),
                  "worker_stats": parse(stats), "cpu_s": (int(c1) - int(c0)) / int(tick),
                  "peak_rss_mib": int(hwm) / 1024, "worker_log_lines": int(nlog),
                  "stop": stop, "exit_status": int(status), "loadavg_before": float(load),
                  "watchdog": watchdog or None}))
EOF
  if [ -n "$logs" ]; then
    mkdir -p "$logs"
    cp "$wout" "$logs/$nrun-worker.out"; cp "$werr" "$logs/$nrun-worker.err"
  fi
  devserver_stop "$state/server"
}

# --- the configurations ------------------------------------------------------------
if [ -n "$fanout_bin" ]; then
  twe_worker=("$fanout_bin" --worker-only --activity-threads "$twe_threads")
  run_config "twe" "idle (burn 0)" 0 "" "${twe_worker[@]}"
  run_config "twe" "saturated (burn $burn)" "$burn" "" "${twe_worker[@]}"
  if [ $runaway_rows -eq 1 ]; then
    run_config "twe" "saturated (burn $burn) + RunawayCpu" "$burn" cpu "${twe_worker[@]}"
    run_config "twe" "saturated (burn $burn) + RunawayBlock" "$burn" block "${twe_worker[@]}"
    run_config "twe" "saturated (burn $burn) + RunawayCpu, slices off" "$burn" cpu "${twe_worker[@]}" --slice-ms off
  fi
fi
peer=$root/bench/peers/python/fanout_worker.py
if [ "$only" != twe ]; then
  for ver in 3.11 3.12 3.13; do
    for tag in latest 1.6.0; do
      v=$venvs/venv-$tag-py$ver
      [ -f "$v/.complete" ] || continue
      [ -z "$peers" ] || [[ " $peers " == *" $tag-py$ver "* ]] || continue
      sdk=$("$v/bin/python" -c 'from importlib.metadata import version; print(version("temporalio"))')
      pyv=$("$v/bin/python" -c 'import sys; print(sys.version.split()[0])')
      label="Python SDK $sdk (Python $pyv)"
      run_config "$label" "saturated (burn $burn)" "$burn" "" "$v/bin/python" -u "$peer"
      if [ $python_idle -eq 1 ]; then
        run_config "$label" "idle (burn 0)" 0 "" "$v/bin/python" -u "$peer"
      fi
    done
  done
fi

# --- the report ----------------------------------------------------------------------
t_end=$(date +%s)
elapsed=$((t_end - t_begin))
machine="$(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r)"
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')
dirty=$(git -C "$root" status --porcelain 2>/dev/null | grep -q . && echo ' + uncommitted changes' || true)
runaway_note=()
if [ -n "$fanout_bin" ] && [ $runaway_rows -eq 1 ]; then
  runaway_note=(--note "Runaway rows (twe saturated + a runaway): one RunawayCpu (a busy loop in workflow code) or RunawayBlock (read() on a pipe nobody writes) started with the Fanout workflows, with the default workflow task timeout (10 s); the worker's watchdog at its defaults (as the worker logged them: the runaway table's last column), \`--slice-ms off\` in the last row. The main table counts the Fanout workflows only. The runaway's result is not waited for: once the Fanout workflows are done, and its workflow task's first attempt is over (the server hands it out again), it is described (attempt = how many times the server has handed its workflow task out) and terminated.")
fi
"$bench_py" bench/fanout_driver.py report "$rows" --md "$out/$name.md" --png "$out/$name.png" \
  --title "Fanout: $workflows workflows x $inputs inputs x 4 activities (blocking $block_min-$block_max ms, burn $burn ms)" \
  --note "\`$command_line\` — $(date -u '+%Y-%m-%d %H:%M UTC'), $(printf '%dm%02ds' $((elapsed / 60)) $((elapsed % 60))) in all. Machine: $machine; Temporal dev server $TWE_TEMPORAL_SERVER_VERSION (in memory, a fresh one per row, on the same CPUs as the worker and the driver). twe $commit$dirty, ${build_type:-?} build, $twe_threads activity threads (SCHED_IDLE by default). Python SDK pins: bench/peers/python/requirements-*.txt." \
  --note "Each row: $workflows Fanout workflows started at once; Init, Prepare, then $inputs inputs x (Download: sleep, Lookup: recv() with a timeout, each a random ${block_min}-${block_max} ms; Transform, Score: burn the row's CPU ms), then Aggregate, Notify; deadline $deadline s (a run still open then = stalled; it is terminated). The Python activities are \`async def\` calling blocking code, as in the field report, so they run one at a time on the worker's event loop." \
  "${runaway_note[@]}" \
  --note "Workflow task (WFT) latencies are from the histories: schedule-to-start = WorkflowTaskScheduled -> Started, execution = Started -> Completed, sched -> completed = Scheduled -> Completed; p50/p99/max over all tasks of the row. TMPRL1101 = WorkflowTaskFailed whose message names it (or a deadlock); a failing task's retries are transient and not in the history, so failures count streaks. Worker CPU = utime+stime between ready and the driver's end; peak RSS = VmHWM."
cp "$rows" "$out/$name.jsonl"
log "wrote $out/$name.md, $name.png and $name.jsonl (the rows: \`bench/fanout_driver.py report\` redraws from them) ($((elapsed / 60)) min $((elapsed % 60)) s)"
