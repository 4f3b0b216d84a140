#!/usr/bin/env bash
# bench/run_firehose_bench.sh — the worker's own ceiling: twe's bench_worker
# (1, 2 and 4 shards) and the Go SDK peer worker, each fed by the firehose
# (bench/firehose: a benchmark stand-in for the server, never a server) as
# fast as it takes tasks, on the recorded histories of bench/run
# (bench/results/histories/). Per cell: workflow and activity tasks per
# worker CPU-second, per second, p50/p99 task latency (the firehose hands
# the task out -> the completion arrives), errors (mismatches against the
# recording, failed and timed-out tasks). Both per-CPU-second figures divide
# by the same CPU, the worker's whole: OneActivity is two workflow tasks per
# activity, TenSequential 11 per 10, FanOut100 100 activities for a few
# workflow tasks (the activity side's figure).
#
#   bench/run_firehose_bench.sh [--quick] [--runs N] [--seconds S]
#       [--warmup S] [--workloads "OneActivity TenSequential FanOut100"]
#       [--workers "twe1 twe2 twe4 go"] [--open N] [--out PREFIX]
#
# For each run, each workload, each worker in turn (twe1 twe2 twe4 go twe1
# ..., so a drift of the machine falls on all alike), one cell: a fresh
# firehose; the worker pointed at it (TEMPORAL_ADDRESS; sticky cache
# 20,000, otherwise its defaults, as in bench/run; twe's shard count from
# TWE_SHARD_THREADS); once it prints `ready`, the firehose opens OPEN runs
# (default 200) and, after WARMUP s (3), measures for S s (10): the worker's
# CPU from /proc/PID/stat; then the worker is stopped (SIGTERM) and the
# firehose prints its row. Full run: 3 runs (about 10 minutes on 2 CPUs);
# --quick: 1 run of 4 s (about 2 minutes).
#
# Installs what is missing first (bench/firehose/bootstrap, the Go peer's
# bench/peers/go/bootstrap, matplotlib's venv from bench/bootstrap) and
# builds bench_worker in TWE_BENCH_BUILD_DIR (default build). Writes
# PREFIX.jsonl (the rows), PREFIX.md (the table, with the targets of issue
# 18) and PREFIX.png (default bench/results/firehose; --quick:
# firehose-quick). The firehose shares the machine's CPUs with the worker:
# its CPU is in the rows. Nothing here asserts a timing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/common.sh"
source "$root/bench/lib.sh"
source "$root/bench/firehose/lib.sh"

command_line="bench/run_firehose_bench.sh${*:+ $*}"
runs=3 seconds=10 warmup=3 open=200 out="" quick=0
workloads="OneActivity TenSequential FanOut100"
workers="twe1 twe2 twe4 go"
usage="usage: $0 [--quick] [--runs N] [--seconds S] [--warmup S] [--workloads \"W...\"] [--workers \"twe1 twe2 twe4 go\"] [--open N] [--out PREFIX]"
for a in "$@"; do [ "$a" = --quick ] && { quick=1; runs=1; seconds=4; warmup=2; }; done
while [ $# -gt 0 ]; do
  case $1 in
    --quick) ;;
    --runs) runs=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --workloads) workloads=$2; shift ;;
    --workers) workers=$2; shift ;;
    --open) open=$2; shift ;;
    --out) out=$2; shift ;;
    *) twe_die "$usage" ;;
  esac
  shift
done
name=firehose; [ $quick -eq 1 ] && name=firehose-quick
out=${out:-$root/bench/results/$name}
hist=$root/bench/results/histories
for w in $workloads; do
  [ -f "$hist/$w.json" ] || twe_die "no recorded history $hist/$w.json (bench/run records them)"
done
for k in $workers; do
  case $k in twe[0-9]*|go) ;; *) twe_die "unknown worker $k (twe<shards> or go)" ;; esac
done

log() { printf 'bench: %s\n' "$*" >&2; }
t_begin=$(date +%s)
cd "$root"
log "bootstrap (skipped when up to date)"
bench/firehose/bootstrap >&2
bench/peers/go/bootstrap >&2
bench_py=$TWE_CACHE_DIR/bench/venv-bench/bin/python
"$bench_py" -c 'import matplotlib' 2>/dev/null || bench/bootstrap >&2
firehose=$(firehose_bin)
build=${TWE_BENCH_BUILD_DIR:-build}
log "building twe's bench worker in $build"
cmake -S . -B "$build" -G Ninja -DTWE_CACHE_DIR="$TWE_CACHE_DIR" -DTWE_PROTO_DIR="$TWE_PROTO_DIR" >/dev/null
cmake --build "$build" --target bench_worker >/dev/null
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)

state=$(mktemp -d)
worker_pid="" fh_pid=""
cleanup() {
  if [ -n "$worker_pid" ]; then kill -KILL "$worker_pid" 2>/dev/null || true; fi
  if [ -n "$fh_pid" ]; then kill -KILL "$fh_pid" 2>/dev/null || true; fi
  rm -rf "$state"
}
trap cleanup EXIT
rows=$state/rows.jsonl
: >"$rows"

# The lines a worker writes on stderr at start and stop; the others go in
# the row (warnings, errors).
startup='^twe: io backend\|^twe: cpu plan\|^twe: activity slots: \|^twe: activity cpu group: \|^twe: workflow task slots: \|^twe: watchdog: workflow task budgets\|^twe: worker on task queue\|^bench_worker: task queue'

# cell RUN WORKLOAD WORKER — one measurement; appends its row.
cell() {
  local run=$1 wl=$2 who=$3 shards="" label cmd=() c=$state/cell i
  rm -rf "$c"; mkdir -p "$c"
  case $who in
    twe*) shards=${who#twe}; label="twe, $shards shard$([ "$shards" = 1 ] || echo s)"
          cmd=(env TWE_SHARD_THREADS="$shards" "$root/$build/bench/bench_worker") ;;
    go) label="Go SDK"; cmd=("$root/bench/peers/go/run-worker") ;;
  esac
  "$firehose" -workload "$wl" -histories "$hist" -address-file "$c/address" -pid-file "$c/pid" \
    -task-queue firehose -open "$open" -warmup "${warmup}s" -duration "${seconds}s" \
    -field worker="$label" -field run="$run" >"$c/fh.out" 2>"$c/fh.err" &
  fh_pid=$!
  for ((i = 0; i < 100; i++)); do [ -f "$c/address" ] && break; sleep 0.05; done
  [ -f "$c/address" ] || { cat "$c/fh.err" >&2; twe_die "the firehose did not start"; }
  : >"$c/w.out"
  TEMPORAL_ADDRESS=$(cat "$c/address") "${cmd[@]}" --task-queue firehose --cache 20000 \
    >"$c/w.out" 2>"$c/w.err" &
  worker_pid=$!
  local problem=""
  if bench_wait_ready "$worker_pid" "$c/w.out"; then
    echo "$worker_pid" >"$c/pid"
    for ((i = 0; i < (warmup + seconds + 60) * 10; i++)); do
      grep -q '^window done$' "$c/fh.out" && break
      kill -0 "$worker_pid" 2>/dev/null || break
      sleep 0.1
    done
    grep -q '^window done$' "$c/fh.out" || problem="no measured window (worker alive: $(kill -0 "$worker_pid" 2>/dev/null && echo yes || echo no))"
  else
    problem="the worker never got ready"
  fi
  bench_stop_worker "$worker_pid"
  worker_pid=""
  local stop=$bench_stop status=$bench_exit_status
  if [ -z "$problem" ]; then
    kill -TERM "$fh_pid" 2>/dev/null || true
    wait "$fh_pid" 2>/dev/null || true
  else
    kill -KILL "$fh_pid" 2>/dev/null || true
    wait "$fh_pid" 2>/dev/null || true
  fi
  fh_pid=""
  { grep -v "$startup" "$c/w.err" || true; } | head -20 >"$c/w.other"
  python3 - "$c" "$wl" "$who" "$shards" "$stop" "$status" "$problem" >>"$rows" <<'EOF'
import json, sys
c, wl, who, shards, stop, status, problem = sys.argv[1:]
row = None
for line in open(c + "/fh.out"):
    if line.startswith("{"):
        row = json.loads(line)
if row is None:
    row = {"workload": wl, "fields": {}, "errors": None}
row["who"] = who
row["shards"] = int(shards) if shards else None
row["worker_stop"] = stop
row["worker_exit"] = int(status)
if problem:
    row["problem"] = problem
stats = [json.loads(l) for l in open(c + "/w.out") if l.startswith('{"event":"stopped"')]
if stats:
    row["worker_stats"] = stats[-1]
row["worker_log"] = [l.rstrip("\n") for l in open(c + "/w.other")]
print(json.dumps(row))
EOF
  python3 - "$rows" <<'EOF' >&2
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])][-1]
f = r.get("fields", {})
if r.get("problem"):
    print("bench:   %s %s: %s" % (r["workload"], f.get("worker", r["who"]), r["problem"]))
else:
    print("bench:   %s, %s: %.0f WFT + %.0f act per worker CPU-s; %.0f WFT/s, %.0f act/s; worker %.2f cores, firehose %.2f, other %.2f; errors %s"
          % (r["workload"], f["worker"], r["wft_per_cpu_s"], r["act_per_cpu_s"], r["wft_per_s"],
             r["act_per_s"], r["worker_cores"], r["firehose_cpu_s"] / r["window_s"], r["other_cores"], r["errors"]))
EOF
}

for ((r = 1; r <= runs; r++)); do
  for wl in $workloads; do
    log "run $r/$runs: $wl"
    for who in $workers; do cell "$r" "$wl" "$who"; done
  done
done

elapsed=$(( $(date +%s) - t_begin ))
mkdir -p "$(dirname "$out")"
cp "$rows" "$out.jsonl"
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
"$bench_py" "$root/bench/firehose/report.py" "$out.jsonl" --md "$out.md" --png "$out.png" \
  --note "$(date -u +%Y-%m-%d), \`$command_line\`, $((elapsed / 60)) min $((elapsed % 60)) s. $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r | cut -d- -f1). twe $commit (${build_type:-default} build); Go SDK $(sed -n 's/^[[:space:]]*go\.temporal\.io\/sdk \(v[^ ]*\).*/\1/p' bench/peers/go/go.mod) ($(go version | awk '{print $3}')). The firehose ($(sed -n 's/^[[:space:]]*go\.temporal\.io\/api \(v[^ ]*\).*/go.temporal.io\/api \1/p' bench/firehose/go.mod), grpc-go) and the worker share the machine's CPUs. Runs kept open: $open; warm-up ${warmup} s, window ${seconds} s, $runs run(s)."
log "done in ${elapsed} s: $out.{jsonl,md,png}"
cat "$out.md"
