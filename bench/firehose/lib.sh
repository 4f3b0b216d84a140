# bench/firehose/lib.sh — where the firehose's build lives. Sourced (after
# scripts/lib/common.sh) by bootstrap and bench/run_firehose_bench.sh. Bash.
#
# The build goes to $TWE_CACHE_DIR/bench/firehose-<key>/firehose, <key> a
# hash of the module's sources and pins (*.go, go.mod, go.sum): a script
# always runs the build of the sources beside it.

firehose_src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# firehose_key — 16 hex digits naming the current sources.
firehose_key() {
  (cd "$firehose_src" &&
    find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16
}

# firehose_dir — the build directory of the current sources.
firehose_dir() { printf '%s/bench/firehose-%s\n' "$TWE_CACHE_DIR" "$(firehose_key)"; }

# firehose_bin — the built program; fails saying how to build it.
firehose_bin() {
  local dir
  dir=$(firehose_dir)
  if [ ! -f "$dir/.complete" ] || [ ! -x "$dir/firehose" ]; then
    twe_die "the firehose is not built for these sources ($dir): run bench/firehose/bootstrap"
  fi
  printf '%s/firehose\n' "$dir"
}
