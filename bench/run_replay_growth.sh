#!/usr/bin/env bash
# bench/run_replay_growth.sh [RUNS] — replay cost per event as the history
# grows from 100 to 50,000 events (issue 18's growth curve): RUNS runs
# (default 3) of `build/bench/replay_bench --growth` (the sequential
# history, one activity per 6 events, at 100, 300, 1k, 3k, 10k, 30k and 50k
# events; each replay from the decoded messages, from the protobuf wire
# bytes in pages of 1,000 events as a worker replays a long history, from
# the same bytes in one message, and from the JSON text; every length and
# starting point in turn, 7 rounds; thread CPU time, pinned to one CPU),
# then bench/replay_growth.py draws the curves. No server. Writes
# bench/results/replay-growth.{md,png,jsonl}; the table also goes to stdout.
# About 30 s a run on 2 CPUs after the build. Nothing asserts a timing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/common.sh"
runs=${1:-3}
[ "$runs" -ge 1 ] 2>/dev/null || twe_die "usage: bench/run_replay_growth.sh [RUNS]"
cd "$root"
log() { printf 'bench: %s\n' "$*" >&2; }
log "bootstrap (scripts/bootstrap, bench/bootstrap: skipped when up to date)"
scripts/bootstrap >/dev/null
bench/bootstrap >&2
bench_py=$TWE_CACHE_DIR/bench/venv-bench/bin/python
build=${TWE_BENCH_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DTWE_CACHE_DIR="$TWE_CACHE_DIR" -DTWE_PROTO_DIR="$TWE_PROTO_DIR" >/dev/null
cmake --build "$build" --target replay_bench >/dev/null
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)

out=bench/results
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
t0=$(date +%s)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= runs; r++)); do
  log "run $r/$runs"
  "$build/bench/replay_bench" --growth | sed "s/^{/{\"run\":$r,/" >>"$rows"
done
elapsed=$(($(date +%s) - t0))
cp "$rows" "$out/replay-growth.jsonl"
machine="$(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), Linux $(uname -r)"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
dirty=$(git status --porcelain -- . ':!bench/results' 2>/dev/null | grep -q . && echo ' + uncommitted changes' || true)
"$bench_py" bench/replay_growth.py "$out/replay-growth.jsonl" --md "$out/replay-growth.md" \
  --png "$out/replay-growth.png" \
  --note "\`bench/run_replay_growth.sh $runs\` — $(date -u '+%Y-%m-%d %H:%M UTC'), ${elapsed} s. Machine: $machine, shared (load average $load0 before, $(cut -d' ' -f1-3 /proc/loadavg) after). twe $commit$dirty, ${build_type:-?} build."
cat "$out/replay-growth.md"
