#!/usr/bin/env bash
# bench/run_growth_bench.sh — worker CPU per workflow as the open workflows
# grow: one twe worker on a fresh local dev server keeps N open workflows
# (Park: each waits on a 1-hour timer, cached, stowed after 1 s idle), and
# at each N runs the same fixed-rate load of OneActivity workflows; the
# worker's CPU per OneActivity workflow should not grow with N.
#
#   bench/run_growth_bench.sh [--open "10 100 1000 10000"] [--rate R]
#                             [--seconds S] [--out DIR]
#
# Defaults: rate 20 wf/s for 30 s at each N. The open workflows are added
# cumulatively (10, then 90 more ...), each batch waited for until every
# run is cached. Writes DIR/growth.{jsonl,md,png} (default bench/results).
# The server, the worker and the driver share the machine's CPUs: the
# server's CPU is shown beside the worker's. Nothing here asserts a figure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/common.sh"
source "$root/scripts/lib/devserver.sh"
source "$root/bench/lib.sh"

opens="10 100 1000 10000"
rate=20
seconds=30
out=$root/bench/results
while [ $# -gt 0 ]; do
  case $1 in
    --open) opens=$2; shift ;;
    --rate) rate=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --out) out=$2; shift ;;
    *) twe_die "usage: $0 [--open \"N...\"] [--rate R] [--seconds S] [--out DIR]" ;;
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
venv_py=$TWE_CACHE_DIR/bench/venv-bench/bin/python

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
jget() { bench_jget "$@"; }
worker_stats() { bench_worker_stats "$worker_pid" "$state/worker.out"; }

max_open=0
for n in $opens; do [ "$n" -gt "$max_open" ] && max_open=$n; done

bench_server_start "$state/server"
server_pid=$(cat "$state/server/pid")
tq=bench-growth-$$
"$worker_bin" --task-queue "$tq" --cache $((max_open + 1000)) >"$state/worker.out" \
  2>"$state/worker.err" &
worker_pid=$!
bench_wait_ready "$worker_pid" "$state/worker.out" || { tail -20 "$state/worker.err" >&2; twe_die "bench_worker did not get ready"; }
# Warm-up, outside the measurement.
"$driver_bin" rate --type OneActivity --input "" --expect 1 --count 40 --rate 20 --task-queue "$tq" \
  --id-prefix "warm-$$-" >/dev/null 2>>"$state/driver.err" || log "warm-up failed"

mkdir -p "$out"
: >"$out/growth.jsonl"
opened=0
for n in $opens; do
  more=$((n - opened))
  if [ "$more" -gt 0 ]; then
    log "opening $more more Park workflows ($n in all)"
    st0=$(jget "$(worker_stats)" workflow_tasks_completed)
    "$driver_bin" park --count "$more" --threads 8 --task-queue "$tq" \
      --id-prefix "open-$n-$$-" >/dev/null 2>>"$state/driver.err" || twe_die "bench_driver park failed"
    for ((i = 0; i < 3600; i++)); do
      st=$(worker_stats)
      [ "$(jget "$st" workflow_tasks_completed)" -ge $((st0 + more)) ] && break
      sleep 1
    done
    opened=$n
    sleep 3 # the last ones stowed (1 s idle, the shard's 1 s tick)
  fi
  st=$(worker_stats)
  log "open $n: cached $(jget "$st" cached_workflows), stowed $(jget "$st" cached_runs_stowed)"
  count=$(python3 -c "print(max(1, round($rate * $seconds)))")
  w0=$(bench_proc_ticks "$worker_pid"); s0=$(bench_group_ticks "$server_pid")
  t0=$(date +%s.%N)
  d=$("$driver_bin" rate --type OneActivity --input "" --expect 1 --count "$count" --rate "$rate" --task-queue "$tq" \
        --id-prefix "load-$n-$$-" 2>>"$state/driver.err") || twe_die "driver failed at $n open"
  w1=$(bench_proc_ticks "$worker_pid"); s1=$(bench_group_ticks "$server_pid")
  t1=$(date +%s.%N)
  st=$(worker_stats)
  python3 - "$d" "$st" "$n" "$w0" "$w1" "$s0" "$s1" "$t0" "$t1" "$tick" >>"$out/growth.jsonl" <<'EOF'
import json, sys
d, st = json.loads(sys.argv[1]), json.loads(sys.argv[2])
n = int(sys.argv[3])
w0, w1, s0, s1 = (int(x) for x in sys.argv[4:8])
t0, t1, tick = float(sys.argv[8]), float(sys.argv[9]), int(sys.argv[10])
done = d["completed"]
print(json.dumps({
    "open": n, "completed": done, "rate": d["rate"],
    "worker_cpu_us_per_wf": (w1 - w0) * 1e6 / tick / done if done else None,
    "server_cpu_us_per_wf": (s1 - s0) * 1e6 / tick / done if done else None,
    "seconds": t1 - t0, "p50_ms": d["p50_ms"], "p99_ms": d["p99_ms"],
    "errors": d["start_errors"] + d["result_errors"],
    "cached": st["cached_workflows"], "stowed": st["cached_runs_stowed"],
    "cached_bytes": st["cached_bytes"]}))
EOF
  log "$(tail -1 "$out/growth.jsonl")"
done
kill -TERM "$worker_pid"; wait "$worker_pid" 2>/dev/null || true; worker_pid=""

"$venv_py" - "$out" "$rate" "$seconds" "$(git rev-parse --short HEAD)" <<'EOF'
import json, sys
out, rate, seconds, rev = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
rows = [json.loads(l) for l in open(out + "/growth.jsonl")]
base = rows[0]["worker_cpu_us_per_wf"]
with open(out + "/growth.md", "w") as f:
    f.write("Worker CPU per OneActivity workflow (%s wf/s for %s s) with N open workflows "
            "(Park, cached); twe %s; `bench/run_growth_bench.sh`\n\n" % (rate, seconds, rev))
    f.write("| open workflows | cached | stowed | cached MiB | worker CPU µs/wf | vs first | "
            "server CPU µs/wf | p50 ms | p99 ms | errors |\n")
    f.write("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    for r in rows:
        f.write("| %d | %d | %d | %.1f | %.0f | %.2f× | %.0f | %.1f | %.1f | %d |\n" % (
            r["open"], r["cached"], r["stowed"], r["cached_bytes"] / 1048576,
            r["worker_cpu_us_per_wf"], r["worker_cpu_us_per_wf"] / base,
            r["server_cpu_us_per_wf"], r["p50_ms"], r["p99_ms"], r["errors"]))
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(6, 3.6))
xs = [r["open"] for r in rows]
ax.plot(xs, [r["worker_cpu_us_per_wf"] for r in rows], "o-", label="twe worker")
ax.axhspan(base * 0.8, base * 1.2, color="0.9", label="±20% of the first")
ax.set_xscale("log")
ax.set_ylim(bottom=0)
ax.set_xlabel("open workflows (cached, waiting)")
ax.set_ylabel("worker CPU µs per OneActivity workflow")
ax.set_title("CPU per workflow as open workflows grow (%s wf/s)" % rate)
ax.legend()
fig.tight_layout()
fig.savefig(out + "/growth.png", dpi=110)
EOF
cat "$out/growth.md"
