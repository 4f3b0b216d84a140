# bench/driver/lib.sh — where the driver's build lives. Sourced (after
# scripts/lib/common.sh) by bootstrap and run-driver. Bash.
#
# The build goes to $TWE_CACHE_DIR/bench/driver-<key>/driver, where <key> is
# a hash of the module's sources and pins (*.go, go.mod, go.sum), so
# run-driver always finds the build of the sources beside it.

driver_src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# driver_key — 16 hex digits naming the current sources.
driver_key() {
  (cd "$driver_src" &&
    find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16
}

# driver_dir — the build directory of the current sources.
driver_dir() { printf '%s/bench/driver-%s\n' "$TWE_CACHE_DIR" "$(driver_key)"; }
