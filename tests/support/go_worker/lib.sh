# tests/support/go_worker/lib.sh — where the tests' Go SDK worker is built:
# $TWE_CACHE_DIR/go-worker-<key>/worker, <key> a hash of its sources and
# pins (*.go, go.mod, go.sum), so the tests always find the build of the
# sources beside them. Sourced by scripts/bootstrap (which builds it) and
# tests/integration/lib.sh. Needs TWE_CACHE_DIR. Bash.

goworker_src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

goworker_key() {
  (cd "$goworker_src" &&
    find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16
}

goworker_dir() { printf '%s/go-worker-%s\n' "$TWE_CACHE_DIR" "$(goworker_key)"; }
