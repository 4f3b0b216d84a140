# bench/peers/go/lib.sh — where the Go SDK peer's build lives. Sourced (after
# scripts/lib/common.sh) by bootstrap, run-worker and run-replayer. Bash.
#
# The build goes to $TWE_CACHE_DIR/bench/go-peer-<key>/{worker,replayer},
# where <key> is a hash of the module's sources and pins (*.go, go.mod,
# go.sum), so a run script always finds the build of the sources beside it.

gopeer_src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# gopeer_key — 16 hex digits naming the current sources.
gopeer_key() {
  (cd "$gopeer_src" &&
    find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16
}

# gopeer_dir — the build directory of the current sources.
gopeer_dir() { printf '%s/bench/go-peer-%s\n' "$TWE_CACHE_DIR" "$(gopeer_key)"; }

# gopeer_exec NAME ARGS... — exec the built program NAME, or fail saying how
# to build it.
gopeer_exec() {
  local name=$1 dir
  shift
  dir=$(gopeer_dir)
  if [ ! -f "$dir/.complete" ] || [ ! -x "$dir/$name" ]; then
    twe_die "the Go SDK peer's $name is not built for these sources ($dir): run bench/bootstrap"
  fi
  exec "$dir/$name" "$@"
}
