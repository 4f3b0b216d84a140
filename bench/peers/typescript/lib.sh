# bench/peers/typescript/lib.sh — sourced by bootstrap and run-worker (bash).
# The install of the current sources is $TWE_CACHE_DIR/bench/ts-<key>, where
# <key> hashes the pins (package.json, package-lock.json), the sources and
# the scripts that build them.
ts_src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ts_files=(package.json package-lock.json tsconfig.json lib.sh bootstrap)

ts_key() {
  (cd "$ts_src" && sha256sum "${ts_files[@]}" src/*.ts | sha256sum | cut -c1-16)
}

ts_dir() { printf '%s/bench/ts-%s\n' "$TWE_CACHE_DIR" "$(ts_key)"; }
